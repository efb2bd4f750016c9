"""Findings: what the audit and the diff report, as frozen values.

A finding has a stable code (kebab-case, never renamed once released), a
severity, the history step(s) or path it concerns, and its evidence as sorted
(name, value) string pairs so that every renderer can show it exactly.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Severity(enum.IntEnum):
    """How much a finding matters; ordering is by importance."""

    INFO = 0
    WARNING = 1
    ERROR = 2

    @property
    def label(self) -> str:
        """Upper-case name used in text reports."""
        return self.name


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One observation about an archive, an image, or a pair of images.

    ``side`` is "A" or "B" for single-image observations made during a diff,
    "" for observations about the pair (or, in the audit, about the one image).
    Step indexes are 0-based positions in the image's history.
    """

    code: str
    severity: Severity
    summary: str
    side: str = ""
    step_a: int | None = None
    step_b: int | None = None
    created_by: str = ""
    path: str = ""
    paths: tuple[str, ...] = ()
    evidence: tuple[tuple[str, str], ...] = ()

    def evidence_value(self, name: str) -> str | None:
        """The evidence value called ``name``, or None."""
        for key, value in self.evidence:
            if key == name:
                return value
        return None


def evidence(**values: object) -> tuple[tuple[str, str], ...]:
    """Build a sorted evidence tuple from keyword values, skipping None."""
    return tuple(sorted((k, str(v)) for k, v in values.items() if v is not None))


# At one step, the finding that names the cause reads before those listing its
# consequences: the step wrongly marked empty, then the paths it lost.
_CAUSES_FIRST = {"step-wrongly-empty": 0}


def sort_findings(findings: "list[Finding] | tuple[Finding, ...]") -> tuple[Finding, ...]:
    """Most severe first; then by step, cause before consequence, code and path, so output is deterministic."""

    def key(f: Finding) -> tuple[int, int, int, int, str, str, str]:
        big = 1 << 30
        return (
            -int(f.severity),
            f.step_a if f.step_a is not None else big,
            f.step_b if f.step_b is not None else big,
            _CAUSES_FIRST.get(f.code, 1),
            f.code,
            f.path,
            f.summary,
        )

    return tuple(sorted(findings, key=key))
