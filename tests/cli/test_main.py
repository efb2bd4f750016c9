"""The command line as a user meets it: exit statuses, one-line errors, outputs written whole."""

from __future__ import annotations

import functools
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from imageforensics import __version__
from imageforensics.cli import _main as cli
from tools.fuzz import limit_cpu

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
PULLED = SAMPLES / "tomcat-pulled.tar"
CACHE_FROM = SAMPLES / "tomcat-cache-from.tar"

needs_samples = pytest.mark.skipif(not (PULLED.is_file() and CACHE_FROM.is_file()), reason="samples not generated")


def run(*args: str, stdin: bytes | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[bytes]:
    """Run the module as a user would (ended by the kernel after 120 s of CPU time, whatever the load)."""
    return subprocess.run([sys.executable, "-m", "imageforensics", *args], input=stdin, cwd=cwd, capture_output=True,
                          preexec_fn=functools.partial(limit_cpu, 120))


def one_error_line(result: subprocess.CompletedProcess[bytes]) -> str:
    """The single stderr line of a failed run (asserting it is one line and no traceback)."""
    err = result.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_version_names_the_release():
    out = run("--version")
    assert out.returncode == 0
    assert out.stdout.decode().startswith(f"imageforensics {__version__}")


def test_help_has_examples_and_subcommands():
    out = run("--help")
    text = out.stdout.decode()
    assert out.returncode == 0
    for word in ("diff", "inspect", "snapshot", "examples:", "imageforensics pulled.tar rebuilt.tar"):
        assert word in text


def test_no_arguments_is_trouble():
    assert run().returncode == 2


def test_default_subcommand_is_diff():
    assert cli._normalise_argv(["a.tar", "b.tar"]) == ["diff", "a.tar", "b.tar"]
    assert cli._normalise_argv(["--ignore-timestamps", "a", "b"]) == ["diff", "--ignore-timestamps", "a", "b"]
    assert cli._normalise_argv(["inspect", "a"]) == ["inspect", "a"]


def test_missing_file_is_one_line_and_exit_2(tmp_path):
    out = run(str(tmp_path / "nope.tar"), str(tmp_path / "nope2.tar"))
    assert out.returncode == 2
    assert "nope" in one_error_line(out)


def test_not_an_image_names_the_archive(tmp_path):
    junk = tmp_path / "junk.tar"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("README.md")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    junk.write_bytes(buf.getvalue())
    out = run("inspect", str(junk))
    assert out.returncode == 2
    assert str(junk) in one_error_line(out)


def test_random_bytes_are_trouble_not_a_traceback(tmp_path):
    junk = tmp_path / "random.bin"
    junk.write_bytes(bytes(range(256)) * 7)
    out = run("inspect", str(junk))
    assert out.returncode == 2
    assert str(junk) in one_error_line(out)


def test_both_inputs_stdin_is_refused():
    out = run("-", "-", stdin=b"")
    assert out.returncode == 2
    assert "standard input" in one_error_line(out)


@needs_samples
def test_tomcat_pair_differs_and_names_the_empty_copy_step():
    out = run(str(PULLED), str(CACHE_FROM))
    assert out.returncode == 1, out.stderr
    head = "\n".join(out.stdout.decode().splitlines()[:12])
    assert "COPY rootfs /" in head
    assert "empty" in head.lower()


@needs_samples
def test_an_archive_against_itself_is_exit_0():
    out = run(str(PULLED), str(PULLED))
    assert out.returncode == 0, out.stdout.decode() + out.stderr.decode()


@needs_samples
def test_stdin_input_reads_the_same_as_the_file():
    from_file = run("inspect", "--format", "json", str(PULLED))
    from_stdin = run("inspect", "--format", "json", "-", stdin=PULLED.read_bytes())
    assert from_file.returncode == from_stdin.returncode == 0
    a, b = json.loads(from_file.stdout), json.loads(from_stdin.stdout)
    a.pop("source", None)
    b.pop("source", None)
    assert a == b


@needs_samples
def test_output_file_is_written_whole(tmp_path):
    target = tmp_path / "report.json"
    out = run("diff", str(PULLED), str(CACHE_FROM), "--format", "json", "-o", str(target))
    assert out.returncode == 1
    assert out.stdout == b""
    report = json.loads(target.read_text(encoding="utf-8"))
    assert report["format_version"] >= 1
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


@needs_samples
def test_failed_run_leaves_no_output_file(tmp_path):
    target = tmp_path / "report.txt"
    out = run("diff", str(PULLED), str(tmp_path / "missing.tar"), "-o", str(target))
    assert out.returncode == 2
    assert list(tmp_path.iterdir()) == []


def test_write_output_replaces_atomically(tmp_path):
    target = tmp_path / "x.txt"
    target.write_text("old", encoding="utf-8")
    cli.write_output("new text", str(target))
    assert target.read_text(encoding="utf-8") == "new text"
    assert sorted(os.listdir(tmp_path)) == ["x.txt"]


@needs_samples
def test_snapshot_diffs_like_the_archive(tmp_path):
    snap = tmp_path / "pulled.json.gz"
    made = run("snapshot", str(PULLED), "-o", str(snap))
    assert made.returncode == 0, made.stderr
    via_archive = run(str(PULLED), str(CACHE_FROM), "--format", "json")
    via_snapshot = run(str(snap), str(CACHE_FROM), "--format", "json")
    assert via_snapshot.returncode == via_archive.returncode == 1
    a, b = json.loads(via_archive.stdout), json.loads(via_snapshot.stdout)
    assert a["findings"] == b["findings"]
    assert a["verdict"] == b["verdict"]


def test_output_file_gets_the_usual_mode(tmp_path):
    target = tmp_path / "out.txt"
    old = os.umask(0o022)
    try:
        cli.write_output("x", str(target))
    finally:
        os.umask(old)
    assert target.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("value", ["-3", "0", "many"])
def test_limits_must_be_positive_numbers(value):
    out = run("inspect", str(PULLED), "--max-layers", value)
    assert out.returncode == 2
    assert "--max-layers" in one_error_line(out)
