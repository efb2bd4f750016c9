"""A squashed image in a diff: the steps whose files one side merged into one layer.

A squash (``builders.squash_of``: ``docker build --squash``, buildah without
``--layers``, ``podman build --squash`` or ``--squash-all``) marks the merged
steps empty_layer and puts their files in one step's layer, the carrier.
Against a layered build of the same steps, the merged steps are not wrongly
empty, the carrier's layer is no counterpart of the other image's layer for
that step (it holds every merged step's files), and the steps whose history
``--squash-all`` dropped (the base's) or that ``--squash`` appended (the merge
entry) are not steps only one image has. Whether the files are the same is
for the merged filesystems to say. Pure functions over the alignment.
"""

from __future__ import annotations

from collections.abc import Sequence

from imageforensics.builders import Squash, squash_of
from imageforensics.diff._align import Pair, Unit
from imageforensics.findings import Finding, Severity, evidence
from imageforensics.model import Image


def _role(squash: Squash | None, unit: Unit | None) -> str:
    """"merged", "carrier" or "" for a unit of a (maybe) squashed image."""
    if squash is None or unit is None or unit.step is None:
        return ""
    if squash.merges(unit.step):
        return "merged"
    return "carrier" if unit.step.index == squash.carrier else ""


def absorbed_by(pair: Pair, squash_a: Squash | None, squash_b: Squash | None) -> str:
    """The side ("A" or "B") whose squash explains the row, or "".

    A row is explained when one side merged the step (or carries the merged
    layer) and the other side did not do the same, or when a step only one
    image has is that image's carrier, or, against a ``--squash-all`` image,
    a step of the other image with a layer (the one layer holds the base's
    files too).
    """
    role_a, role_b = _role(squash_a, pair.a), _role(squash_b, pair.b)
    if pair.a is not None and pair.b is not None:
        if role_a and role_a != role_b:
            return "A"
        if role_b and role_b != role_a:
            return "B"
        return ""
    if role_a == "carrier" or role_b == "carrier":
        return "A" if role_a else "B"
    unit = pair.a if pair.a is not None else pair.b
    other = squash_b if pair.a is not None else squash_a
    if other is not None and other.whole_image and unit is not None and unit.has_layer:
        return "B" if pair.a is not None else "A"
    return ""


class SquashedSides:
    """Each image's squash, computed once per diff, and which rows it explains."""

    __slots__ = ("a", "b")

    def __init__(self, image_a: Image, image_b: Image) -> None:
        self.a, self.b = squash_of(image_a), squash_of(image_b)

    def absorbs(self, pair: Pair) -> str:
        """``absorbed_by`` for this diff's images."""
        return absorbed_by(pair, self.a, self.b) if self.a is not None or self.b is not None else ""


def _steps_text(indexes: Sequence[int]) -> str:
    if not indexes:
        return "no step"
    return (f"step {indexes[0]}" if len(indexes) == 1
            else "steps " + ", ".join(map(str, indexes[:-1])) + f" and {indexes[-1]}")


def squash_findings(pairs: Sequence[Pair], sides: SquashedSides) -> list[Finding]:
    """One INFO per squashed side that explains rows: which steps of the other image its one layer stands for."""
    out: list[Finding] = []
    for side, squash in (("A", sides.a), ("B", sides.b)):
        if squash is None:
            continue
        rows = [p for p in pairs if sides.absorbs(p) == side]
        if not rows:
            continue
        other = [u for p in rows for u in ((p.b,) if side == "A" else (p.a,))
                 if u is not None and u.step is not None and u.has_layer]
        other_steps = tuple(sorted({u.step.index for u in other if u.step is not None}))
        other_side = "B" if side == "A" else "A"
        layered = (f"; {other_side}'s {_steps_text(other_steps)} carr{'y' if len(other_steps) != 1 else 'ies'} "
                   f"{'their' if len(other_steps) != 1 else 'its'} own layer" if other_steps else "")
        base = " together with the base image's files (no history entry for the base)" if squash.whole_image else ""
        summary = (f"{side} is squashed ({squash.kind}): its {_steps_text(squash.merged)} "
                   f"{'are' if len(squash.merged) != 1 else 'is'} marked empty_layer and "
                   f"{'their' if len(squash.merged) != 1 else 'its'} files are in step {squash.carrier}'s layer"
                   f"{base}{layered}")
        step_a = squash.carrier if side == "A" else (other_steps[0] if other_steps else None)
        step_b = squash.carrier if side == "B" else (other_steps[0] if other_steps else None)
        out.append(Finding(code="steps-squashed", severity=Severity.INFO, summary=summary, side=side,
                           step_a=step_a, step_b=step_b,
                           evidence=evidence(kind=squash.kind, carrier=squash.carrier, merged=squash.merged or None,
                                             whole_image=squash.whole_image or None,
                                             **{f"layered_{other_side.lower()}": other_steps or None})))
    return out


def squashed_same_files(findings: Sequence[Finding]) -> str:
    """The verdict's words when the only layering difference is a squash: "same files; B is squashed (…)", else ""."""
    found = [f for f in findings if f.code == "steps-squashed"]
    if not found or any(f.code == "filesystem-not-compared" for f in findings):
        return ""  # without both merged filesystems, "the same files" is not known
    return "same files; " + "; ".join(
        f"{f.side} is squashed ({f.evidence_value('kind')}): its steps' files are in step "
        f"{f.evidence_value('carrier')}'s layer"
        + (" with the base image's" if f.evidence_value("whole_image") is True else "") for f in found)
