"""What changed, grouped by step: the path-level findings as one table per step, ``path | change | A | B``.

Every format shows this section after the verdict. It is built from the
findings alone, generically: the paths a finding lists, and the per-path
details of its numbered evidence (``change_NNN``, ``entry_NNN``), whose text
the diff writes as ``/path: field A → B; field A → B``
(``diff._merged_fs.describe_change``; ``tests/report/test_changes.py`` keeps
this reading equal to that writing). The path is known from the finding's own
``paths`` (the details follow their order), so a hostile name holding
``": "`` cannot shift a column; a detail that does not read back exactly is
shown whole, as one ``changed`` row. Values come back as plain text: times
as times with a signed delta, sizes as ``docker history`` shows them, modes
in octal, digests short unless asked for whole. Renderers escape them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from imageforensics.catalogue import code_spec
from imageforensics.created_by import display_created_by
from imageforensics.findings import Finding
from imageforensics.report._common import short_digest, time_parts
from imageforensics.report._values import Report
from imageforensics.timestamp import Timestamp, format_duration, parse_ns
from imageforensics.units import human_size

# The fields ``describe_change`` writes, by the name it writes them under.
_FIELDS = ("kind", "size", "content", "mode", "uid", "gid", "linkname", "device", "mtime", "xattrs")
_PART = re.compile(r"(?P<name>%s) (?P<a>.*?) → (?P<b>.*?)(?=; (?:%s) |\Z)" % ("|".join(_FIELDS), "|".join(_FIELDS)),
                   re.S)
# ``describe_change``'s mtime: the instant after the arrow carries the signed delta.
_WITH_DELTA = re.compile(r"(?P<when>.*) \((?P<delta>[^()]*)\)", re.S)
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


def _int(text: str) -> int | None:
    return int(text) if re.fullmatch(r"-?[0-9]{1,30}", text) else None


def _fields_rows(path: str, text: str, digest: bool) -> list[ChangeRow] | None:
    """The rows of one ``describe_change`` text, or None when it does not read back exactly."""
    parts = [(m.group("name"), m.group("a"), m.group("b")) for m in _PART.finditer(text)]
    if not parts or "; ".join(f"{n} {a} → {b}" for n, a, b in parts) != text:
        return None
    found = {n: (a, b) for n, a, b in parts}
    rows: list[ChangeRow] = []
    only_mtime = set(found) == {"mtime"}
    for name, a, b in parts:
        if name == "size" and "content" in found:
            continue  # said with the content
        if name == "content":
            sa, sb = found.get("size", ("", ""))
            ia, ib = _int(sa), _int(sb)

            def cell(size: int | None, value: str) -> str:
                shown = short_digest(value) if digest else value
                return f"{human_size(size)} {shown}" if size is not None else shown
            rows.append(ChangeRow(path, "content", cell(ia, a), cell(ib, b)))
        elif name == "size":
            ia, ib = _int(a), _int(b)
            rows.append(ChangeRow(path, "size", human_size(ia) if ia is not None else a,
                                  human_size(ib) if ib is not None else b))
        elif name == "mode":
            rows.append(ChangeRow(path, "mode", a, b))
        elif name == "mtime":
            after = _WITH_DELTA.fullmatch(b)
            ia = parse_ns(a)
            ib = parse_ns(after.group("when")) if after is not None else None
            if ia is None or ib is None:
                rows.append(ChangeRow(path, "mtime", a, b, mtime_only=only_mtime))
            else:
                delta = ib - ia
                rows.append(ChangeRow(path, "mtime", _clock(ia, ib), f"{_clock(ib, ia)} ({format_duration(delta)})",
                                      mtime_only=only_mtime, delta_ns=delta))
        else:
            rows.append(ChangeRow(path, "link" if name == "linkname" else name, a, b))
    return rows


def _links_row(path: str, text: str) -> ChangeRow:
    """``one file with /a in A, a file of its own in B`` as a row."""
    m = re.fullmatch(r"(.*) in A, (.*) in B", text, re.S)
    if m is None:
        return ChangeRow(path, "hardlinks", text, "")
    return ChangeRow(path, "hardlinks", m.group(1), m.group(2))


def _details(f: Finding) -> list[str]:
    """The finding's numbered detail texts, in order."""
    spec = code_spec(f.code)
    out = []
    for name, value in f.evidence:
        declared = spec.key(name)
        if declared is not None and declared.numbered and isinstance(value, str):
            out.append(value)
    return out


def _rows_of(f: Finding, digest: bool) -> tuple[list[ChangeRow], int]:
    """A finding's rows, and how many of its paths have no detail."""
    if f.code in _ONE_SIDED:
        change, a, b = _ONE_SIDED[f.code]
        if dict(f.evidence).get("cause") == "removed":
            # A step of the image that lacks the path deleted it: said so, not as loss.
            change = "deleted in " + str(dict(f.evidence).get("absent_from", "B" if f.code == "paths-missing" else "A"))
        return [ChangeRow(p, change, a, b) for p in f.paths], 0
    details = _details(f)
    rows: list[ChangeRow] = []
    for path, text in zip(f.paths, details):
        prefix = path + ": "
        body = text[len(prefix):] if text.startswith(prefix) else None
        if body is None:
            rows.append(ChangeRow(path, "changed", text, ""))
            continue
        if f.code == "paths-hardlinks-differ":
            rows.append(_links_row(path, body))
            continue
        if f.code == "layer-content-differs":
            if body in ("only in A", "only in B"):
                side = body[-1]
                rows.append(ChangeRow(path, f"only in {side}", "present" if side == "A" else "—",
                                      "present" if side == "B" else "—"))
                continue
            body = body.removeprefix("changed: ")
        parsed = _fields_rows(path, body, digest)
        rows.extend(parsed if parsed is not None else [ChangeRow(path, "changed", body, "")])
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
        key = (f.step_a, None if f.step_a is not None else f.step_b)
        group = groups.setdefault(key, StepChanges(f.step_a, f.step_b, f.created_by))
        by_paths.add(key)
        rows, undetailed = _rows_of(f, not full_digests)
        group.rows.extend(rows)
        if f.code == "paths-mtime-differ":
            group.undetailed_mtime += undetailed
        else:
            group.undetailed += undetailed
    for f in entries:
        key = (f.step_a, None if f.step_a is not None else f.step_b)
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


def step_title(group: StepChanges) -> str:
    """``step 6 `COPY rootfs /``` (plain; the instruction as the verdict shows it)."""
    shown = display_created_by(group.created_by)
    return f"{group.label} `{shown}`" if shown else group.label
