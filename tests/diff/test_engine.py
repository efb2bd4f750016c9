"""Edge cases of the diff: images without history, absent or unreadable blobs,
empty steps spelled differently, huge histories, packaging-only differences."""

from __future__ import annotations

from dataclasses import replace

import pytest

from imageforensics.diff import _align as align
from imageforensics.diff._engine import diff_images
from imageforensics.options import DiffOptions, Limits
from imageforensics.findings import Severity
from imageforensics.model import EMPTY_TAR_1024
from imageforensics.path_change import PathChange
from tests.modelfactory import archive, build, directory, file, known_empty_layer, layer, mark_empty, spec, step


def diff(ia, ib, options=DiffOptions()):
    return diff_images(archive(ia), ia, archive(ib, source="b.tar"), ib, options)


def codes(report, minimum=Severity.INFO):
    return sorted(f.code for f in report.findings if f.severity >= minimum)


def test_images_without_history_are_compared_layer_by_layer():
    a = build(spec(step("x", file("base")), step("y", file("app", "1"))))
    b = build(spec(step("x", file("base")), step("y", file("app", "2"))))
    a, b = replace(a, history=()), replace(b, history=())
    report = diff(a, b)
    assert [(r.index_a, r.index_b) for r in report.steps] == [(None, None), (None, None)]
    [changed] = [f for f in report.findings if f.code == "layer-content-differs"]
    assert "layer 1 (no history entry)" in changed.summary and changed.paths == ("/app",)
    assert report.verdict_kind == "diverged"


def test_an_absent_blob_is_taken_from_the_other_image_when_the_diff_ids_agree():
    s = spec(step("FROM", file("a")), step("RUN b", file("b")), step("RUN c", file("c")))
    a = build(s)
    b = build(replace(s, steps=s.steps[:2] + (replace(s.steps[2], layer=layer(file("c", "changed"))),)))
    b = replace(b, layers=(None,) + b.layers[1:])  # B's base blob is missing from its archive
    report = diff(a, b)
    assert codes(report, Severity.WARNING) == ["layer-content-differs", "paths-changed"]
    assert "filesystem-not-compared" not in codes(report)


def test_an_unreadable_layer_without_a_copy_stops_the_filesystem_comparison_only():
    a = build(spec(step("FROM", file("a")), step("RUN b", file("b"))))
    b = build(spec(step("FROM", file("a")), step("RUN b", file("b", "other"))))
    b = replace(b, layers=(b.layers[0], replace(b.layers[1], readable=False, problem="truncated", entries=())))
    report = diff(a, b)
    assert "filesystem-not-compared" in codes(report)
    [f] = [f for f in report.findings if f.code == "layer-content-differs"]
    assert "entries not compared" in f.summary


def test_an_empty_step_recorded_as_empty_layer_or_as_dockers_empty_tar_is_not_content():
    s = spec(step("FROM", file("a")), step("RUN true"), step("CMD x"))
    a = build(s)
    b = build(replace(s, steps=(s.steps[0], replace(s.steps[1], layer=known_empty_layer(EMPTY_TAR_1024)), s.steps[2])))
    report = diff(a, b)
    # Each side's audit says how its step is recorded: A's RUN marked empty_layer, B's docker empty tar.
    assert [(f.code, f.side, f.step_a, f.step_b) for f in report.findings] == [
        ("empty-layer-spelling", "", 1, 1), ("fs-step-marked-empty", "A", 1, None), ("layer-empty", "B", None, 1)]
    assert report.verdict_kind == "metadata"
    assert "empty steps recorded differently" in report.verdict


def test_same_entries_with_different_tar_bytes():
    s = spec(step("FROM", file("a"), file("b")))
    a = build(s)
    b = build(replace(s, steps=(replace(s.steps[0], layer=layer(file("b"), file("a"))),)))
    report = diff(a, b)
    assert codes(report) == ["layer-bytes-differ"]
    assert "the same entries in a different order" in report.findings[0].summary
    assert report.verdict_kind == "metadata"


def test_a_surplus_non_empty_step_without_a_layer_counts_as_wrongly_empty():
    s = spec(step("FROM", file("a")), step("COPY x /", file("x")))
    b = replace(s, steps=(s.steps[0], replace(s.steps[1], layer=None, empty_layer=False)))
    report = diff(build(s), build(b))
    [f] = [f for f in report.findings if f.code == "step-wrongly-empty"]
    assert "matched to no layer" in f.summary and f.side == "B"


def test_a_step_wrongly_empty_in_a_is_reported_from_a_side():
    s = spec(step("FROM", file("a")), step("COPY x /", file("x")), step("CMD y"))
    report = diff(build(mark_empty(s, 1)), build(s))
    [f] = [f for f in report.findings if f.code == "step-wrongly-empty"]
    assert (f.side, f.step_a, f.step_b, f.severity) == ("A", 1, 1, Severity.ERROR)
    assert f.evidence_value("entries_b") == 1 and f.evidence_value("empty_layer_a") is True
    # The mirror of B wrongly empty: A is missing content that B has.
    assert report.verdict_kind == "missing-content"
    assert report.verdict.startswith("A is missing content that B has: step 1 `COPY x /` carries")


def test_huge_histories_use_the_fallback_alignment():
    s = spec(*[step(f"RUN n{i}", file(f"f{i}")) if i % 3 else step(f"ENV V={i}") for i in range(60)])
    b = replace(s, steps=s.steps[:30] + (step("RUN inserted", file("new")),) + s.steps[30:])
    b = replace(b, steps=tuple(replace(x, created=y.created) for x, y in zip(b.steps, s.steps + s.steps[-1:])))
    b = replace(b, steps=b.steps[:31] + tuple(replace(x, created=s.steps[30 + n].created) for n, x in enumerate(b.steps[31:])))
    exact = align.align_images(build(s), build(b))
    fallback = align.align_images(build(s), build(b), Limits(max_alignment_cells=1))
    rows = [(p.a.index if p.a else None, p.b.index if p.b else None) for p in fallback]
    assert rows == [(p.a.index if p.a else None, p.b.index if p.b else None) for p in exact]
    assert (None, 30) in rows and (30, 31) in rows


def test_ignored_timestamps_leave_no_created_marks_but_keep_the_drift_values():
    s = spec(step("FROM", file("a")), step("CMD x"))
    b = replace(s, steps=(s.steps[0], replace(s.steps[1], created="2030-01-01T00:00:00Z")))
    report = diff(build(s), build(b), DiffOptions(ignore_timestamps=True))
    assert report.findings == () and report.verdict_kind == "identical"
    assert report.steps[1].marks == () and report.steps[1].drift_ns is not None
    assert report.options == (("ignore_timestamps", "true"),)


@pytest.mark.parametrize("kind", ["symlink", "dir"])
def test_a_path_replaced_by_another_type(kind):
    a = build(spec(step("FROM", file("etc/conf", "x"))))
    other = directory("etc/conf") if kind == "dir" else replace(file("etc/conf"), kind="symlink", linkname="/x",
                                                                   content_digest="", size=0)
    b = build(spec(step("FROM", other)))
    [f] = [f for f in diff(a, b).findings if f.code == "paths-changed"]
    assert f.paths == ("/etc/conf",) and f.evidence_value("change_001")[0] == PathChange("/etc/conf", "kind", "file", kind)


def test_a_squashed_image_moves_content_without_losing_it():
    # docker build --squash: every step after the base is marked empty_layer and a
    # final "merge" entry carries all of their files (moby image_squash.go).
    s = spec(step("ADD base / ", file("bin/sh")), step("COPY app /app # buildkit", file("app/main")),
             step("RUN make # buildkit", file("app/out")))
    squashed = spec(s.steps[0], replace(s.steps[1], layer=None, empty_layer=True),
                    replace(s.steps[2], layer=None, empty_layer=True),
                    step("", file("app/main"), file("app/out"), comment="merge sha256:aa to sha256:bb"))
    for report, side, other in ((diff(build(s), build(squashed)), "B", "a"), (diff(build(squashed), build(s)), "A", "b")):
        # The merged steps are empty by the squash's design, not wrongly empty: one INFO says what it merged.
        assert not [f for f in report.findings if f.code in ("step-wrongly-empty", "step-only-in-a", "step-only-in-b",
                                                              "paths-missing", "paths-added")]
        [squash] = [f for f in report.findings if f.code == "steps-squashed"]
        assert squash.severity == Severity.INFO and squash.side == side
        assert squash.evidence_value("merged") == (1, 2) and squash.evidence_value("carrier") == 3
        assert squash.evidence_value(f"layered_{other}") == (1, 2)
        assert report.verdict_kind == "metadata" and report.exit_status == 1
        assert report.verdict.startswith(f"same files; {side} is squashed (docker build --squash)")


def test_a_squashed_image_that_lost_a_path_is_not_called_a_buildkit_cache_loss():
    s = spec(step("ADD base / ", file("bin/sh")), step("COPY app /app # buildkit", file("app/main")),
             step("RUN make # buildkit", file("app/out")))
    # The merge entry carries app/out but not app/main: content is really lost.
    squashed = spec(s.steps[0], replace(s.steps[1], layer=None, empty_layer=True),
                    replace(s.steps[2], layer=None, empty_layer=True),
                    step("", file("app/out"), comment="merge sha256:aa to sha256:bb"))
    report = diff(build(s), build(squashed))
    # Step 1's file is gone (the merge entry lost it); step 2's lives on in the merge entry.
    assert not [f for f in report.findings if f.code == "step-wrongly-empty"]
    [missing] = [f for f in report.findings if f.code == "paths-missing"]
    assert missing.severity == Severity.ERROR and missing.paths == ("/app/main",) and missing.step_a == 1
    assert "BuildKit" not in missing.summary
    assert report.verdict_kind == "missing-content" and "BuildKit cache import" not in report.verdict
    assert report.verdict.endswith(" B is squashed (docker build --squash): its steps' files are in its last layer.")
    # The same loss in an image that is not squashed is BuildKit's signature.
    lost = spec(s.steps[0], replace(s.steps[1], layer=None, empty_layer=True), s.steps[2])
    report = diff(build(s), build(lost))
    assert "Pattern: a BuildKit cache import that lost a layer" in report.verdict


def test_steps_paired_by_instruction_alone_are_not_wrongly_empty():
    a = build(spec(step("ADD base /", file("bin/sh")), step("COPY conf /etc/app/", file("etc/app/conf"))))
    b = build(mark_empty(spec(step("ADD base /", file("bin/sh")), step("COPY other /srv/", file("srv/x"))), 1))
    report = diff(a, b)
    assert [(r.index_a, r.index_b) for r in report.steps] == [(0, 0), (1, 1)]
    assert not [f for f in report.findings if f.code == "step-wrongly-empty"]
    [missing] = [f for f in report.findings if f.code == "paths-missing"]
    assert missing.paths == ("/etc/app/conf",) and missing.step_a == 1
    # Written by a step B builds from another instruction: added by A's step, not lost from B.
    assert (missing.severity, missing.evidence_value("cause")) == (Severity.WARNING, "added")
    assert report.verdict_kind == "diverged" and "BuildKit" not in report.verdict
    assert "/etc/app/conf added by A's step 1" in report.verdict


def test_unrelated_images_are_different():
    a = build(spec(step("ADD file:a in /", file("a")), step("USER x")))
    b = build(spec(step("COPY b /", file("b")), step("WORKDIR /")))
    report = diff(a, b)
    assert report.verdict_kind == "different" and report.exit_status == 1
    assert report.verdict == "different: no history step or layer in common (2 steps in A, 2 in B)"


def test_same_config_but_a_blob_whose_content_differs_is_not_identical():
    s = spec(step("FROM", file("a")), step("RUN b", file("b")))
    a = build(s)
    tampered = layer(file("b", "tampered"))
    b = replace(a, layers=(a.layers[0], tampered))  # same config and declared diff_ids, other bytes
    report = diff(a, b)
    assert a.image_id == b.image_id and report.verdict_kind == "diverged"
    # B's audit: the blob does not hash to the diff_id its config declares.
    assert [(f.code, f.side) for f in report.findings if f.severity >= Severity.WARNING] == [
        ("diff-id-mismatch", "B"), ("layer-content-differs", ""), ("paths-changed", "")]


def test_classic_and_buildkit_spellings_of_one_dockerfile_pair_step_by_step():
    classic = spec(step("/bin/sh -c #(nop) ADD file:1a2b in / ", file("bin/sh")),
                   step("/bin/sh -c apk add curl", file("usr/bin/curl")),
                   step("/bin/sh -c #(nop) COPY dir:9f8e in /app ", file("app/main")),
                   step("/bin/sh -c #(nop)  EXPOSE 8080"),
                   step('/bin/sh -e -c #(nop)  CMD ["run"]'))
    buildkit = spec(classic.steps[0], replace(classic.steps[1], created_by="RUN /bin/sh -c apk add curl # buildkit"),
                    replace(classic.steps[2], created_by="COPY app /app # buildkit"),
                    replace(classic.steps[3], created_by="EXPOSE map[8080/tcp:{}]"),
                    replace(classic.steps[4], created_by='CMD ["run"]'))
    report = diff(build(classic), build(buildkit))
    assert [(r.index_a, r.index_b) for r in report.steps] == [(i, i) for i in range(5)]
    [note] = report.findings
    assert (note.code, note.severity, note.evidence_value("steps_a")) == ("created-by-spelling", Severity.INFO, (1, 2, 3, 4))
    assert "same COPY/ADD destination" in note.summary and "EXPOSE written as a Go map" in note.summary
    assert report.verdict_kind == "metadata"


def test_an_archive_lacking_a_layer_blob_does_not_hold_the_same_image():
    a = build(spec(step("FROM", file("a")), step("COPY app /", file("app"))))
    b = replace(a, layers=(a.layers[0], None))  # same config and diff_ids; B's archive lost the blob
    forward, backward = diff(a, b), diff(b, a)
    assert forward.verdict_kind == "missing-content" and forward.exit_status == 1
    assert "lacks a readable blob for layer 1 (step 1 `COPY app /`)" in forward.verdict
    # The mirror: A's archive lacks it.
    assert backward.verdict_kind == "missing-content" and backward.exit_status == 1
    assert backward.verdict.startswith("A is missing content that B has: the same config and diff_ids, but A's "
                                       "archive lacks a readable blob for layer 1 (step 1 `COPY app /`)")
    assert diff(b, b).verdict_kind == "identical"


def test_the_verdict_names_the_first_step_that_diverges_not_the_step_that_wrote_the_path():
    # Steps 0-2 are one build (the ENV only re-stamped); step 3 deletes another file on each side.
    from tests.modelfactory import shift_time, whiteout

    def image(gone: str):
        return spec(step("FROM", file("bin/sh")),
                    step("COPY app/ /app/ # buildkit", file("app/x.txt"), file("app/y.txt")),
                    step("ENV STAGE=cleanup"),
                    step(f"RUN /bin/sh -c rm /app/{gone}.txt # buildkit", whiteout(f"app/{gone}.txt")))
    a, b = image("x"), shift_time(shift_time(image("y"), 2, 10**9), 3, 10**9)
    for report, first in ((diff(build(a), build(b)), "x"), (diff(build(b), build(a)), "y")):
        second = "y" if first == "x" else "x"
        assert report.verdict_kind == "diverged"
        assert report.verdict.startswith(f"diverged at step 3 `RUN /bin/sh -c rm /app/{first}.txt` in A, "
                                         f"`RUN /bin/sh -c rm /app/{second}.txt` in B: ")
        assert f"/app/{first}.txt deleted by A's step 3" in report.verdict
        assert f"/app/{second}.txt deleted by B's step 3" in report.verdict
        # The ENV differs only in its created time: drift, not where the history diverges.
        assert "Created times drift from step 2 `ENV STAGE=cleanup` on" in report.verdict
        assert not [f for f in report.findings if f.severity is Severity.ERROR]
