"""The diff report: what the diff engine produces and every renderer consumes.

Pure values, no I/O. Renderers import this module and ``findings``, never the
diff engine itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from imageforensics.findings import Finding, Severity
from imageforensics.timestamp import Timestamp

FORMAT_VERSION = 2

VERDICT_KINDS = (
    "identical",          # same config and layers (packaging may differ)
    "metadata",           # same layer content, config/history metadata differ
    "diverged",           # history or content diverges from a step on
    "missing-content",    # one image lacks content the other has (the cache-from corruption)
    "different",          # unrelated images / nothing aligns
    "corrupt",            # the same config and layers, but an archive fails its own digests or references
)


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerSide:
    """A step's layer on one side, as shown in the side-by-side history."""

    diff_id: str
    size: int
    entries: int
    empty_kind: str = ""
    present: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class StepRow:
    """One row of the aligned history: a step in A, in B, or in both.

    ``match`` is one of: same (created_by and layer agree), metadata (same
    created_by, same layer, other fields differ), content (same created_by,
    different layer), only-a, only-b. ``marks`` names the cells that differ:
    created, empty_layer, layer, created_by, comment, author.
    """

    index_a: int | None
    index_b: int | None
    created_by_a: str = ""
    created_by_b: str = ""
    created_a: Timestamp | None = None
    created_b: Timestamp | None = None
    drift_ns: int | None = None
    empty_layer_a: bool | None = None
    empty_layer_b: bool | None = None
    layer_a: LayerSide | None = None
    layer_b: LayerSide | None = None
    match: str = "same"
    marks: tuple[str, ...] = ()

    @property
    def created_by(self) -> str:
        """The step's instruction text, from A when A has it."""
        return self.created_by_a or self.created_by_b


@dataclass(frozen=True, slots=True, kw_only=True)
class InputSide:
    """What identifies one input of the diff, for the report header."""

    source: str
    layout: str
    compression: str
    archive_sha256: str
    image_id: str
    references: tuple[str, ...]
    platform: str
    layer_count: int
    history_count: int
    created: str
    size: int = 0
    # Facts about the input a reader must know, e.g. that it is a snapshot
    # and which config values were redacted in it ("redacted: env, labels").
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """Everything a renderer needs: verdict first, findings, the aligned history."""

    tool_version: str
    a: InputSide
    b: InputSide
    verdict_kind: str
    verdict: str
    findings: tuple[Finding, ...]
    steps: tuple[StepRow, ...]
    options: tuple[tuple[str, str], ...] = ()
    format_version: int = FORMAT_VERSION

    @property
    def differs(self) -> bool:
        """True when the images differ (exit status 1), False when identical."""
        return self.verdict_kind != "identical"

    @property
    def exit_status(self) -> int:
        """diff(1)'s convention: 0 same image, 1 different (or an archive fails its own digests)."""
        return 1 if self.differs else 0

    def by_severity(self, severity: Severity) -> tuple[Finding, ...]:
        """The findings of exactly this severity, in report order."""
        return tuple(f for f in self.findings if f.severity == severity)
