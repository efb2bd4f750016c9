"""End to end: the reader on the bundled samples, then the diff engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from imageforensics.diff._engine import diff_images
from imageforensics.options import DiffOptions
from imageforensics.findings import Severity, evidence_texts
from imageforensics.path_change import PathChange

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
reader = pytest.importorskip("imageforensics.read._archive")
select = pytest.importorskip("imageforensics.read._selection")


def load(name):
    path = SAMPLES / f"{name}.tar"
    if not path.exists():
        pytest.skip(f"{path} not generated (tools/make_samples.py)")
    archive = reader.read_archive(str(path))
    return archive, select.select_image(archive, reference=None, index=None, platform=None)


def diff(a, b, options=DiffOptions()):
    (xa, ia), (xb, ib) = load(a), load(b)
    return diff_images(xa, ia, xb, ib, options)


def serious(report):
    return sorted((f.code, f.step_a, f.step_b) for f in report.findings if f.severity >= Severity.WARNING)


def one(report, code):
    [f] = [f for f in report.findings if f.code == code]
    return f


ALL = ["tomcat-pulled", "tomcat-cache-from", "same-legacy", "same-oci", "timestamps-a", "timestamps-b",
       "whiteout-a", "whiteout-b", "opaque-a", "opaque-b", "mode-a", "mode-b", "platform-a", "platform-b"]


@pytest.mark.parametrize("name", ALL)
def test_every_sample_against_itself_has_only_its_own_audit_problems_once(name):
    from imageforensics.audit import image_findings

    report = diff(name, name)
    archive, image = load(name)
    own = sorted((f.code, f.step_a) for f in (*archive.findings, *image_findings(image))
                 if f.severity >= Severity.WARNING)
    assert sorted((f.code, f.step_a) for f in report.findings) == own
    assert all(f.side == "" and f.step_a == f.step_b and f.summary.startswith("in both images: ")
               for f in report.findings)
    assert report.verdict_kind == "identical" and report.exit_status == 0


def test_tomcat_pair_finds_everything_the_seed_author_found():
    report = diff("tomcat-pulled", "tomcat-cache-from")
    empty = one(report, "step-wrongly-empty")
    assert (empty.severity, empty.step_a, empty.step_b, empty.side) == (Severity.ERROR, 6, 6, "B")
    assert empty.created_by == "COPY rootfs / # buildkit"
    assert empty.evidence_value("layer_size_a") == 7650 and empty.evidence_value("entries_a") == 12
    assert "7.65 kB layer (12 entries) in A but is marked empty_layer in B" in empty.summary
    drift = one(report, "timestamp-drift")
    assert (drift.step_a, drift.step_b) == (5, 5) and drift.created_by == "EXPOSE map[8080/tcp:{}]"
    assert drift.evidence_value("drift_ns") == -89607600
    assert {t.name: t.text for t in evidence_texts(drift)}["drift"] == "-89.6 ms"
    missing = one(report, "paths-missing")
    assert (missing.step_a, missing.step_b, len(missing.paths)) == (6, 6, 12)
    assert "/usr/local/bin/install-war-into-tomcat.sh" in missing.paths
    assert report.verdict_kind == "missing-content" and report.exit_status == 1
    assert report.verdict.startswith("B is missing content that A has: step 6 `COPY rootfs /`")
    assert "Created times drift from step 5 `EXPOSE 8080/tcp` on (-89.6 ms in B)" in report.verdict
    # The cause: A's poisoned inline cache, which B carries on (issue 13).
    assert "Cause: B was built from A's poisoned inline cache" in report.verdict
    assert one(report, "inline-cache-poisoned").side == "A" and one(report, "inline-cache-poison-carried").side == "B"
    # Only the wrongly-empty step, its lost paths, the drift and the cache matter; the rest is evidence on B.
    assert {c for c, _, _ in serious(report)} <= {"step-wrongly-empty", "paths-missing", "timestamp-drift",
                                                    "image-created-differs", "fs-step-marked-empty",
                                                    "inline-cache-poisoned", "inline-cache-poison-carried"}
    row = [r for r in report.steps if r.index_a == 6][0]
    assert "empty_layer" in row.marks and "layer" in row.marks and row.layer_b is None


def test_the_same_image_in_two_layouts_is_identical():
    report = diff("same-legacy", "same-oci")
    assert report.verdict_kind == "identical" and report.exit_status == 0
    assert serious(report) == []
    assert one(report, "packaging-differs").severity is Severity.INFO


def test_a_rebuild_where_only_timestamps_differ():
    report = diff("timestamps-a", "timestamps-b")
    assert report.verdict_kind == "metadata" and report.exit_status == 1
    assert {c for c, _, _ in serious(report)} == {"timestamp-drift", "image-created-differs"}
    assert one(report, "timestamp-drift").step_a == 0
    ignored = diff("timestamps-a", "timestamps-b", DiffOptions(ignore_timestamps=True))
    assert ignored.verdict_kind == "identical" and ignored.exit_status == 0
    assert ignored.verdict.startswith("identical after ignores") and serious(ignored) == []


def test_a_file_deleted_by_a_whiteout_is_missing_and_attributed_to_the_deleting_step():
    report = diff("whiteout-a", "whiteout-b")
    missing = one(report, "paths-missing")
    assert missing.paths == ("/etc/app.conf",) and (missing.step_a, missing.step_b) == (0, 3)
    assert "deleted in B by step 3" in missing.summary
    # B's own later step deleted it: a change with its cause, not lost content.
    assert (missing.severity, missing.side, missing.evidence_value("cause")) == (Severity.WARNING, "B", "removed")
    assert one(report, "step-only-in-b").step_b == 3
    assert report.verdict_kind == "diverged"
    assert "/etc/app.conf deleted by B's step 3" in report.verdict


def test_an_opaque_directory_hides_the_lower_contents():
    report = diff("opaque-a", "opaque-b")
    missing = one(report, "paths-missing")
    assert missing.paths == ("/var/cache/app/a.bin", "/var/cache/app/b.bin") and missing.step_b == 3
    assert one(report, "paths-added").paths == ("/var/cache/app/fresh",)


def test_a_changed_mode_and_owner():
    report = diff("mode-a", "mode-b")
    changed = one(report, "paths-changed")
    assert changed.paths == ("/usr/local/bin/tool",) and (changed.step_a, changed.step_b) == (3, 3)
    assert changed.evidence_value("fields") == (("gid", 1), ("mode", 1), ("uid", 1))
    assert changed.evidence_value("change_001") == (PathChange("/usr/local/bin/tool", "mode", 0o755, 0o700),
                                                     PathChange("/usr/local/bin/tool", "uid", 0, 1000),
                                                     PathChange("/usr/local/bin/tool", "gid", 0, 1000))
    assert one(report, "layer-content-differs").step_a == 3
    assert report.verdict.startswith("diverged at step 3 ")
    assert "/usr/local/bin/tool mode 0755 → 0700, owner 0:0 → 1000:1000" in report.verdict


def test_a_different_platform():
    report = diff("platform-a", "platform-b")
    platform = one(report, "platform-differs")
    assert (platform.evidence_value("a"), platform.evidence_value("b")) == ("linux/amd64", "linux/arm64/v8")
    assert report.verdict_kind == "diverged"
    assert "different platforms (A linux/amd64, B linux/arm64/v8)" in report.verdict


@pytest.mark.parametrize("pair", [("tomcat-pulled", "tomcat-cache-from"), ("whiteout-a", "whiteout-b"),
                                  ("opaque-a", "opaque-b"), ("mode-a", "mode-b"), ("timestamps-a", "timestamps-b")])
def test_swapping_the_inputs_mirrors_the_findings(pair):
    swap = {"paths-missing": "paths-added", "paths-added": "paths-missing", "step-only-in-a": "step-only-in-b",
            "step-only-in-b": "step-only-in-a"}
    ab, ba = diff(*pair), diff(*reversed(pair))
    assert sorted((swap.get(f.code, f.code), f.step_b, f.step_a, tuple(f.paths)) for f in ab.findings) == \
        sorted((f.code, f.step_a, f.step_b, tuple(f.paths)) for f in ba.findings)


@pytest.mark.parametrize("pair", [("tomcat-pulled", "tomcat-cache-from"), ("same-legacy", "same-oci"),
                                  ("timestamps-a", "timestamps-b"), ("whiteout-a", "whiteout-b"),
                                  ("opaque-a", "opaque-b"), ("mode-a", "mode-b"), ("platform-a", "platform-b")])
def test_every_code_is_registered_with_its_severity(pair):
    from imageforensics.catalogue import Category, code_spec
    for f in diff(*pair).findings:
        spec = code_spec(f.code)
        assert f.severity in spec.severities
        if spec.category in (Category.INTEGRITY, Category.TIME_SIGNAL):
            assert f.side in ("A", "B"), f"{f.code} is a single-image audit code, carried without a side"
