"""The one-line verdict that opens every report, decided from the findings.

In order: identical (same image ID and the same layers, packaging aside),
unless an archive fails its own digests ("corrupt"); unrelated ("different":
nothing aligns); one image is missing content the other has (content lost
without a step that removed it); diverged at the first step that differs in
instruction, empty_layer or layer content, naming what changed path by path;
same content with metadata differences; identical after ignores (kind
"identical", exit status 0) when only ignored things differ.

Every rule looks at both images alike, so diff(B, A) gives the mirror of
diff(A, B): the same kind and pattern with the sides swapped.
"""

from __future__ import annotations

from collections.abc import Sequence

from imageforensics.diff._align import (REASON_INSTRUCTION, REASON_LAYER, REASON_POSITION, Pair, effective_diff_id,
                                        layer_count)
from imageforensics.diff._paths import ChangeInWords
from imageforensics.audit import check_inline_cache, squash_kind
from imageforensics.catalogue import REGISTRY, Category, code_spec
from imageforensics.created_by import display_created_by
from imageforensics.findings import Finding, Severity
from imageforensics.model import HistoryStep, Image
from imageforensics.diff._squash import squashed_same_files
from imageforensics.diff._steps import LayerStates, removal_signature, wrongly_empty_sentence
from imageforensics.timestamp import format_duration
from imageforensics.untrusted import escape


def _held(image: Image, index: int) -> bool:
    layer = image.layers[index] if index < len(image.layers) else None
    return layer is not None and layer.readable


def _layer_name(image: Image, index: int) -> str:
    step = next((s for s in image.history if s.layer_index == index), None)
    where = f" (step {step.index} `{display_created_by(step.created_by, 'summary')}`)" if step is not None else ""
    return f"layer {index}{where}"


def _blob_gap(image_a: Image, image_b: Image) -> tuple[str, str] | None:
    """Same config and diff_ids, but one archive lacks a layer blob the other holds.

    Such an archive does not hold the same image: the layer's content cannot be
    had from it (a save that lost a blob, a partial containerd export).
    """
    count = min(layer_count(image_a), layer_count(image_b))
    for lacking, having, own, other in (("B", "A", image_b, image_a), ("A", "B", image_a, image_b)):
        lacks = [i for i in range(count) if _held(other, i) and not _held(own, i)]
        if lacks:
            names = ", ".join(_layer_name(other, i) for i in lacks)
            return "missing-content", (f"{lacking} is missing content that {having} has: the same config and "
                                       f"diff_ids, but {lacking}'s archive lacks a readable blob for {names}.")
    return None


def _category(f: Finding) -> Category:
    return code_spec(f.code).category


def _is_content(f: Finding) -> bool:
    # Layers whose entries differ only in mtime differ in timestamps, not in content.
    return _category(f).is_content and f.evidence_value("mtime_only") is not True


class _Rows:
    """The alignment row of a finding's step, looked up in constant time (histories may be huge)."""

    def __init__(self, pairs: Sequence[Pair]) -> None:
        self.end = len(pairs)
        # A layer without a history step is a unit with index None: kept, never looked up.
        self._a: dict[int | None, int] = {}
        self._b: dict[int | None, int] = {}
        for r, p in enumerate(pairs):
            if p.a is not None:
                self._a.setdefault(p.a.index, r)
            if p.b is not None:
                self._b.setdefault(p.b.index, r)

    def __call__(self, f: Finding) -> int:
        """The first row holding the finding's step in A or in B, else the end."""
        rows = [self._a.get(f.step_a, self.end) if f.step_a is not None else self.end,
                self._b.get(f.step_b, self.end) if f.step_b is not None else self.end]
        return min(rows)


def decide_verdict(image_a: Image, image_b: Image, pairs: Sequence[Pair],
                   findings: Sequence[Finding], ignoring: bool, states: LayerStates, *,
                   changes: Sequence[ChangeInWords] = (),
                   integrity: Sequence[tuple[str, str]] = ()) -> tuple[str, str]:
    """The verdict kind (report.VERDICT_KINDS) and its sentence, decided by the findings' categories.

    ``changes`` are the paths' changes in words (the filesystem comparison's);
    ``integrity`` the (side, code) of each ERROR finding by which an archive
    fails its own digests or references.
    """
    kind, text = _decide(image_a, image_b, pairs, findings, ignoring, states, changes)
    failing = _integrity_sentence(integrity)
    if failing and kind == "identical":
        kind, text = "corrupt", (f"not the same image: the same config {image_a.image_id.short} and the same "
                                 f"layers, but {failing}.")
    elif failing:
        text += f" {failing[0].upper()}{failing[1:]}."
    cause = poisoned_cache_cause(image_a, image_b, "A", "B") or poisoned_cache_cause(image_b, image_a, "B", "A")
    return kind, (text + " " + cause) if cause else text


def _integrity_sentence(integrity: Sequence[tuple[str, str]]) -> str:
    """``A's archive fails its own digests (blob-digest-mismatch)``, for each side that does; else ""."""
    parts = []
    for side in ("A", "B"):
        codes = sorted({code for s, code in integrity if s == side})
        if codes:
            parts.append(f"{side}'s archive fails its own digests or references ({', '.join(codes)})")
    return " and ".join(parts)


def _step_words(step: HistoryStep) -> str:
    return f"step {step.index} `{display_created_by(step.created_by, 'summary')}`"


def poisoned_cache_cause(source: Image, rebuilt: Image, s: str, r: str) -> str:
    """One sentence when ``rebuilt`` shows the loss a poisoned inline cache causes, else "".

    A ``--cache-from`` build from a poisoned cache gets a result chain that ends
    at the top record's index; the exporter marks the surplus top steps
    empty_layer, and the steps after the chain's end take the created time of
    the step where it ended (issue 13; moby builder-next/exporter/writer.go
    ``normalizeLayersAndHistory``). The cause is named when ``source``'s cache is
    poisoned with exactly that index, or when ``rebuilt`` carries the poison on.
    """
    kept = len(rebuilt.diff_ids)
    if not 0 < kept < len(source.diff_ids) or rebuilt.diff_ids != source.diff_ids[:kept]:
        return ""
    lost = [st for st in source.history if st.layer_index is not None and st.layer_index >= kept]
    by_index = {st.index: st for st in rebuilt.history}
    for st in lost:
        there = by_index.get(st.index)
        if there is None or not there.empty_layer or display_created_by(there.created_by, 'summary') != display_created_by(st.created_by, 'summary'):
            return ""
    own, theirs = check_inline_cache(source), check_inline_cache(rebuilt)
    top = own.top.step if own is not None and own.top is not None else None
    if own is not None and own.kind == "poisoned" and own.points_at == kept - 1:
        who = f"{r} was built from {s}'s poisoned inline cache: {s}'s top record"
    elif theirs is not None and theirs.kind == "carried":
        top = theirs.top.step if theirs.top is not None else None
        who = (f"{r} was built from a poisoned inline cache and carries it on"
               + (f" ({s}'s own cache is healthy)" if own is not None and own.kind == "healthy" else "")
               + f": {r}'s top record")
    else:
        return ""
    ended = next((st for st in source.history if st.layer_index == kept - 1), None)
    flipped = ", ".join(_step_words(st) for st in lost)
    text = (f"Cause: {who}, for {_step_words(top) if top is not None else 'the last step'}, points at layer "
            f"{kept - 1} where it should point at {len(source.diff_ids) - 1}, so the `--cache-from` build's chain "
            f"ended at layer {kept - 1}" + (f" ({_step_words(ended)})" if ended is not None else "")
            + f" and marked {flipped} empty_layer")
    ended_there = by_index.get(ended.index) if ended is not None else None
    if ended_there is not None and ended_there.created is not None:
        later = [st for st in rebuilt.history if st.index > ended_there.index]
        if later and all(st.created is not None and st.created.ns == ended_there.created.ns for st in later):
            span = f"step {later[0].index} carries" if len(later) == 1 else f"steps {later[0].index}–{later[-1].index} carry"
            text += (f"; {r}'s {span} the created time of step {ended_there.index}, where the chain ended "
                     f"({ended_there.created.raw})")
    return text + "."


def _decide(image_a: Image, image_b: Image, pairs: Sequence[Pair], findings: Sequence[Finding], ignoring: bool,
            states: LayerStates, changes: Sequence[ChangeInWords]) -> tuple[str, str]:
    seq_a = [effective_diff_id(image_a, i) for i in range(layer_count(image_a))]
    seq_b = [effective_diff_id(image_b, i) for i in range(layer_count(image_b))]
    packaging = next((f for f in findings if _category(f) is Category.PACKAGING), None)
    if image_a.image_id == image_b.image_id and seq_a == seq_b:
        gap = _blob_gap(image_a, image_b)
        if gap is not None:
            return gap
        text = f"identical: the same config {image_a.image_id.short} and the same {len(seq_a)} layers"
        if packaging is not None:
            text += "; " + packaging.summary
        return "identical", text + _audit_note(findings)
    both = [p for p in pairs if p.a is not None and p.b is not None
            and p.reason not in (REASON_INSTRUCTION, REASON_POSITION)]
    if not both and image_a.history and image_b.history:
        return "different", ("different: no history step or layer in common "
                             f"({len(image_a.history)} steps in A, {len(image_b.history)} in B)")
    drift = next((f for f in findings if _category(f) is Category.DIVERGENCE), None)
    drift_note = ""
    if drift is not None:
        drift_ns = drift.evidence_value("drift_ns")
        drift_note = (f"Created times drift from step {drift.step_a} `{display_created_by(drift.created_by, 'summary')}` "
                      "on" + (f" ({format_duration(drift_ns)} in B)" if isinstance(drift_ns, int) else "") + ".")
    lost = _lost(findings, pairs, image_a, image_b, states, drift_note)
    if lost is not None:
        return "missing-content", lost
    content = [f for f in findings if _is_content(f)]
    if content:
        platform = next((f for f in content if _category(f) is Category.PLATFORM), None)
        row = first_diverging_row(pairs, states)
        answer = _answer(changes)
        rows = _Rows(pairs)
        first = min(content, key=rows)
        if platform is None and row is not None:
            # What changed, path by path; without a filesystem change, the first content finding says it.
            text = f"diverged at {_row_words(pairs, row)}: {answer or first.summary}"
            if not answer and len(content) > 1:
                text += f" (and {len(content) - 1} more content finding{'s' if len(content) > 2 else ''})"
            return "diverged", (text + ("." if not text.endswith(".") else "") + (" " + drift_note if drift_note else "")
                                + _squash_note(image_a, image_b))
        at = rows(first)
        where = ""
        if at < len(pairs):
            p = pairs[at]
            idx = p.a.index if p.a is not None else p.b.index if p.b is not None else None
            where = f" from step {idx}" if idx is not None else ""
        text = f"diverged{where}: {first.summary}"
        if platform is not None:
            # A different platform explains every other difference: say it first.
            plat = (f"different platforms (A {escape(str(platform.evidence_value('a')))}, "
                    f"B {escape(str(platform.evidence_value('b')))})")
            text = f"diverged: {plat}" if first is platform and not answer else \
                f"diverged{where}: {plat}; {answer or first.summary}"
        if len(content) > 1 and not answer:
            text += f" (and {len(content) - 1} more content finding{'s' if len(content) > 2 else ''})"
        return "diverged", (text + ("." if not text.endswith(".") else "") + (" " + drift_note if drift_note else "")
                            + _squash_note(image_a, image_b))
    differences = [f for f in findings if _category(f).is_difference]
    squashed = squashed_same_files(findings)
    if squashed:
        # The same files, one side squashed: the layers differ by design (exit status 1 all the same).
        rest = [f for f in differences if f.code != "steps-squashed"]
        return "metadata", (squashed + (". Also: " + _describe(rest) if rest else "") + "."
                            + (" " + drift_note if drift_note else ""))
    if not differences and ignoring:
        return "identical", ("identical after ignores: the layer content is the same and every other "
                             "difference is in what the options ignore")
    if not differences and image_a.config_shape and image_b.config_shape:
        return "metadata", ("same content with metadata differences: the same layer content; the configs "
                            "hold the same values written differently (key order, whitespace, escapes, or a key "
                            "absent in one and null or empty in the other), "
                            "so the image IDs differ")
    if not differences:
        return "metadata", ("same content with metadata differences: the same layer content; the configs "
                            "differ only in fields not compared (image IDs differ)")
    if all(f.code.startswith("inline-cache") for f in differences):
        return "metadata", ("same content with metadata differences: the same layer content; only the BuildKit "
                            "inline cache differs: " + _describe(differences)
                            + ("." if not drift_note else ". " + drift_note))
    return "metadata", ("same content with metadata differences: " + _describe(differences)
                        + ("." if not drift_note else ". " + drift_note))


def _audit_note(findings: Sequence[Finding]) -> str:
    """What the images' own audits say, when they say something at WARNING or above (shown, not a difference)."""
    serious = [f for f in findings if _category(f) in (Category.INTEGRITY, Category.TIME_SIGNAL)
               and f.severity >= Severity.WARNING]
    if not serious:
        return ""
    codes = sorted({f.code for f in serious})
    sides = {f.side for f in serious}
    who = {frozenset({""}): "both carry their", frozenset({"A"}): "A carries its",
           frozenset({"B"}): "B carries its"}.get(frozenset(sides), "each carries its")
    return (f"; {who} own audit findings ({len(serious)} at WARNING or above: {', '.join(codes)}), "
            "listed below")


def _lost(findings: Sequence[Finding], pairs: Sequence[Pair], image_a: Image, image_b: Image,
          states: LayerStates, drift_note: str) -> str | None:
    """The sentence for content one image lost (ERROR, no step removed it), from the first row that lost it."""
    missing = [f for f in findings if _category(f) is Category.LOSS and _lacking(f) in ("A", "B")
               and f.severity >= Severity.ERROR]
    if not missing:
        return None
    rows = _Rows(pairs)
    # The first row that lost content; at one row, the loss of the first path (never the side: the mirror
    # of the verdict must name the same loss).
    lacking = _lacking(min(missing, key=lambda f: (rows(f), f.paths[:1], code_spec(f.code).cause is False)))
    having = "A" if lacking == "B" else "B"
    mine = [f for f in missing if _lacking(f) == lacking]
    empty = next((f for f in mine if code_spec(f.code).cause), None)
    lost = 0
    for f in mine:
        count = f.evidence_value("count")
        lost += count if isinstance(count, int) and not code_spec(f.code).cause else 0
    if empty is not None:
        head = wrongly_empty_sentence(empty, pairs, image_a, image_b, states) or empty.summary
        text = f"{lacking} is missing content that {having} has: {head}"
        if lost:
            text += (f"; {lost} path{'s' if lost != 1 else ''} of {having} {'are' if lost != 1 else 'is'} "
                     f"absent from {lacking}")
    else:
        first = min(mine, key=rows)
        text = f"{lacking} is missing content that {having} has: {first.summary}"
    pattern = ""
    lacking_image = image_b if lacking == "B" else image_a
    step = empty.step_b if empty is not None and lacking == "B" else empty.step_a if empty is not None else None
    if empty is not None and removal_signature(lacking_image, next((s for s in lacking_image.history
                                                                    if s.index == step), None)):
        # FORMATS.md A4: BuildKit < 0.10 dropped layers on cache import and
        # marked the step empty_layer (moby/buildkit#1981, #2198; moby#41219).
        pattern = (" Pattern: a BuildKit cache import that lost a layer"
                   " (moby/buildkit#1981, #2198; moby/moby#41219).")
    if not pattern:
        pattern = _squash_note(image_a, image_b)
    return text + ("." if not text.endswith(".") else "") + (" " + drift_note if drift_note else "") + pattern


def _lacking(f: Finding) -> str:
    """The image a loss finding says lacks the content: its ``absent_from``, else its side."""
    absent = f.evidence_value("absent_from")
    return absent if isinstance(absent, str) else f.side


def first_diverging_row(pairs: Sequence[Pair], states: LayerStates) -> int | None:
    """The first row of the alignment where the builds differ: a step only one image has, another instruction,
    or other layer content. Created times alone do not count (a timestamp drift), nor builder spellings of one
    instruction, nor an empty step recorded as empty_layer in one image and as an empty layer in the other."""
    for r, p in enumerate(pairs):
        if p.a is None or p.b is None:
            return r
        if p.reason in (REASON_INSTRUCTION, REASON_LAYER) and p.a.created_by != p.b.created_by:
            return r
        sa, sb = states.a(p.a), states.b(p.b)
        if sa.has_content != sb.has_content or (sa.has_content and p.a.diff_id != p.b.diff_id):
            return r
    return None


def _row_words(pairs: Sequence[Pair], row: int) -> str:
    """The diverging row in words: ``step 3 `RUN …` (B: step 3 `RUN …`)``, ``step 5 `COPY …`, only in B``."""
    p = pairs[row]
    if p.a is None or p.b is None:
        side, unit = ("A", p.a) if p.a is not None else ("B", p.b)
        assert unit is not None
        run = 1
        while row + run < len(pairs) and (pairs[row + run].a is None) == (side == "B") \
                and (pairs[row + run].b is None) == (side == "A"):
            run += 1
        name = (f"step {unit.index} of {side} `{display_created_by(unit.created_by, 'summary')}`"
                if unit.step is not None else f"layer {unit.layer_index} of {side}")
        more = f", only in {side}" if run == 1 else f", the first of {run} steps only in {side}"
        return name + more
    words = f"step {p.a.index}"
    if p.a.index != p.b.index:
        words += f" (B: step {p.b.index})"
    words += f" `{display_created_by(p.a.created_by, 'summary')}`"
    if p.a.created_by != p.b.created_by:
        words += f" in A, `{display_created_by(p.b.created_by, 'summary')}` in B"
    return words


MAX_NAMED = 5  # changes the verdict names; the rest are counted


def _answer(changes: Sequence[ChangeInWords]) -> str:
    """The paths' changes in words, a few named, mtimes alone counted: ``/app/run.sh mode 0644 → 0755, …``."""
    named = [c for c in changes if not c.mtime_only]
    mtimes = len(changes) - len(named)
    parts = [f"{escape(c.path)} {c.words}" + (f" ({c.count} paths)" if c.count > 1 else "") for c in named[:MAX_NAMED]]
    if len(named) > MAX_NAMED:
        parts.append(f"and {len(named) - MAX_NAMED} more")
    text = ", ".join(parts)
    if mtimes and text:
        text += f"; {mtimes} path{'s' if mtimes != 1 else ''} differ{'s' if mtimes == 1 else ''} only in mtime"
    return text


def _squash_note(image_a: Image, image_b: Image) -> str:
    """Says which image is squashed: its steps are empty by design, so no lost layer is to be looked for there."""
    notes = [f" {side} is squashed ({kind}): its steps' files are in its last layer."
             for side, kind in (("A", squash_kind(image_a)), ("B", squash_kind(image_b))) if kind]
    return "".join(notes)


def _describe(differences: Sequence[Finding]) -> str:
    """The metadata differences in words, in the order the registry lists their codes."""
    parts: list[str] = []
    by_code: dict[str, list[Finding]] = {}
    for f in differences:
        by_code.setdefault(f.code, []).append(f)
    for spec in REGISTRY.values():
        found = by_code.get(spec.code, [])
        phrase = _phrase(spec.category, spec.phrase, found) if found else ""
        if phrase:
            parts.append(phrase)
            del by_code[spec.code]
    # A difference the registry gives no words is named by its code.
    parts.extend(sorted(by_code))
    return "; ".join(parts)


def _phrase(category: Category, phrase: str, found: list[Finding]) -> str:
    """The words for one code's findings: composed from their evidence for drift and config, else the registry's."""
    if category is Category.DIVERGENCE:
        n = found[0].evidence_value("drifted_steps")
        return f"history created times ({n} step{'' if n == 1 else 's'})"
    if category is Category.CONFIG:
        return "config " + ", ".join(sorted(f.path for f in found)) + (" differ" if len(found) > 1 else " differs")
    if category is Category.CONFIG_JSON:
        paths = sorted(p for f in found for p in f.paths)
        if len(paths) == 1:
            change = found[0].evidence_value("path_001")
            return (f"config JSON {escape(str(change[0]))} {change[1]}" if isinstance(change, tuple)
                    else f"config JSON {escape(paths[0])}")
        return (f"config JSON at {len(paths)} paths (" + ", ".join(map(escape, paths[:3]))
                + (", …" if len(paths) > 3 else "") + ")")
    if found[0].code == "inline-cache-records-differ":
        changes = [c for _, c in found[0].evidence if isinstance(c, str) and _ != "count"]
        return phrase + " (" + "; ".join(changes[:3]) + ("; …" if len(changes) > 3 else "") + ")"
    return phrase.format(n=len(found))
