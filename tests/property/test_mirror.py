"""diff(B, A) is the mirror of diff(A, B) on related pairs read from real archive bytes (tests.strategies).

The mirror: the same verdict kind, the same pattern, the same findings with the
same severities, each with its sides and steps swapped (paths-missing and
paths-added, step-only-in-a and step-only-in-b trade codes). A rule that
looks at which image is A (an ERROR only for what B lacks, a cause named only
for B's steps) breaks it.
"""

from __future__ import annotations

import io
import re

from hypothesis import HealthCheck, given, settings

from tests.strategies import related_pairs
from tools.synth import ArchiveSpec, build_archive

from imageforensics.diff._engine import diff_images
from imageforensics.findings import Finding
from imageforensics.model import Archive, Image
from imageforensics.options import ReadOptions
from imageforensics.read._archive import read_stream

MIRROR = {"paths-missing": "paths-added", "paths-added": "paths-missing", "step-only-in-a": "step-only-in-b",
          "step-only-in-b": "step-only-in-a", "layer-only-in-a": "layer-only-in-b", "layer-only-in-b": "layer-only-in-a"}
SWAP = {"A": "B", "B": "A", "": ""}
PATHS = ("paths-missing", "paths-added")  # always about B (B lacks the missing, holds the added): side kept
_AT = re.compile(r"diverged at step (\d+)(?: of ([AB]))?(?: \(B: step (\d+)\))?")


def _read(spec: object, name: str) -> tuple[Archive, Image]:
    data = build_archive(ArchiveSpec(images=(spec,)), "docker-legacy")  # type: ignore[arg-type]
    archive = read_stream(io.BytesIO(data), name, ReadOptions())  # type: ignore[arg-type]
    return archive, archive.images[0]


def _mirrored(f: Finding) -> tuple[object, ...]:
    drift = f.evidence_value("drift_ns")
    side = f.side if f.code in PATHS else SWAP[f.side]
    return (MIRROR.get(f.code, f.code), f.severity.name, side, f.step_b, f.step_a, tuple(sorted(f.paths)),
            f.evidence_value("cause"), -drift if isinstance(drift, int) else drift,
            SWAP.get(str(f.evidence_value("absent_from")), None))


def _plain(f: Finding) -> tuple[object, ...]:
    return (f.code, f.severity.name, f.side, f.step_a, f.step_b, tuple(sorted(f.paths)), f.evidence_value("cause"),
            f.evidence_value("drift_ns"), {"A": "A", "B": "B"}.get(str(f.evidence_value("absent_from")), None))


def _step_named(verdict: str) -> tuple[str, str | None, str] | None:
    """The first diverging step a verdict names: (A's index, the side it is only in, B's index)."""
    m = _AT.match(verdict)
    if m is None:
        return None
    index, only, other = m.groups()
    return (index, only, other or index)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(related_pairs())
def test_diff_b_a_is_the_mirror_of_diff_a_b(pair):
    (a, ia), (b, ib) = _read(pair[0], "a.tar"), _read(pair[1], "b.tar")
    ab, ba = diff_images(a, ia, b, ib), diff_images(b, ib, a, ia)
    assert (ab.verdict_kind, ab.exit_status) == (ba.verdict_kind, ba.exit_status), (ab.verdict, ba.verdict)
    assert sorted(map(repr, map(_mirrored, ab.findings))) == sorted(map(repr, map(_plain, ba.findings)))
    for marker in ("Pattern: ", " is squashed", "Cause: "):
        assert (marker in ab.verdict) == (marker in ba.verdict), (marker, ab.verdict, ba.verdict)
    if ab.verdict_kind == "missing-content":
        assert {ab.verdict[:2], ba.verdict[:2]} == {"A ", "B "}, (ab.verdict, ba.verdict)
    named_ab, named_ba = _step_named(ab.verdict), _step_named(ba.verdict)
    assert (named_ab is None) == (named_ba is None), (ab.verdict, ba.verdict)
    if named_ab is not None and named_ba is not None:
        index, only, other = named_ab
        assert named_ba == (other, SWAP[only] if only else None, index), (ab.verdict, ba.verdict)
