"""The text report: verdict first, findings by severity, then the aligned history.

Made for an 80-column terminal: every line fits ``width`` columns (escaped
names are measured as displayed), long path lists are cut with a count, and
the history table puts each step on two lines when the terminal is narrow.
Colour (ANSI SGR) only when the caller asks for it; untrusted names never
carry a control character or escape sequence through (``untrusted.escape`` for
values, ``untrusted.show_prose`` for summaries, notes and the verdict).
"""

from __future__ import annotations

import re

from imageforensics.created_by import display_created_by
from imageforensics.findings import Finding, Severity
from imageforensics.report import _common as common
from imageforensics.report._changes import TABLED_CODES, StepChanges, changes_by_step, rowed_paths, tabled_for, \
    tabled_paths
from imageforensics.report._escape import cap, display_width, shorten, wrap
from imageforensics.report._values import InputSide, Report, StepRow
from imageforensics.untrusted import escape, show_prose

_SGR = {"bold": "1", "dim": "2", "red": "1;31", "yellow": "1;33", "cyan": "36", "mark": "1;33"}
_SGR_CODE = re.compile(r"\x1b\[[0-9;]*m")
_SEVERITY_STYLE = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
_LABEL = 9  # "WARNING  " — findings and the verdict hang their text after it
_LONG = 1000  # characters of one untrusted string shown before cutting with a count
_RUN_SHOWN = 3  # identical steps kept at each end of a long identical run


class _Out:
    """Lines being built, with optional colour."""

    def __init__(self, width: int, color: bool) -> None:
        self.width = max(width, 40)
        self.color = color
        self.lines: list[str] = []

    def style(self, text: str, name: str) -> str:
        if not self.color or not text:
            return text
        return f"\x1b[{_SGR[name]}m{text}\x1b[0m"

    def add(self, line: str = "") -> None:
        line = line.rstrip(" ")
        visible = _SGR_CODE.sub("", line) if self.color else line
        if display_width(visible) > self.width:
            # Last resort on very narrow terminals: cut the line (and its colour).
            line = shorten(visible, self.width)
        self.lines.append(line)

    def hanging(self, first: str, text: str, *, indent: int, first_styled: str | None = None) -> None:
        """``first`` then ``text`` wrapped, continuation lines indented by ``indent``."""
        body = wrap(text, self.width - indent)
        lead = (first_styled if first_styled is not None else first) + " " * (indent - display_width(first))
        self.add(lead + body[0])
        for line in body[1:]:
            self.add(" " * indent + line)


def _safe(value: str) -> str:
    return escape(cap(value, _LONG))


def _prose(text: str) -> str:
    # Summaries, notes and the verdict are our sentences: their names were shown when they were written.
    return show_prose(cap(text, _LONG))


def _pad(text: str, width: int, *, right: bool = False) -> str:
    gap = " " * max(width - display_width(text), 0)
    return gap + text if right else text + gap


def _header(out: _Out, report: Report, full_digests: bool = False) -> None:
    out.hanging("", f"imageforensics {_safe(report.tool_version)}  (report format {report.format_version})",
                indent=0)
    for label, side in (("A", report.a), ("B", report.b)):
        out.hanging(label, _safe(side.source), indent=3, first_styled=out.style(label, "bold"))
        out.hanging("", _side_facts(side, full_digests), indent=3)
        for note in side.notes:
            out.hanging("", "note: " + _prose(note), indent=3)
    if report.options:
        out.hanging("", "options: " + ", ".join(f"{_safe(k)}={_safe(v)}" for k, v in report.options), indent=0)


def _side_facts(side: InputSide, full_digests: bool) -> str:
    refs = ", ".join(_safe(r) for r in side.references[:3]) or "(no reference)"
    if len(side.references) > 3:
        refs += f" and {len(side.references) - 3:,} more"
    image_id = _safe(side.image_id) if full_digests else common.short_id(_safe(side.image_id))
    facts = [refs, image_id, common.count(side.layer_count, "layer"),
             common.count(side.history_count, "step"), _safe(side.layout)]
    if side.platform:
        facts.append(_safe(side.platform))
    return "  ".join(facts)


def _verdict(out: _Out, report: Report) -> None:
    out.hanging("VERDICT", _prose(report.verdict), indent=_LABEL, first_styled=out.style("VERDICT", "bold"))
    out.add()
    out.hanging("FINDINGS", common.severity_counts(report.findings), indent=_LABEL,
                first_styled=out.style("FINDINGS", "bold"))


def _changes(out: _Out, report: Report, *, max_paths: int, full_digests: bool, all_mtimes: bool) -> None:
    """What changed, grouped by step: one ``path | change | A | B`` table per step that differs."""
    groups = changes_by_step(report, full_digests=full_digests)
    if not groups:
        return
    out.add()
    out.hanging("CHANGED", "what changed, grouped by step (A and B as each image holds it)", indent=_LABEL,
                first_styled=out.style("CHANGED", "bold"))
    for group in groups:
        out.add()
        _step_changes(out, group, max_paths=max_paths, all_mtimes=all_mtimes)


def _step_changes(out: _Out, group: StepChanges, *, max_paths: int, all_mtimes: bool) -> None:
    title = group.label
    created_by = _safe(display_created_by(group.created_by))
    room = out.width - 2 - display_width(title) - 2
    heading = shorten(created_by, room) if room >= 12 else ""
    out.hanging("", out.style(title, "bold") + ("  " + heading if heading else ""), indent=2)
    rows = group.shown_rows(all_mtimes)
    shown = rows[:max(max_paths, 0)]
    cells = [(_safe(r.path), _safe(r.change), _safe(r.a), _safe(r.b)) for r in shown]
    if cells:
        _change_table(out, cells)
    rest = len(rows) - len(shown) + group.more(all_mtimes)
    if rest:
        out.hanging("", f"{'… and ' if shown else ''}{rest:,} more {'changes' if shown else 'changed paths'} "
                        "(--max-paths to show; the JSON report has every path)", indent=4)
    folded, span = group.folded(all_mtimes)
    if folded:
        noun = "path that differs" if folded == 1 else "paths that differ"
        out.hanging("", f"and {folded:,} {noun} only in mtime{f' ({span})' if span else ''}; --all-mtimes lists them",
                    indent=4)


def _change_table(out: _Out, cells: list[tuple[str, str, str, str]]) -> None:
    """The rows side by side when A and B fit whole beside a path column; else each row on its own lines.

    A value is never cut or broken: a digest split over two lines would copy as two halves.
    """
    head = ("PATH", "CHANGE", "A", "B")
    widths = [max(display_width(c[i]) for c in [head, *cells]) for i in range(4)]
    fixed = 4 + widths[1] + 2 + widths[2] + 2 + widths[3] + 2
    path_w = min(widths[0], max(out.width - fixed, 0))
    if path_w >= min(widths[0], 24):
        out.add(out.style("    " + "  ".join(_pad(h, w) for h, w in zip(head, (path_w, *widths[1:]))), "dim"))
        for path, change, a, b in cells:
            pieces = wrap(path, path_w)
            rest = "  ".join(_pad(c, w) for c, w in zip((change, a, b), widths[1:]))
            out.add("    " + _pad(pieces[0], path_w) + "  " + rest)
            for piece in pieces[1:]:
                out.add("    " + piece)
        return
    for path, change, a, b in cells:
        out.hanging("", path, indent=4)
        out.hanging("", f"{change}  A {a}", indent=8)
        out.hanging("", " " * display_width(change) + f"  B {b}", indent=8)


def _finding(out: _Out, f: Finding, max_paths: int, full_digests: bool, *, shown_steps: set[str],
             tabled: frozenset[str], all_mtimes: bool = False) -> None:
    """One finding: its head line, summary, evidence and paths.

    A step's whole created_by is written once (``shown_steps`` holds those
    already written), and not beside evidence that holds it per side; the
    paths ``tabled`` under CHANGED for the finding's step, and a path
    finding's own paths that CHANGED lists as rows, are not listed again.
    """
    label = f.severity.label
    styled = out.style(label, _SEVERITY_STYLE[f.severity])
    head = [_safe(f.code)]
    step = common.step_label(f)
    if f.side and not step.endswith(f"in {f.side}"):
        head.append(f"in {_safe(f.side)}")
    if step:
        head.append(step)
    first = "  ".join(head)
    room = out.width - _LABEL - display_width(first) - 2
    created_by = _safe(display_created_by(f.created_by))
    cut = bool(created_by) and display_width(created_by) > room
    if created_by and room >= 12:
        first += "  " + shorten(created_by, room)
    elif created_by:
        cut = True
    out.hanging(label, first, indent=_LABEL, first_styled=styled)
    if f.summary:
        out.hanging("", _prose(f.summary), indent=_LABEL)
    per_side = f.evidence_value("created_by_a") is not None or f.evidence_value("created_by_b") is not None
    if cut and not per_side and f.created_by not in shown_steps:
        out.hanging("", "created_by: " + _safe(f.created_by), indent=_LABEL)
    shown_steps.add(f.created_by)
    if per_side:
        shown_steps.update(str(f.evidence_value(k)) for k in ("created_by_a", "created_by_b"))
    in_table = f.code in TABLED_CODES
    texts, left_out = common.evidence_shown(f, max_paths, full_digests=full_digests, numbered=not in_table,
                                            tabled=tabled)
    for side, items in common.evidence_groups(texts):
        shown = [f"{_safe(k)}={_safe(v)}" if k else _safe(v) for k, v in items]
        text = "  ".join(shown)
        if side:
            # A whole digest (71 columns) fits a line only from the findings' own indent.
            longest = max(display_width(x.partition("=")[2] or x) for x in shown)
            if longest <= out.width - _LABEL - 3:
                out.hanging(" " * _LABEL + side, text, indent=_LABEL + 3)
            else:
                out.hanging("", f"{side}  {text}", indent=_LABEL)
        else:
            out.hanging("", text, indent=_LABEL)
    if left_out:
        out.hanging("", f"… and {left_out:,} more details (--max-paths to show)", indent=_LABEL)
    if in_table and f.code == "paths-mtime-differ" and not all_mtimes:
        out.hanging("", f"their mtimes: counted under CHANGED, {common.step_label(f)} (--all-mtimes lists each)",
                    indent=_LABEL)
    if f.path:
        out.hanging("", "path: " + _safe(f.path), indent=_LABEL)
    if in_table:
        rowed = rowed_paths(f, all_mtimes=all_mtimes)
        elsewhere = sum(1 for p in f.paths if p in rowed)
        _paths(out, tuple(p for p in f.paths if p not in rowed), max_paths, total=len(f.paths),
               elsewhere=f"{elsewhere:,} under CHANGED, {common.step_label(f)}, each with its change"
               if elsewhere else "")
    elif f.paths:
        # Entries whose paths the changes by step list are said by count, the others by name.
        elsewhere = sum(1 for p in f.paths if p in tabled)
        _paths(out, tuple(p for p in f.paths if p not in tabled), max_paths, total=len(f.paths),
               elsewhere=f"{elsewhere:,} under CHANGED, {common.step_label(f)}" if elsewhere else "")


def _paths(out: _Out, paths: tuple[str, ...], max_paths: int, *, total: int | None = None,
           elsewhere: str = "") -> None:
    if not paths and not elsewhere:
        return
    count = total if total is not None else len(paths)
    out.hanging("", f"paths ({count:,}):" + (f" {elsewhere}" if elsewhere else ""), indent=_LABEL)
    shown = common.sample_paths(paths, max_paths)
    for path in shown:
        out.hanging("", _safe(path), indent=_LABEL + 2)
    rest = len(paths) - len(shown)
    if rest:
        more = "… and" if shown else "…"
        out.hanging("", f"{more} {rest:,} more (--max-paths to show)", indent=_LABEL + 2)


def _history(out: _Out, report: Report) -> None:
    steps = report.steps
    out.hanging("HISTORY", "aligned by created_by; ◀ marks a step that differs, * a cell", indent=_LABEL,
                first_styled=out.style("HISTORY", "bold"))
    if not steps:
        out.add("         (no history steps)")
        return
    times = common.TimeColumn(common.row_stamps(steps))
    if times.shared_date:
        out.add(f"         created times are UTC on {times.shared_date}")
    idx_w = max(4, *(len(common.index_cell(r)) for r in steps))
    layer_cells = [(_layer(r, "A"), _layer(r, "B")) for r in steps]
    # A marked cell carries a trailing "*".
    # Layer columns give way on narrow terminals, keeping 8 columns of created_by.
    layer_cap = max(7, min(22, (out.width - idx_w - 3 - 4 - 8) // 2))
    la_w = min(max(7, *(display_width(a) for a, _ in layer_cells)), layer_cap)
    lb_w = min(max(7, *(display_width(b) + common.marked(r, "layer") for r, (_, b) in zip(steps, layer_cells))),
               layer_cap)
    time_w = max(9, *(display_width(_safe(times.cell(t))) + 1 for r in steps for t in (r.created_a, r.created_b)))
    drift_w = max(5, *(len(common.drift_cell(r)) + 1 for r in steps))
    narrow_fixed = idx_w + 3 + 2 + la_w + 2 + lb_w
    wide_fixed = narrow_fixed + 2 + time_w + 2 + time_w + 2 + drift_w
    # One line per step only when created_by keeps a readable width.
    wide = out.width - wide_fixed >= 36
    fixed = wide_fixed if wide else narrow_fixed
    # The second line of a narrow row must fit too: cut the time cells if not.
    time_w = min(time_w, max((out.width - idx_w - 3 - drift_w - 4) // 2, 9))
    cb_w = max(out.width - fixed, 8)
    header = _pad("STEP", idx_w, right=True) + "   " + _pad("CREATED_BY", cb_w) + "  "
    times_header = _pad("CREATED A", time_w) + "  " + _pad("CREATED B", time_w) + "  " + "DRIFT"
    if wide:
        header += times_header + "  " + " " * (drift_w - 5)
    header += _pad("LAYER A", la_w) + "  " + "LAYER B"
    out.add(out.style(header, "dim"))
    if not wide:
        out.add(out.style(" " * (idx_w + 3) + times_header, "dim"))
    hidden = _hidden_rows(steps)
    for i, (row, (cell_a, cell_b)) in enumerate(zip(steps, layer_cells)):
        if i in hidden:
            if i - 1 not in hidden:
                run = 0
                while i + run in hidden:
                    run += 1
                out.add(" " * (idx_w + 3) + f"… {run:,} more steps the same in A and B (JSON report has them)")
            continue
        _row(out, row, times, cell_a, cell_b, widths=(idx_w, cb_w, time_w, drift_w, la_w, lb_w), wide=wide)


def _hidden_rows(steps: tuple[StepRow, ...]) -> set[int]:
    """Middles of long runs of identical steps: a 60-step base image must not bury the divergence."""
    hidden: set[int] = set()
    start = 0
    while start < len(steps):
        end = start
        while end < len(steps) and not common.differs(steps[end]):
            end += 1
        if end - start > _RUN_SHOWN * 2 + 2:
            hidden.update(range(start + _RUN_SHOWN, end - _RUN_SHOWN))
        start = end + 1
    return hidden


def _layer(row: StepRow, side: str) -> str:
    if side == "B" and common.same_layer(row):
        return "same as A"
    return common.layer_cell(row, side, compact=True)


def _row(out: _Out, row: StepRow, times: common.TimeColumn, cell_a: str, cell_b: str,
         *, widths: tuple[int, int, int, int, int, int], wide: bool) -> None:
    idx_w, cb_w, time_w, drift_w, la_w, lb_w = widths
    differs = common.differs(row)
    mark = out.style("◀", "mark") if differs else " "
    created_by = shorten(_safe(display_created_by(row.created_by)), cb_w)
    if common.marked(row, "created_by"):
        created_by = out.style(_pad(created_by, cb_w), "mark")
    else:
        created_by = _pad(created_by, cb_w)

    def cell(text: str, width: int, marked: bool) -> str:
        text = shorten(_safe(text), width - 1 if marked else width) + ("*" if marked else "")
        padded = _pad(text, width)
        return out.style(padded, "mark") if marked else padded

    layer_marked = common.marked(row, "layer")
    created_marked = common.marked(row, "created")
    layers = cell(cell_a, la_w, False) + "  " + cell(cell_b, lb_w, layer_marked)
    created = (cell(times.cell(row.created_a), time_w, False) + "  "
               + cell(times.cell(row.created_b), time_w, created_marked) + "  "
               + cell(common.drift_cell(row), drift_w, False))
    lead = _pad(common.index_cell(row), idx_w, right=True) + " " + mark + " "
    if wide:
        out.add(lead + created_by + "  " + created + "  " + layers)
    else:
        out.add(lead + created_by + "  " + layers)
        out.add(" " * (idx_w + 3) + created)
    if row.created_by_a and row.created_by_b and row.created_by_a != row.created_by_b:
        other = shorten(_safe(display_created_by(row.created_by_b)), out.width - idx_w - 6)
        out.add(" " * (idx_w + 3) + "B: " + other)


def render_text(report: Report, *, max_paths: int = 10, color: bool = False, width: int = 80,
                full_digests: bool = False, all_mtimes: bool = False) -> str:
    """The text report (ends with a newline); ANSI colour only when ``color`` is True.

    ``max_paths`` caps every list (paths, changes per step, evidence details);
    ``full_digests`` shows digests whole in the changes; ``all_mtimes`` lists
    the changes of mtime alone instead of counting them per step.
    """
    out = _Out(width, color)
    _header(out, report, full_digests)
    out.add()
    _verdict(out, report)
    _changes(out, report, max_paths=max_paths, full_digests=full_digests, all_mtimes=all_mtimes)
    shown_steps: set[str] = set()
    tabled = tabled_paths(report)
    for f in common.by_severity(report):
        out.add()
        _finding(out, f, max_paths, full_digests, shown_steps=shown_steps, tabled=tabled_for(f, tabled),
                 all_mtimes=all_mtimes)
    out.add()
    _history(out, report)
    return "\n".join(out.lines) + "\n"


def render_brief(report: Report) -> str:
    """The verdict on one line, as ``diff -q`` says only whether files differ (the exit status says the rest)."""
    return _prose(report.verdict) + "\n"
