"""What changed, grouped by step: the path-level findings as one table per step, ``path | change | A | B``.

Every format shows this section after the verdict. It is built from the
findings alone, generically: the paths a finding lists, and the typed changes
its numbered evidence holds (``change_NNN``, ``entry_NNN``: one path's
``PathChange`` values, the exact A and B value of each field that differs).
Nothing is read back from text, so a hostile name holding ``": "``, ``"→"``
or ``";"`` cannot shift a column. Values are shown as plain text: times as
times with a signed delta, sizes as ``docker history`` shows them, modes in
octal, digests short unless asked for whole. Renderers escape them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from imageforensics.catalogue import code_spec
from imageforensics.created_by import display_created_by
from imageforensics.digest import Digest
from imageforensics.findings import Finding
from imageforensics.path_change import PathChange, link_text
from imageforensics.report._common import short_digest, time_parts
from imageforensics.report._values import Report
from imageforensics.timestamp import Timestamp, format_duration
from imageforensics.units import human_size

# The codes whose paths are each one row, and what the row says changed.
_ONE_SIDED = {"paths-missing": ("missing", "present", "—"), "paths-added": ("added", "—", "present")}
_DETAILED = ("paths-changed", "paths-mtime-differ", "paths-hardlinks-differ")
# The codes whose per-path details the changes by step show (a finding of them need not repeat them).
TABLED_CODES = frozenset(_DETAILED)


@dataclass(frozen=True, slots=True)
class ChangeRow:
    """One changed fact of one path: its name, what changed, and the value on each side (plain text)."""

    path: str
    change: str
    a: str
    b: str
    mtime_only: bool = False
    delta_ns: int | None = None


@dataclass(slots=True)
class StepChanges:
    """The changes one step (or pair of aligned steps) made differently, in the findings' order."""

    step_a: int | None
    step_b: int | None
    created_by: str
    rows: list[ChangeRow] = field(default_factory=list)
    # Paths a finding lists beyond its detailed ones: changed, but no per-field detail was recorded.
    undetailed: int = 0
    undetailed_mtime: int = 0

    @property
    def label(self) -> str:
        """``step 6``, ``step 6 in A, 5 in B``, ``step 3 in B`` (plain)."""
        a, b = self.step_a, self.step_b
        if a is not None and b is not None:
            return f"step {a}" if a == b else f"step {a} in A, {b} in B"
        if a is not None:
            return f"step {a} in A"
        return f"step {b} in B" if b is not None else "no step"

    @property
    def anchor(self) -> str:
        """An id naming the step in a page (``step-6``, ``step-6-5``, ``step-b3``)."""
        a, b = self.step_a, self.step_b
        if a is not None and b is not None:
            return f"step-{a}" if a == b else f"step-{a}-{b}"
        return f"step-a{a}" if a is not None else f"step-b{b}"

    def more(self, all_mtimes: bool) -> int:
        """Changed paths without a detail row (with ``all_mtimes``, those differing only in mtime too)."""
        return self.undetailed + (self.undetailed_mtime if all_mtimes else 0)

    def shown_rows(self, all_mtimes: bool) -> list[ChangeRow]:
        """The rows to list: mtime-only rows folded into a count unless ``all_mtimes``."""
        return [r for r in self.rows if all_mtimes or not r.mtime_only]

    def folded(self, all_mtimes: bool) -> tuple[int, str]:
        """(how many mtime-only changes are folded, their range of deltas ``+28 s … +31 s`` or "")."""
        if all_mtimes:
            return 0, ""
        rows = [r for r in self.rows if r.mtime_only]
        deltas = sorted({r.delta_ns for r in rows if r.delta_ns is not None})
        span = ""
        if deltas:
            span = format_duration(deltas[0]) if len(deltas) == 1 else \
                f"{format_duration(deltas[0])} … {format_duration(deltas[-1])}"
        return len(rows) + self.undetailed_mtime, span


def _clock(ns: int, other: int) -> str:
    """The time of day of ``ns`` (UTC), with the date when ``other`` falls on another day."""
    mine, theirs = time_parts(Timestamp("", ns)), time_parts(Timestamp("", other))
    if mine is None:
        return str(ns)
    date, clock, frac = mine
    text = clock + (f".{frac}" if frac else "")
    return text if theirs is not None and theirs[0] == date else f"{date} {text}"


def _content(c: PathChange, size: PathChange | None, short: bool) -> tuple[str, str]:
    """The content cells: each side's size (when it changed too) and its digest, short unless asked for whole."""
    def cell(value: object, size_of: object) -> str:
        text = "-" if value is None else str(value)
        if isinstance(value, Digest) and short:
            text = short_digest(text)
        return f"{human_size(size_of)} {text}" if isinstance(size_of, int) else text
    return (cell(c.a, size.a if size is not None else None), cell(c.b, size.b if size is not None else None))


def _value(c: PathChange, v: object) -> str:
    if c.field == "mode" and isinstance(v, int):
        return f"{v:04o}"
    if c.field == "size" and isinstance(v, int):
        return human_size(v)
    if c.field == "device" and isinstance(v, tuple):
        return f"{v[0]},{v[1]}"
    if c.field == "xattrs" and isinstance(v, tuple):
        return str(dict(v))
    return str(v)


def path_rows(changes: Sequence[PathChange], *, short_digests: bool = True) -> list[ChangeRow]:
    """The rows of one path's changes: a row per field, the size said with the content."""
    found = {c.field: c for c in changes}
    only_mtime = set(found) == {"mtime"}
    rows: list[ChangeRow] = []
    for c in changes:
        path = c.path
        if c.field == "size" and "content" in found:
            continue  # said with the content
        if c.field == "content":
            a, b = _content(c, found.get("size"), short_digests)
            rows.append(ChangeRow(path, "content", a, b))
        elif c.field == "mtime":
            delta = c.mtime_delta
            assert isinstance(c.a, int) and isinstance(c.b, int) and delta is not None
            rows.append(ChangeRow(path, "mtime", _clock(c.a, c.b), f"{_clock(c.b, c.a)} ({format_duration(delta)})",
                                  mtime_only=only_mtime, delta_ns=delta))
        elif c.field in ("hardlinks", "hardlink"):
            rows.append(ChangeRow(path, c.field, link_text(c.field, c.a), link_text(c.field, c.b)))
        elif c.field == "presence":
            side = "A" if c.a else "B"
            rows.append(ChangeRow(path, f"only in {side}", "present" if c.a else "—", "present" if c.b else "—"))
        else:
            rows.append(ChangeRow(path, "link" if c.field == "linkname" else c.field, _value(c, c.a), _value(c, c.b)))
    return rows


def _details(f: Finding) -> list[tuple[PathChange, ...]]:
    """The finding's typed per-path changes, in order."""
    spec = code_spec(f.code)
    out: list[tuple[PathChange, ...]] = []
    for name, value in f.evidence:
        declared = spec.key(name)
        if declared is not None and declared.path_changes and isinstance(value, tuple):
            out.append(tuple(c for c in value if isinstance(c, PathChange)))
    return out


def _rows_of(f: Finding, digest: bool) -> tuple[list[ChangeRow], int]:
    """A finding's rows, and how many of its paths have no detail."""
    if f.code in _ONE_SIDED:
        change, a, b = _ONE_SIDED[f.code]
        if f.evidence_value("cause") == "removed":
            # A step of the image that lacks the path deleted it: said so, not as loss.
            absent = f.evidence_value("absent_from")
            change = "deleted in " + str(absent if absent is not None else "B" if f.code == "paths-missing" else "A")
        return [ChangeRow(p, change, a, b) for p in f.paths], 0
    details = _details(f)
    rows: list[ChangeRow] = []
    for changes in details:
        rows.extend(path_rows(changes, short_digests=digest))
    return rows, max(len(f.paths) - len(details), 0)


def changes_by_step(report: Report, *, full_digests: bool = False) -> list[StepChanges]:
    """The path-level changes of the report, one group per step, in step order.

    The merged filesystems' findings (paths missing, added, changed) say what
    the runtime sees; a step's layer entries (``layer-content-differs``) are
    used only for a step no path finding names, so nothing is listed twice.
    """
    groups: dict[tuple[int | None, int | None], StepChanges] = {}
    by_paths: set[tuple[int | None, int | None]] = set()
    entries: list[Finding] = []
    for f in report.findings:
        if f.code == "layer-content-differs":
            entries.append(f)
            continue
        if f.code not in _ONE_SIDED and f.code not in _DETAILED:
            continue
        key = step_key(f)
        group = groups.setdefault(key, StepChanges(f.step_a, f.step_b, f.created_by))
        by_paths.add(key)
        rows, undetailed = _rows_of(f, not full_digests)
        group.rows.extend(rows)
        if f.code == "paths-mtime-differ":
            group.undetailed_mtime += undetailed
        else:
            group.undetailed += undetailed
    for f in entries:
        key = step_key(f)
        if key in by_paths:
            continue
        group = groups.setdefault(key, StepChanges(f.step_a, f.step_b, f.created_by))
        rows, undetailed = _rows_of(f, not full_digests)
        group.rows.extend(rows)
        group.undetailed += undetailed

    def order(key: tuple[int | None, int | None]) -> tuple[int, int]:
        a, b = key
        return (0, a) if a is not None else (1, b if b is not None else 1 << 30)

    return [groups[k] for k in sorted(groups, key=order)]


def tabled_paths(report: Report) -> dict[tuple[int | None, int | None], frozenset[str]]:
    """Per step (as ``changes_by_step`` keys its groups), the paths its path findings put in the changes by step.

    A step's layer entries (``layer-content-differs``) at those paths need not
    be listed again with the finding.
    """
    out: dict[tuple[int | None, int | None], set[str]] = {}
    for f in report.findings:
        if f.code in _ONE_SIDED or f.code in _DETAILED:
            out.setdefault(step_key(f), set()).update(f.paths)
    return {k: frozenset(v) for k, v in out.items()}


def tabled_for(f: Finding, tabled: dict[tuple[int | None, int | None], frozenset[str]]) -> frozenset[str]:
    """The paths of a ``layer-content-differs`` finding's step that the changes by step list (none for others)."""
    return tabled.get(step_key(f), frozenset()) if f.code == "layer-content-differs" else frozenset()


def rowed_paths(f: Finding, *, all_mtimes: bool) -> frozenset[str]:
    """The paths of a finding of ``TABLED_CODES`` that the changes by step list as rows of their own.

    Those with a detail, but for ``paths-mtime-differ`` unless ``all_mtimes``:
    its rows are folded into a count per step.
    """
    if f.code not in TABLED_CODES or (f.code == "paths-mtime-differ" and not all_mtimes):
        return frozenset()
    return frozenset(c.path for changes in _details(f) for c in changes)


def step_key(f: Finding) -> tuple[int | None, int | None]:
    """The group of the changes by step a finding belongs to: its step in A, else its step in B."""
    return (f.step_a, None if f.step_a is not None else f.step_b)


def step_title(group: StepChanges) -> str:
    """``step 6 `COPY rootfs /``` (plain; the instruction as the verdict shows it)."""
    shown = display_created_by(group.created_by)
    return f"{group.label} `{shown}`" if shown else group.label
