"""Findings about aligned history steps: wrongly-empty steps, inserted or changed
steps, layers whose content differs, and timestamp drift with its signatures.

Pure functions over the alignment (``align.py``); the diff engine
(``diff.py``) assembles them into the report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from imageforensics.diff._align import REASON_INSTRUCTION, REASON_LAYER, REASON_SOURCE, Pair, Unit
from imageforensics.builders import buildkit_may_have_written, has_buildah_comment, squash_of
from imageforensics.created_by import COPY_INSTRUCTIONS, FILESYSTEM_INSTRUCTIONS, display_created_by, step_instruction
from imageforensics.catalogue import EvidenceValue
from imageforensics.findings import Finding, Severity, evidence
from imageforensics.diff._artefacts import layer_artefacts
from imageforensics.diff._change_words import change_words
from imageforensics.diff._merged_fs import changed_fields, layer_links, path_changes
from imageforensics.model import EMPTY_GZIP_BUILDKIT, WELL_KNOWN_EMPTY, FileEntry, HistoryStep, Image, Layer
from imageforensics.path_change import PathChange
from imageforensics.timestamp import Timestamp, format_duration
from imageforensics.units import human_size
from imageforensics.untrusted import escape

MAX_DETAILS = 20  # per-path detail lines in evidence; every path is in `paths`


def step_label(pair: Pair) -> str:
    """``step 6 `COPY rootfs /``` (with B's index when it differs)."""
    a, b = pair.a, pair.b
    ia = a.index if a is not None else None
    ib = b.index if b is not None else None
    unit = a if a is not None else b
    assert unit is not None
    if unit.step is None:
        return f"layer {unit.layer_index} (no history entry)"
    if a is not None and b is not None and ia != ib:
        where = f"step {ia} (B: step {ib})"
    elif a is not None:
        where = f"step {ia}"
    else:
        where = f"step {ib} of B"
    return f"{where} `{display_created_by(unit.created_by, 'summary')}`"


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerState:
    """What one side holds at a unit: real content, or nothing (and why)."""

    has_content: bool
    how: str                     # "marked empty_layer", "an empty layer (…)", "a layer", …
    layer: Layer | None = None
    size: int | None = None
    entries: int | None = None


def layer_state(image: Image, unit: Unit) -> LayerState:
    """Whether the unit carries content in this image, with the layer's size and entry count."""
    if unit.layer_index is None:
        step = unit.step
        if step is not None and step.empty_layer:
            return LayerState(has_content=False, how="marked empty_layer")
        return LayerState(has_content=False, how="matched to no layer (history has more non-empty steps than layers)")
    layer = image.layers[unit.layer_index] if unit.layer_index < len(image.layers) else None
    # Match well-known empty layers by digest (FORMATS.md A5): the stored blob
    # first (BuildKit's empty gzip), then the diff_id (docker's 1024-byte tar).
    known = next((d.hex for d in (layer.blob_digest if layer else None, unit.diff_id)
                  if d is not None and d.hex in WELL_KNOWN_EMPTY), None)
    if known is not None:
        return LayerState(has_content=False, how=f"an empty layer ({WELL_KNOWN_EMPTY[known]})",
                          layer=layer, size=layer_size(layer), entries=0)
    if layer is None:
        return LayerState(has_content=True, how="a layer whose blob is absent from the archive")
    if layer.readable and (layer.empty_kind or not layer.entries):
        return LayerState(has_content=False, how=f"an empty layer ({layer.empty_kind or 'entry-less tar'})",
                          layer=layer, size=layer_size(layer), entries=0)
    return LayerState(has_content=True, how="a layer", layer=layer, size=layer_size(layer),
                      entries=layer.entry_count if layer.readable else None)


class LayerStates:
    """Each unit's LayerState computed once per diff (sizes sum every entry of a layer)."""

    __slots__ = ("_image_a", "_image_b", "_done")

    def __init__(self, image_a: Image, image_b: Image) -> None:
        self._image_a, self._image_b = image_a, image_b
        self._done: dict[tuple[str, int], LayerState] = {}

    def a(self, unit: Unit) -> LayerState:
        """The state of a unit of image A."""
        return self._get("A", self._image_a, unit)

    def b(self, unit: Unit) -> LayerState:
        """The state of a unit of image B."""
        return self._get("B", self._image_b, unit)

    def _get(self, side: str, image: Image, unit: Unit) -> LayerState:
        key = (side, id(unit))
        state = self._done.get(key)
        if state is None:
            state = self._done[key] = layer_state(image, unit)
        return state


def layer_size(layer: Layer | None) -> int | None:
    """What ``docker history`` shows as SIZE: the bytes of the layer's regular files.

    For a layer whose entries could not be listed, its uncompressed tar size.
    """
    if layer is None:
        return None
    if not layer.readable:
        return layer.uncompressed_size or layer.size
    return sum(e.size for e in layer.entries if e.kind == "file")


def _content_text(state: LayerState) -> str:
    size = f"{human_size(state.size)} layer" if state.size is not None else "layer"
    entries = f" ({state.entries} entries)" if state.entries is not None else ""
    return f"{size}{entries}"


def _wrongly_empty_parts(pair: Pair, image_a: Image, image_b: Image, states: LayerStates
                         ) -> tuple[str, list[str], dict[str, EvidenceValue | None]] | None:
    """The sentence, the signals and the evidence of a wrongly-empty step, or None when it is not one."""
    assert pair.a is not None and pair.b is not None
    if pair.reason == REASON_INSTRUCTION:
        return None
    sa, sb = states.a(pair.a), states.b(pair.b)
    if sa.has_content == sb.has_content:
        return None
    full, empty, full_side, empty_side = (sa, sb, "A", "B") if sa.has_content else (sb, sa, "B", "A")
    empty_unit = pair.b if empty_side == "B" else pair.a
    empty_image = image_b if empty_side == "B" else image_a
    signatures = single_image_signals(empty_image, empty_unit)
    sentence = (f"{step_label(pair)} carries a {_content_text(full)} in {full_side} "
                f"but is {empty.how} in {empty_side}")
    full_unit = pair.a if full_side == "A" else pair.b
    assert full_unit is not None and empty_unit is not None
    values: dict[str, EvidenceValue | None] = {
        f"layer_size_{full_side.lower()}": full.size,
        f"entries_{full_side.lower()}": full.entries,
        f"diff_id_{full_side.lower()}": full_unit.diff_id,
        f"tar_size_{full_side.lower()}": full.layer.uncompressed_size if full.layer is not None else None,
        f"blob_size_{full_side.lower()}": full.layer.size if full.layer is not None else None,
        f"empty_layer_{empty_side.lower()}": empty_unit.step.empty_layer if empty_unit.step else None,
        f"state_{empty_side.lower()}": empty.how,
        f"diff_id_{empty_side.lower()}": empty_unit.diff_id,
        "signals": tuple(signatures) or None,
    }
    return sentence, signatures, values


def wrongly_empty(pair: Pair, image_a: Image, image_b: Image, states: LayerStates) -> Finding | None:
    """A step with content in one image and none (empty_layer or an empty layer) in the other.

    Only for the same step in both: steps paired by their instruction alone
    (``COPY a /x`` against ``COPY b /y``) are different commands, and one of
    them writing nothing says nothing about a lost layer.
    """
    parts = _wrongly_empty_parts(pair, image_a, image_b, states)
    if parts is None:
        return None
    assert pair.a is not None and pair.b is not None
    sentence, signatures, values = parts
    text = sentence + (f" ({'; '.join(signatures)})" if signatures else "")
    empty_side = "B" if states.a(pair.a).has_content else "A"
    return Finding(code="step-wrongly-empty", severity=Severity.ERROR, summary=text, side=empty_side,
                   step_a=pair.a.index, step_b=pair.b.index, created_by=pair.a.created_by or pair.b.created_by,
                   evidence=evidence(**values))


def wrongly_empty_sentence(f: Finding, pairs: Sequence[Pair], image_a: Image, image_b: Image,
                           states: LayerStates) -> str | None:
    """What a wrongly-empty finding of these pairs says, without its signals (the verdict quotes it); else None."""
    for pair in pairs:
        if pair.a is None or pair.b is None or (pair.a.index, pair.b.index) != (f.step_a, f.step_b):
            continue
        # A layer without history has no step index: the finding itself tells which pair made it.
        parts = _wrongly_empty_parts(pair, image_a, image_b, states)
        if parts is not None and wrongly_empty(pair, image_a, image_b, states) == f:
            return parts[0]
    return None


def removal_signature(image: Image, step: HistoryStep | None) -> bool:
    """BuildKit's empty-layer removal signature: a BuildKit filesystem step marked empty_layer, not merged by a squash.

    Only a step BuildKit may have written carries it (``builders.buildkit_may_have_written``):
    the classic builder, buildah and podman never drop a layer so.
    """
    if step is None or not step.empty_layer:
        return False
    squash = squash_of(image)
    if squash is not None and squash.merges(step):
        return False
    return step_instruction(step.created_by) in FILESYSTEM_INSTRUCTIONS and buildkit_may_have_written(image, step)


def single_image_signals(image: Image, unit: Unit) -> list[str]:
    """BuildKit's empty-layer signatures on one side's step (FORMATS.md A4).

    A squashed image marks every merged step empty_layer by design: that is
    said instead, since it is no sign of BuildKit's layer loss.
    """
    step = unit.step
    if step is None:
        return []
    squash = squash_of(image)
    if squash is not None and squash.merges(step):
        return [f"the image is squashed ({squash.kind} marks every merged step empty_layer)"]
    out = []
    keyword = step_instruction(step.created_by)
    if removal_signature(image, step):
        out.append(f"a {keyword} step marked empty_layer, BuildKit's empty-layer removal signature")
        later = image.history[step.index + 1:]
        if all(s.empty_layer for s in later):
            out.append("at the top of the history, where BuildKit flips surplus entries to empty")
    layer = image.layers[unit.layer_index] if unit.layer_index is not None and unit.layer_index < len(image.layers) else None
    if layer is not None and layer.blob_digest.hex == EMPTY_GZIP_BUILDKIT and keyword in COPY_INSTRUCTIONS:
        out.append(f"its layer is BuildKit's empty gzip blob {EMPTY_GZIP_BUILDKIT[:12]}…")
    return out


def _at_pair(pair: Pair, code: str, severity: Severity, summary: str, values: dict[str, EvidenceValue | None],
             paths: tuple[str, ...] = ()) -> Finding:
    """A finding about two aligned steps."""
    assert pair.a is not None and pair.b is not None
    return Finding(code=code, severity=severity, summary=summary, step_a=pair.a.index, step_b=pair.b.index,
                   created_by=pair.a.created_by or pair.b.created_by, paths=paths, evidence=evidence(**values))


def _entry_key(e: FileEntry) -> tuple[str, str]:
    # A whiteout or opaque marker for a path is not the same entry as the path itself.
    return (e.path, e.kind if e.kind in ("whiteout", "opaque") else "")


def _entry_changes(label: str, ea: FileEntry, eb: FileEntry, fields: tuple[str, ...], link_a: str | None,
                   link_b: str | None) -> tuple[PathChange, ...]:
    """An entry's changes: which earlier entry of its layer it is a hardlink to, first, then its fields."""
    changes = path_changes(label, ea, eb, fields)
    if "hardlinks" not in fields:
        return changes
    link = PathChange(label, "hardlink", "" if link_a is None else "/" + link_a, "" if link_b is None else "/" + link_b)
    return (link, *changes)


def layer_content(pair: Pair, entries_a: Sequence[FileEntry] | None, entries_b: Sequence[FileEntry] | None,
                  *, ignore_mtime: bool, ignored: Callable[[str], bool] | None,
                  ignore_fields: frozenset[str] = frozenset(), builders: tuple[str, str] = ("", "")) -> Finding:
    """Aligned layers with different diff_ids, with the entry-level changes inside them.

    ``builders`` names whose RUN wrote each side's layer (``builders.run_builder_name``),
    which says what empty mount points it leaves.
    """
    assert pair.a is not None and pair.b is not None
    base: dict[str, EvidenceValue | None] = dict(diff_id_a=pair.a.diff_id, diff_id_b=pair.b.diff_id)
    if entries_a is None or entries_b is None:
        return _at_pair(pair, "layer-content-differs", Severity.WARNING,
                        f"{step_label(pair)}: the layers differ (diff_ids differ); "
                        "entries not compared: a blob is absent or unreadable", base)
    # A hardlink to an earlier entry of its layer is compared as the file it names; that it
    # is a link (and to which name) is said apart, not as "size 0 -> 5; content changed".
    resolved_a, links_a = layer_links(entries_a)
    resolved_b, links_b = layer_links(entries_b)
    da = {_entry_key(e): e for e in resolved_a}
    db = {_entry_key(e): e for e in resolved_b}
    lines: list[tuple[str, tuple[PathChange, ...]]] = []
    words: list[str] = []  # per line, the change in a few words (for the summary)
    ignored_count = 0
    mtime_only = True
    mtime_alone: list[bool] = []  # per line: only the mtime differs (said by count, the paths by paths-mtime-differ)
    # Empty mount points one builder's RUN leaves in its layer (builders.mount_point_artefacts).
    artefacts = (layer_artefacts([k[0] for k in da.keys() - db.keys()], resolved_a, builders[0], pair.a.step)
                 | layer_artefacts([k[0] for k in db.keys() - da.keys()], resolved_b, builders[1], pair.b.step))
    artefact_count = 0
    for key in sorted(da.keys() | db.keys()):
        ea, eb = da.get(key), db.get(key)
        label = "/" + key[0] + (f" ({key[1]})" if key[1] else "")
        if ea is not None and eb is not None:
            every = changed_fields(ea, eb)
            link_a, link_b = links_a.get(key[0]), links_b.get(key[0])
            if not every and link_a == link_b:
                continue
            fields = tuple(f for f in every if f not in ignore_fields and not (ignore_mtime and f == "mtime"))
            if link_a != link_b:
                fields += ("hardlinks",)
            change = _entry_changes(label, ea, eb, fields, link_a, link_b) if fields else ()
            said = change_words(ea, eb, fields)
        else:
            fields = ()
            change = (PathChange(label, "presence", eb is None, ea is None),)
            said = "only in A" if eb is None else "only in B"
            if key[0] in artefacts and not key[1]:
                artefact_count += 1
                continue
        if not change or (ignored is not None and ignored(key[0])):
            ignored_count += 1
            continue
        mtime_only = mtime_only and fields == ("mtime",)
        mtime_alone.append(fields == ("mtime",))
        lines.append((label, change))
        words.append(said)
    values: dict[str, EvidenceValue | None] = dict(
        base, entries_a=len(entries_a), entries_b=len(entries_b), changed_entries=len(lines),
        ignored_changes=ignored_count or None, mtime_only=(mtime_only and bool(lines)) or None,
        builder_artefacts=artefact_count or None)
    # Numbered keys keep untrusted paths out of evidence names.
    details = {f"entry_{n:03d}": change for n, (_, change) in enumerate(lines[:MAX_DETAILS], 1)}
    paths = tuple(label for label, _ in lines)
    if lines:
        mtimes = sum(mtime_alone)
        others = len(lines) - mtimes
        times = f"the mtimes of {mtimes} entr{'ies' if mtimes != 1 else 'y'}" if mtimes else ""
        if others:
            label, said = next((line[0], w) for line, w, alone in zip(lines, words, mtime_alone) if not alone)
            text = (f"{step_label(pair)}: {others} entr{'ies' if others != 1 else 'y'} of the layers "
                    f"differ{'s' if others == 1 else ''}, "
                    f"e.g. {escape(label)} {said}" + (f"; and {times}" if times else ""))
        else:
            text = f"{step_label(pair)}: the layers differ only in {times}"
        return _at_pair(pair, "layer-content-differs", Severity.INFO if mtime_only else Severity.WARNING,
                        text, {**values, **details}, paths)
    if ignored_count:
        return _at_pair(pair, "layer-differs-ignored", Severity.INFO,
                        f"{step_label(pair)}: the layers differ only in ignored paths or entry fields (timestamps, mode, owner)", values)
    if artefact_count:
        return _at_pair(pair, "layer-differs-ignored", Severity.INFO,
                        f"{step_label(pair)}: the layers differ only in the empty mount points a builder's RUN "
                        f"leaves ({artefact_count} entr{'ies' if artefact_count != 1 else 'y'})", values)
    why = ("the same entries in a different order" if list(da) != list(db)
           else "the same entries; the tar bytes differ (header encoding or padding)")
    return _at_pair(pair, "layer-bytes-differ", Severity.INFO, f"{step_label(pair)}: the diff_ids differ but {why}",
                    values)


def step_text(pair: Pair) -> Finding | None:
    """Paired steps whose created_by differs (beyond builder spelling) or whose metadata differs."""
    assert pair.a is not None and pair.b is not None
    a, b = pair.a.step, pair.b.step
    if a is None or b is None:
        return None
    if pair.reason in (REASON_INSTRUCTION, REASON_LAYER) and a.created_by != b.created_by:
        return _at_pair(pair, "step-changed", Severity.WARNING,
                        f"step {a.index} (B: step {b.index}) was built from a different instruction: "
                        f"A `{display_created_by(a.created_by, 'summary')}`, B `{display_created_by(b.created_by, 'summary')}` "
                        f"(paired by: {pair.reason})",
                        dict(created_by_a=a.created_by, created_by_b=b.created_by, paired_by=pair.reason))
    if pair.reason == REASON_SOURCE:
        return _at_pair(pair, "copy-source-differs", Severity.INFO,
                        f"{step_label(pair)} is the same instruction with other source content "
                        "(the classic builder names the sources by a hash of their content)",
                        dict(created_by_a=a.created_by, created_by_b=b.created_by))
    if a.created_by != b.created_by:
        return _at_pair(pair, "created-by-spelling", Severity.INFO,
                        f"{step_label(pair)} is written differently by the two builders ({pair.reason})",
                        dict(created_by_a=a.created_by, created_by_b=b.created_by, paired_by=pair.reason))
    if (a.comment, a.author) != (b.comment, b.author):
        if a.author == b.author and has_buildah_comment(a) and has_buildah_comment(b):
            # buildah comments a step "FROM <the previous image>": an ID no two builds share.
            return None
        return _at_pair(pair, "step-metadata-differs", Severity.INFO, f"{step_label(pair)}: comment or author differs",
                        dict(comment_a=a.comment, comment_b=b.comment, author_a=a.author, author_b=b.author))
    return None


def only_one_side(pair: Pair, states: LayerStates) -> Finding:
    """A step (or a layer without history) that only one image has."""
    unit = pair.a if pair.a is not None else pair.b
    assert unit is not None
    side = "a" if pair.a is not None else "b"
    state = states.a(unit) if side == "a" else states.b(unit)
    what = f"with a {_content_text(state)}" if state.has_content else "(no content)"
    code = f"step-only-in-{side}" if unit.step is not None else f"layer-only-in-{side}"
    return Finding(code=code, severity=Severity.WARNING,
                   summary=f"{step_label(pair)} is only in {side.upper()}, {what}",
                   step_a=unit.index if side == "a" else None, step_b=unit.index if side == "b" else None,
                   created_by=unit.created_by, side=side.upper(),
                   evidence=evidence(layer_index=unit.layer_index, diff_id=unit.diff_id,
                                     layer_size=state.size, entries=state.entries))


def created_of(unit: Unit | None) -> Timestamp | None:
    """The created timestamp of a unit's step, if any."""
    return unit.step.created if unit is not None and unit.step is not None else None


def times_differ(ta: Timestamp | None, tb: Timestamp | None) -> bool:
    """Different instants (the same instant spelled differently is not a difference)."""
    if ta is None or tb is None:
        return (ta is None) != (tb is None)
    if ta.ns is not None and tb.ns is not None:
        return ta.ns != tb.ns
    return ta.raw != tb.raw


def drift_ns(ta: Timestamp | None, tb: Timestamp | None) -> int | None:
    """B minus A in nanoseconds, when both parse."""
    if ta is None or tb is None or ta.ns is None or tb.ns is None:
        return None
    return tb.ns - ta.ns


def timestamp_drift(pairs: Sequence[Pair]) -> Finding | None:
    """One finding for the drift of created times: where history diverges, and every step's drift."""
    drifted = [p for p in pairs if p.a is not None and p.b is not None
               and times_differ(created_of(p.a), created_of(p.b))]
    if not drifted:
        return None
    first = drifted[0]
    assert first.a is not None and first.b is not None
    ta, tb = created_of(first.a), created_of(first.b)
    d = drift_ns(ta, tb)
    how = (f"{format_duration(d)} in B" if d is not None else "created times differ")
    steps = tuple(p.a.index if p.a is not None and p.a.index is not None else -1 for p in drifted)
    drifts = tuple((p.a.index, drift_ns(created_of(p.a), created_of(p.b))) for p in drifted if p.a is not None)
    # A drift alone is no divergence of the history: the same instructions, created at other times
    # (BuildKit stamps metadata steps per build).
    summary = (f"created times drift from {step_label(first)} on: {how} "
               f"(A {escape(ta.raw) if ta else 'none'}, B {escape(tb.raw) if tb else 'none'}); "
               f"{len(drifted)} aligned step{'s' if len(drifted) != 1 else ''} drift")
    # The drift's duration is shown from drift_ns (catalogue: duration_of).
    return Finding(code="timestamp-drift", severity=Severity.WARNING, summary=summary,
                   step_a=first.a.index, step_b=first.b.index, created_by=first.a.created_by,
                   evidence=evidence(created_a=ta, created_b=tb, drift_ns=d, drifted_steps=len(drifted),
                                     drifts=drifts, steps_a=steps))
