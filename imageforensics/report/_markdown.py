"""The Markdown report: GitHub-flavoured, ready to paste into an issue.

Verdict first, the two inputs (tool version, image IDs, archive sha256 when
--archive-digest took it), a findings table, long path lists in
``<details>`` blocks, and the aligned history with the cells that differ in
bold. It stays under GitHub's
65,536-character comment limit by cutting lists, then long values, then rows,
always saying how much was cut. Untrusted names are code spans or
backslash-escaped text (``escape.md_code`` / ``md_text``, ``md_prose`` for our
own sentences); inside the raw HTML
of ``<summary>`` only our own words and HTML-escaped text appear.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from imageforensics.created_by import display_created_by
from imageforensics.findings import Finding
from imageforensics.report import _common as common
from imageforensics.report._changes import TABLED_CODES, StepChanges, changes_by_step, tabled_for, tabled_paths
from imageforensics.report._escape import html_text, md_code, md_prose, md_text
from imageforensics.report._values import InputSide, Report, StepRow

GITHUB_LIMIT = 65_536
# Room left for what GitHub adds or counts differently (CRLF line ends in a
# pasted comment count twice, so budget two characters per line).
_MARGIN = 512
# Every row of the findings and history tables is longer than this (seven
# cells and their pipes): more rows than the limit over this never fit.
_MIN_ROW = 20
_MAX_ROWS = GITHUB_LIMIT // _MIN_ROW


@dataclass(frozen=True, slots=True)
class _Budget:
    """How much of each list and value one rendering shows."""

    max_paths: int
    max_findings: int
    max_steps: int
    cell: int  # longest untrusted value shown, in characters
    full_digests: bool = False
    full_paths: bool = False
    all_mtimes: bool = False


# Characters of a step's created_by in a finding's row.
_STEP_CELL = 60


def _code(value: str, budget: _Budget) -> str:
    return md_code(value, limit=budget.cell) if value else "—"


def _text(value: str, budget: _Budget) -> str:
    return md_text(value, limit=budget.cell)


def _prose(text: str, budget: _Budget, *, in_table: bool = True) -> str:
    return md_prose(text, limit=budget.cell, in_table=in_table)


def _digest(value: str, budget: _Budget) -> str:
    """A digest short enough for GitHub's comment column (whole with --full-digests)."""
    return _code(value if budget.full_digests else common.short_digest(value), budget)


def _source(value: str, budget: _Budget) -> str:
    """The input as named: its file name only, unless --full-paths (a user's paths stay theirs)."""
    return _code(common.input_name(value, budget.full_paths), budget)


def _bold(cell: str, on: bool) -> str:
    return f"**{cell}**" if on and cell and cell != "—" else cell


def _header(report: Report, budget: _Budget) -> list[str]:
    a, b = report.a, report.b
    lines = [
        "## imageforensics report",
        "",
        f"**Verdict:** {_prose(report.verdict, replace(budget, cell=max(budget.cell, 2000)), in_table=False)}",
        "",
        f"**Findings:** {common.severity_counts(report.findings)}",
        "",
        "| | A | B |",
        "|---|---|---|",
    ]

    def row(name: str, fa: str, fb: str) -> None:
        lines.append(f"| {name} | {fa} | {fb} |")

    row("source", _source(a.source, budget), _source(b.source, budget))
    row("references", _refs(a, budget), _refs(b, budget))
    row("image ID", _digest(a.image_id, budget), _digest(b.image_id, budget))
    if a.archive_sha256 or b.archive_sha256:  # taken only with --archive-digest
        row("archive sha256", _digest(a.archive_sha256, budget), _digest(b.archive_sha256, budget))
    row("layout", _code(a.layout, budget), _code(b.layout, budget))
    row("platform", _code(a.platform, budget), _code(b.platform, budget))
    row("layers / steps", f"{a.layer_count:,} / {a.history_count:,}", f"{b.layer_count:,} / {b.history_count:,}")
    row("created", _code(a.created, budget), _code(b.created, budget))
    if a.notes or b.notes:
        row("notes", _notes(a, budget), _notes(b, budget))
    return lines


def _refs(side: InputSide, budget: _Budget) -> str:
    shown = [_code(r, budget) for r in side.references[:5]]
    if len(side.references) > 5:
        shown.append(f"and {len(side.references) - 5:,} more")
    return ", ".join(shown) or "(none)"


def _notes(side: InputSide, budget: _Budget) -> str:
    return "<br>".join(_prose(n, budget) for n in side.notes[:5]) or "—"


def _evidence(f: Finding, budget: _Budget, tabled: frozenset[str] = frozenset()) -> str:
    parts = []
    texts, left_out = common.evidence_shown(f, min(budget.max_paths, 20), full_digests=budget.full_digests,
                                            numbered=f.code not in TABLED_CODES, tabled=tabled)
    for label, items in common.evidence_groups(texts):
        values = ", ".join(f"{_text(k, budget)} {_code(v, budget)}" if k else _code(v, budget) for k, v in items)
        parts.append(f"**{label}:** {values}" if label else values)
    if left_out:
        parts.append(f"and {left_out:,} more details")
    if f.code in TABLED_CODES:
        parts.append("each path's change: under Changes by step")
    if f.path:
        parts.append(f"path {_code(f.path, budget)}")
    return "<br>".join(parts)


def _step_summary(groups: list[StepChanges], budget: _Budget) -> list[str]:
    """One row per step that changed: what changed there, counted by kind (kept when lists are cut)."""
    if not groups:
        return []
    lines = ["### What changed, by step", "", "| step | created_by | changes |", "|---|---|---|"]
    for group in groups:
        kinds: dict[str, int] = {}
        for row in group.rows:
            name = "mtime only" if row.mtime_only else row.change
            kinds[name] = kinds.get(name, 0) + 1
        if group.undetailed_mtime:
            kinds["mtime only"] = kinds.get("mtime only", 0) + group.undetailed_mtime
        if group.undetailed:
            kinds["other"] = kinds.get("other", 0) + group.undetailed
        what = ", ".join(f"{n:,} {_text(k, budget)}" for k, n in kinds.items())
        created_by = display_created_by(group.created_by)
        lines.append(f"| {_text(group.label, budget)} | {_code(created_by, budget) if created_by else '—'} | {what} |")
    return lines


def _change_tables(groups: list[StepChanges], budget: _Budget) -> list[str]:
    """Each step's ``path | change | A | B`` table, folded, at most ``max_paths`` rows each."""
    lines: list[str] = []
    for group in groups:
        rows = group.shown_rows(budget.all_mtimes)
        shown = rows[: budget.max_paths]
        rest = len(rows) - len(shown) + group.more(budget.all_mtimes)
        folded, span = group.folded(budget.all_mtimes)
        title = html_text(f"changes of {group.label}", limit=80)
        lines += ["", f"<details><summary>{title}: {common.count(len(group.rows) + group.more(True), 'change')}"
                      "</summary>", ""]
        if shown:
            lines += ["| path | change | A | B |", "|---|---|---|---|"]
            lines += [f"| {_code(r.path, budget)} | {_text(r.change, budget)} | {_value(r.a, budget)} | "
                      f"{_value(r.b, budget)} |" for r in shown]
        if rest:
            lines += ["", f"… and {rest:,} more (--max-paths to show; the JSON report has every path)"]
        if folded:
            lines += ["", f"and {common.count(folded, 'path')} differing only in mtime"
                          f"{f' ({_text(span, budget)})' if span else ''}"
                          " (--all-mtimes lists them)"]
        lines += ["", "</details>"]
    return lines


def _value(text: str, budget: _Budget) -> str:
    if not text:
        return "—"
    words = text.split(" ")
    return " ".join(_digest(w, budget) if common.short_digest(w) != w else _text(w, budget) for w in words)


def _findings(report: Report, budget: _Budget, rows: _Rows) -> list[str]:
    ordered = common.by_severity(report)
    if not ordered:
        return ["### Findings", "", "None."]
    lines = ["### Findings", "", "| severity | code | step | finding | evidence |", "|---|---|---|---|---|"]
    shown = ordered[: budget.max_findings]
    tabled = tabled_paths(report)
    lines += rows.first(len(shown), budget, lambda i: _finding_row(shown[i], budget, tabled_for(shown[i], tabled)))
    if len(ordered) > len(shown):
        lines += ["", f"*… and {len(ordered) - len(shown):,} more findings, not shown to stay within "
                      "GitHub's comment limit (see the JSON report).*"]
    for f in shown:
        if f.paths:
            lines += [""] + _paths(f, budget)
    return lines


def _finding_row(f: Finding, budget: _Budget, tabled: frozenset[str]) -> str:
    step = common.step_label(f)
    if f.side and not step.endswith(f"in {f.side}"):
        step = f"{step} (in {f.side})".strip()
    # The step's text cut to 60 characters: whole in the history table, here it would squeeze the other columns.
    created_by = display_created_by(f.created_by)
    if len(created_by) > _STEP_CELL:
        created_by = created_by[:_STEP_CELL - 1] + "…"
    where = " ".join(x for x in (_text(step, budget), _code(created_by, budget) if created_by else "") if x)
    return (f"| **{f.severity.label}** | {_code(f.code, budget)} | {where or '—'} | "
            f"{_prose(f.summary, budget)} | {_evidence(f, budget, tabled) or '—'} |")


def _paths(f: Finding, budget: _Budget) -> list[str]:
    title = " ".join(x for x in (html_text(f.code, limit=80), html_text(common.step_label(f))) if x)
    lines = [f"<details><summary>{title}: {common.count(len(f.paths), 'path')}</summary>", ""]
    shown = common.sample_paths(f.paths, budget.max_paths)
    lines += [f"- {md_code(p, limit=budget.cell, in_table=False) or '(empty)'}" for p in shown]
    if len(f.paths) > len(shown):
        lines.append(f"- … and {len(f.paths) - len(shown):,} more (--max-paths to show)")
    return lines + ["", "</details>"]


def _history(report: Report, budget: _Budget, rows: _Rows, times: common.TimeColumn | None) -> list[str]:
    steps = report.steps
    lines = ["### History, aligned by created_by", ""]
    if not steps or times is None:
        return lines + ["No history steps."]
    note = "Cells in **bold** differ between A and B."
    if times.shared_date:
        note += f" Created times are UTC on {times.shared_date}."
    lines += [note, "", "| step | created_by | created A | created B | drift | layer A | layer B |",
              "|---:|---|---|---|---:|---|---|"]
    shown = steps[: budget.max_steps]
    lines += rows.first(len(shown), budget, lambda i: _step_row(shown[i], times, budget))
    if len(steps) > len(shown):
        lines += ["", f"*… and {len(steps) - len(shown):,} more steps, not shown to stay within "
                      "GitHub's comment limit (see the JSON report).*"]
    return lines


def _step_row(r: StepRow, times: common.TimeColumn, budget: _Budget) -> str:
    created_by = _code(display_created_by(r.created_by), budget)
    if r.created_by_a and r.created_by_b and r.created_by_a != r.created_by_b:
        created_by += "<br>B: " + _code(display_created_by(r.created_by_b), budget)
    created = common.marked(r, "created")
    layer = common.marked(r, "layer")
    layer_b = "same as A" if common.same_layer(r) else _text(common.layer_cell(r, "B"), budget)
    cells = [
        common.index_cell(r),
        _bold(created_by, common.marked(r, "created_by")),
        _bold(_text(times.cell(r.created_a), budget), created),
        _bold(_text(times.cell(r.created_b), budget), created),
        _bold(_text(common.drift_cell(r), budget), created and bool(r.drift_ns)),
        _bold(_text(common.layer_cell(r, "A"), budget), layer),
        _bold(layer_b, layer),
    ]
    return "| " + " | ".join(c or " " for c in cells) + " |"


def _footer(report: Report, budget: _Budget) -> list[str]:
    facts = [f"imageforensics {_text(report.tool_version, budget)}", f"report format {report.format_version}"]
    if report.options:
        facts.append("options: " + ", ".join(f"{_text(k, budget)}={_text(v, budget)}" for k, v in report.options[:10]))
    return ["", "---", "<sub>" + " · ".join(facts) + "</sub>"]


class _Rows:
    """A table's rows, each rendered once per cell width: cutting rows re-renders none of them."""

    def __init__(self) -> None:
        self._by_cell: dict[int, list[str]] = {}

    def first(self, n: int, budget: _Budget, render: Callable[[int], str]) -> list[str]:
        """The first ``n`` rows at ``budget.cell`` (row ``i`` is ``render(i)``)."""
        rows = self._by_cell.setdefault(budget.cell, [])
        while len(rows) < n:
            rows.append(render(len(rows)))
        return rows[:n]


def _render(report: Report, budget: _Budget, memo: dict[tuple[object, ...], str],
            rows: tuple[_Rows, _Rows], times: common.TimeColumn | None, groups: list[StepChanges]) -> str:
    # Cutting re-renders; a section whose own budget did not change is reused. The verdict, the
    # per-step summary and the history come before the long lists, which are cut first.
    parts = []
    sections: tuple[tuple[str, tuple[int, ...], Callable[[], list[str]]], ...] = (
        ("header", (budget.cell,), lambda: _header(report, budget)),
        ("steps", (budget.cell,), lambda: _step_summary(groups, budget)),
        ("history", (budget.max_steps, budget.cell), lambda: _history(report, budget, rows[1], times)),
        ("findings", (budget.max_paths, budget.max_findings, budget.cell), lambda: _findings(report, budget, rows[0])),
        ("changes", (budget.max_paths, budget.cell), lambda: _change_tables(groups, budget)),
        ("footer", (budget.cell,), lambda: _footer(report, budget)),
    )
    for name, key, build in sections:
        full_key = (name, *key)
        if full_key not in memo:
            memo[full_key] = "\n".join(build())
        parts.append(memo[full_key])
    body = [p for p in parts[:-1] if p]
    if parts[-2]:
        body[-1] = "### Changes by step\n" + body[-1]
    return "\n\n".join(body) + "\n" + parts[-1] + "\n"


def _cuts(report: Report, max_paths: int, shown: dict[str, bool]) -> list[_Budget]:
    """Ever smaller budgets: fewer paths, shorter values, then fewer findings, and the history rows last."""
    n_findings, n_steps = min(len(report.findings), _MAX_ROWS), min(len(report.steps), _MAX_ROWS)
    budgets = [_Budget(max_paths, n_findings, n_steps, 2000, **shown)]
    paths = max_paths
    while paths > 0:
        paths //= 2
        budgets.append(_Budget(paths, n_findings, n_steps, 2000, **shown))
    for cell in (300, 100, 40):
        budgets.append(_Budget(0, n_findings, n_steps, cell, **shown))
    steps, findings = n_steps, n_findings
    while steps > 0 or findings > 0:
        findings //= 2
        steps = steps // 2 if findings == 0 else steps
        budgets.append(_Budget(0, findings, steps, 40, **shown))
    return budgets


def render_markdown(report: Report, *, max_paths: int = 50, full_digests: bool = False, full_paths: bool = False,
                    all_mtimes: bool = False) -> str:
    """The GitHub-flavoured Markdown report, under 65,536 characters.

    ``full_digests``: digests whole; ``full_paths``: the inputs as named on the
    command line (by default their file names only); ``all_mtimes``: list the
    paths that differ only in mtime.
    """
    text = ""
    memo: dict[tuple[object, ...], str] = {}
    rows = (_Rows(), _Rows())
    # How the created columns are written depends on every step (a date they share is said once).
    times = common.TimeColumn(common.row_stamps(report.steps)) if report.steps else None
    groups = changes_by_step(report, full_digests=True)
    shown = {"full_digests": full_digests, "full_paths": full_paths, "all_mtimes": all_mtimes}
    for budget in _cuts(report, max(max_paths, 0), shown):
        text = _render(report, budget, memo, rows, times, groups)
        if len(text) + text.count("\n") + _MARGIN <= GITHUB_LIMIT:
            return text
    return text
