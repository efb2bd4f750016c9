"""Single-image findings carried into the diff, each side's, and those both share once.

Each image's audit (``audit.image_findings``: what parsing observed and the
computed checks) and its archive's findings (``Archive.findings``) hold the
single-image forensic signals (FORMATS.md A4, A7): a COPY/RUN step marked
empty_layer, the empty-gzip blob on a COPY step, steps sharing one created
time, time going backwards, zero or epoch times, image ``created`` vs the last
history entry, unreadable or absent layers. The diff carries them rather than
restating them: each is tagged with its side. One that both images show at
the same aligned step is a property of how both were built, not a difference,
yet still a fact about each image when it is a problem: at WARNING or above
it is said once, for both (side "", both steps); a shared INFO note is left to
``inspect``. Two copies of one corrupt image are the same image, and both
still carry the corruption: diff(a, a) reports a's own warnings and errors.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from imageforensics.audit import image_findings
from imageforensics.diff._align import Pair
from imageforensics.catalogue import code_spec
from imageforensics.findings import Finding, Severity
from imageforensics.model import Archive, Image

_HEX = re.compile(r"[0-9a-f]{12,}")


def _kept(f: Finding, ignore_timestamps: bool) -> bool:
    # Audit signals about created times (catalogue: Category.TIME_SIGNAL) go with --ignore-timestamps.
    return not (ignore_timestamps and code_spec(f.code).category.is_about_time)


def _key(f: Finding, rows: dict[int, int]) -> tuple[str, object]:
    if f.step_a is not None:
        return (f.code, ("row", rows.get(f.step_a, -1)))
    # Archive-level notes name members by digest, which differ between any
    # two archives: compare them with long hex runs masked.
    return (f.code, ("text", _HEX.sub("…", f.summary)))


def side_findings(a: Archive, image_a: Image, b: Archive, image_b: Image, pairs: Sequence[Pair], *,
                  ignore_timestamps: bool) -> list[Finding]:
    """The audit findings of each side, tagged A or B, and those both sides show, once (side "")."""
    rows_a = {p.a.index: r for r, p in enumerate(pairs) if p.a is not None and p.a.index is not None}
    rows_b = {p.b.index: r for r, p in enumerate(pairs) if p.b is not None and p.b.index is not None}
    found_a = [f for f in (*a.findings, *image_findings(image_a)) if _kept(f, ignore_timestamps)]
    found_b = [f for f in (*b.findings, *image_findings(image_b)) if _kept(f, ignore_timestamps)]
    keys_b: dict[tuple[str, object], Finding] = {}
    for f in found_b:
        keys_b.setdefault(_key(f, rows_b), f)
    shared: set[tuple[str, object]] = set()
    out: list[Finding] = []
    for f in found_a:
        k = _key(f, rows_a)
        twin = keys_b.get(k)
        if twin is None:
            out.append(replace(f, side="A"))
        elif k not in shared and max(f.severity, twin.severity) >= Severity.WARNING:
            shared.add(k)
            # The audit numbers one image's steps in step_a; B's own index goes in step_b.
            out.append(replace(f, side="", step_b=twin.step_a, severity=max(f.severity, twin.severity),
                               summary="in both images: " + f.summary))
    keys_a = {_key(f, rows_a) for f in found_a}
    for f in found_b:
        if _key(f, rows_b) not in keys_a:
            out.append(replace(f, side="B", step_a=None, step_b=f.step_a))
    return out
