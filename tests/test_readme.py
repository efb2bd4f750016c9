"""The README says what the code does: its first commands, the checksum step, NO_COLOR, the licence."""

from __future__ import annotations

import configparser
import os
import subprocess
from pathlib import Path

import pytest

from imageforensics.cli import _main as cli
from tools import build_pyz

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_opens_with_the_two_commands():
    assert README.splitlines()[:2] == [
        "    python3 -m imageforensics samples/tomcat-pulled.tar samples/tomcat-cache-from.tar",
        "    python3 -m pip install -e '.[test]' && python3 -m pytest",
    ]


def test_the_readme_gives_the_tests_in_a_virtual_environment():
    tests = README.split("\n## Tests\n", 1)[1]
    assert "    python3 -m venv .venv && . .venv/bin/activate\n    python3 -m pip install -e '.[test]' && python3 -m pytest" in tests
    assert "IMAGEFORENSICS_REAL_ARCHIVES" in tests and "tools/real-archives.sh" in tests


def test_the_checksum_step_runs_as_written(tmp_path):
    commands = [line.strip().split("  #")[0].strip() for line in README.splitlines() if "sha256sum -c dist/" in line
                or "(cd dist && sha256sum -c" in line]
    assert commands == ["(cd dist && sha256sum -c imageforensics-*.pyz.sha256)"]
    build_pyz.build(tmp_path / "dist", "0" * 40)
    out = subprocess.run(["bash", "-c", commands[0]], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0 and ": OK" in out.stdout, out.stdout + out.stderr


@pytest.mark.parametrize("value, colour", [(None, True), ("", True), ("1", False)])
def test_no_color_behaves_as_the_readme_says(monkeypatch, value, colour):
    # "never when NO_COLOR is set to anything but the empty string"; auto colours on a terminal.
    assert "never when `NO_COLOR` is set to anything but the empty string" in README.replace("\n", " ")
    if value is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", value)
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    assert cli._use_color("auto", None) is colour
    assert cli._use_color("always", None) is True


def test_the_licence_file_matches_the_metadata():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    assert cfg.get("metadata", "license") == "MIT"
    assert cfg.get("metadata", "license_files") == "LICENSE"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n") and "Permission is hereby granted, free of charge" in text
    assert os.path.getsize(ROOT / "LICENSE") > 1000
