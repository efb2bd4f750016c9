"""Timestamp signatures of one image, reported by the diff where the two differ.

Signatures (FORMATS.md A4, A7): several steps sharing one created time (on a
BuildKit cache hit, entries inherit the previous entry's ``created``
verbatim), time going backwards, Go's zero time or the Unix epoch, and the
image ``created`` disagreeing with the last history entry (BuildKit sets it to
the last history ``created`` when absent). A signature both images show at the
same aligned steps is a property of how both were built, not a difference,
so it is dropped: diff(a, a) reports none.
"""

from __future__ import annotations

from collections.abc import Sequence

from imageforensics.align import Pair
from imageforensics.findings import Finding, Severity, evidence
from imageforensics.model import Image
from imageforensics.timestamp import format_duration

_Key = tuple[str, object]


def _steps_text(steps: Sequence[int]) -> str:
    return f"steps {steps[0]}–{steps[-1]}" if len(steps) > 1 and steps[-1] - steps[0] == len(steps) - 1 \
        else "steps " + ", ".join(str(s) for s in steps)


def _image_signatures(image: Image, rows: dict[int, int], side: str) -> list[tuple[_Key, Finding]]:
    out: list[tuple[_Key, Finding]] = []
    steps_ns = [(s.index, s.created.ns, s.created.raw) for s in image.history
                if s.created is not None and s.created.ns is not None]

    def finding(code: str, summary: str, steps: Sequence[int], **values: object) -> Finding:
        first = steps[0] if steps else None
        return Finding(code=code, severity=Severity.INFO, summary=f"{side}: {summary}", side=side,
                       step_a=first if side == "A" else None, step_b=first if side == "B" else None,
                       evidence=evidence(steps=" ".join(str(s) for s in steps) or None, **values))

    # Runs of consecutive steps sharing one created time.
    run: list[tuple[int, int, str]] = []
    for item in steps_ns + [(-1, -1, "")]:
        if run and (item[1] != run[-1][1] or item[0] != run[-1][0] + 1):
            if len(run) > 1:
                steps = [s for s, _, _ in run]
                out.append((("timestamps-shared", frozenset(rows.get(s, -1) for s in steps)), finding(
                    "timestamps-shared", f"{_steps_text(steps)} share one created time {run[0][2]}",
                    steps, created=run[0][2])))
            run = []
        run.append(item)
    for (prev, prev_ns, prev_raw), (idx, ns, raw) in zip(steps_ns, steps_ns[1:]):
        if ns < prev_ns:
            out.append((("time-goes-backwards", rows.get(idx, -1)), finding(
                "time-goes-backwards",
                f"step {idx} was created {format_duration(ns - prev_ns)} before step {prev} ({raw} < {prev_raw})",
                [idx], created=raw, previous=prev_raw, drift_ns=ns - prev_ns)))
    odd = [s.index for s in image.history if s.created is not None and (s.created.is_zero or s.created.is_epoch)]
    if odd:
        out.append((("timestamps-zero-or-epoch", frozenset(rows.get(s, -1) for s in odd)), finding(
            "timestamps-zero-or-epoch",
            f"{_steps_text(odd)} carry Go's zero time or the Unix epoch (kaniko, Bazel, ggcr or a clamped epoch)",
            odd)))
    if image.created is not None and image.created.ns is not None and steps_ns:
        last_index, last_ns, last_raw = steps_ns[-1]
        delta = image.created.ns - last_ns
        if delta != 0:
            out.append((("image-created-vs-history", delta), finding(
                "image-created-vs-history",
                f"image created {image.created.raw} is {format_duration(delta)} from the last history "
                f"entry's (step {last_index}, {last_raw})",
                [last_index], created=image.created.raw, last_history_created=last_raw, delta_ns=delta)))
    return out


def _covered(key: _Key, others: list[_Key]) -> bool:
    if key[0] == "timestamps-shared":
        rows = key[1]
        assert isinstance(rows, frozenset)
        return any(k[0] == key[0] and isinstance(k[1], frozenset) and rows <= k[1] for k in others)
    return key in others


def timestamp_signatures(image_a: Image, image_b: Image, pairs: Sequence[Pair]) -> list[Finding]:
    """INFO findings for timestamp signatures that one image shows and the other does not."""
    rows_a = {p.a.index: r for r, p in enumerate(pairs) if p.a is not None and p.a.index is not None}
    rows_b = {p.b.index: r for r, p in enumerate(pairs) if p.b is not None and p.b.index is not None}
    sig_a = _image_signatures(image_a, rows_a, "A")
    sig_b = _image_signatures(image_b, rows_b, "B")
    keys_a = [k for k, _ in sig_a]
    keys_b = [k for k, _ in sig_b]
    return ([f for k, f in sig_a if not _covered(k, keys_b)]
            + [f for k, f in sig_b if not _covered(k, keys_a)])
