"""Builder artefacts in a diff: the empty mount points a builder's RUN leaves, which another builder does not.

BuildKit's RUN leaves empty /dev, /proc and /sys in its layer; buildah's and
podman's also /run, /etc and empty /etc/hostname, /etc/hosts and
/etc/resolv.conf; the classic builder none (``builders.mount_point_artefacts``).
Comparing two builders' images, such paths on one side only are how that
builder works, not content one image lacks: they are taken out of the paths
missing or added and said in one INFO per side, the same in either argument
order. Pure functions over the merged filesystems.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace

from imageforensics.builders import mount_point_artefacts, run_builder_name
from imageforensics.created_by import display_created_by, step_instruction
from imageforensics.diff._align import Pair
from imageforensics.diff._merged_fs import FilesystemDelta, MergedFilesystem
from imageforensics.findings import Finding, Severity, evidence
from imageforensics.model import FileEntry, HistoryStep, Image
from imageforensics.untrusted import escape


def _run_steps(image: Image) -> dict[int, HistoryStep]:
    """Layer index → the RUN step that wrote it."""
    return {s.layer_index: s for s in image.history
            if s.layer_index is not None and step_instruction(s.created_by) == "RUN"}


def run_artefacts(only_here: Sequence[str], fs: MergedFilesystem, image: Image,
                  ran_there: Collection[int]) -> dict[int, list[str]]:
    """The paths only this side has that are mount points left by a RUN step, grouped by that step's index.

    Only a RUN the other image ran too, with a layer of its own (``ran_there``):
    a step the other image lost, or never ran, lost or lacks its mount points
    with the rest of its layer.
    """
    runs = _run_steps(image)
    by_step: dict[int, tuple[HistoryStep, list[str]]] = {}
    for path in only_here:
        step = runs.get(fs.writer[path]) if path in fs.writer else None
        if step is not None and step.index in ran_there:
            by_step.setdefault(step.index, (step, []))[1].append(path)
    out: dict[int, list[str]] = {}
    for index, (step, paths) in sorted(by_step.items()):
        found = mount_point_artefacts(paths, fs.entries, run_builder_name(image, step))
        if found:
            out[index] = sorted(found)
    return out


def _ran_on_both(pairs: Sequence[Pair], side: str) -> set[int]:
    """This side's steps whose counterpart in the other image carries a layer with entries."""
    out: set[int] = set()
    for p in pairs:
        own, other = (p.a, p.b) if side == "A" else (p.b, p.a)
        if own is None or other is None or own.index is None or not other.has_layer:
            continue
        out.add(own.index)
    return out


def layer_artefacts(only_here: Sequence[str], entries: Sequence[FileEntry], builder: str,
                    step: HistoryStep | None) -> frozenset[str]:
    """The entries only this side's layer has that are mount points its RUN step (by ``builder``) left.

    None for other steps.
    """
    if step is None or step_instruction(step.created_by) != "RUN":
        return frozenset()
    return mount_point_artefacts(only_here, {e.path: e for e in entries}, builder)


def split_builder_artefacts(delta: FilesystemDelta, fa: MergedFilesystem, fb: MergedFilesystem,
                            image_a: Image, image_b: Image, pairs: Sequence[Pair]) -> tuple[FilesystemDelta, list[Finding]]:
    """The delta without the builder artefacts on either side, and one INFO per side that has them."""
    in_a = run_artefacts(delta.missing, fa, image_a, _ran_on_both(pairs, "A"))
    in_b = run_artefacts(delta.added, fb, image_b, _ran_on_both(pairs, "B"))
    if not in_a and not in_b:
        return delta, []
    out: list[Finding] = []
    gone: set[str] = set()
    for side, groups, image in (("A", in_a, image_a), ("B", in_b, image_b)):
        other = "B" if side == "A" else "A"
        by_step = {s.index: s for s in image.history}
        for index, paths in sorted(groups.items()):
            step = by_step[index]
            gone.update(paths)
            builder = run_builder_name(image, step)
            # One example: the finding's paths list them all, cut as --max-paths cuts every list.
            shown = (f"the empty mount point /{escape(paths[0])}" if len(paths) == 1
                     else f"{len(paths)} empty mount points (e.g. /{escape(paths[0])})")
            summary = (f"{side}'s step {index} `{display_created_by(step.created_by, 'summary')}` left {shown}, "
                       f"which {other} lacks: an artefact of {builder}'s RUN, not content")
            out.append(Finding(code="builder-artefacts", severity=Severity.INFO, summary=summary, side=side,
                               step_a=index if side == "A" else None, step_b=index if side == "B" else None,
                               created_by=step.created_by, paths=tuple("/" + p for p in paths),
                               evidence=evidence(count=len(paths), builder=builder)))
    kept = replace(delta, missing=tuple(p for p in delta.missing if p not in gone),
                   added=tuple(p for p in delta.added if p not in gone))
    return kept, out
