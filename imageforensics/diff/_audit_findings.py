"""Single-image findings carried into the diff, where the two images differ in them.

Each image's audit (``audit.image_findings``: what parsing observed and the
computed checks) and its archive's findings (``Archive.findings``) hold the
single-image forensic signals (FORMATS.md A4, A7): a COPY/RUN step marked
empty_layer, the empty-gzip blob on a COPY step, steps sharing one created
time, time going backwards, zero or epoch times, image ``created`` vs the last
history entry, unreadable or absent layers. The diff carries them rather than
restating them: each is tagged with its side, and one that both images show at
the same aligned step is a property of how both were built, not a difference,
so it is dropped. diff(a, a) therefore reports none of them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from imageforensics.audit import image_findings
from imageforensics.diff._align import Pair
from imageforensics.catalogue import code_spec
from imageforensics.findings import Finding
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
    """The audit findings of each side that the other side does not share, tagged A or B."""
    rows_a = {p.a.index: r for r, p in enumerate(pairs) if p.a is not None and p.a.index is not None}
    rows_b = {p.b.index: r for r, p in enumerate(pairs) if p.b is not None and p.b.index is not None}
    found_a = [f for f in (*a.findings, *image_findings(image_a)) if _kept(f, ignore_timestamps)]
    found_b = [f for f in (*b.findings, *image_findings(image_b)) if _kept(f, ignore_timestamps)]
    keys_a = {_key(f, rows_a) for f in found_a}
    keys_b = {_key(f, rows_b) for f in found_b}
    out: list[Finding] = []
    for f in found_a:
        if _key(f, rows_a) not in keys_b:
            out.append(replace(f, side="A"))
    for f in found_b:
        if _key(f, rows_b) not in keys_a:
            # The audit numbers one image's steps in step_a; in the pair they are B's.
            out.append(replace(f, side="B", step_a=None, step_b=f.step_a))
    return out
