"""Properties of squashed builds: a squash of a layered build is the same files, in either order.

A layered buildah/podman build is generated (COPY/RUN steps writing, and
overwriting, paths from a small pool; ENV steps; a last step that is a COPY,
a RUN or a CMD), then squashed the way buildah without --layers and podman
--squash do (every build step marked empty_layer, the merged files in one
layer on the last step) or docker build --squash does (a merge entry). The
diff must say "same files; <side> is squashed" in either order, mirrored; a
file dropped from the squashed layer must be named as missing, nothing else.
"""

from __future__ import annotations

from collections import Counter
from hypothesis import given, settings
from hypothesis import strategies as st

from imageforensics.diff._engine import diff_images
from imageforensics.model import FileEntry, Image
from imageforensics.report._values import Report
from tests.modelfactory import StepSpec, archive, build, file, layer, spec, step

BASE = step("", file("bin/sh", "sh"), comment="busybox-static rootfs")
POOL = ("srv/a.txt", "srv/b.txt", "srv/c/d.txt", "opt/e.txt")


@st.composite
def builds(draw: st.DrawFn) -> list[tuple[str, tuple[FileEntry, ...]]]:
    """The build's steps after the base: (created_by, the files it writes), at least one filesystem step before the last."""
    n = draw(st.integers(1, 4))
    steps: list[tuple[str, tuple[FileEntry, ...]]] = []
    for i in range(n):
        kind = draw(st.sampled_from(["COPY", "RUN", "ENV"])) if i else draw(st.sampled_from(["COPY", "RUN"]))
        if kind == "ENV":
            steps.append((f"/bin/sh -c #(nop) ENV V{i}=1", ()))
            continue
        paths = draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=3, unique=True))
        files = tuple(file(p, draw(st.sampled_from(["x", "y", "zz"]))) for p in paths)
        spelled = (f"/bin/sh -c #(nop) COPY file:{i:04x} in /srv/ " if kind == "COPY" else f"/bin/sh -c echo {i}")
        steps.append((spelled, files))
    last = draw(st.sampled_from(["COPY", "RUN", "CMD"]))
    if last == "CMD":
        steps.append(('/bin/sh -c #(nop) CMD ["sh"]', ()))
    else:
        paths = draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=2, unique=True))
        steps.append(("/bin/sh -c #(nop) COPY file:ffff in /opt/ " if last == "COPY" else "/bin/sh -c echo last",
                      tuple(file(p, draw(st.sampled_from(["x", "w"]))) for p in paths)))
    return steps


def layered(steps: list[tuple[str, tuple[FileEntry, ...]]]) -> Image:
    specs: list[StepSpec] = [BASE]
    for i, (created_by, files) in enumerate(steps):
        comment = "FROM localhost/rt-base:latest" if i == 0 else f"FROM {i:012x}"
        specs.append(step(created_by, *files, comment=comment))
    return build(spec(*specs))


def merged_files(steps: list[tuple[str, tuple[FileEntry, ...]]]) -> dict[str, FileEntry]:
    out: dict[str, FileEntry] = {}
    for _, files in steps:
        out.update({f.path: f for f in files})
    return out


def squashed(steps: list[tuple[str, tuple[FileEntry, ...]]], how: str, drop: str | None = None) -> Image:
    files = tuple(f for p, f in sorted(merged_files(steps).items()) if p != drop)
    if how == "docker":
        body = [step(created_by, empty_layer=True) for created_by, _ in steps]
        return build(spec(BASE, *body, step("", layer_value=layer(*files),
                                             comment="merge sha256:" + "a" * 64 + " to sha256:" + "b" * 64)))
    body = [step(created_by, empty_layer=True) for created_by, _ in steps[:-1]]
    return build(spec(BASE, *body, StepSpec(created_by=steps[-1][0], layer=layer(*files), empty_layer=False,
                                            comment="FROM localhost/rt-base:latest")))


def diff(a: Image, b: Image) -> Report:
    return diff_images(archive(a, source="a.tar"), a, archive(b, source="b.tar"), b)


def _kinds(report: Report, swap: bool = False) -> Counter[tuple[str, str, str]]:
    sides = {"A": "B", "B": "A", "": ""} if swap else {"A": "A", "B": "B", "": ""}
    return Counter((f.code, f.severity.name, sides[f.side]) for f in report.findings)


def _fs_steps_before_last(steps: list[tuple[str, tuple[FileEntry, ...]]]) -> bool:
    return any(files for _, files in steps[:-1])


@settings(max_examples=60, deadline=None)
@given(builds(), st.sampled_from(["buildah", "docker"]))
def test_a_squash_of_a_layered_build_is_the_same_files_in_either_order(steps, how) -> None:
    if how == "buildah" and not _fs_steps_before_last(steps):
        steps = [("/bin/sh -c echo first", (file("srv/first.txt", "1"),)), *steps]
    a, b = layered(steps), squashed(steps, how)
    forward, backward = diff(a, b), diff(b, a)
    assert forward.verdict.startswith("same files; B is squashed"), forward.verdict
    assert backward.verdict.startswith("same files; A is squashed"), backward.verdict
    assert forward.exit_status == backward.exit_status == 1
    assert not {f.code for f in forward.findings} & {"step-wrongly-empty", "paths-missing", "paths-added",
                                                     "paths-changed", "step-only-in-a", "step-only-in-b"}
    assert _kinds(forward) == _kinds(backward, swap=True)


@settings(max_examples=60, deadline=None)
@given(builds(), st.sampled_from(["buildah", "docker"]), st.data())
def test_a_file_the_squash_lost_is_named_missing(steps, how, data) -> None:
    if how == "buildah" and not _fs_steps_before_last(steps):
        steps = [("/bin/sh -c echo first", (file("srv/first.txt", "1"),)), *steps]
    drop = data.draw(st.sampled_from(sorted(merged_files(steps))))
    a, b = layered(steps), squashed(steps, how, drop=drop)
    forward, backward = diff(a, b), diff(b, a)
    assert {p for f in forward.findings if f.code == "paths-missing" for p in f.paths} == {"/" + drop}
    assert {p for f in backward.findings if f.code == "paths-added" for p in f.paths} == {"/" + drop}
    assert forward.verdict_kind == "missing-content" and not forward.verdict.startswith("same files")
    assert not backward.verdict.startswith("same files")
    assert not [f for f in forward.findings if "BuildKit" in f.summary]
    # The step that wrote the file last in the layered build is named.
    writer = max(i + 1 for i, (_, files) in enumerate(steps) if any(f.path == drop for f in files))
    [missing] = [f for f in forward.findings if f.code == "paths-missing"]
    assert missing.step_a == writer and missing.severity.name == "ERROR"
