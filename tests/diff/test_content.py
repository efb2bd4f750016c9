"""``diff --show-content``: the comparison of one file, as a finding with a unified diff."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from imageforensics.cli import _main as cli
from imageforensics.diff._content import Shown, content_finding
from imageforensics.report import load_report
from tests.archivekit import Img, legacy, tar_of
from tests.cli.test_inside import BASE, IMAGE, _layer
from tests.cli.test_main import run


def test_text_files_that_differ_give_a_unified_diff() -> None:
    f = content_finding("etc/app.conf", Shown(b"a\nb\n"), Shown(b"a\nc"))
    assert f.summary == "/etc/app.conf differs: 1 line(s) removed, 1 added"
    assert f.evidence_value("diff") == ("--- A/etc/app.conf\n+++ B/etc/app.conf\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"
                                        "\\ No newline at end of file\n")
    assert (f.evidence_value("size_a"), f.evidence_value("size_b"), f.evidence_value("outcome")) == (4, 3, "differs")


@pytest.mark.parametrize("a, b, outcome, summary", [
    (b"same\n", b"same\n", "same", "/f is the same in both (5 bytes)"),
    (b"\x00\x01", b"\x00\x02", "binary", "binary file /f differs"),
    (b"caf\xe9", b"cafe", "binary", "binary file /f differs"),  # not UTF-8
])
def test_same_and_binary_files_have_no_diff(a: bytes, b: bytes, outcome: str, summary: str) -> None:
    f = content_finding("f", Shown(a), Shown(b))
    assert (f.evidence_value("outcome"), f.summary, f.evidence_value("diff")) == (outcome, summary, None)
    assert f.evidence_value("content_b") == "sha256:" + hashlib.sha256(b).hexdigest()


def test_a_side_without_the_file_says_why() -> None:
    f = content_finding("f", Shown(None, "a directory"), Shown(b"x"))
    assert f.summary == "/f cannot be compared (in A: a directory)"
    assert f.evidence_value("content_a") == "a directory" and f.evidence_value("size_a") is None


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("content")
    a, b = folder / "a.tar", folder / "b.tar"
    a.write_bytes(tar_of(legacy([IMAGE])))
    top = _layer(("file", "etc/app.conf", b"v3\nmore\n"), ("file", "etc/big", b"x" * ((1 << 20) + 1)))
    b.write_bytes(tar_of(legacy([Img(layers=[BASE, top], tags=["local/inside:1"], history=IMAGE.history)])))
    return a, b


def test_the_diff_report_carries_the_file_in_every_format(pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    a, b = pair
    status = cli.main(["diff", str(a), str(b), "--show-content", "/etc/app.conf"])
    text = capsys.readouterr().out
    assert status == 1
    assert text.endswith("\n--- A/etc/app.conf\n+++ B/etc/app.conf\n@@ -1 +1,2 @@\n-v2\n+v3\n+more\n")
    cli.main(["diff", str(a), str(b), "--show-content", "etc/app.conf", "--format", "json"])
    report = load_report(capsys.readouterr().out)
    (shown,) = [f for f in report.findings if f.code == "content-shown"]
    assert shown.path == "/etc/app.conf" and shown.evidence_value("diff") == "--- A/etc/app.conf\n+++ B/etc/app.conf\n@@ -1 +1,2 @@\n-v2\n+v3\n+more\n"


def test_a_file_over_the_limit_or_absent_is_named_not_read(pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    a, b = pair
    cli.main(["diff", str(a), str(b), "--show-content", "/etc/big", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    (shown,) = [f for f in doc["findings"] if f["code"] == "content-shown"]
    assert shown["summary"] == ("/etc/big cannot be compared (in A: not in the merged filesystem; "
                                f"in B: {(1 << 20) + 1} bytes, over the {1 << 20}-byte limit)")


def test_standard_input_keeps_the_file_as_it_streams_past(pair: tuple[Path, Path]) -> None:
    a, b = pair
    out = run("diff", "-", str(b), "--show-content", "/etc/app.conf", stdin=a.read_bytes())
    assert out.returncode == 1
    assert out.stdout.decode().endswith("-v2\n+v3\n+more\n")
