"""What every report format shows the same way: sizes, times, step labels, layer cells.

These return plain (unescaped) strings; each renderer escapes them for its
own format. Nothing here reads a clock: times come from the report only.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from imageforensics.catalogue import code_spec, evidence_text
from imageforensics.digest import Digest
from imageforensics.findings import EvidenceText, Finding, Severity, evidence_texts
from imageforensics.report._values import LayerSide, Report, StepRow
from imageforensics.path_change import PathChange
from imageforensics.timestamp import NS, Timestamp, format_duration
from imageforensics.units import human_size  # noqa: F401 - renderers use common.human_size

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

def count(n: int, noun: str) -> str:
    """``1 entry`` / ``1,204 entries``-style counts with thousands separators."""
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{n:,} {noun if n == 1 else plural}"


def short_id(image_id: str) -> str:
    """``sha256:2ea3401ac2fc`` from a full image ID."""
    algorithm, sep, encoded = image_id.partition(":")
    return f"{algorithm}:{encoded[:12]}" if sep else image_id[:19]


def severity_counts(findings: tuple[Finding, ...]) -> str:
    """``2 errors, 1 warning, 1 info`` (only the severities present), or ``no findings``."""
    parts = []
    for severity in sorted(Severity, reverse=True):
        n = sum(1 for f in findings if f.severity == severity)
        if n:
            noun = severity.name.lower()
            parts.append(f"{n:,} {noun}" if severity == Severity.INFO else count(n, noun))
    return ", ".join(parts) if parts else "no findings"


def by_severity(report: Report) -> tuple[Finding, ...]:
    """The findings, most severe first, keeping the report's order within a severity."""
    return tuple(sorted(report.findings, key=lambda f: -int(f.severity)))


def step_label(f: Finding) -> str:
    """Which step a finding concerns: ``step 6``, ``step 6 in A, 5 in B``, ``step 3 in B``, or ""."""
    a, b = f.step_a, f.step_b
    if a is not None and b is not None:
        return f"step {a}" if a == b else f"step {a} in A, {b} in B"
    if a is not None:
        return f"step {a} in A"
    if b is not None:
        return f"step {b} in B"
    return ""


def evidence_groups(texts: tuple[EvidenceText, ...]) -> list[tuple[str, list[tuple[str, str]]]]:
    """Evidence split into A's, B's and the pair's, as each key declares (catalogue): (label, text) items.

    A key shown without a name (``a``, ``b``: the value on each side) comes back with an empty label.
    """
    groups: dict[str, list[tuple[str, str]]] = {"A": [], "B": [], "": []}
    for item in texts:
        groups[item.side].append((item.label, item.text))
    return [(label, items) for label, items in groups.items() if items]


def time_parts(ts: Timestamp) -> tuple[str, str, str] | None:
    """(date, hh:mm:ss, fraction digits without trailing zeros) in UTC, or None if unparsed."""
    if ts.ns is None:
        return None
    seconds, frac = divmod(ts.ns, NS)
    try:
        moment = _EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        return None
    return moment.strftime("%Y-%m-%d"), moment.strftime("%H:%M:%S"), f"{frac:09d}".rstrip("0")


class TimeColumn:
    """Formats a table's created times alike: one shared date in the heading when possible."""

    def __init__(self, stamps: list[Timestamp]) -> None:
        parts = [p for p in (time_parts(t) for t in stamps) if p is not None]
        dates = {p[0] for p in parts}
        self.shared_date = next(iter(dates)) if len(dates) == 1 and len(parts) == len(stamps) else ""
        self.digits = max((len(p[2]) for p in parts), default=0)

    def cell(self, ts: Timestamp | None) -> str:
        """The cell text for one timestamp (``—`` when the step is absent)."""
        if ts is None:
            return "—"
        parts = time_parts(ts)
        if parts is None:
            return ts.raw or "(none)"
        date, clock, frac = parts
        if self.digits:
            clock += "." + frac.ljust(self.digits, "0")
        return clock if self.shared_date else f"{date} {clock}"


def row_stamps(steps: tuple[StepRow, ...]) -> list[Timestamp]:
    """Every created time in the aligned history."""
    return [t for r in steps for t in (r.created_a, r.created_b) if t is not None]


def drift_cell(row: StepRow) -> str:
    """``=`` for no drift, ``-89.6 ms`` for B earlier than A, "" when it cannot be computed."""
    from imageforensics.timestamp import format_duration

    if row.drift_ns is None:
        return ""
    return "=" if row.drift_ns == 0 else format_duration(row.drift_ns)


def layer_cell(row: StepRow, side: str, *, compact: bool = False) -> str:
    """What a step's layer is on one side: size and entries, empty_layer, absent, …"""
    index = row.index_a if side == "A" else row.index_b
    layer = row.layer_a if side == "A" else row.layer_b
    empty_layer = row.empty_layer_a if side == "A" else row.empty_layer_b
    if index is None:
        return "—"
    if layer is None:
        return "empty_layer" if empty_layer else "no layer"
    return layer_text(layer, compact=compact)


def layer_text(layer: LayerSide, *, compact: bool = False) -> str:
    """``7.65 kB, 12 entries`` (compact: ``7.65 kB 12 ent``); ``blob missing``; ``32 B, empty``."""
    if not layer.present:
        return "blob missing"
    if layer.empty_kind:
        return f"{human_size(layer.size)}, empty"
    if compact:
        return f"{human_size(layer.size)} {layer.entries:,} ent"
    return f"{human_size(layer.size)}, {count(layer.entries, 'entry')}"


def same_layer(row: StepRow) -> bool:
    """Both sides carry the very same layer (equal diff_ids)."""
    return (row.layer_a is not None and row.layer_b is not None and row.layer_a.present
            and row.layer_b.present and bool(row.layer_a.diff_id) and row.layer_a.diff_id == row.layer_b.diff_id)


def differs(row: StepRow) -> bool:
    """The row is not an exact match between A and B."""
    return row.match != "same" or bool(row.marks)


def index_cell(row: StepRow) -> str:
    """``6`` when both sides agree, ``6/5`` when they differ, ``6/-`` or ``-/5`` for one side only."""
    a = "-" if row.index_a is None else str(row.index_a)
    b = "-" if row.index_b is None else str(row.index_b)
    return a if a == b else f"{a}/{b}"


def marked(row: StepRow, cell: str) -> bool:
    """Whether a history cell (created, drift, layer, created_by) differs between A and B."""
    if cell == "created":
        return "created" in row.marks
    if cell == "layer":
        return bool({"layer", "empty_layer"} & set(row.marks)) or row.match in ("content", "only-a", "only-b")
    if cell == "created_by":
        return "created_by" in row.marks or row.match in ("only-a", "only-b")
    return False


def sample_paths(paths: tuple[str, ...], limit: int) -> tuple[str, ...]:
    """At most ``limit`` of ``paths`` (kept in their order), one per directory first.

    A list cut by count alone would show only the first directories in sort
    order and hide every path under the later ones (``/usr/local/bin`` behind
    ten ``/etc`` files); taking one path from each directory in turn shows
    where the missing content lives.
    """
    limit = max(limit, 0)
    if len(paths) <= limit:
        return paths
    by_dir: dict[str, list[int]] = {}
    for i, path in enumerate(paths):
        by_dir.setdefault(path.rsplit("/", 1)[0], []).append(i)
    chosen: list[int] = []
    round_no = 0
    while len(chosen) < limit:
        for indexes in by_dir.values():
            if round_no < len(indexes) and len(chosen) < limit:
                chosen.append(indexes[round_no])
        round_no += 1
    return tuple(paths[i] for i in sorted(chosen))


def input_name(source: str, full_paths: bool = False) -> str:
    """An input as a shared report names it: its file name only, unless ``full_paths`` (a user's paths stay theirs).

    Standard input (``-``) and a nameless input stay as they are; a
    directory's trailing ``/`` is dropped (``/home/me/oci/`` is ``oci``).
    """
    if full_paths or source in ("-", ""):
        return source
    return source.rstrip("/").rsplit("/", 1)[-1] or source


def short_digest(text: str) -> str:
    """``sha256:2440…0ab1`` for a digest (its first and last four hex digits); other text as it is."""
    algorithm, sep, encoded = text.partition(":")
    if not sep or len(encoded) < 16 or not all(c in "0123456789abcdef" for c in encoded):
        return text
    return f"{algorithm}:{encoded[:4]}…{encoded[-4:]}"


def evidence_shown(f: Finding, max_paths: int, *, full_digests: bool = True, numbered: bool = True,
                   tabled: frozenset[str] = frozenset()) -> tuple[tuple[EvidenceText, ...], int]:
    """The finding's evidence texts as a person reads them, every list capped at ``max_paths``.

    Returns (the texts, details left out). A numbered family (``change_001``…)
    keeps its first ``max_paths`` members; a list value keeps its first
    ``max_paths`` items and says how many more there are; a digest is
    shortened unless ``full_digests``. Without ``numbered``, the numbered
    families are left out (and not counted): shown elsewhere, as the changes
    by step; a path's changes are left out the same way when its path is in
    ``tabled``. Nanoseconds another key shows as a duration are left to the
    JSON, and (step, ns) drifts are written as steps and durations.
    """
    spec = code_spec(f.code)
    limit = max(max_paths, 0)
    shown_elsewhere = {k.duration_of for k in spec.keys if k.duration_of and f.evidence_value(k.duration_of) is not None}
    out: list[EvidenceText] = []
    families: dict[str, int] = {}
    left_out = 0
    for item in evidence_texts(f):
        declared = spec.key(item.name)
        value = f.evidence_value(item.name)
        if declared is None:
            out.append(item)
            continue
        if item.name in shown_elsewhere or (declared.numbered and not numbered):
            continue
        if declared.path_changes and isinstance(value, tuple) and value and isinstance(value[0], PathChange) \
                and value[0].path in tabled:
            continue
        if declared.numbered:
            families[declared.name] = families.get(declared.name, 0) + 1
            if families[declared.name] > limit:
                left_out += 1
                continue
        elif declared.step_durations and isinstance(value, tuple):
            text = ", ".join(_step_duration(v) for v in value[:limit])
            more = f"… ({len(value) - limit:,} more)" if len(value) > limit else ""
            item = item._replace(text=", ".join(x for x in (text, more) if x))
        elif declared.separator is not None and isinstance(value, tuple) and len(value) > limit:
            text = evidence_text(declared, value[:limit]) if limit else ""  # type: ignore[arg-type]
            more = f"… ({len(value) - limit:,} more)"
            item = item._replace(text=f"{text}{declared.separator if text else ''}{more}")
        elif isinstance(value, Digest) and not full_digests:
            item = item._replace(text=short_digest(item.text))
        out.append(item)
    return tuple(out), left_out


def _step_duration(item: object) -> str:
    """``step 3 +6 min 19 s`` for a (step, ns) pair; ``step 3 —`` when the drift is not known."""
    assert isinstance(item, tuple) and len(item) == 2
    step, ns = item
    return f"step {step} {format_duration(ns) if isinstance(ns, int) else '—'}"
