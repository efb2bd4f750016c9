"""Filesystem findings: the two merged filesystems compared, every path
attributed to the history step that last wrote it in each image.

Missing and added paths are grouped by the step that wrote them ("12 paths
written by step 6 `COPY rootfs /` in A are missing from B"), with the step of
the other image that removed them when a whiteout, opaque directory or type
change did.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from imageforensics.diff._artefacts import split_builder_artefacts
from imageforensics.diff._align import Pair, Unit, effective_diff_id, image_units, layer_count
from imageforensics.created_by import display_created_by
from imageforensics.findings import Finding, Severity, evidence
from imageforensics.diff._merged_fs import (FilesystemDelta, MergedFilesystem, compare_filesystems, describe_change,
                                    linked_names, merge_layers, path_matcher)
from imageforensics.model import FileEntry, Image
from imageforensics.options import DiffOptions
from imageforensics.diff._steps import MAX_DETAILS
from imageforensics.untrusted import escape

_NONE = -1  # group key for paths written by a layer no history step reaches


def layer_entries(image: Image, other: Image, unit: Unit) -> tuple[FileEntry, ...] | None:
    """The entries of the unit's layer; a blob absent here is taken from any layer with its diff_id."""
    if unit.layer_index is None:
        return ()
    return entries_at(image, other, unit.layer_index)


def entries_at(image: Image, other: Image, index: int) -> tuple[FileEntry, ...] | None:
    """The entries of the layer at ``index``; an absent or unreadable blob is taken from any layer with its diff_id."""
    layer = image.layers[index] if index < len(image.layers) else None
    if layer is not None and layer.readable:
        return layer.entries
    # Equal diff_ids prove equal content: a copy of the blob elsewhere will do.
    want = effective_diff_id(image, index)
    for candidate in (*image.layers, *other.layers):
        if candidate is not None and candidate.readable and want is not None and candidate.diff_id == want:
            return candidate.entries
    return None


def _label(units: dict[int, Unit], step: int, side: str) -> str:
    if step == _NONE:
        return f"a layer without history entry in {side}"
    unit = units[step]
    return f"step {step} `{display_created_by(unit.created_by, 'summary')}`"


def filesystem_findings(pairs: Sequence[Pair], image_a: Image, image_b: Image, options: DiffOptions) -> list[Finding]:
    """Missing, added and changed paths of the merged filesystems, grouped by step (ignores as ``options`` say)."""
    seq_a = [effective_diff_id(image_a, i) for i in range(layer_count(image_a))]
    seq_b = [effective_diff_id(image_b, i) for i in range(layer_count(image_b))]
    if seq_a == seq_b and None not in seq_a:
        return []  # the same layers in the same order: the same filesystem
    layers_a = [entries_at(image_a, image_b, i) for i in range(len(seq_a))]
    layers_b = [entries_at(image_b, image_a, i) for i in range(len(seq_b))]
    absent = tuple(("A", i) for i, e in enumerate(layers_a) if e is None) + \
        tuple(("B", i) for i, e in enumerate(layers_b) if e is None)
    if absent:
        return [Finding(code="filesystem-not-compared", severity=Severity.INFO,
                        summary="the merged filesystems were not compared: "
                                + ", ".join(f"{side} layer {i}" for side, i in absent) + " absent or unreadable",
                        evidence=evidence(layers=absent))]
    fa = merge_layers([e for e in layers_a if e is not None], options.limits)
    fb = merge_layers([e for e in layers_b if e is not None], options.limits)
    delta = compare_filesystems(fa, fb, ignore_mtime=options.ignore_timestamps, ignored=path_matcher(options.ignore),
                                layer_ids=(seq_a, seq_b))
    # Mount points one builder's RUN leaves and the other's does not: said apart, not as missing or added content.
    delta, artefacts = split_builder_artefacts(delta, fa, fb, image_a, image_b, pairs)
    return artefacts + _group(delta, pairs, image_a, image_b, fa, fb)


def _by_steps(paths: Iterable[str], own: MergedFilesystem, other: MergedFilesystem, step_of_own: dict[int, int],
              step_of_other: dict[int, int], own_to_other: dict[int, int | None]
              ) -> list[tuple[int, int | None, bool, list[str]]]:
    """Paths only one side has, grouped by (its step that wrote them, the other side's step, removed?).

    The other side's step is the one that removed the path there, else the
    step paired with the writer (None when none is).
    """
    groups: dict[tuple[int, int | None, bool], list[str]] = {}
    for path in paths:
        step = step_of_own.get(own.writer[path], _NONE)
        remover = other.removed_by.get(path)
        counterpart = step_of_other.get(remover, _NONE) if remover is not None else own_to_other.get(step)
        groups.setdefault((step, counterpart, remover is not None), []).append(path)
    return [(*key, paths) for key, paths in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0, kv[0][2]))]


def _group(delta: FilesystemDelta, pairs: Sequence[Pair], image_a: Image, image_b: Image,
           fa: MergedFilesystem, fb: MergedFilesystem) -> list[Finding]:
    units_a = image_units(image_a)
    units_b = image_units(image_b)
    step_of_a = {u.layer_index: (u.index if u.index is not None else _NONE) for u in units_a if u.layer_index is not None}
    step_of_b = {u.layer_index: (u.index if u.index is not None else _NONE) for u in units_b if u.layer_index is not None}
    by_step_a = {u.index: u for u in units_a if u.index is not None}
    by_step_b = {u.index: u for u in units_b if u.index is not None}
    a_to_b = {p.a.index: p.b.index for p in pairs if p.a and p.b and p.a.index is not None}
    b_to_a = {p.b.index: p.a.index for p in pairs if p.a and p.b and p.b.index is not None}
    out: list[Finding] = []

    for wrote_a, other_b, removed, paths in _by_steps(delta.missing, fa, fb, step_of_a, step_of_b, a_to_b):
        text = (f"{len(paths)} path{'s' if len(paths) != 1 else ''} written by {_label(by_step_a, wrote_a, 'A')} "
                f"in A {'are' if len(paths) != 1 else 'is'} missing from B, e.g. /{escape(paths[0])}")
        if removed and other_b is not None:
            text += f" (removed in B by {_label(by_step_b, other_b, 'B')})"
        out.append(Finding(code="paths-missing", severity=Severity.ERROR, summary=text, side="B",
                           step_a=None if wrote_a == _NONE else wrote_a,
                           step_b=None if other_b in (None, _NONE) else other_b,
                           created_by=by_step_a[wrote_a].created_by if wrote_a in by_step_a else "",
                           paths=tuple("/" + p for p in paths),
                           evidence=evidence(count=len(paths), removed_in_b=removed or None)))

    for wrote_b, other_a, removed, paths in _by_steps(delta.added, fb, fa, step_of_b, step_of_a, b_to_a):
        text = (f"{len(paths)} path{'s' if len(paths) != 1 else ''} written by {_label(by_step_b, wrote_b, 'B')} "
                f"in B {'are' if len(paths) != 1 else 'is'} not in A, e.g. /{escape(paths[0])}")
        if removed and other_a is not None:
            text += f" (removed in A by {_label(by_step_a, other_a, 'A')})"
        # Both path findings are about B, the image compared against A: B lacks
        # the missing paths and holds the added ones.
        out.append(Finding(code="paths-added", severity=Severity.WARNING, summary=text, side="B",
                           step_a=None if other_a in (None, _NONE) else other_a,
                           step_b=None if wrote_b == _NONE else wrote_b,
                           created_by=by_step_b[wrote_b].created_by if wrote_b in by_step_b else "",
                           paths=tuple("/" + p for p in paths),
                           evidence=evidence(count=len(paths), removed_in_a=removed or None)))

    changed: dict[tuple[int, int, bool], list[tuple[str, tuple[str, ...]]]] = {}
    relinked: dict[tuple[int, int], list[tuple[str, bool]]] = {}
    for path, fields in delta.changed:
        sa = step_of_a.get(fa.writer[path], _NONE)
        sb = step_of_b.get(fb.writer[path], _NONE)
        rest = tuple(name for name in fields if name != "hardlinks")
        if len(rest) != len(fields):
            same = not {"kind", "size", "content_digest"} & set(rest)
            relinked.setdefault((sa, sb), []).append((path, same))
        if rest:
            changed.setdefault((sa, sb, rest == ("mtime",)), []).append((path, rest))
    for (sa, sb, mtime_only), items in sorted(changed.items()):
        counts: dict[str, int] = {}
        for _, fields in items:
            for name in fields:
                counts[name] = counts.get(name, 0) + 1
        what = ", ".join(f"{name} {n}" for name, n in sorted(counts.items()))
        where = _label(by_step_a, sa, "A") + " in A"
        if sb != sa or sb == _NONE:
            where += f", by {_label(by_step_b, sb, 'B')} in B"
        first = items[0][0]
        text = (f"{len(items)} path{'s' if len(items) != 1 else ''} written by {where} "
                f"differ{'' if len(items) != 1 else 's'} ({what}), "
                f"e.g. /{escape(first)}: {escape(describe_change(fa.entries[first], fb.entries[first], items[0][1]))}")
        details = {f"change_{n:03d}": f"/{p}: {describe_change(fa.entries[p], fb.entries[p], f)}"
                   for n, (p, f) in enumerate(items[:MAX_DETAILS], 1)}
        out.append(Finding(code="paths-mtime-differ" if mtime_only else "paths-changed", severity=Severity.WARNING,
                           summary=text, step_a=None if sa == _NONE else sa, step_b=None if sb == _NONE else sb,
                           created_by=by_step_a[sa].created_by if sa in by_step_a else "",
                           paths=tuple("/" + p for p, _ in items),
                           evidence=evidence(count=len(items), fields=tuple(sorted(counts.items())), **details)))
    # The groups once for every finding: a hostile image may give one file many names in many steps.
    groups = (fa.hardlink_groups(), fb.hardlink_groups()) if relinked else ({}, {})
    for (sa, sb), links in sorted(relinked.items()):
        out.append(_links_finding(sa, sb, links, by_step_a, by_step_b, fa, fb, groups))
    return out


def _names(names: frozenset[str]) -> str:
    if not names:
        return "a file of its own"
    shown = sorted(names)
    return "one file with " + ", ".join("/" + n for n in shown[:3]) + (" …" if len(shown) > 3 else "")


def describe_links(path: str, fa: MergedFilesystem, fb: MergedFilesystem,
                   groups: tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]] | None = None) -> str:
    """How the names of ``path``'s file differ, e.g. ``/b: one file with /a in A, a file of its own in B``."""
    in_a, in_b = linked_names(path, fa, fb, *(groups or (None, None)))
    return f"/{path}: {_names(in_a)} in A, {_names(in_b)} in B"


def _links_finding(sa: int, sb: int, links: list[tuple[str, bool]], by_step_a: dict[int, Unit],
                   by_step_b: dict[int, Unit], fa: MergedFilesystem, fb: MergedFilesystem,
                   groups: tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]) -> Finding:
    """One finding for the paths written by one pair of steps whose link structure alone (or also) differs."""
    where = _label(by_step_a, sa, "A") + " in A"
    if sb != sa or sb == _NONE:
        where += f", by {_label(by_step_b, sb, 'B')} in B"
    n = len(links)
    same = all(s for _, s in links)
    text = (f"{n} path{'s' if n != 1 else ''} written by {where} "
            f"{'are' if n != 1 else 'is'} linked differently"
            f"{' (the same content)' if same else ''}, e.g. {escape(describe_links(links[0][0], fa, fb, groups))}")
    details = {f"change_{k:03d}": describe_links(p, fa, fb, groups) for k, (p, _) in enumerate(links[:MAX_DETAILS], 1)}
    return Finding(code="paths-hardlinks-differ", severity=Severity.INFO, summary=text,
                   step_a=None if sa == _NONE else sa, step_b=None if sb == _NONE else sb,
                   created_by=by_step_a[sa].created_by if sa in by_step_a else "",
                   paths=tuple("/" + p for p, _ in links),
                   evidence=evidence(count=n, same_content=same, **details))
