"""The diff engine on pairs made by the real tools, against differences read from the tools' own reports.

Same image, other layout: whatever the tool rewrote (skopeo's and podman's
Docker -> OCI conversion re-marshals the config, dropping container_config,
docker_version, Healthcheck and Shell) is exactly what the report may name.
The `--cache-from` rebuild: exactly the history times, config fields and
layers that differ between the two configs skopeo read.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.interop.interop_truth import ConfigTruth, config_truth, differing_run_config_fields, load_manifest, rfc3339_ns, skip_reason

from imageforensics.diff._engine import diff_images
from imageforensics.findings import Severity
from imageforensics.model import Archive, Image
from imageforensics.report._values import Report

# Archives holding an image saved first by the tool that built it, in the
# order an anchor is chosen for a lineage (every other copy is diffed against it).
ANCHOR_PREFIXES = ("docker/", "buildah/", "umoci/layout")


def _occurrences(manifest: dict[str, Any]) -> dict[str, list[tuple[dict[str, Any], dict[str, Any]]]]:
    by_lineage: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for entry in manifest["archives"]:
        for image in entry["images"]:
            if "skopeo_config_raw" in image["reports"]:
                by_lineage.setdefault(image["lineage"], []).append((entry, image))
    return by_lineage


def _anchor(occ: list[tuple[dict[str, Any], dict[str, Any]]]) -> tuple[dict[str, Any], dict[str, Any]]:
    for prefix in ANCHOR_PREFIXES:
        for entry, image in occ:
            if entry["path"].startswith(prefix) and "derived_from" not in entry:
                return entry, image
    return occ[0]


def _pair_params() -> list[Any]:
    manifest = load_manifest()
    if manifest is None:
        return [pytest.param(None, marks=pytest.mark.skip(reason=skip_reason()), id="no-real-archives")]
    out = []
    for lineage, occ in sorted(_occurrences(manifest).items()):
        anchor = _anchor(occ)
        for other in occ:
            if other is anchor:
                continue
            out.append(pytest.param((anchor, other),
                                    id=f"{lineage}:{anchor[0]['path']}~{other[0]['path']}[{other[1]['name']}]"))
    return out


def _self_params() -> list[Any]:
    manifest = load_manifest()
    if manifest is None:
        return [pytest.param(None, marks=pytest.mark.skip(reason=skip_reason()), id="no-real-archives")]
    return [pytest.param((entry, image), id=f"{entry['path']}[{image['name']}]")
            for occ in _occurrences(manifest).values() for entry, image in occ]


def _cache_from_params() -> list[Any]:
    manifest = load_manifest()
    if manifest is None:
        return [pytest.param(None, marks=pytest.mark.skip(reason=skip_reason()), id="no-real-archives")]
    occ = _occurrences(manifest)
    pairs = []
    for src in occ.get("cache-src", []):
        for reb in occ.get("cache-rebuilt", []):
            # Compare like with like: the two images saved the same way.
            if src[0]["tool"].split(" (")[0] == reb[0]["tool"].split(" (")[0] and src[0]["layout"] == reb[0]["layout"]:
                pairs.append(pytest.param((src, reb), id=f"{src[0]['path']}~{reb[0]['path']}"))
    assert pairs, "MANIFEST.json has no cache-src/cache-rebuilt pair"
    return pairs


def _load(read: Any, entry: dict[str, Any], image: dict[str, Any]) -> tuple[Archive, Image, ConfigTruth]:
    truth = config_truth(image["reports"]["skopeo_config_raw"])
    arc = read(entry["path"])
    found = [i for i in arc.images if str(i.image_id) == truth.image_id]
    assert found, f"{entry['path']}: no image {truth.image_id}"
    return arc, found[0], truth


def _serious(report: Report) -> list[tuple[str, str]]:
    # A problem both images' own audits show is said once for both (side ""): no difference between them.
    return sorted((f.code, f.path or (str(f.step_a) if f.step_a is not None else "")) for f in report.findings
                  if f.severity >= Severity.WARNING and not (f.side == "" and f.summary.startswith("in both images: ")))


def expected_serious(ta: ConfigTruth, tb: ConfigTruth) -> list[tuple[str, str]]:
    """The WARNING-or-worse findings a diff of A and B must give, from the two configs alone.

    Only for pairs whose layers are the same and whose histories have the same
    steps (same length, same created_by): then only times and config fields can differ.
    """
    assert ta.diff_ids == tb.diff_ids
    assert [h.get("created_by", "") for h in ta.history] == [h.get("created_by", "") for h in tb.history]
    out: list[tuple[str, str]] = []
    drifted = [i for i, (x, y) in enumerate(zip(ta.history, tb.history)) if x.get("created") != y.get("created")]
    if drifted:
        out.append(("timestamp-drift", str(drifted[0])))
    if ta.doc.get("created") != tb.doc.get("created"):
        out.append(("image-created-differs", ""))
    out += [("config-differs", name) for name in differing_run_config_fields(ta, tb)]
    if any(ta.doc.get(k) != tb.doc.get(k) for k in ("os", "architecture", "variant", "os.version", "os.features")):
        out.append(("platform-differs", ""))
    return sorted(out)


def _drifts(ta: ConfigTruth, tb: ConfigTruth) -> dict[int, int]:
    return {i: rfc3339_ns(y["created"]) - rfc3339_ns(x["created"])
            for i, (x, y) in enumerate(zip(ta.history, tb.history)) if x.get("created") != y.get("created")}


def _check_drift(report: Report, ta: ConfigTruth, tb: ConfigTruth) -> None:
    drifts = _drifts(ta, tb)
    finding = [f for f in report.findings if f.code == "timestamp-drift"]
    if not drifts:
        assert not finding
        return
    assert len(finding) == 1
    assert finding[0].evidence_value("drifts") == tuple(sorted(drifts.items()))
    for row in report.steps:
        if row.index_a is None or row.index_b is None:
            continue
        if row.index_a in drifts:
            assert row.index_b == row.index_a
            assert row.drift_ns == drifts[row.index_a]
            assert "created" in row.marks
        else:
            assert "created" not in row.marks


@pytest.mark.parametrize("pair", _pair_params())
def test_same_image_in_another_layout(pair: Any, read: Any) -> None:
    """Identical when the config bytes survived; else "metadata" naming exactly the fields the tool rewrote."""
    (ea, ia), (eb, ib) = pair
    arc_a, img_a, ta = _load(read, ea, ia)
    arc_b, img_b, tb = _load(read, eb, ib)
    report = diff_images(arc_a, img_a, arc_b, img_b)
    expected = expected_serious(ta, tb)
    if ta.image_id == tb.image_id:
        assert report.verdict_kind == "identical", report.verdict
        assert expected == []
    else:
        assert report.verdict_kind == "metadata", report.verdict
    assert _serious(report) == expected, report.verdict
    _check_drift(report, ta, tb)
    reverse = diff_images(arc_b, img_b, arc_a, img_a)
    assert reverse.verdict_kind == report.verdict_kind
    assert [c for c, _ in _serious(reverse)] == [c for c, _ in _serious(report)]


@pytest.mark.parametrize("one", _self_params())
def test_image_against_itself(one: Any, read: Any) -> None:
    """Every real image diffed with itself: identical, nothing of warning severity."""
    entry, image = one
    arc, img, _ = _load(read, entry, image)
    report = diff_images(arc, img, arc, img)
    assert report.verdict_kind == "identical", report.verdict
    assert _serious(report) == []


@pytest.mark.parametrize("pair", _cache_from_params())
def test_cache_from_rebuild(pair: Any, read: Any) -> None:
    """The --cache-from rebuild against its inline-cache source: exactly the differences in the two configs."""
    (ea, ia), (eb, ib) = pair
    arc_a, img_a, ta = _load(read, ea, ia)
    arc_b, img_b, tb = _load(read, eb, ib)
    report = diff_images(arc_a, img_a, arc_b, img_b)
    assert ta.image_id != tb.image_id  # a rebuild always writes another config
    cache_a, cache_b = "moby.buildkit.cache.v0" in ta.doc, "moby.buildkit.cache.v0" in tb.doc
    if ea["layout"] == "docker-legacy":
        assert cache_a and cache_b  # built with BUILDKIT_INLINE_CACHE=1 (skopeo's OCI conversion drops it)
    flipped = [i for i, (x, y) in enumerate(zip(ta.history, tb.history))
               if not x.get("empty_layer") and y.get("empty_layer")]
    if flipped:
        # The BuildKit < 0.10 corruption: a layer-bearing step came back empty.
        assert report.verdict_kind == "missing-content", report.verdict
        wrongly = {f.step_b for f in report.findings if f.code == "step-wrongly-empty"}
        assert set(flipped) <= wrongly
        return
    assert report.verdict_kind == "metadata", report.verdict
    assert _serious(report) == expected_serious(ta, tb), report.verdict
    _check_drift(report, ta, tb)
    inline = [f for f in report.findings if f.code == "inline-cache-differs"]
    assert len(inline) == (1 if cache_a != cache_b else 0)
