"""A real 200,000-file pair (tools/real-archives.sh, stage ``large``): right about what changed, and readable.

Two BuildKit builds of one Dockerfile, four RUN steps of 50,000 files each,
in which 300 files' contents depend on a build argument. The truth
(``large/TRUTH.json``) is read from the saved layer tars with Python's
tarfile: each regular file's sha256 in the merged filesystem, and the paths
whose contents differ. The report must name exactly those paths, each under
the step that wrote it, in either argument order; and its text must stay a
page one can read: 80 columns, and lists capped by ``--max-paths``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from functools import lru_cache
from typing import Any

import pytest

from imageforensics.diff._verdict import MAX_NAMED

from tests.interop.interop_truth import real_dir

TRUTH = real_dir() / "large" / "TRUTH.json"
pytestmark = pytest.mark.skipif(not TRUTH.is_file(), reason=f"no large real pair: {TRUTH} is absent "
                                "(made by the `large` stage of tools/real-archives.sh)")


def _truth() -> dict[str, Any]:
    with open(TRUTH, encoding="utf-8") as f:
        truth: dict[str, Any] = json.load(f)
    return truth


@lru_cache(maxsize=None)
def _run(order: str, *args: str) -> tuple[int, str]:
    truth = _truth()
    first, second = (truth["a"], truth["b"]) if order == "ab" else (truth["b"], truth["a"])
    done = subprocess.run([sys.executable, "-m", "imageforensics", str(real_dir() / first), str(real_dir() / second),
                           *args], capture_output=True, text=True, timeout=900)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, done.stdout


@pytest.mark.parametrize("order", ["ab", "ba"])
def test_the_paths_whose_contents_changed_are_reported_each_under_its_step(order: str) -> None:
    truth = _truth()
    status, out = _run(order, "--format", "json")
    assert status == 1
    report = json.loads(out)
    listed: dict[str, str] = {}
    for f in report["findings"]:
        if f["code"] in ("paths-missing", "paths-added"):
            assert set(f["paths"]) <= set(truth["only_a"]) | set(truth["only_b"]), f["code"]
        if f["code"] == "paths-changed":
            for path in f["paths"]:
                listed[path] = f["created_by"]
    # Besides the changed files, only directories (whose mtimes the builds set) may differ.
    content = {p for p in listed if re.search(r"/f\d+$", p)}
    assert content == set(truth["content_changed"])
    assert all(re.fullmatch(r"/data(/run\d(/d\d+)?)?", p) for p in listed.keys() - content), listed.keys() - content
    for path in content:
        step = re.match(r"/data/(run\d)/", path)
        assert step is not None and f"/data/{step.group(1)}/" in listed[path], (path, listed[path])
    assert not truth["only_a"] and not truth["only_b"]
    assert not [f for f in report["findings"] if f["code"] in ("paths-missing", "paths-added")]


@pytest.mark.parametrize("max_paths", [2, 10])
def test_the_text_report_fits_80_columns_and_caps_every_list(max_paths: int) -> None:
    _, out = _run("ab", "--max-paths", str(max_paths))
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    # Each block of the report (the verdict, a step's table of changes, a finding) names at most
    # max_paths of a step's files, and one more as a summary's example; the verdict names five
    # changes at most (MAX_NAMED): never all 100 of a step's changed files.
    blocks = out.split("\n\n")
    for run in ("run1", "run2", "run3"):
        assert any(f"/data/{run}/" in block for block in blocks)
        for block in blocks:
            named = set(re.findall(rf"/data/{run}/d\d+/f\d+", block))
            cap = MAX_NAMED if block.startswith("VERDICT") else max_paths + 1
            assert len(named) <= cap, (run, block[:200])
    assert not re.search(r"/data/run4/d\d+/f\d+", out)


def test_the_brief_report_is_the_verdict_alone() -> None:
    status, out = _run("ab", "-s")
    assert status == 1 and len(out.splitlines()) == 1
