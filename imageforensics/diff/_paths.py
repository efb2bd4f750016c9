"""Filesystem findings: the two merged filesystems compared, every path
attributed to the history step that last wrote it in each image.

A path only one image holds is grouped by the step that wrote it and by its
cause, decided from the steps alone, so that diff(B, A) gives the mirror of
diff(A, B) at the same severity:

- **added**: the step that wrote it is one the other image lacks, or builds
  from another instruction (``/app/health.txt`` added by B's step 5);
- **removed**: a step of the image that lacks it removed it (a whiteout, an
  opaque directory, a type change: ``/app/old`` deleted by B's step 6);
- **lost**: neither; the same step wrote it in one image and not in the
  other ("12 paths written by step 6 `COPY rootfs /` in A are missing from
  B"). Only this is an ERROR: content that vanished without a step that
  removed it.

Beside the findings, each path's change in a few words (``ChangeInWords``), for
the verdict to name what changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from imageforensics.diff._artefacts import split_builder_artefacts
from imageforensics.diff._align import REASON_INSTRUCTION, REASON_LAYER, Pair, Unit, effective_diff_id, image_units, layer_count
from imageforensics.created_by import display_created_by
from imageforensics.findings import Finding, Severity, evidence
from imageforensics.diff._merged_fs import (FilesystemDelta, MergedFilesystem, compare_filesystems, linked_names,
                                            merge_layers, path_changes, path_matcher)
from imageforensics.model import FileEntry, Image
from imageforensics.options import DiffOptions
from imageforensics.path_change import LINK_NAMES, PathChange, changes_text
from imageforensics.diff._change_words import change_words
from imageforensics.diff._steps import MAX_DETAILS
from imageforensics.untrusted import escape

_NONE = -1  # group key for paths written by a layer no history step reaches

LOST, REMOVED, ADDED = "lost", "removed", "added"


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeInWords:
    """One path's change in the words the verdict quotes: ``/app/run.sh`` and ``mode 0644 → 0755``.

    ``count`` is how many paths it stands for (a deleted directory with its
    subtree is one change); ``mtime_only`` marks a change of mtime alone,
    which the verdict counts rather than names; ``lost`` marks content that
    vanished without a step that removed it.
    """

    path: str
    words: str
    count: int = 1
    mtime_only: bool = False
    lost: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class FilesystemComparison:
    """The filesystem findings and the changes they hold, path by path (sorted by path)."""

    findings: tuple[Finding, ...] = ()
    changes: tuple[ChangeInWords, ...] = ()


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


def filesystem_findings(pairs: Sequence[Pair], image_a: Image, image_b: Image,
                        options: DiffOptions) -> FilesystemComparison:
    """Missing, added and changed paths of the merged filesystems, grouped by step (ignores as ``options`` say)."""
    seq_a = [effective_diff_id(image_a, i) for i in range(layer_count(image_a))]
    seq_b = [effective_diff_id(image_b, i) for i in range(layer_count(image_b))]
    if seq_a == seq_b and None not in seq_a:
        return FilesystemComparison()  # the same layers in the same order: the same filesystem
    layers_a = [entries_at(image_a, image_b, i) for i in range(len(seq_a))]
    layers_b = [entries_at(image_b, image_a, i) for i in range(len(seq_b))]
    absent = tuple(("A", i) for i, e in enumerate(layers_a) if e is None) + \
        tuple(("B", i) for i, e in enumerate(layers_b) if e is None)
    if absent:
        return FilesystemComparison(findings=(Finding(
            code="filesystem-not-compared", severity=Severity.INFO,
            summary="the merged filesystems were not compared: "
                    + ", ".join(f"{side} layer {i}" for side, i in absent) + " absent or unreadable",
            evidence=evidence(layers=absent)),))
    fa = merge_layers([e for e in layers_a if e is not None], options.limits)
    fb = merge_layers([e for e in layers_b if e is not None], options.limits)
    delta = compare_filesystems(fa, fb, ignore_mtime=options.ignore_timestamps, ignored=path_matcher(options.ignore),
                                ignore_fields=options.ignored_entry_fields, layer_ids=(seq_a, seq_b))
    # Mount points one builder's RUN leaves and the other's does not: said apart, not as missing or added content.
    delta, artefacts = split_builder_artefacts(delta, fa, fb, image_a, image_b, pairs)
    grouped = _group(delta, pairs, image_a, image_b, fa, fb)
    return FilesystemComparison(findings=(*artefacts, *grouped.findings), changes=grouped.changes)


@dataclass(frozen=True, slots=True)
class _Side:
    """One image's side of the comparison: its filesystem and how its steps pair with the other's."""

    name: str                      # "A" or "B"
    fs: MergedFilesystem
    step_of: dict[int, int]        # layer index -> history index (_NONE: a layer without history)
    units: dict[int, Unit]         # history index -> unit
    pair_of: dict[int, Pair]       # layer index -> its row of the alignment

    def own(self, pair: Pair) -> Unit | None:
        """This side's unit of a row."""
        return pair.a if self.name == "A" else pair.b

    def theirs(self, pair: Pair) -> Unit | None:
        """The other side's unit of a row."""
        return pair.b if self.name == "A" else pair.a

    def label(self, step: int) -> str:
        """``step 6 `COPY rootfs /``` (or what a layer without history is called)."""
        return _label(self.units, step, self.name)


def _step_of(unit: Unit | None) -> int:
    return unit.index if unit is not None and unit.index is not None else _NONE


def _cause(path: str, own: _Side, other: _Side) -> tuple[str, int, int | None]:
    """Why ``own`` holds ``path`` and ``other`` does not: (cause, own's writing step, other's step).

    Decided from the steps, never from which image is A: the writer being a
    step the other image lacks or builds from another instruction (added);
    else a step of the other image removing it (removed); else lost.
    """
    layer = own.fs.writer[path]
    step = own.step_of.get(layer, _NONE)
    pair = own.pair_of.get(layer)
    counterpart = own.theirs(pair) if pair is not None else None
    unit = own.own(pair) if pair is not None else None
    if pair is None or counterpart is None:
        return ADDED, step, None
    if pair.reason in (REASON_INSTRUCTION, REASON_LAYER) and unit is not None \
            and unit.created_by != counterpart.created_by:
        return ADDED, step, _step_of(counterpart)
    remover = other.fs.removed_by.get(path)
    if remover is not None:
        return REMOVED, step, other.step_of.get(remover, _NONE)
    return LOST, step, _step_of(counterpart)


def _by_cause(paths: Sequence[str], own: _Side, other: _Side) -> list[tuple[tuple[str, int, int | None], list[str]]]:
    """Paths only ``own`` holds, grouped by (cause, own's step, other's step), in step order."""
    groups: dict[tuple[str, int, int | None], list[str]] = {}
    for path in paths:
        groups.setdefault(_cause(path, own, other), []).append(path)
    return sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][2] if kv[0][2] is not None else -2, kv[0][0]))


def _only_one_side(own: _Side, other: _Side, cause: str, step: int, other_step: int | None,
                   paths: list[str]) -> Finding:
    """The finding for paths only ``own`` holds, with their cause: paths-missing (only in A) or paths-added (only in B)."""
    n = len(paths)
    s, are = ("s", "are") if n != 1 else ("", "is")
    e_g = f"e.g. /{escape(paths[0])}"
    if cause == LOST:
        text = f"{n} path{s} written by {own.label(step)} in {own.name} {are} missing from {other.name}, {e_g}"
    elif cause == REMOVED:
        assert other_step is not None
        text = (f"{n} path{s} of {own.name}, written by {own.label(step)}, {'were' if n != 1 else 'was'} deleted "
                f"in {other.name} by {other.label(other_step)}, {e_g}")
    else:
        why = ("a step " + other.name + " lacks" if other_step is None
               else f"built otherwise in {other.name}: {other.label(other_step)}")
        text = f"{n} path{s} added by {own.label(step)} in {own.name} ({why}) {are} not in {other.name}, {e_g}"
    mine = None if step == _NONE else step
    theirs = None if other_step in (None, _NONE) else other_step
    removed = (cause == REMOVED) or None
    code = "paths-missing" if own.name == "A" else "paths-added"
    steps = (mine, theirs) if own.name == "A" else (theirs, mine)
    values = dict(count=n, cause=cause, absent_from=other.name, **{f"removed_in_{other.name.lower()}": removed})
    # Both path findings are about B, the image compared against A: B lacks the missing paths and holds
    # the added ones. Which image lacks them is ``absent_from``.
    return Finding(code=code, severity=Severity.ERROR if cause == LOST else Severity.WARNING, summary=text,
                   side="B", step_a=steps[0], step_b=steps[1],
                   created_by=own.units[step].created_by if step in own.units else "",
                   paths=tuple("/" + p for p in paths), evidence=evidence(**values))


def _subtree_changes(paths: list[str], words: str, lost: bool) -> list[ChangeInWords]:
    """One change per topmost path: a directory stands for its subtree (``/app/old/``, 3 paths)."""
    out: list[ChangeInWords] = []
    top: str | None = None
    for p in sorted(paths):
        if top is not None and p.startswith(top + "/"):
            last = out[-1]
            out[-1] = ChangeInWords(path=last.path if last.path.endswith("/") else last.path + "/", words=last.words,
                                 count=last.count + 1, lost=lost)
            continue
        top = p
        out.append(ChangeInWords(path="/" + p, words=words, lost=lost))
    return out


def _group(delta: FilesystemDelta, pairs: Sequence[Pair], image_a: Image, image_b: Image,
           fa: MergedFilesystem, fb: MergedFilesystem) -> FilesystemComparison:
    units_a = image_units(image_a)
    units_b = image_units(image_b)
    step_of_a = {u.layer_index: (u.index if u.index is not None else _NONE) for u in units_a if u.layer_index is not None}
    step_of_b = {u.layer_index: (u.index if u.index is not None else _NONE) for u in units_b if u.layer_index is not None}
    by_step_a = {u.index: u for u in units_a if u.index is not None}
    by_step_b = {u.index: u for u in units_b if u.index is not None}
    pair_of_a = {p.a.layer_index: p for p in pairs if p.a is not None and p.a.layer_index is not None}
    pair_of_b = {p.b.layer_index: p for p in pairs if p.b is not None and p.b.layer_index is not None}
    side_a = _Side("A", fa, step_of_a, by_step_a, pair_of_a)
    side_b = _Side("B", fb, step_of_b, by_step_b, pair_of_b)
    out: list[Finding] = []
    changes: list[ChangeInWords] = []

    for own, other, paths in ((side_a, side_b, delta.missing), (side_b, side_a, delta.added)):
        for (cause, step, other_step), group in _by_cause(paths, own, other):
            f = _only_one_side(own, other, cause, step, other_step, group)
            out.append(f)
            if cause == LOST:
                words = f"missing from {other.name}"
            elif cause == REMOVED:
                assert other_step is not None
                words = f"deleted by {other.name}'s " + ("step " + str(other_step) if other_step != _NONE
                                                         else "layer without history")
            else:
                words = f"added by {own.name}'s " + ("step " + str(step) if step != _NONE else "layer without history")
            changes += _subtree_changes(group, words, cause == LOST)

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
        words = change_words(fa.entries[path], fb.entries[path], fields)
        if words:
            changes.append(ChangeInWords(path="/" + path, words=words, mtime_only=fields == ("mtime",)))
    for (sa, sb, mtime_only), items in sorted(changed.items()):
        counts: dict[str, int] = {}
        for _, fields in items:
            for name in fields:
                counts[name] = counts.get(name, 0) + 1
        what = ", ".join(f"{name} {n}" for name, n in sorted(counts.items()))
        where = _label(by_step_a, sa, "A") + " in A"
        if sb != sa or sb == _NONE:
            where += f", by {_label(by_step_b, sb, 'B')} in B"
        first, first_fields = items[0]
        words = change_words(fa.entries[first], fb.entries[first], first_fields)
        text = (f"{len(items)} path{'s' if len(items) != 1 else ''} written by {where} "
                f"differ{'' if len(items) != 1 else 's'} ({what}), "
                f"e.g. /{escape(first)}: {words}")
        details = {f"change_{n:03d}": path_changes("/" + p, fa.entries[p], fb.entries[p], f)
                   for n, (p, f) in enumerate(items[:MAX_DETAILS], 1)}
        out.append(Finding(code="paths-mtime-differ" if mtime_only else "paths-changed",
                           severity=Severity.INFO if mtime_only else Severity.WARNING,
                           summary=text, step_a=None if sa == _NONE else sa, step_b=None if sb == _NONE else sb,
                           created_by=by_step_a[sa].created_by if sa in by_step_a else "",
                           paths=tuple("/" + p for p, _ in items),
                           evidence=evidence(count=len(items), fields=tuple(sorted(counts.items())), **details)))
    # The groups once for every finding: a hostile image may give one file many names in many steps.
    groups = (fa.hardlink_groups(), fb.hardlink_groups()) if relinked else ({}, {})
    for (sa, sb), links in sorted(relinked.items()):
        out.append(_links_finding(sa, sb, links, by_step_a, by_step_b, fa, fb, groups))
    return FilesystemComparison(findings=tuple(out), changes=tuple(sorted(changes, key=lambda c: c.path)))


def link_change(path: str, fa: MergedFilesystem, fb: MergedFilesystem,
                groups: tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]] | None = None) -> PathChange:
    """How the names of ``path``'s file differ: the other names of its file in A and in B (the first LINK_NAMES)."""
    in_a, in_b = linked_names(path, fa, fb, *(groups or (None, None)))
    return PathChange("/" + path, "hardlinks", tuple("/" + n for n in sorted(in_a)[:LINK_NAMES]),
                      tuple("/" + n for n in sorted(in_b)[:LINK_NAMES]))


def describe_links(path: str, fa: MergedFilesystem, fb: MergedFilesystem,
                   groups: tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]] | None = None) -> str:
    """How the names of ``path``'s file differ, e.g. ``/b: one file with /a in A, a file of its own in B``."""
    return changes_text((link_change(path, fa, fb, groups),))


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
    details = {f"change_{k:03d}": (link_change(p, fa, fb, groups),) for k, (p, _) in enumerate(links[:MAX_DETAILS], 1)}
    return Finding(code="paths-hardlinks-differ", severity=Severity.INFO, summary=text,
                   step_a=None if sa == _NONE else sa, step_b=None if sb == _NONE else sb,
                   created_by=by_step_a[sa].created_by if sa in by_step_a else "",
                   paths=tuple("/" + p for p, _ in links),
                   evidence=evidence(count=n, same_content=same, **details))
