"""Hardlinks on pairs the real tools made: the diff's content and link changes agree with the files' truth.

Each MANIFEST.json "pairs" entry of class ``hardlinks`` carries a ``truth``
that real-archives.sh (pairs.py) computed from the layer tars with Python's
tarfile and cross-checked against what ``umoci unpack`` wrote to disk, never
from imageforensics: ``changed`` (path -> {attribute: [A, B]}),
``same_bytes`` and ``hardlinks`` (each side's groups of names of one file).
Both orders are diffed: diff(B, A) must say what diff(A, B) says.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.interop.interop_truth import load_manifest, real_dir, skip_reason

import imageforensics
from imageforensics.report._values import Report

# Truth attributes that are the file's bytes (what a content change is about).
CONTENT = {"sha256", "size", "type"}


def _params() -> list[Any]:
    manifest = load_manifest()
    if manifest is None or "pairs" not in manifest:
        reason = skip_reason() if manifest is None else 'MANIFEST.json has no "pairs" (made before the pairs stage)'
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-real-pairs")]
    pairs = [p for p in manifest["pairs"] if p["class"] == "hardlinks"]
    if not pairs:
        return [pytest.param(None, marks=pytest.mark.skip(reason="no pair of class hardlinks"), id="no-hardlink-pairs")]
    return [pytest.param((pair, flip), id=f"{pair['pair']}:{'B~A' if flip else 'A~B'}")
            for pair in pairs for flip in (False, True)]


def _groups(truth_side: list[dict[str, Any]]) -> dict[str, frozenset[str]]:
    out: dict[str, frozenset[str]] = {}
    for group in truth_side:
        names = frozenset("/" + p for p in group["paths"])
        for name in names:
            out[name] = names
    return out


def _relinked(truth: dict[str, Any], paths_a: set[str], paths_b: set[str]) -> set[str]:
    """Paths in both whose other names (among the paths both hold) differ between the sides' hardlink groups."""
    ga, gb = _groups(truth["hardlinks"]["a"]), _groups(truth["hardlinks"]["b"])
    common = paths_a & paths_b
    out = set()
    for path in (ga.keys() | gb.keys()) & common:
        if (ga.get(path, frozenset()) & common) - {path} != (gb.get(path, frozenset()) & common) - {path}:
            out.add(path)
    return out


@pytest.fixture(scope="module")
def diffs() -> dict[tuple[str, str], Report]:
    return {}


@pytest.mark.parametrize("case", _params())
def test_content_and_link_changes_agree_with_the_files(case: Any, diffs: dict[tuple[str, str], Report]) -> None:
    pair, flip = case
    first, second = (pair["b"], pair["a"]) if flip else (pair["a"], pair["b"])
    report = imageforensics.diff_inputs(str(real_dir() / first["path"]), str(real_dir() / second["path"]))
    truth = pair["truth"]
    # The truth's A is the pair's A: in B~A the report's sides are swapped.
    changed = {"/" + p: set(attrs) for p, attrs in truth["changed"].items()}

    content_truth = {p for p, attrs in changed.items() if attrs & CONTENT}
    other_truth = {p for p, attrs in changed.items() if attrs - CONTENT - {"mtime", "hardlinked_with"}}
    reported = [f for f in report.findings if f.code == "paths-changed"]
    assert {p for f in reported for p in f.paths} == content_truth | other_truth
    for f in reported:
        fields = dict(f.evidence_value("fields"))
        assert fields.get("content_digest", 0) == len([p for p in f.paths if "sha256" in changed[p]]), f.summary
        assert fields.get("size", 0) == len([p for p in f.paths if "size" in changed[p]]), f.summary
    if truth["same_bytes"]:
        assert content_truth == set()
        assert all("content_digest" not in dict(f.evidence_value("fields")) for f in reported)
    # A path whose bytes changed is never reported as an mtime-only change.
    mtime_only = {p for f in report.findings if f.code == "paths-mtime-differ" for p in f.paths}
    assert not mtime_only & content_truth

    files_a = {"/" + p for p in _all_paths(pair["a"])}
    files_b = {"/" + p for p in _all_paths(pair["b"])}
    relinked = {p for f in report.findings if f.code == "paths-hardlinks-differ" for p in f.paths}
    assert relinked == _relinked(truth, files_a, files_b)
    assert relinked == {p for p, attrs in changed.items() if "hardlinked_with" in attrs}
    for f in report.findings:
        if f.code == "paths-hardlinks-differ":
            assert f.severity is imageforensics.Severity.INFO
            assert f.evidence_value("same_content") is (not set(f.paths) & content_truth)

    # diff(B, A) mirrors diff(A, B): the same paths in the same kinds of finding.
    diffs[(pair["pair"], "B~A" if flip else "A~B")] = report
    other = diffs.get((pair["pair"], "A~B" if flip else "B~A"))
    if other is not None:
        for code in ("paths-changed", "paths-hardlinks-differ", "paths-mtime-differ"):
            assert sorted(p for f in report.findings if f.code == code for p in f.paths) == \
                sorted(p for f in other.findings if f.code == code for p in f.paths), code


def _all_paths(side: dict[str, Any]) -> list[str]:
    """Every path of a side's merged filesystem, as pairs.py listed it (files_truth)."""
    with open(real_dir() / side["reports"]["files_truth"], encoding="utf-8") as f:
        record = json.load(f)
    return list(record["merged"])
