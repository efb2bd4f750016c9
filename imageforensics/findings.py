"""Findings: what the audit and the diff report, as frozen values.

A finding has a registered code (``catalogue``), a severity, the history
step(s) or path it concerns, and its evidence as sorted (name, value) pairs of
typed values: ints, bools, strs, digests, timestamps, tuples of those and a
path's changes (``PathChange``), as the code declares them. A finding that breaks its code's declaration is
refused when it is made, so nothing downstream meets an unknown code or has
to read a number back out of text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from imageforensics.catalogue import (EvidenceValue, Key, Severity as Severity, code_spec, evidence_text,
                                      parse_evidence_text)
from imageforensics.timestamp import format_duration

Evidence = tuple[tuple[str, EvidenceValue], ...]


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
    evidence: Evidence = ()

    def __post_init__(self) -> None:
        spec = code_spec(self.code)
        if self.severity not in spec.severities:
            raise ValueError(f"{self.code} is never {self.severity.name}")
        previous = ""
        listed: frozenset[str] | None = None
        for i, (name, value) in enumerate(self.evidence):
            declared = spec.key(name)
            if declared is None:
                raise ValueError(f"{self.code} declares no evidence {name[:80]!r}")
            if not declared.accepts(value):
                raise ValueError(f"{self.code} evidence {name} must be of type {declared.type_name}, "
                                 f"not {type(value).__name__} {str(value)[:40]!r}")
            if declared.path_changes:
                # A path's changes are of a path the finding lists.
                listed = frozenset(self.paths) if listed is None else listed
                changed = value[0].path  # type: ignore[index,union-attr]
                if changed not in listed:
                    raise ValueError(f"{self.code} evidence {name} is of {changed[:80]!r}, a path it does not list")
            if i and name <= previous:
                raise ValueError(f"{self.code} evidence is not sorted by name or repeats {name!r}")
            previous = name

    def evidence_value(self, name: str) -> EvidenceValue | None:
        """The evidence value called ``name``, or None."""
        for key, value in self.evidence:
            if key == name:
                return value
        return None


def evidence(**values: EvidenceValue | None) -> Evidence:
    """Build a sorted evidence tuple from keyword values, skipping None."""
    return tuple(sorted(((k, v) for k, v in values.items() if v is not None), key=lambda kv: kv[0]))


class EvidenceText(NamedTuple):
    """One evidence value as text: its name, whose it is ("A", "B" or ""), the name to show, and the text."""

    name: str
    side: str
    label: str
    text: str


def evidence_texts(f: Finding) -> tuple[EvidenceText, ...]:
    """The finding's evidence as text, sorted by name, with the values shown from other keys (a drift's duration)."""
    spec = code_spec(f.code)
    out: list[EvidenceText] = []
    for name, value in f.evidence:
        declared = spec.key(name)
        assert declared is not None
        out.append(EvidenceText(name, declared.side, declared.shown_as(name), evidence_text(declared, value)))
    for derived in spec.keys:
        source = f.evidence_value(derived.duration_of) if derived.duration_of else None
        if isinstance(source, int):
            out.append(EvidenceText(derived.name, derived.side, derived.shown_as(derived.name),
                                    format_duration(source)))
    return tuple(sorted(out))


def evidence_from_texts(code: str, pairs: tuple[tuple[str, str], ...]) -> Evidence:
    """Typed evidence from (name, text) pairs as ``evidence_texts`` writes them; ValueError naming a bad one.

    The parse boundary for evidence from a snapshot or a JSON report: a value
    shown from another key is checked against it and dropped.
    """
    spec = code_spec(code)
    typed: dict[str, EvidenceValue] = {}
    shown: list[tuple[Key, str]] = []
    for name, text in pairs:
        declared = spec.key(name)
        if declared is None:
            raise ValueError(f"{code} declares no evidence {name[:80]!r}")
        if name in typed or any(k.name == name for k, _ in shown):
            raise ValueError(f"evidence {name[:80]!r} appears twice")
        if declared.duration_of:
            shown.append((declared, text))
            continue
        try:
            typed[name] = parse_evidence_text(declared, text)
        except ValueError as e:
            raise ValueError(f"evidence {name}: {e}") from None
    for declared, text in shown:
        source = typed.get(declared.duration_of)
        if not isinstance(source, int) or format_duration(source) != text:
            raise ValueError(f"evidence {declared.name} is not the duration of {declared.duration_of}")
    return tuple(sorted(typed.items(), key=lambda kv: kv[0]))


def sort_findings(findings: "list[Finding] | tuple[Finding, ...]") -> tuple[Finding, ...]:
    """Most severe first; then by step, cause before consequence, code and path, so output is deterministic."""

    def key(f: Finding) -> tuple[int, int, int, int, str, str, str]:
        big = 1 << 30
        return (
            -int(f.severity),
            f.step_a if f.step_a is not None else big,
            f.step_b if f.step_b is not None else big,
            # At one step, the finding that names the cause reads before those listing its
            # consequences: the step wrongly marked empty, then the paths it lost.
            0 if code_spec(f.code).cause else 1,
            f.code,
            f.path,
            f.summary,
        )

    return tuple(sorted(findings, key=key))
