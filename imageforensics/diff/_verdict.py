"""The one-line verdict that opens every report, decided from the findings.

In order: identical (same image ID and the same layers, packaging aside);
unrelated ("different": nothing aligns); B is missing content that A has;
diverged from step N; same content with metadata differences; identical
after ignores (kind "identical", exit status 0) when only ignored things differ.
"""

from __future__ import annotations

from collections.abc import Sequence

from imageforensics.diff._align import REASON_INSTRUCTION, REASON_POSITION, Pair, effective_diff_id, layer_count
from imageforensics.audit import squash_kind
from imageforensics.created_by import display_created_by
from imageforensics.findings import Finding, Severity
from imageforensics.model import Image

# Findings that say the content (files, steps that make them, platform) differs.
CONTENT_CODES = frozenset({
    "step-wrongly-empty", "step-only-in-a", "step-only-in-b", "layer-only-in-a", "layer-only-in-b",
    "step-changed", "layer-content-differs", "paths-missing", "paths-added", "paths-changed",
    "platform-differs",
})
# Every WARNING+ code the diff itself produces; single-image audit findings
# (sidefindings.py) are evidence about one side, not differences.
PAIR_CODES = CONTENT_CODES | {"timestamp-drift", "image-created-differs", "config-differs", "paths-mtime-differ"}
# INFO findings that are nonetheless differences between the images (not notes).
INFO_DIFFERENCES = frozenset({
    "build-metadata-differs", "inline-cache-differs", "empty-layer-spelling", "layer-bytes-differ",
    "step-metadata-differs", "created-by-spelling", "config-json-differs",
})


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
    b_lacks = [i for i in range(count) if _held(image_a, i) and not _held(image_b, i)]
    a_lacks = [i for i in range(count) if _held(image_b, i) and not _held(image_a, i)]
    if b_lacks:
        names = ", ".join(_layer_name(image_a, i) for i in b_lacks)
        return "missing-content", (f"B is missing content that A has: the same config and diff_ids, but B's archive "
                                   f"lacks a readable blob for {names}.")
    if a_lacks:
        names = ", ".join(_layer_name(image_b, i) for i in a_lacks)
        return "diverged", (f"diverged: the same config and diff_ids, but A's archive lacks a readable blob "
                            f"for {names}, which B holds.")
    return None


def _is_content(f: Finding) -> bool:
    if f.code not in CONTENT_CODES:
        return False
    return not (f.code == "layer-content-differs" and f.evidence_value("mtime_only") == "True")


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


def _strip_side(summary: str) -> str:
    return summary[3:] if summary[:3] in ("A: ", "B: ") else summary


def decide_verdict(image_a: Image, image_b: Image, pairs: Sequence[Pair],
                   findings: Sequence[Finding], ignoring: bool) -> tuple[str, str]:
    """The verdict kind (report.VERDICT_KINDS) and its sentence."""
    seq_a = [effective_diff_id(image_a, i) for i in range(layer_count(image_a))]
    seq_b = [effective_diff_id(image_b, i) for i in range(layer_count(image_b))]
    packaging = next((f for f in findings if f.code == "packaging-differs"), None)
    if image_a.image_id == image_b.image_id and seq_a == seq_b:
        gap = _blob_gap(image_a, image_b)
        if gap is not None:
            return gap
        text = f"identical: the same config {image_a.image_id.short} and the same {len(seq_a)} layers"
        if packaging is not None:
            text += "; " + packaging.summary
        return "identical", text
    both = [p for p in pairs if p.a is not None and p.b is not None
            and p.reason not in (REASON_INSTRUCTION, REASON_POSITION)]
    if not both and image_a.history and image_b.history:
        return "different", ("different: no history step or layer in common "
                             f"({len(image_a.history)} steps in A, {len(image_b.history)} in B)")
    drift = next((f for f in findings if f.code == "timestamp-drift"), None)
    drift_note = ""
    if drift is not None:
        drift_note = (f"History diverges from step {drift.step_a} `{display_created_by(drift.created_by, 'summary')}`"
                      + (f" (created {drift.evidence_value('drift')} in B)" if drift.evidence_value("drift") else "")
                      + ".")
    missing = [f for f in findings if f.code == "paths-missing"
               or (f.code == "step-wrongly-empty" and f.side == "B" and f.severity >= Severity.ERROR)]
    if missing:
        empty = next((f for f in missing if f.code == "step-wrongly-empty"), None)
        lost = sum(int(f.evidence_value("count") or 0) for f in findings if f.code == "paths-missing")
        if empty is not None:
            signals = empty.evidence_value("signals")
            head = empty.summary[: -len(signals) - 3] if signals else empty.summary
            text = f"B is missing content that A has: {head}"
            if lost:
                text += f"; {lost} path{'s' if lost != 1 else ''} of A {'are' if lost != 1 else 'is'} absent from B"
        else:
            first = min(missing, key=_Rows(pairs))
            text = f"B is missing content that A has: {first.summary}"
        pattern = ""
        if empty is not None and "empty-layer removal signature" in (empty.evidence_value("signals") or ""):
            # FORMATS.md A4: BuildKit < 0.10 dropped layers on cache import and
            # marked the step empty_layer (moby/buildkit#1981, #2198; moby#41219).
            pattern = (" Pattern: a BuildKit cache import that lost a layer"
                       " (moby/buildkit#1981, #2198; moby/moby#41219).")
        if not pattern:
            pattern = _squash_note(image_a, image_b)
        return "missing-content", (text + ("." if not text.endswith(".") else "")
                                   + (" " + drift_note if drift_note else "") + pattern)
    content = [f for f in findings if _is_content(f)]
    if content:
        rows = _Rows(pairs)
        first = min(content, key=rows)
        row = rows(first)
        where = ""
        if row < len(pairs):
            p = pairs[row]
            idx = p.a.index if p.a is not None else p.b.index if p.b is not None else None
            where = f" from step {idx}" if idx is not None else ""
        text = f"diverged{where}: {_strip_side(first.summary)}"
        platform = next((f for f in content if f.code == "platform-differs"), None)
        if platform is not None:
            # A different platform explains every other difference: say it first.
            plat = f"different platforms (A {platform.evidence_value('a')}, B {platform.evidence_value('b')})"
            text = f"diverged: {plat}" if first is platform else f"diverged{where}: {plat}; {_strip_side(first.summary)}"
        if len(content) > 1:
            text += f" (and {len(content) - 1} more content finding{'s' if len(content) > 2 else ''})"
        return "diverged", (text + ("." if not text.endswith(".") else "") + (" " + drift_note if drift_note else "")
                            + _squash_note(image_a, image_b))
    differences = [f for f in findings if f.code in PAIR_CODES or f.code in INFO_DIFFERENCES]
    if not differences and ignoring:
        return "identical", ("identical after ignores: the layer content is the same and every other "
                             "difference is in ignored timestamps or paths")
    if not differences and image_a.config_shape and image_b.config_shape:
        return "metadata", ("same content with metadata differences: the same layer content; the configs "
                            "hold the same values written differently (key order, whitespace or escapes), "
                            "so the image IDs differ")
    if not differences:
        return "metadata", ("same content with metadata differences: the same layer content; the configs "
                            "differ only in fields not compared (image IDs differ)")
    return "metadata", ("same content with metadata differences: " + _describe(differences)
                        + ("." if not drift_note else ". " + drift_note))


def _squash_note(image_a: Image, image_b: Image) -> str:
    """Says which image is squashed: its steps are empty by design, so no lost layer is to be looked for there."""
    notes = [f" {side} is squashed ({kind}): its steps' files are in its last layer."
             for side, kind in (("A", squash_kind(image_a)), ("B", squash_kind(image_b))) if kind]
    return "".join(notes)


def _describe(differences: Sequence[Finding]) -> str:
    """The metadata differences in words, in a fixed order."""
    parts: list[str] = []
    by_code: dict[str, list[Finding]] = {}
    for f in differences:
        by_code.setdefault(f.code, []).append(f)
    for code, phrase in _PHRASES:
        found = by_code.pop(code, [])
        if not found:
            continue
        if code == "config-json-differs":
            paths = sorted(p for f in found for p in f.paths)
            if len(paths) == 1:
                phrase = "config JSON " + (found[0].evidence_value("path_001") or paths[0]).replace(": ", " ", 1)
            else:
                phrase = (f"config JSON at {len(paths)} paths (" + ", ".join(paths[:3])
                          + (", …" if len(paths) > 3 else "") + ")")
        elif code == "config-differs":
            phrase = "config " + ", ".join(sorted(f.path for f in found)) + (" differ" if len(found) > 1 else " differs")
        elif code == "timestamp-drift":
            n = found[0].evidence_value("drifted_steps")
            phrase = f"history created times ({n} step{'' if n == '1' else 's'})"
        elif code in ("paths-mtime-differ", "layer-bytes-differ", "layer-content-differs"):
            phrase = phrase.format(n=len(found))
        parts.append(phrase)
    parts.extend(sorted(by_code))
    return "; ".join(parts)


_PHRASES = (
    ("timestamp-drift", ""),
    ("image-created-differs", "image created time"),
    ("config-differs", ""),
    ("layer-content-differs", "file mtimes inside {n} layer(s)"),
    ("paths-mtime-differ", "file mtimes ({n} group(s) of paths)"),
    ("layer-bytes-differ", "tar bytes of {n} layer(s) with the same entries"),
    ("empty-layer-spelling", "empty steps recorded differently (empty_layer vs an empty layer)"),
    ("created-by-spelling", "created_by in another builder's spelling"),
    ("step-metadata-differs", "history comment or author"),
    ("build-metadata-differs", "author or docker_version"),
    ("config-json-differs", ""),
    ("inline-cache-differs", "BuildKit inline cache"),
)
