"""``mypy --strict`` over the package and ``tools/``: configured once (setup.cfg), run by CI, never waived wholesale."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _setup_cfg() -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    return cfg


def test_mypy_is_strict_over_the_package_and_the_tools() -> None:
    cfg = _setup_cfg()
    assert cfg.getboolean("mypy", "strict")
    assert {part.strip() for part in cfg.get("mypy", "files").split(",")} == {"imageforensics", "tools"}
    # The oldest Python the package supports: nothing newer may slip in.
    assert cfg.get("mypy", "python_version") == cfg.get("options", "python_requires").removeprefix(">=")
    assert not [s for s in cfg.sections() if s.startswith("mypy") and cfg.has_option(s, "ignore_errors")]


def test_the_test_extra_installs_mypy() -> None:
    assert "mypy" in _setup_cfg().get("options.extras_require", "test").split()


def test_ci_runs_mypy_after_the_tests_and_fails_with_it() -> None:
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    assert "set -euo pipefail" in lines
    assert lines.index("python3 -m mypy") > lines.index("python3 -m pytest")


def test_every_type_ignore_names_its_error_code() -> None:
    blanket = re.compile(r"#\s*type:\s*ignore(?!\[)")
    found = [f"{path.relative_to(ROOT)}:{n}" for folder in ("imageforensics", "tools")
             for path in sorted((ROOT / folder).rglob("*.py"))
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if blanket.search(line)]
    assert not found, "a type: ignore without an error code: " + ", ".join(found)
