"""Builders' conventions on pairs the real tools made: squashes, buildah commit, spellings, mount points.

Each MANIFEST.json "pairs" entry carries a ``truth`` that real-archives.sh
(pairs.py) computed from the layer tars with Python's tarfile and checked
against what ``umoci unpack`` wrote to disk, and each side a ``built_with``
sentence saying how the real tool built it; each image has the config as
skopeo read it. The oracle is those, never imageforensics: which side the
script built with ``--squash``/``--squash-all`` or without ``--layers``,
whether the sides hold the same paths and bytes (``same_bytes``), which
paths only one side has (``only_a``/``only_b``) and the step that added them
(``path_steps``), the steps as the configs record them (``steps``). Every
pair is diffed in both orders; diff(B, A) must mirror diff(A, B).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from tests.interop.interop_truth import config_truth, load_manifest, read_report, real_dir, skip_reason

import imageforensics
from imageforensics.audit import image_findings
from imageforensics.findings import Severity
from imageforensics.read._archive import read_archive
from imageforensics.report._values import Report

# How real-archives.sh says it squashed a build (built_with): docker/podman --squash[-all], buildah without --layers.
_SQUASHED = re.compile(r"--squash|\(no --layers\)")
_REPORTS: dict[tuple[str, bool], Report] = {}


def _pairs(select: Any, orders: tuple[bool, ...] = (False, True)) -> list[Any]:
    manifest = load_manifest()
    if manifest is None or "pairs" not in manifest:
        reason = skip_reason() if manifest is None else 'MANIFEST.json has no "pairs" (made before the pairs stage)'
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-real-pairs")]
    chosen = [p for p in manifest["pairs"] if select(p)]
    if not chosen:
        return [pytest.param(None, marks=pytest.mark.skip(reason="no such pair in MANIFEST.json"), id="none")]
    return [pytest.param((p, flip), id=f"{p['pair']}:{'B~A' if flip else 'A~B'}") for p in chosen for flip in orders]


def _diff(pair: dict[str, Any], flip: bool) -> Report:
    key = (pair["pair"], flip)
    if key not in _REPORTS:
        first, second = (pair["b"], pair["a"]) if flip else (pair["a"], pair["b"])
        _REPORTS[key] = imageforensics.diff_inputs(str(real_dir() / first["path"]), str(real_dir() / second["path"]))
    return _REPORTS[key]


def _sides(flip: bool) -> dict[str, str]:
    """The pair's side (a/b, as the truth names them) → the report's side (A/B)."""
    return {"a": "B", "b": "A"} if flip else {"a": "A", "b": "B"}


def _squashed_side(pair: dict[str, Any]) -> str | None:
    """The truth side the script squashed, when exactly one is."""
    squashed = [s for s in "ab" if _SQUASHED.search(pair[s]["built_with"])]
    return squashed[0] if len(squashed) == 1 else None


def _history(side: dict[str, Any]) -> list[dict[str, Any]]:
    """The side's history as skopeo read the config."""
    return config_truth(side["reports"]["skopeo_config_raw"]).history


def _buildkit_wrote(side: dict[str, Any]) -> bool:
    """Whether any history entry of the side is BuildKit's (its comment or its ` # buildkit` suffix)."""
    return any((h.get("comment") or "").startswith("buildkit.") or (h.get("created_by") or "").endswith("# buildkit")
               for h in _history(side))


def _mirror(report: Report) -> Counter[tuple[str, str, str]]:
    swap = {"A": "B", "B": "A", "": ""}
    return Counter((f.code, f.severity.name, swap[f.side]) for f in report.findings)


def _kinds(report: Report) -> Counter[tuple[str, str, str]]:
    return Counter((f.code, f.severity.name, f.side) for f in report.findings)


# ---- a squashed build of the same files (issue 14 item 2) ---------------------------


@pytest.mark.parametrize("case", _pairs(lambda p: p["truth"]["same_bytes"] and _squashed_side(p) is not None))
def test_the_same_files_one_side_squashed_is_said_so(case: Any) -> None:
    pair, flip = case
    report = _diff(pair, flip)
    squashed = _sides(flip)[_squashed_side(pair) or ""]
    layered = "B" if squashed == "A" else "A"
    # The layers differ (other image IDs): exit status 1, but the verdict is the squash, not a divergence.
    assert report.exit_status == 1 and report.verdict_kind == "metadata", report.verdict
    assert report.verdict.startswith(f"same files; {squashed} is squashed ("), report.verdict
    codes = {f.code for f in report.findings}
    # Every merged step is empty by the squash's design; --squash-all's missing base entry and
    # --squash's merge entry are no steps only one image has; no path is missing, added or changed.
    assert not codes & {"step-wrongly-empty", "step-only-in-a", "step-only-in-b", "paths-missing", "paths-added",
                        "paths-changed", "step-changed"}, codes
    [said] = [f for f in report.findings if f.code == "steps-squashed"]
    assert said.side == squashed and said.severity is Severity.INFO
    # The steps it names as merged are the squashed side's steps marked empty_layer, as its config records them.
    history = _history(pair[_squashed_side(pair) or ""])
    marked = tuple(i for i, h in enumerate(history) if h.get("empty_layer"))
    merged = said.evidence_value("merged")
    assert isinstance(merged, tuple) and set(merged) <= set(marked)
    carrier = said.evidence_value("carrier")
    assert carrier == len(history) - 1 and not history[-1].get("empty_layer")
    # Steps with their own layer on the layered side are named, as its config records them.
    layered_history = _history(pair["b" if _squashed_side(pair) == "a" else "a"])
    with_layer = {i for i, h in enumerate(layered_history) if not h.get("empty_layer")}
    named = said.evidence_value(f"layered_{layered.lower()}")
    assert isinstance(named, tuple) and named and set(named) <= with_layer
    # No BuildKit blame where BuildKit built neither side.
    if not _buildkit_wrote(pair["a"]) and not _buildkit_wrote(pair["b"]):
        assert not [f.summary for f in report.findings if "BuildKit" in f.summary]
    assert "BuildKit" not in report.verdict


@pytest.mark.parametrize("case", _pairs(lambda p: _squashed_side(p) is not None or p["class"] == "buildah-podman"))
def test_no_buildkit_blame_on_the_images_buildah_podman_and_the_classic_builder_made(case: Any) -> None:
    pair, flip = case
    for side in ("a", "b"):
        if _buildkit_wrote(pair[side]):
            continue
        archive = read_archive(str(real_dir() / pair[side]["path"]))
        for image in archive.images:
            audit = image_findings(image)
            assert not [f.summary for f in audit if "BuildKit" in f.summary]
            # A step the squash merged is no filesystem step without a layer.
            assert not [f for f in audit if f.code == "fs-step-marked-empty" and f.severity >= Severity.WARNING]
    report = _diff(pair, flip)
    if not _buildkit_wrote(pair["a"]) and not _buildkit_wrote(pair["b"]):
        assert not [f.summary for f in report.findings if "BuildKit" in f.summary]
        assert not [f for f in report.findings if f.code == "step-wrongly-empty"]


@pytest.mark.parametrize("case", _pairs(lambda p: p["pair"].startswith("bah-commit")))
def test_a_buildah_commit_image_is_not_squashed(case: Any) -> None:
    pair, flip = case
    for side in ("a", "b"):
        history = _history(pair[side])
        # One layer per step in the config: nothing was merged.
        layers = config_truth(pair[side]["reports"]["skopeo_config_raw"]).diff_ids
        assert len(layers) == sum(1 for h in history if not h.get("empty_layer"))
    report = _diff(pair, flip)
    codes = {f.code for f in report.findings}
    assert not codes & {"squash-signature", "steps-squashed", "step-only-in-a", "step-only-in-b", "step-changed"}
    assert "squashed" not in report.verdict
    if pair["truth"]["same_bytes"]:
        assert not codes & {"paths-missing", "paths-added", "paths-changed"}
        assert report.verdict_kind == "metadata", report.verdict
    # The commit step pairs with the build step at the same place in the history.
    assert [(r.index_a, r.index_b) for r in report.steps] == [(i, i) for i in range(len(_history(pair["a"])))]


# ---- one instruction in other words, or on other sources (issue 14 item 4) ------------


@pytest.mark.parametrize("case", _pairs(lambda p: p["class"] == "builder-spellings"))
def test_the_same_instruction_is_not_called_a_different_one(case: Any) -> None:
    pair, flip = case
    report = _diff(pair, flip)
    assert not [f.summary for f in report.findings if f.code == "step-changed"]
    ha, hb = _history(pair["a"]), _history(pair["b"])
    assert len(ha) == len(hb)
    respelled = {i for i, (x, y) in enumerate(zip(ha, hb)) if x.get("created_by") != y.get("created_by")}
    assert [(r.index_a, r.index_b) for r in report.steps] == [(i, i) for i in range(len(ha))]
    both_classic = not _buildkit_wrote(pair["a"]) and not _buildkit_wrote(pair["b"])
    code = "copy-source-differs" if both_classic else "created-by-spelling"
    [said] = [f for f in report.findings if f.code == code]
    assert said.severity is Severity.INFO
    steps = said.evidence_value("steps_a")
    assert set(steps if isinstance(steps, tuple) else (said.step_a,)) == respelled
    if pair["truth"]["same_bytes"]:
        assert not {f.code for f in report.findings} & {"paths-missing", "paths-added", "paths-changed"}


# ---- the mount points a builder's RUN leaves (issue 14 item 5) -------------------------


@pytest.mark.parametrize("case", _pairs(lambda p: p["class"] == "run-artefacts"))
def test_a_builders_mount_points_are_an_artefact_not_missing_content(case: Any) -> None:
    pair, flip = case
    truth = pair["truth"]
    report = _diff(pair, flip)
    assert report.verdict_kind != "missing-content" and not report.by_severity(Severity.ERROR), report.verdict
    assert not [f for f in report.findings if f.code in ("paths-missing", "paths-added")]
    merged = {s: read_report("files", pair[s]["reports"]["files_truth"])["merged"] for s in "ab"}
    for side in ("a", "b"):
        only = truth[f"only_{side}"]
        if not only:
            continue
        # The truth's only-here paths are empty directories, each added by one RUN step of that side.
        assert all(merged[side][p]["type"] == "dir" for p in only)
        steps = {truth["path_steps"][p][side][0][0] for p in only}
        history = _history(pair[side])
        assert all(re.search(r"(^RUN |/bin/sh -c )", history[s].get("created_by") or "") for s in steps)
        [said] = [f for f in report.findings if f.code == "builder-artefacts"]
        shown = _sides(flip)[side]
        assert said.side == shown and said.severity is Severity.INFO
        assert set(said.paths) == {"/" + p for p in only}
        assert (said.step_a if shown == "A" else said.step_b) in steps
        if _buildkit_wrote(pair[side]):
            assert said.evidence_value("builder") == "BuildKit"


# ---- config keys absent in one image and null in the other (issue 14, "say the answer") ----


def _leaves(doc: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value:
            out.update(_leaves(value, path))
        else:
            out[path] = value
    return out


@pytest.mark.parametrize("case", _pairs(lambda p: p["pair"] == "corrupt-oci"))
def test_a_key_absent_against_null_is_a_note_not_the_headline(case: Any) -> None:
    pair, flip = case
    la = _leaves(config_truth(pair["a"]["reports"]["skopeo_config_raw"]).doc)
    lb = _leaves(config_truth(pair["b"]["reports"]["skopeo_config_raw"]).doc)
    zero = (None, "", [], {}, False, 0)
    equivalent = {p for p in la.keys() ^ lb.keys() if (la.get(p, lb.get(p)) in zero
                                                         and type(la.get(p, lb.get(p))) in (type(None), str, list, dict, bool, int))}
    assert equivalent, "the pair's configs were expected to differ in a key null or empty on one side only"
    report = _diff(pair, flip)
    [said] = [f for f in report.findings if f.code == "config-json-equivalent"]
    assert said.severity is Severity.INFO and set(said.paths) == equivalent
    assert not [f for f in report.findings if f.code == "config-json-differs" and set(f.paths) & equivalent]
    assert not any(p.split(".")[-1] in report.verdict for p in equivalent), report.verdict


# ---- either order ------------------------------------------------------------------------


@pytest.mark.parametrize("case", _pairs(lambda p: p["class"] in ("buildah-podman", "builder-spellings", "run-artefacts")
                                        or _squashed_side(p) is not None, orders=(False,)))
def test_either_order_gives_the_mirror(case: Any) -> None:
    pair, _ = case
    forward, backward = _diff(pair, False), _diff(pair, True)
    assert forward.verdict_kind == backward.verdict_kind
    assert _kinds(forward) == _mirror(backward)
