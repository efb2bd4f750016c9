"""Builders' conventions in the diff, on synthetic images shaped as the real builders write them.

The shapes are those of the real pairs (tests/interop/test_pairs_builders.py
checks them on the tools' own output): buildah bud without --layers and podman
build --squash put the build's one layer on the LAST step, whatever it is;
podman build --squash-all drops the base's history entry too; buildah commit
gives its step the container's command as created_by; the classic builder
names COPY sources by content hash and writes --chown without a space; BuildKit
and buildah leave empty mount points in a RUN layer. Every case in both orders.
"""

from __future__ import annotations

import io
from collections import Counter

import pytest

from imageforensics.diff._engine import diff_images
from imageforensics.findings import Severity
from imageforensics.model import Image
from imageforensics.read._archive import read_stream
from imageforensics.report._values import Report
from tests.archivekit import Img, layer_tar, oci, tar_of
from tests.modelfactory import archive, build, directory, file, spec, step

FROM_BASE = "FROM localhost/rt-base:latest"
BASE = step("", file("bin/sh", "sh"), file("etc/passwd", "root"), directory("etc"), comment="busybox-static rootfs")


def diff(a: Image, b: Image) -> Report:
    return diff_images(archive(a, source="a.tar"), a, archive(b, source="b.tar"), b)


def both(a: Image, b: Image) -> tuple[Report, Report]:
    return diff(a, b), diff(b, a)


def mirrored(forward: Report, backward: Report) -> bool:
    swap = {"A": "B", "B": "A", "": ""}
    return (Counter((f.code, f.severity, f.side) for f in forward.findings)
            == Counter((f.code, f.severity, swap[f.side]) for f in backward.findings)
            and forward.verdict_kind == backward.verdict_kind)


def codes(report: Report) -> set[str]:
    return {f.code for f in report.findings}


LOSS_OR_CHANGE = {"step-wrongly-empty", "step-only-in-a", "step-only-in-b", "paths-missing", "paths-added",
                  "paths-changed", "step-changed", "layer-content-differs"}


# ---- buildah / podman squashes ------------------------------------------------------------


def _layered(last: str) -> Image:
    """buildah bud --layers: one layer per filesystem step, buildah's FROM comments."""
    return build(spec(BASE,
                      step("/bin/sh -c #(nop) COPY file:2ef8 in /srv/app/app.txt ", file("srv/app/app.txt", "app"),
                           comment=FROM_BASE),
                      step("/bin/sh -c mkdir -p /srv/app/conf", file("srv/app/conf/config", "cfg"),
                           comment="FROM c0b7141c7eb7"),
                      step("/bin/sh -c #(nop) ENV APP=1", comment="FROM 389579f2343b"),
                      *([step(last, file("srv/app/extra.txt", "x"), comment="FROM 3f98d36b7b53")]
                        if "CMD" not in last else [step(last, comment="FROM 3f98d36b7b53")])))


def _single(last: str, *, whole: bool = False) -> Image:
    """buildah bud without --layers / podman --squash: the build's one layer on the last step (--squash-all: all of it)."""
    files = [file("srv/app/app.txt", "app"), file("srv/app/conf/config", "cfg")]
    if "CMD" not in last:
        files.append(file("srv/app/extra.txt", "x"))
    if whole:
        files += [file("bin/sh", "sh"), file("etc/passwd", "root"), directory("etc")]
    steps = [step("/bin/sh -c #(nop) COPY file:2ef8 in /srv/app/app.txt "),
             step("/bin/sh -c mkdir -p /srv/app/conf"),
             step("/bin/sh -c #(nop) ENV APP=1"),
             step(last, *files, comment=FROM_BASE)]
    return build(spec(*([] if whole else [BASE]), *steps))


@pytest.mark.parametrize("last", [
    "/bin/sh -c #(nop) COPY file:a57d in /srv/app/extra.txt ",  # buildah bud: the last step is a COPY
    "/bin/sh -c echo x > /srv/app/extra.txt",                  # ... or a RUN
    '/bin/sh -c #(nop) CMD ["cat"]',                            # podman --squash: the CMD carries the layer
])
def test_a_single_layer_build_against_a_layered_one_is_the_same_files_squashed(last: str) -> None:
    forward, backward = both(_single(last), _layered(last))
    for report, side in ((forward, "A"), (backward, "B")):
        assert not codes(report) & LOSS_OR_CHANGE, codes(report)
        assert not [f.summary for f in report.findings if "BuildKit" in f.summary]
        # buildah's "FROM <previous image>" comments, and their absence on merged steps, are its convention.
        assert "step-metadata-differs" not in codes(report)
        [said] = [f for f in report.findings if f.code == "steps-squashed"]
        assert said.side == side and said.severity is Severity.INFO
        assert said.evidence_value("merged") == (1, 2, 3) and said.evidence_value("carrier") == 4
        assert report.verdict_kind == "metadata" and report.exit_status == 1
        assert report.verdict.startswith(f"same files; {side} is squashed (buildah/podman single-layer build)")
    assert mirrored(forward, backward)


def test_a_squash_all_build_has_no_base_step_only_in_the_other() -> None:
    last = '/bin/sh -c #(nop) CMD ["cat"]'
    forward, backward = both(_layered(last), _single(last, whole=True))
    for report, side in ((forward, "B"), (backward, "A")):
        assert not codes(report) & LOSS_OR_CHANGE, codes(report)
        [said] = [f for f in report.findings if f.code == "steps-squashed"]
        assert said.side == side and said.evidence_value("whole_image") is True
        # The base's step 0 and the layered steps are named as what the one layer stands for.
        other = "a" if side == "B" else "b"
        assert said.evidence_value(f"layered_{other}") == (0, 1, 2)
        assert report.verdict.startswith(f"same files; {side} is squashed (podman build --squash-all)")
        assert "only in" not in report.verdict
    assert mirrored(forward, backward)


def test_a_single_layer_build_that_lost_a_file_is_still_missing_content() -> None:
    last = "/bin/sh -c #(nop) COPY file:a57d in /srv/app/extra.txt "
    lossy = build(spec(BASE, step("/bin/sh -c #(nop) COPY file:2ef8 in /srv/app/app.txt "),
                       step("/bin/sh -c mkdir -p /srv/app/conf"), step("/bin/sh -c #(nop) ENV APP=1"),
                       step(last, file("srv/app/conf/config", "cfg"), file("srv/app/extra.txt", "x"), comment=FROM_BASE)))
    forward, backward = both(_layered(last), lossy)
    [missing] = [f for f in forward.findings if f.code == "paths-missing"]
    assert missing.paths == ("/srv/app/app.txt",) and missing.severity is Severity.ERROR and missing.step_a == 1
    assert forward.verdict_kind == "missing-content" and not forward.verdict.startswith("same files")
    assert "BuildKit" not in forward.verdict
    assert not backward.verdict.startswith("same files")


def test_two_steps_with_their_own_layers_are_no_squash() -> None:
    # buildah from + copy + commit: the commit step's created_by is the container's command.
    bud = build(spec(BASE, step("/bin/sh -c #(nop) COPY file:2ef8 in /srv/app/app.txt ",
                                file("srv/app/app.txt", "app", mtime=10), comment=FROM_BASE)))
    commit = build(spec(BASE, step("/bin/sh", file("srv/app/app.txt", "app", mtime=20), comment=FROM_BASE)))
    forward, backward = both(bud, commit)
    for report in (forward, backward):
        assert not codes(report) & {"steps-squashed", "squash-signature", "step-only-in-a", "step-only-in-b",
                                    "step-changed", "paths-missing", "paths-added", "paths-changed"}, codes(report)
        # The commit step pairs with the build step: one row each, the same files (an mtime apart).
        assert [(r.index_a, r.index_b) for r in report.steps] == [(0, 0), (1, 1)]
        assert "squashed" not in report.verdict and report.verdict_kind == "metadata"
    assert mirrored(forward, backward)


# ---- the classic builder's spellings --------------------------------------------------------


def test_classic_copies_of_other_sources_are_the_same_instructions() -> None:
    def classic(h: str, data: str) -> Image:
        return build(spec(BASE,
                          step(f"/bin/sh -c #(nop) COPY dir:{h}1 in /opt/files/ ", file("opt/files/one.txt", data)),
                          step(f"/bin/sh -c #(nop) COPY --chown=1000:1000dir:{h}1 in /opt/owned/ ",
                               file("opt/owned/one.txt", data, uid=1000, gid=1000)),
                          step(f"/bin/sh -c #(nop) COPY file:{h}2 in /opt/single.txt ", file("opt/single.txt", data)),
                          step(f"/bin/sh -c #(nop) ADD file:{h}2 in /opt/added.txt ", file("opt/added.txt", data))))
    forward, backward = both(classic("8362", "v1"), classic("eb8a", "v2"))
    for report in (forward, backward):
        assert "step-changed" not in codes(report)
        [said] = [f for f in report.findings if f.code == "copy-source-differs"]
        assert said.severity is Severity.INFO and said.evidence_value("steps_a") == (1, 2, 3, 4)
        # The sources' content did change: that is said as the paths' content.
        changed = {p for f in report.findings if f.code == "paths-changed" for p in f.paths}
        assert changed == {"/opt/files/one.txt", "/opt/owned/one.txt", "/opt/single.txt", "/opt/added.txt"}
    assert mirrored(forward, backward)


def test_the_classic_chown_spelling_and_buildkits_are_the_same_instruction() -> None:
    owned = file("opt/owned/one.txt", "v1", uid=1000, gid=1000)
    classic = build(spec(BASE, step("/bin/sh -c #(nop) COPY --chown=1000:1000dir:8362 in /opt/owned/ ", owned)))
    buildkit = build(spec(BASE, step("COPY files/ /opt/owned/ # buildkit", owned, comment="buildkit.dockerfile.v0")))
    forward, backward = both(classic, buildkit)
    for report in (forward, backward):
        assert "step-changed" not in codes(report) and "created-by-spelling" in codes(report)
        assert [(r.index_a, r.index_b) for r in report.steps] == [(0, 0), (1, 1)]
    assert mirrored(forward, backward)


def test_other_destinations_or_flags_are_other_instructions() -> None:
    a = build(spec(BASE, step("/bin/sh -c #(nop) COPY --chown=1000:1000dir:8362 in /opt/owned/ ", file("opt/owned/x", "1"))))
    b = build(spec(BASE, step("/bin/sh -c #(nop) COPY dir:8362 in /opt/owned/ ", file("opt/owned/x", "1", uid=5))))
    report = diff(a, b)
    assert "copy-source-differs" not in codes(report) and "step-changed" in codes(report)


# ---- mount points a RUN leaves -------------------------------------------------------------


@pytest.mark.parametrize("builder,spelling,comment,artefacts", [
    ("BuildKit", "RUN /bin/sh -c mkdir -p /work # buildkit", "", [directory("dev"), directory("proc"), directory("sys")]),
    ("buildah/podman", "/bin/sh -c mkdir -p /work", "FROM docker.io/rt/base:1",
     [directory("dev"), directory("proc"), directory("sys"), directory("run"),
      file("etc/hostname", ""), file("etc/hosts", ""), file("etc/resolv.conf", "")]),
])
def test_a_runs_empty_mount_points_are_an_artefact_in_either_order(builder: str, spelling: str, comment: str,
                                                                    artefacts: list) -> None:
    work = [directory("work"), file("work/a.txt", "a")]
    classic = build(spec(BASE, step("/bin/sh -c mkdir -p /work", *work)))
    other = build(spec(BASE, step(spelling, *work, *artefacts, comment=comment)))
    forward, backward = both(classic, other)
    for report, side in ((forward, "B"), (backward, "A")):
        assert not report.by_severity(Severity.ERROR) and report.verdict_kind != "missing-content"
        assert not codes(report) & {"paths-missing", "paths-added", "layer-content-differs"}, codes(report)
        [said] = [f for f in report.findings if f.code == "builder-artefacts"]
        assert said.side == side and said.severity is Severity.INFO and said.evidence_value("builder") == builder
        assert set(said.paths) == {"/" + e.path for e in artefacts}
    assert mirrored(forward, backward)


@pytest.mark.parametrize("spelling,comment,entries", [
    # The classic builder commits no mount points: an empty /proc in its layer is content it wrote.
    ("/bin/sh -c mkdir -p /work", "", [directory("proc")]),
    # BuildKit bind-mounts no /etc files and leaves no /run: those are the command's own.
    ("RUN /bin/sh -c mkdir -p /work # buildkit", "", [directory("run"), file("etc/hosts", "")]),
    ("RUN /bin/sh -c mkdir -p /work # buildkit", "", [directory("cfg"), directory("etc")]),
])
def test_paths_that_are_not_that_builders_mount_points_are_content(spelling: str, comment: str,
                                                                   entries: list) -> None:
    work = [directory("work"), file("work/a.txt", "a")]
    without = build(spec(step("/bin/sh -c mkdir -p /work", *work)))
    with_them = build(spec(step(spelling, *work, *entries, comment=comment)))
    forward, backward = both(without, with_them)
    shown = {"/" + e.path for e in entries}
    for report, code in ((forward, "paths-added"), (backward, "paths-missing")):
        assert "builder-artefacts" not in codes(report)
        assert {p for f in report.findings if f.code == code for p in f.paths} == shown
        assert report.verdict_kind == "missing-content"


@pytest.mark.parametrize("entry", [file("dev/null", "not empty"), file("etc/hosts", "10.0.0.1 db")])
def test_content_under_a_mount_point_is_content(entry) -> None:
    base = build(spec(BASE, step("RUN /bin/sh -c true # buildkit", directory("work"))))
    wrote = build(spec(BASE, step("RUN /bin/sh -c true # buildkit", directory("work"), directory(entry.path.split("/")[0]), entry)))
    report = diff(wrote, base)
    missing = {p for f in report.findings if f.code == "paths-missing" for p in f.paths}
    assert "/" + entry.path in missing


def test_mount_points_a_copy_wrote_are_content() -> None:
    base = build(spec(BASE, step("COPY work /work # buildkit", directory("work"))))
    copied = build(spec(BASE, step("COPY work /work # buildkit", directory("work"), directory("proc"))))
    report = diff(copied, base)
    assert "builder-artefacts" not in codes(report)
    assert {p for f in report.findings if f.code == "paths-missing" for p in f.paths} == {"/proc"}


# ---- read from archive bytes --------------------------------------------------------------


def test_a_buildah_single_layer_oci_archive_read_and_diffed() -> None:
    base = layer_tar({"bin/sh": b"sh\n"}, dirs=("bin",))
    app = layer_tar({"srv/app/app.txt": b"app\n"}, dirs=("srv", "srv/app"))
    run = layer_tar({"srv/app/conf/config": b"cfg\n"}, dirs=("srv", "srv/app", "srv/app/conf"))
    merged = layer_tar({"srv/app/app.txt": b"app\n", "srv/app/conf/config": b"cfg\n"},
                       dirs=("srv", "srv/app", "srv/app/conf"))
    history_base = {"created": "2026-12-03T09:09:52Z", "created_by": "", "comment": "busybox-static rootfs"}
    layered = Img(layers=[base, app, run], tags=["localhost/rt/app:layers"], history=[
        history_base,
        {"created": "2026-12-03T10:27:31Z", "created_by": "/bin/sh -c #(nop) COPY file:2ef8 in /srv/app/app.txt ",
         "comment": FROM_BASE},
        {"created": "2026-12-03T10:27:32Z", "created_by": "/bin/sh -c mkdir -p /srv/app/conf", "comment": "FROM c0b7141c7eb7"}])
    single = Img(layers=[base, merged], tags=["localhost/rt/app:single"], history=[
        history_base,
        {"created": "2026-12-03T10:27:27Z", "created_by": "/bin/sh -c #(nop) COPY file:2ef8 in /srv/app/app.txt ",
         "empty_layer": True},
        {"created": "2026-12-03T10:27:28Z", "created_by": "/bin/sh -c mkdir -p /srv/app/conf", "comment": FROM_BASE}])
    archives = [read_stream(io.BytesIO(tar_of(oci([img]))), name) for img, name in ((layered, "l.tar"), (single, "s.tar"))]
    (la,), (sa,) = (a.images for a in archives)
    forward = diff_images(archives[0], la, archives[1], sa)
    backward = diff_images(archives[1], sa, archives[0], la)
    assert forward.verdict.startswith("same files; B is squashed (buildah/podman single-layer build)")
    assert backward.verdict.startswith("same files; A is squashed (buildah/podman single-layer build)")
    assert not codes(forward) & LOSS_OR_CHANGE and mirrored(forward, backward)


def test_without_the_squashed_layer_the_same_files_are_not_claimed() -> None:
    from dataclasses import replace
    last = "/bin/sh -c #(nop) COPY file:a57d in /srv/app/extra.txt "
    single = _single(last)
    unreadable = replace(single, layers=(single.layers[0], replace(single.layers[1], readable=False, entries=(),
                                                                    problem="not a tar archive")))
    forward, backward = both(unreadable, _layered(last))
    for report in (forward, backward):
        assert "filesystem-not-compared" in codes(report)
        assert not report.verdict.startswith("same files"), report.verdict


def test_mount_points_of_a_step_the_other_image_lost_are_lost_with_it() -> None:
    # A RUN whose layer B lost (marked empty_layer): its mount points went with the layer, not a builder's habit.
    ran = build(spec(BASE, step("RUN /bin/sh -c mkdir /work # buildkit", directory("dev"), directory("proc"),
                                directory("work"))))
    lost = build(spec(BASE, step("RUN /bin/sh -c mkdir /work # buildkit", empty_layer=True)))
    report = diff(ran, lost)
    assert "builder-artefacts" not in codes(report)
    assert {p for f in report.findings if f.code == "paths-missing" for p in f.paths} == {"/dev", "/proc", "/work"}
    assert report.verdict_kind == "missing-content"
