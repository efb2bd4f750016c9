"""The one-file build (tools/build_pyz.py): reproducible, and it behaves exactly like the module."""

from __future__ import annotations

import glob
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from imageforensics.cli._build_info import build_commit
from tools import build_pyz

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_PAIRS = [
    ("tomcat-pulled.tar", "tomcat-cache-from.tar"),
    ("tomcat-pulled.tar", "tomcat-pulled.tar"),
]


def _pythons() -> list[str]:
    """Every CPython 3.10-3.13 on this machine (pyenv keeps several), the running one first."""
    found = [sys.executable]
    for minor in ("3.10", "3.11", "3.12", "3.13"):
        for candidate in sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{minor}.*/bin/python"))):
            if os.path.realpath(candidate) != os.path.realpath(sys.executable):
                found.append(candidate)
                break
    return found


def test_build_is_byte_identical_and_records_its_digest(tmp_path):
    first = build_pyz.build(tmp_path / "one", "0" * 40)
    second = build_pyz.build(tmp_path / "two", "0" * 40)
    assert first.read_bytes() == second.read_bytes()
    line = (tmp_path / "one" / (first.name + ".sha256")).read_text(encoding="ascii")
    assert line == f"{hashlib.sha256(first.read_bytes()).hexdigest()}  {first.name}\n"
    check = subprocess.run(["sha256sum", "-c", first.name + ".sha256"], cwd=first.parent, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_build_records_the_commit_in_version(tmp_path):
    pyz = build_pyz.build(tmp_path, "0123456789abcdef0123456789abcdef01234567")
    out = subprocess.run([sys.executable, "-I", str(pyz), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"imageforensics {build_pyz.package_version()} (commit 0123456789ab)"


@pytest.mark.parametrize("pair", SAMPLE_PAIRS, ids=lambda p: f"{p[0]}-vs-{p[1]}")
def test_pyz_output_equals_the_module_on_every_python(tmp_path, pair):
    samples = [ROOT / "samples" / name for name in pair]
    if not all(s.is_file() for s in samples):
        pytest.skip("samples not generated yet (tools/make_samples.py)")
    pyz = build_pyz.build(tmp_path / "dist", build_commit())
    module = subprocess.run([sys.executable, "-m", "imageforensics", *map(str, samples)], cwd=ROOT, capture_output=True)
    assert module.returncode in (0, 1), module.stderr
    home = tmp_path / "home"
    home.mkdir()
    workdir = tmp_path / "readonly"
    workdir.mkdir()
    workdir.chmod(0o555)
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"}
    for python in _pythons():
        run = subprocess.run([python, "-I", str(pyz), *map(str, samples)], cwd=workdir, env=env, capture_output=True)
        assert run.stderr == module.stderr, python
        assert run.stdout == module.stdout, python
        assert run.returncode == module.returncode, python
    assert list(workdir.iterdir()) == [], "the tool wrote into the working directory"


def _older_pythons() -> list[str]:
    """CPythons older than 3.10 that pyenv keeps on this machine."""
    return sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/[23].[0-9].*/bin/python")))


def test_an_older_python_is_told_the_version_it_needs(tmp_path):
    pyz = build_pyz.build(tmp_path, "0" * 40)
    olders = _older_pythons()
    for python in olders:
        version = subprocess.run([python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        out = subprocess.run([python, str(pyz), "a.tar", "b.tar"], capture_output=True, text=True)
        assert out.returncode == 2
        assert out.stderr == f"imageforensics needs Python 3.10+ (this is {version})\n", python
    # Where no older Python is installed, the check itself, with this one made to look like 3.9.18.
    simulated = subprocess.run([sys.executable, "-c", "import sys; sys.version_info = (3, 9, 18, 'final', 0); "
                                f"exec(compile({build_pyz.MAIN_PY!r}, '__main__.py', 'exec'))"],
                               capture_output=True, text=True)
    assert simulated.returncode == 2
    assert simulated.stderr == "imageforensics needs Python 3.10+ (this is 3.9.18)\n"
