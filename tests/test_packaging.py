"""Building from a source checkout works offline and ships the package data."""

from __future__ import annotations

import functools
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from tools import pep517_backend
from tools.fuzz import limit_cpu

ROOT = Path(__file__).resolve().parents[1]


def test_backend_needs_nothing_to_build():
    assert pep517_backend.get_requires_for_build_wheel() == []
    assert pep517_backend.get_requires_for_build_sdist() == []
    assert pep517_backend.get_requires_for_build_editable() == []


def test_pip_wheel_offline_contains_package_data(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-index", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, preexec_fn=functools.partial(limit_cpu, 300),
    )
    assert out.returncode == 0, out.stderr
    (wheel,) = tmp_path.glob("imageforensics-*.whl")
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        meta = whl.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        entry_points = whl.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
        record = whl.read(next(n for n in names if n.endswith(".dist-info/RECORD"))).decode()
    assert {"imageforensics/py.typed", "imageforensics/report_schema.json", "imageforensics/findings.json", "imageforensics/cli/_main.py", "imageforensics/read/_archive.py"} <= names
    assert not any("__pycache__" in n or n.startswith(("tests/", "tools/", "samples/")) for n in names)
    assert "imageforensics = imageforensics.cli:main" in entry_points
    assert "Requires-Python: >=3.10" in meta and 'Requires-Dist: pytest; extra == "test"' in meta
    assert all(n in record for n in names)


def test_sdist_holds_what_a_build_needs(tmp_path):
    sdist = tmp_path / pep517_backend.build_sdist(str(tmp_path))
    with tarfile.open(sdist) as tar:
        names = {m.name.split("/", 1)[1] for m in tar.getmembers()}
    assert {"setup.cfg", "pyproject.toml", "tools/pep517_backend.py", "imageforensics/report_schema.json", "PKG-INFO"} <= names
