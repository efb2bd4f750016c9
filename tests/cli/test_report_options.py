"""The report options of ``diff``: --brief/-s, --full-digests, --full-paths, --all-mtimes, and the text width."""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

import pytest

from imageforensics.cli import _main as cli
from imageforensics.report import RENDERERS
from tests.cli.test_main import CACHE_FROM, PULLED, needs_samples

SAME = Path(__file__).resolve().parents[2] / "samples" / "same-legacy.tar"
SAME_OCI = SAME.with_name("same-oci.tar")


@needs_samples
@pytest.mark.parametrize("flag", ["--brief", "-s"])
def test_brief_prints_the_verdict_line_and_keeps_the_exit_status(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([str(PULLED), str(CACHE_FROM), flag, "-q"]) == 1
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("B is missing content that A has: step 6 `COPY rootfs /`")
    assert cli.main([str(SAME), str(SAME_OCI), flag, "-q"]) == 0
    assert capsys.readouterr().out.count("\n") == 1


@needs_samples
def test_full_digests_show_digests_whole(capsys: pytest.CaptureFixture[str]) -> None:
    cli.main([str(PULLED), str(CACHE_FROM), "-q"])
    short = capsys.readouterr().out
    cli.main([str(PULLED), str(CACHE_FROM), "-q", "--full-digests"])
    full = capsys.readouterr().out
    whole = set(re.findall(r"sha256:[0-9a-f]{64}", full))
    assert whole and not set(re.findall(r"sha256:[0-9a-f]{64}", short))
    assert all(f"sha256:{d[7:11]}…{d[-4:]}" in short for d in whole if "diff_id=" + d in full)


def _args(**given: object) -> argparse.Namespace:
    base = {"full_digests": False, "full_paths": False, "all_mtimes": False, "output": None}
    return argparse.Namespace(**{**base, **given})


def test_the_text_report_takes_the_terminal_width_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "get_terminal_size", lambda *a, **k: shutil.os.terminal_size((132, 40)))
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    takes = RENDERERS["text"].options
    assert cli._report_shown(_args(), takes)["width"] == 132
    # Written to a file: the default 80 columns.
    assert "width" not in cli._report_shown(_args(output="r.txt"), takes)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False, raising=False)
    assert "width" not in cli._report_shown(_args(), takes)
    # A format that takes no width gets none.
    assert "width" not in cli._report_shown(_args(), RENDERERS["markdown"].options)


def test_each_format_gets_only_the_options_it_takes() -> None:
    shown = cli._report_shown(_args(full_digests=True, full_paths=True, all_mtimes=True), RENDERERS["json"].options)
    assert shown == {}
    shown = cli._report_shown(_args(full_digests=True, full_paths=True), RENDERERS["markdown"].options)
    assert shown == {"full_digests": True, "full_paths": True, "all_mtimes": False}
    shown = cli._report_shown(_args(full_paths=True), RENDERERS["html"].options)
    assert shown == {"full_digests": False, "full_paths": True, "all_mtimes": False}
