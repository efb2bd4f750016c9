"""Which digests a command takes: each byte is hashed for what the output shows, and no more.

The archive's own sha256 is a hash of every byte beside the layers' diff_ids
(sha256 is sequential: one core, as long as ``openssl dgst`` of the file), so
it is taken on request (``--archive-digest``); ``inspect``'s text shows no
file digests, so it hashes no file contents.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from unittest.mock import patch

import pytest

from imageforensics.cli import _inputs, _main as cli
from imageforensics.options import ReadOptions

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
A, B = SAMPLES / "tomcat-pulled.tar", SAMPLES / "tomcat-cache-from.tar"


def _sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _options_of_inspect(argv: list[str]) -> ReadOptions:
    seen: list[ReadOptions] = []
    real = _inputs.read_selected

    def spy(spec: str, options: ReadOptions, **kwargs: object) -> object:
        seen.append(options)
        return real(spec, options, **kwargs)  # type: ignore[arg-type]

    with patch.object(cli, "read_selected", spy):
        assert cli.main(argv) == 0
    (options,) = seen
    return options


def test_inspect_shows_the_archive_digest_only_when_asked(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["inspect", str(A)]) == 0
    plain = capsys.readouterr().out
    assert _sha256(A) not in plain
    # The archive's size is known without hashing it; its digest is not.
    (size_line,) = [line for line in plain.splitlines() if line.startswith("archive ")]
    assert "sha256:" not in size_line
    assert cli.main(["inspect", str(A), "--archive-digest"]) == 0
    asked = capsys.readouterr().out
    assert f"{size_line}, {_sha256(A)}" in asked.splitlines()
    # The rest of the text is the same.
    assert [line for line in asked.splitlines() if _sha256(A) not in line] == \
        [line for line in plain.splitlines() if line != size_line]
    out = tmp_path / "a.json"
    assert cli.main(["inspect", str(A), "--format", "json", "-o", str(out)]) == 0
    assert json.loads(out.read_text())["sha256"] is None
    assert cli.main(["inspect", str(A), "--format", "json", "--archive-digest", "-o", str(out)]) == 0
    assert json.loads(out.read_text())["sha256"] == _sha256(A)


def test_inspect_text_hashes_no_file_contents_and_its_json_model_lists_them() -> None:
    text = _options_of_inspect(["inspect", str(A)])
    assert (text.content_digests, text.digest_below, text.archive_digest) == (False, 0, False)
    model = _options_of_inspect(["inspect", str(A), "--format", "json", "-o", "/dev/null"])
    assert (model.content_digests, model.archive_digest) == (True, False)


@pytest.mark.parametrize("fmt", ["json", "markdown", "html"])
def test_a_diff_report_holds_the_archive_digests_only_when_asked(fmt: str, tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert cli.main([str(A), str(B), "--format", fmt, "-o", str(out)]) == 1
    plain = out.read_text()
    # Shortened as each format shortens a digest (sha256:b6c4…bec5 in markdown).
    shown = [(_sha256(side)[:11], _sha256(side)[-4:]) for side in (A, B)]
    assert not any(head in plain or tail in plain for head, tail in shown)
    # Not taken, not written: no empty row, no "" in the JSON.
    assert "archive sha256" not in plain and "archive_sha256" not in plain
    assert cli.main([str(A), str(B), "--format", fmt, "--archive-digest", "-o", str(out)]) == 1
    asked = out.read_text()
    assert all(head in asked and tail in asked for head, tail in shown)
    assert ("archive_sha256" if fmt == "json" else "archive sha256") in asked
    if fmt == "json":
        sides = json.loads(asked)
        assert (sides["a"]["archive_sha256"], sides["b"]["archive_sha256"]) == (_sha256(A), _sha256(B))
