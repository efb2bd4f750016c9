"""History alignment, in explicit passes.

Pass 1 (within one image): history steps to layers. Entries with
``empty_layer != true`` map 1:1, in order, onto ``rootfs.diff_ids`` (OCI
image-spec config.md; moby ``image_history.go``). The reader records this as
``HistoryStep.layer_index``; we use it as given and only derive it the same
way (counting non-empty entries) when no step carries one. Layers that no
history entry reaches become units of their own.

Pass 2 (across two images): a weighted sequence alignment (Needleman-Wunsch
with zero gap cost) over those units, keyed on ``created_by``: exact text
first, then heuristic matches with a stated reason, confirmed by layer
diff_ids. Because steps pair by what they say rather than by position, a
layer-count mismatch never shifts the pairing of later steps. Ties break
deterministically and symmetrically (a pairing beats a gap; between two
equally good gaps the later unit by created time, then text, is left
unpaired), so swapping the images mirrors the alignment.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from imageforensics.builders import is_commit_step
from imageforensics.created_by import classic_copy_parts, copy_destination, instruction, is_classic_copy, normalise_created_by
from imageforensics.history import layer_indexes
from imageforensics.model import WELL_KNOWN_EMPTY, Digest, HistoryStep, Image
from imageforensics.options import Limits

REASON_EXACT = "same created_by"
REASON_LAYER = "same layer diff_id"
REASON_INSTRUCTION = "same instruction, different text"
REASON_POSITION = "layers without history, paired in order"
REASON_COPY_DEST = "same COPY/ADD destination (the classic builder names sources by content hash)"
REASON_SOURCE = "same instruction, other source content (the classic builder names sources by content hash)"
REASON_COMMIT = "a buildah commit step (created_by is the container's command) against a build step, both with a layer"

@dataclass(frozen=True, slots=True, kw_only=True)
class Unit:
    """One position of an image's build: a history step and the layer it carries, if any.

    ``step`` is None for a layer that no history entry reaches. ``diff_id`` is
    the layer's recomputed diff_id when the blob was read, else the declared one.
    """

    step: HistoryStep | None
    layer_index: int | None
    diff_id: Digest | None

    @property
    def index(self) -> int | None:
        """The history index of the step, None for a layer without history."""
        return self.step.index if self.step is not None else None

    @property
    def created_by(self) -> str:
        """The step's created_by text ("" for a layer without history)."""
        return self.step.created_by if self.step is not None else ""

    @property
    def has_layer(self) -> bool:
        """True when a layer is matched to this unit."""
        return self.layer_index is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class Pair:
    """One row of the alignment: units in both images, or in only one.

    ``reason`` says why two units were paired ("" for only-a / only-b rows).
    """

    a: Unit | None
    b: Unit | None
    reason: str = ""

    @property
    def kind(self) -> str:
        """both, only-a or only-b."""
        if self.a is not None and self.b is not None:
            return "both"
        return "only-a" if self.a is not None else "only-b"


def step_layer_indexes(image: Image) -> tuple[int | None, ...]:
    """Pass 1: the layer index of each history step (None for empty or surplus steps)."""
    if any(step.layer_index is not None for step in image.history):
        return tuple(step.layer_index for step in image.history)
    # No step has a layer: a model nobody reconciled, or a config without
    # diff_ids, for which the reader matched no step. Match them by the same
    # rule, then, to the layers the manifest lists when there are no diff_ids.
    return layer_indexes(image.history, len(image.diff_ids) or len(image.layers))


def effective_diff_id(image: Image, layer_index: int) -> Digest | None:
    """The diff_id recomputed from the blob when it was read, else the one declared."""
    if layer_index < len(image.layers):
        layer = image.layers[layer_index]
        if layer is not None and layer.diff_id is not None:
            return layer.diff_id
    if layer_index < len(image.diff_ids):
        return image.diff_ids[layer_index]
    return None


def layer_count(image: Image) -> int:
    """Number of layers the image declares (or holds, if it declares none)."""
    return max(len(image.diff_ids), len(image.layers))


def image_units(image: Image) -> tuple[Unit, ...]:
    """Pass 1 result: the image's steps with their layers, plus layers no step reaches."""
    indexes = step_layer_indexes(image)
    units: list[Unit] = []
    used: set[int] = set()
    for step, li in zip(image.history, indexes):
        if li is not None and li < layer_count(image):
            used.add(li)
            units.append(Unit(step=step, layer_index=li, diff_id=effective_diff_id(image, li)))
        else:
            units.append(Unit(step=step, layer_index=None, diff_id=None))
    for li in range(layer_count(image)):
        if li not in used:
            units.append(Unit(step=None, layer_index=li, diff_id=effective_diff_id(image, li)))
    return tuple(units)


def _trivial(diff_id: Digest | None) -> bool:
    """True for no layer or a well-known empty layer (shared by unrelated steps)."""
    return diff_id is None or diff_id.hex in WELL_KNOWN_EMPTY


@dataclass(frozen=True, slots=True)
class _Key:
    """What the alignment compares of one unit, computed once."""

    unit: Unit
    text: str
    normal: str
    notes: tuple[str, ...]
    keyword: str
    created_ns: int | None
    copy_destination: str | None
    classic_copy: bool
    classic_copy_text: tuple[str, str, str] | None
    commit: bool


def _key(unit: Unit) -> _Key:
    normal, notes = normalise_created_by(unit.created_by)
    created = unit.step.created if unit.step is not None else None
    return _Key(unit, unit.created_by, normal, notes, instruction(normal),
                created.ns if created is not None else None,
                copy_destination(normal), is_classic_copy(normal), classic_copy_parts(normal),
                is_commit_step(unit.step))


def _score(ka: _Key, kb: _Key) -> tuple[int, str] | None:
    """How well two units pair (higher is better) and why; None when they must not pair."""
    a, b = ka.unit, kb.unit
    same_layer = a.diff_id is not None and a.diff_id == b.diff_id and not _trivial(a.diff_id)
    if a.step is None or b.step is None:
        if a.step is None and b.step is None:
            return (100, REASON_LAYER) if same_layer else (5, REASON_POSITION)
        return (60, REASON_LAYER) if same_layer else None
    if ka.text == kb.text:
        base, reason = 100, REASON_EXACT
    elif ka.normal == kb.normal:
        notes = sorted(set(ka.notes) | set(kb.notes))
        base, reason = 90, "normalised created_by (" + "; ".join(notes) + ")"
    elif (ka.copy_destination is not None and ka.copy_destination == kb.copy_destination
          and ka.classic_copy != kb.classic_copy):
        base, reason = 80, REASON_COPY_DEST
    elif ka.classic_copy_text is not None and ka.classic_copy_text == kb.classic_copy_text:
        # `COPY dir:<h1> in /d` and `COPY dir:<h2> in /d`: one instruction, the sources' content hashed otherwise.
        base, reason = 80, REASON_SOURCE
    elif same_layer:
        return 60, REASON_LAYER
    elif ka.commit != kb.commit and a.has_layer and b.has_layer and not _trivial(a.diff_id) and not _trivial(b.diff_id):
        # buildah commit names no instruction: its layer step stands for whatever the other image ran there.
        return 5, REASON_COMMIT
    elif ka.keyword and ka.keyword == kb.keyword:
        base, reason = 5, REASON_INSTRUCTION
    else:
        return None
    # Confirmation by the layers: the same diff_id, or both without content.
    if same_layer or (_trivial(a.diff_id) and _trivial(b.diff_id)):
        base += 20
    if ka.created_ns is not None and ka.created_ns == kb.created_ns:
        base += 1
    return base, reason


def align_units(units_a: tuple[Unit, ...], units_b: tuple[Unit, ...], limits: Limits = Limits()) -> tuple[Pair, ...]:
    """Pass 2: pair two images' units by created_by (then layer) with a sequence alignment.

    Huge or hostile histories (over ``limits.max_alignment_cells``) are paired
    by faster, coarser passes instead.
    """
    keys_a = [_key(u) for u in units_a]
    keys_b = [_key(u) for u in units_b]
    n, m = len(keys_a), len(keys_b)
    # Common prefix and suffix of exact matches: always part of an optimal alignment.
    lo = 0
    while lo < n and lo < m and _exact(keys_a[lo], keys_b[lo]):
        lo += 1
    hi_a, hi_b = n, m
    while hi_a > lo and hi_b > lo and _exact(keys_a[hi_a - 1], keys_b[hi_b - 1]):
        hi_a -= 1
        hi_b -= 1
    head = [Pair(a=keys_a[i].unit, b=keys_b[i].unit, reason=REASON_EXACT) for i in range(lo)]
    tail = [Pair(a=keys_a[hi_a + i].unit, b=keys_b[hi_b + i].unit, reason=REASON_EXACT)
            for i in range(n - hi_a)]
    mid_a, mid_b = keys_a[lo:hi_a], keys_b[lo:hi_b]
    if len(mid_a) * len(mid_b) > limits.max_alignment_cells:
        middle = _align_large(mid_a, mid_b, limits)
    else:
        middle = _align_dp(mid_a, mid_b)
    return tuple(head + middle + tail)


def align_images(image_a: Image, image_b: Image, limits: Limits = Limits()) -> tuple[Pair, ...]:
    """Both passes for two images."""
    return align_units(image_units(image_a), image_units(image_b), limits)


def _exact(ka: _Key, kb: _Key) -> bool:
    return (ka.unit.step is not None and kb.unit.step is not None and ka.text == kb.text
            and ka.unit.diff_id == kb.unit.diff_id and ka.created_ns == kb.created_ns)


def _align_dp(keys_a: list[_Key], keys_b: list[_Key]) -> list[Pair]:
    n, m = len(keys_a), len(keys_b)
    scores = [[_score(ka, kb) for kb in keys_b] for ka in keys_a]
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        row, prev, srow = table[i], table[i - 1], scores[i - 1]
        for j in range(1, m + 1):
            best = prev[j] if prev[j] >= row[j - 1] else row[j - 1]
            s = srow[j - 1]
            if s is not None and prev[j - 1] + s[0] >= best:
                best = prev[j - 1] + s[0]
            row[j] = best
    out: list[Pair] = []
    i, j = n, m
    while i > 0 or j > 0:
        s = scores[i - 1][j - 1] if i > 0 and j > 0 else None
        if s is not None and table[i][j] == table[i - 1][j - 1] + s[0]:
            out.append(Pair(a=keys_a[i - 1].unit, b=keys_b[j - 1].unit, reason=s[1]))
            i, j = i - 1, j - 1
            continue
        skip_b = j > 0 and table[i][j] == table[i][j - 1]
        skip_a = i > 0 and table[i][j] == table[i - 1][j]
        if skip_a and skip_b:
            # Both are optimal: decide by the units themselves, not by which
            # image is A, so that diff(b, a) mirrors diff(a, b).
            skip_a = _tie_key(keys_a[i - 1]) > _tie_key(keys_b[j - 1])
            skip_b = not skip_a
        if skip_b:
            out.append(Pair(a=None, b=keys_b[j - 1].unit))
            j -= 1
        else:
            out.append(Pair(a=keys_a[i - 1].unit, b=None))
            i -= 1
    out.reverse()
    return _gaps_a_first(out)


def _gaps_a_first(pairs: list[Pair]) -> list[Pair]:
    """Within each run of unpaired rows, A's rows first, then B's (both in order)."""
    result: list[Pair] = []
    run: list[Pair] = []
    for p in pairs + [Pair(a=None, b=None)]:
        if p.a is None or p.b is None:
            if p.a is not None or p.b is not None:
                run.append(p)
                continue
        result.extend(q for q in run if q.a is not None)
        result.extend(q for q in run if q.b is not None)
        run = []
        if p.a is not None and p.b is not None:
            result.append(p)
    return result


def _tie_key(k: _Key) -> tuple[int, str, str, str]:
    return (k.created_ns if k.created_ns is not None else -(1 << 80), k.normal, k.text,
            str(k.unit.diff_id) if k.unit.diff_id else "")


def _align_large(keys_a: list[_Key], keys_b: list[_Key], limits: Limits) -> list[Pair]:
    """Fallback for huge histories: difflib matching blocks on (normalised text, layer)."""
    la = [(k.normal, k.unit.diff_id) for k in keys_a]
    lb = [(k.normal, k.unit.diff_id) for k in keys_b]
    if len(la) + len(lb) > limits.max_difflib_units:
        return _align_greedy(keys_a, keys_b, la, lb, limits.resync_window)
    matcher = difflib.SequenceMatcher(None, la, lb, autojunk=False)
    out: list[Pair] = []
    i = j = 0
    for block in matcher.get_matching_blocks():
        out.extend(Pair(a=keys_a[x].unit, b=None) for x in range(i, block.a))
        out.extend(Pair(a=None, b=keys_b[y].unit) for y in range(j, block.b))
        for k in range(block.size):
            ka, kb = keys_a[block.a + k], keys_b[block.b + k]
            s = _score(ka, kb)
            out.append(Pair(a=ka.unit, b=kb.unit, reason=s[1] if s else REASON_EXACT))
        i, j = block.a + block.size, block.b + block.size
    return out


def _align_greedy(keys_a: list[_Key], keys_b: list[_Key], la: list[tuple[str, Digest | None]],
                  lb: list[tuple[str, Digest | None]], window: int) -> list[Pair]:
    """Linear-time pairing: equal keys pair; on a mismatch, resynchronise within a window."""
    out: list[Pair] = []
    i = j = 0
    n, m = len(la), len(lb)
    while i < n and j < m:
        if la[i] == lb[j]:
            s = _score(keys_a[i], keys_b[j])
            out.append(Pair(a=keys_a[i].unit, b=keys_b[j].unit, reason=s[1] if s else REASON_EXACT))
            i, j = i + 1, j + 1
            continue
        skip_a = skip_b = 0
        for d in range(1, window + 1):
            if i + d < n and la[i + d] == lb[j]:
                skip_a = d
            if j + d < m and la[i] == lb[j + d]:
                skip_b = d
            if skip_a or skip_b:
                break
        if skip_a and skip_b:
            # Equally near: the same symmetric rule as the exact alignment.
            if _tie_key(keys_a[i]) > _tie_key(keys_b[j]):
                skip_b = 0
            else:
                skip_a = 0
        if skip_a:
            out.extend(Pair(a=keys_a[x].unit, b=None) for x in range(i, i + skip_a))
            i += skip_a
        elif skip_b:
            out.extend(Pair(a=None, b=keys_b[y].unit) for y in range(j, j + skip_b))
            j += skip_b
        else:
            out.append(Pair(a=keys_a[i].unit, b=None))
            out.append(Pair(a=None, b=keys_b[j].unit))
            i, j = i + 1, j + 1
    out.extend(Pair(a=keys_a[x].unit, b=None) for x in range(i, n))
    out.extend(Pair(a=None, b=keys_b[y].unit) for y in range(j, m))
    return out
