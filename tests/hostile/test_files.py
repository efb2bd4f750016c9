"""The checked-in broken inputs of tests/hostile/: each gives its exact outcome, in process and through the CLI.

The files are written by tools/make_hostile.py, which states each expected
outcome (tests/hostile/expected.json). Through the command line every error
is exactly one line on stderr and exit status 2: never a traceback, never
the last-resort "internal error" line (both count as failures here).
"""

from __future__ import annotations

import functools
import importlib
import json
import shutil
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from imageforensics.audit import image_findings
from imageforensics.read import _sources as inputs
from imageforensics.errors import ImageForensicsError
from tools import make_hostile
from tools.fuzz import guarded, limit_cpu

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ROOT / "tests" / "hostile"
EXPECTED: dict[str, dict[str, object]] = json.loads((HOSTILE / "expected.json").read_text(encoding="utf-8"))
NAMES = sorted(EXPECTED)


def test_the_files_are_what_make_hostile_writes() -> None:
    built = make_hostile.build()
    # This folder also holds the hostile tests themselves (and their bytecode): those are not inputs.
    on_disk = {str(p.relative_to(HOSTILE)) for p in HOSTILE.rglob("*")
               if p.is_file() and p.suffix != ".py" and "__pycache__" not in p.parts}
    assert on_disk == set(built)
    for rel, data in built.items():
        assert make_hostile.same_file(rel, (HOSTILE / rel).read_bytes(), data), rel
    assert sum(map(len, built.values())) < 512 * 1024


def test_every_case_of_make_hostile_is_listed() -> None:
    assert set(EXPECTED) == set(make_hostile.CASES) | set(make_hostile.DIRECTORY_CASES)
    assert all(("error" in want) != ("findings" in want) for want in EXPECTED.values())


def _zstd_decoder() -> bool:
    if shutil.which("zstd") is not None:
        return True
    try:
        importlib.import_module("compression.zstd")
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("name", NAMES)
def test_each_input_gives_its_exact_outcome(name: str) -> None:
    want = EXPECTED[name]
    path = str(HOSTILE / name)
    if "zstd" in name and not _zstd_decoder():
        pytest.skip("zstd needs Python 3.14+ or the zstd program")
    if "error" in want:
        with pytest.raises(ImageForensicsError) as info:
            guarded(lambda: inputs.read_input(path))
        assert str(info.value) == str(want["error"]).replace("{path}", path)
        return
    archive = guarded(lambda: inputs.read_input(path))
    assert len(archive.images) == want["images"]
    found = {f.code for f in archive.findings} | {f.code for image in archive.images for f in image_findings(image)}
    assert found == set(want["findings"])  # type: ignore[arg-type]
    kinds = {f.evidence_value("anomaly") for image in archive.images for f in image_findings(image) if f.code == "layer-anomaly"}
    assert kinds == set(want.get("anomalies", []))  # type: ignore[arg-type]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "IMAGEFORENSICS_DEBUG"}
    return subprocess.run([sys.executable, "-m", "imageforensics", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, preexec_fn=functools.partial(limit_cpu, 120))


def _check_cli(name: str, done: subprocess.CompletedProcess[str]) -> None:
    want = EXPECTED[name]
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, (name, done.stderr)
    if "error" in want:
        assert done.returncode == 2, (name, done.returncode)
        assert done.stderr == "imageforensics: " + str(want["error"]).replace("{path}", f"tests/hostile/{name}") + "\n", name
        assert done.stdout == ""
    else:
        assert done.returncode == 0, (name, done.returncode, done.stderr)
        assert done.stderr == ""
        for code in want["findings"]:  # type: ignore[union-attr]
            assert code in done.stdout, (name, code)


# A representative set (each run starts a Python): every kind of error, and models with findings.
CLI_CASES = (
    "empty.tar", "random.bin", "plain.tar", "dir-not-image", "truncated-data.tar", "truncated-header.tar",
    "manifest-invalid.tar", "config-non-utf8.tar", "config-deep.tar.gz", "member-name-too-long.tar.gz",
    "layer-bzip2-bomb.tar", "layer-entries.tar", "layer-symlink-escape.tar", "digests-corrupted.tar",
)


def test_cli_inspect_on_a_representative_set() -> None:
    assert set(CLI_CASES) <= set(NAMES)
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(lambda n: (n, _cli("inspect", f"tests/hostile/{n}")), CLI_CASES))
    for name, done in runs:
        _check_cli(name, done)


@pytest.mark.parametrize("name", ["truncated-data.tar", "manifest-quotes.tar.gz", "layer-bzip2-bomb.tar", "config-deep.tar.gz", "dir-not-image"])
def test_cli_diff_with_a_broken_input_is_one_line_and_exit_2(name: str) -> None:
    sample = "samples/same-legacy.tar" if (ROOT / "samples" / "same-legacy.tar").exists() else f"tests/hostile/{name}"
    done = _cli(sample, f"tests/hostile/{name}")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "imageforensics: " + str(EXPECTED[name]["error"]).replace("{path}", f"tests/hostile/{name}") + "\n"


def test_cli_snapshot_of_a_broken_input_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "snap.json"
    done = _cli("snapshot", "tests/hostile/truncated-header.tar", "-o", str(out))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_cli_raising_a_limit_reads_what_the_default_refuses() -> None:
    done = _cli("inspect", "--max-json-depth", "200000", "tests/hostile/config-deep.tar.gz")
    # Deeper than the default; with the limit raised the parser's own recursion limit still stops it, cleanly.
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "deeper than Python's JSON parser reads" in done.stderr
    done = _cli("inspect", "--max-expansion", "100000000", "tests/hostile/layer-bzip2-bomb.tar")
    assert done.returncode == 0 and "layer-unreadable" not in done.stdout, done.stderr


def test_cli_stdin_with_random_bytes() -> None:
    data = (HOSTILE / "random.bin").read_bytes()
    done = subprocess.run([sys.executable, "-m", "imageforensics", "inspect", "-"], input=data, capture_output=True, cwd=ROOT,
                          preexec_fn=functools.partial(limit_cpu, 60))
    assert done.returncode == 2
    assert done.stderr == b"imageforensics: -: not a tar archive (invalid header)\n"
