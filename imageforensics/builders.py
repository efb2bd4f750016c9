"""Which builder wrote an image, read from its history: each builder's own conventions.

What the real builders write (FORMATS.md A4; checked on dockerd 20.10,
buildah 1.28 and podman 4.3 output):

- BuildKit ends RUN/COPY/ADD with `` # buildkit`` and comments every step
  ``buildkit.dockerfile.v0`` (``buildkit.exporter.image.v0`` for entries it
  appended). Before v0.10 it dropped empty-gzip layers and marked their steps
  empty_layer: a filesystem step marked empty_layer is its loss signature.
- The classic builder writes ``/bin/sh -c #(nop) COPY file:<hash> in /dest``
  and a bare ``/bin/sh -c …`` for RUN, with no comment; ``docker build
  --squash`` marks every step after the parent's empty_layer and appends an
  entry commented ``merge sha256:X to sha256:Y``.
- buildah (and podman, which builds with it) spells steps as the classic
  builder does and comments the step that carries a layer ``FROM <base>``
  (``--layers``: each step ``FROM <the previous image ID>``). Without
  ``--layers`` (and ``podman build --squash``) it commits one layer for the
  whole build on the LAST step, whatever its instruction (COPY, RUN, CMD…),
  and marks the build's other steps empty_layer; ``podman build
  --squash-all`` does the same with the base's files in that one layer too
  and no history entry for the base. ``buildah commit`` records the working
  container's command (``/bin/sh``) as created_by of a step with its own
  layer, commented ``FROM <base>``.

Pure functions over model values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from imageforensics.created_by import FILESYSTEM_INSTRUCTIONS, normalise_created_by, step_instruction
from imageforensics.model import FileEntry, HistoryStep, Image

# moby image_squash.go: the appended entry's comment.
_DOCKER_SQUASH = re.compile(r"(merge sha256:[0-9a-f]+ to sha256:[0-9a-f]+|create new from sha256:[0-9a-f]+)")
# buildah's comment on a step that carries a layer: "FROM <image reference or ID>".
_BUILDAH_FROM = re.compile(r"FROM \S+")
BUILDKIT_SUFFIX = " # buildkit"

DOCKER_SQUASH = "docker build --squash"
BUILDAH_SINGLE_LAYER = "buildah/podman single-layer build"
PODMAN_SQUASH_ALL = "podman build --squash-all"


@dataclass(frozen=True, slots=True, kw_only=True)
class Squash:
    """How an image's build steps were merged into one layer.

    ``carrier`` is the history index of the step that carries the merged
    layer; ``merged`` the steps (marked empty_layer) whose files are in it;
    ``whole_image`` says the one layer also holds the base's files, whose
    history entries are gone (``podman build --squash-all``).
    """

    kind: str
    carrier: int
    merged: tuple[int, ...]
    whole_image: bool = False

    def merges(self, step: HistoryStep | None) -> bool:
        """True when the step's files went into the carrier's layer."""
        return step is not None and step.index in self.merged


def is_buildkit_step(step: HistoryStep) -> bool:
    """A step in BuildKit's spelling (the `` # buildkit`` suffix or a ``buildkit.`` comment)."""
    return " ".join(step.created_by.split()).endswith(BUILDKIT_SUFFIX) or step.comment.startswith("buildkit.")


def has_buildah_comment(step: HistoryStep) -> bool:
    """A step commented ``FROM <base>``, as buildah and podman comment the steps that carry a layer."""
    return _BUILDAH_FROM.fullmatch(step.comment.strip()) is not None


def built_with_buildah(image: Image) -> bool:
    """The image's history carries buildah's (or podman's) ``FROM <base>`` comments."""
    return any(has_buildah_comment(s) for s in image.history)


def _classic_spelling(step: HistoryStep) -> bool:
    return any(note.startswith("classic builder") for note in normalise_created_by(step.created_by)[1])


def buildkit_may_have_written(image: Image, step: HistoryStep) -> bool:
    """Whether a BuildKit signature can be read on this step: BuildKit's spelling, or no builder's.

    A step in the classic builder's spelling, or in an image buildah or
    podman built, was not written by BuildKit, so BuildKit's loss signature
    does not apply to it.
    """
    if is_buildkit_step(step):
        return True
    return not _classic_spelling(step) and not built_with_buildah(image)


def is_commit_step(step: HistoryStep | None) -> bool:
    """A ``buildah commit`` step: its own layer, commented ``FROM <base>``, created_by the container's command.

    Its created_by names no Dockerfile instruction (``/bin/sh``), so it pairs
    with no build step by text.
    """
    return (step is not None and not step.empty_layer and has_buildah_comment(step)
            and bool(step.created_by.strip()) and step_instruction(step.created_by) == "")


def _merged_before(image: Image, carrier: int) -> tuple[int, ...]:
    """The run of empty_layer steps just before the carrier: the steps a squash merged."""
    start = carrier
    while start > 0 and image.history[start - 1].empty_layer:
        start -= 1
    return tuple(range(start, carrier))


def squash_of(image: Image) -> Squash | None:
    """How the image was squashed, or None for a layered image.

    ``docker build --squash``: the last entry is commented ``merge sha256:…``.
    buildah without ``--layers`` and ``podman build --squash``: the last entry
    carries a layer and is commented ``FROM <base>``, and at least one
    filesystem step (RUN, COPY, ADD) just before it is marked empty_layer
    and uncommented: its files are in that layer. A healthy ``buildah commit`` image has a
    layer on every step and is no squash.
    """
    if not image.history:
        return None
    last = image.history[-1]
    merged = _merged_before(image, last.index)
    if _DOCKER_SQUASH.fullmatch(last.comment.strip()):
        return Squash(kind=DOCKER_SQUASH, carrier=last.index, merged=merged)
    if last.empty_layer or not has_buildah_comment(last):
        return None
    if not any(step_instruction(image.history[i].created_by) in FILESYSTEM_INSTRUCTIONS for i in merged):
        return None
    if any(has_buildah_comment(image.history[i]) for i in merged):
        # buildah --layers comments every step "FROM <the previous image ID>", empty ones too
        # (a RUN that changed nothing): its steps were committed one by one, not merged.
        return None
    whole = bool(merged) and merged[0] == 0 and last.layer_index == 0
    return Squash(kind=PODMAN_SQUASH_ALL if whole else BUILDAH_SINGLE_LAYER, carrier=last.index, merged=merged,
                  whole_image=whole)


def squash_kind(image: Image) -> str:
    """Which tool merged the image's steps into one layer (``squash_of``), or ""."""
    found = squash_of(image)
    return found.kind if found is not None else ""


# What a RUN step's layer holds besides the command's own files. BuildKit's runc
# executor leaves the empty mount-point directories dev/, proc/ and sys/ in the
# first RUN layer of a build; buildah and podman (chroot isolation) leave dev/,
# proc/, sys/, run/, etc/ and the empty files etc/hostname, etc/hosts and
# etc/resolv.conf they bind-mount; the classic builder commits none of them, and
# neither is assumed of a builder not known by its spelling.
BUILDKIT = "BuildKit"
BUILDAH = "buildah/podman"
_MOUNT_POINTS = {
    BUILDKIT: (frozenset({"dev", "proc", "sys"}), frozenset[str]()),
    BUILDAH: (frozenset({"dev", "proc", "sys", "run", "etc"}),
              frozenset({"etc/hostname", "etc/hosts", "etc/resolv.conf"})),
}


def mount_point_artefacts(only_here: Iterable[str], entries: Mapping[str, FileEntry], builder: str) -> frozenset[str]:
    """Which of the paths only one side has are the empty mount points ``builder``'s RUN leaves.

    ``entries`` are that side's (a layer's or a merged filesystem's); ``builder``
    is ``run_builder_name``'s answer for the step that wrote them. A mount
    point is an empty file of the builder's mount-point files, or one of its
    mount-point directories that holds nothing but such files, all of them only
    on this side. Whether a RUN step wrote them is for the caller to check.
    """
    mount_dirs, mount_files = _MOUNT_POINTS.get(builder, (frozenset[str](), frozenset[str]()))
    only = set(only_here)
    files = {p for p in only & mount_files
             if (e := entries.get(p)) is not None and e.kind == "file" and e.size == 0}
    dirs = set()
    for d in only & mount_dirs:
        e = entries.get(d)
        if e is None or e.kind != "dir":
            continue
        inside = [p for p in entries if p.startswith(d + "/")]
        if all(p in files for p in inside):
            dirs.add(d)
    return frozenset(files | dirs)


def run_builder_name(image: Image, step: HistoryStep) -> str:
    """Whose RUN left mount points in the step's layer, in words: BuildKit, buildah/podman or "the builder"."""
    if is_buildkit_step(step):
        return BUILDKIT
    if built_with_buildah(image):
        return BUILDAH
    return "the builder"
