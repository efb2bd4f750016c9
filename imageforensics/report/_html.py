"""The HTML report: one self-contained page, with a picture of the two builds.

No external resources, no script: an inline stylesheet and an inline SVG, and
a Content Security Policy that forbids loading anything else, so the page can
be opened offline and from an untrusted attachment. Every value from the
report passes through ``escape.html_text`` (``html_prose`` for our own
sentences: summaries, notes, the verdict); only this module's own tags reach
the page. In our sentences, text between backticks becomes ``<code>`` and a
reference to an upstream issue of the container tools (``moby/buildkit#1981``)
a link to it; nothing else links out.

The page reads top down: the verdict, a summary linking to each step that
changed and each finding, the picture (``_svg``), what changed by step, the
findings in one folding section per severity, the inputs, the aligned
history. Every step and finding has an anchor. Long values never widen the
page: tables have fixed layouts, digests are short (whole in their title, or
with ``full_digests``), and words break only where they cannot fit at all.
"""

from __future__ import annotations

import math
import re

from imageforensics.created_by import display_created_by
from imageforensics.findings import Finding, Severity
from imageforensics.report import _common as common
from imageforensics.report._changes import TABLED_CODES, StepChanges, changes_by_step, tabled_for, tabled_paths
from imageforensics.report._escape import html_prose, html_text
from imageforensics.report._values import InputSide, Report, StepRow
from imageforensics.timestamp import Timestamp

_STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328;
       margin: 2em auto; max-width: 1200px; padding: 0 1.5em; }
h1 { font-size: 1.5em; margin-bottom: .2em; }
h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #d0d7de; padding-bottom: .2em; }
h3 { font-size: 1.05em; margin: 1.2em 0 .3em; }
code, .mono { font: 13px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
code { background: #f6f8fa; padding: .1em .3em; border-radius: 4px; overflow-wrap: break-word; }
table { border-collapse: collapse; margin: .6em 0; width: 100%; table-layout: fixed; }
table.inputs { table-layout: auto; }
th, td { border: 1px solid #d0d7de; padding: .3em .6em; vertical-align: top; text-align: left;
         overflow-wrap: break-word; word-break: normal; hyphens: none; }
th { background: #f6f8fa; }
td.num, td.nowrap, .nowrap { white-space: nowrap; }
td.num { text-align: right; }
.verdict { border-left: 6px solid #0969da; background: #ddf4ff; padding: .7em 1em; margin: 1em 0; }
.verdict.bad { border-color: #cf222e; background: #ffebe9; }
.sev { font-weight: 700; white-space: nowrap; }
.sev-error { color: #cf222e; } .sev-warning { color: #9a6700; } .sev-info { color: #0969da; }
tr.differs td:first-child { border-left: 4px solid #cf222e; }
td.diff { font-weight: 700; background: #fff8c5; }
details { margin: .5em 0; } summary { cursor: pointer; }
details.severity > summary { font-size: 1.1em; font-weight: 700; margin: .6em 0; }
ul.paths { columns: 2; margin: .4em 0; } ul.paths li { break-inside: avoid; overflow-wrap: break-word; }
ul.toc { columns: 2; } ul.toc li { break-inside: avoid; }
.picture { margin: .8em 0; } .picture svg { max-width: 100%; height: auto; display: block; }
.legend { color: #656d76; font-size: .9em; }
:target { outline: 3px solid #0969da; outline-offset: 2px; }
footer { margin-top: 2em; color: #656d76; font-size: .9em; }
"""

# The page may load nothing at all; inline style only (the SVG is markup, not a resource).
_CSP = "default-src 'none'; style-src 'unsafe-inline'"

# Upstream issue references in our sentences: ``moby/buildkit#1981``, and ``#2198`` after one
# (the same repository). Only the container tools' own organisations are linked.
_ISSUE_REF = re.compile(r"(?<![\w/#&])((?:moby|containerd|opencontainers|containers|GoogleContainerTools|docker)/[A-Za-z0-9_.-]+)?"
                        r"#([0-9]{1,7})\b")
_BACKTICKED = re.compile(r"`([^`]+)`")


def _h(value: str, limit: int = 4000) -> str:
    return html_text(value, limit=limit)


def _code(value: str) -> str:
    return f"<code>{_h(value)}</code>" if value else "—"


def _digest(value: str, full: bool) -> str:
    """A digest, short unless ``full``; the whole value is its title (one hover or copy away)."""
    short = value if full else common.short_digest(value)
    if short == value:
        return _code(value)
    return f'<code title="{_h(value)}">{_h(short)}</code>'


def _prose(text: str) -> str:
    """A sentence of ours: escaped, backticked parts as code, upstream issue references as links."""
    out = html_prose(text)
    out = _BACKTICKED.sub(lambda m: f"<code>{m.group(1)}</code>", out)
    repo = ""

    def link(m: re.Match[str]) -> str:
        nonlocal repo
        if m.group(1):
            repo = m.group(1)
        if not repo:
            return m.group(0)
        return f'<a href="https://github.com/{repo}/issues/{m.group(2)}">{m.group(0)}</a>'

    # Only outside tags and code: split on them, link the text between.
    parts = re.split(r"(<code>.*?</code>|<[^>]+>)", out)
    return "".join(p if p.startswith("<") else _ISSUE_REF.sub(link, p) for p in parts)


def _td(content: str, *, cls: str = "") -> str:
    return f'<td class="{cls}">{content}</td>' if cls else f"<td>{content}</td>"


def _finding_id(i: int) -> str:
    return f"finding-{i + 1}"


def _row_id(r: StepRow) -> str:
    """The anchor of a history row: ``step-6`` (both sides), ``step-6-5``, ``step-a6``, ``step-b5``."""
    a, b = r.index_a, r.index_b
    if a is not None and b is not None:
        return f"step-{a}" if a == b else f"step-{a}-{b}"
    return f"step-a{a}" if a is not None else f"step-b{b}"


# ---- the summary -----------------------------------------------------------------


def _summary(report: Report, ordered: tuple[Finding, ...], groups: list[StepChanges]) -> list[str]:
    out = ['<nav aria-label="summary">', "<h2>Summary</h2>", '<ul class="toc">']
    if report.steps:
        out.append('<li><a href="#picture">the two builds</a></li>')
    for group in groups:
        out.append(f'<li><a href="#changes-{group.anchor}">changes of {_h(group.label)}</a> '
                   f"({common.count(len(group.rows) + group.more(True), 'change')})</li>")
    for i, f in enumerate(ordered):
        step = common.step_label(f)
        out.append(f'<li><a href="#{_finding_id(i)}"><span class="sev sev-{f.severity.name.lower()}">'
                   f"{f.severity.label}</span> {_h(f.code)}</a>{' ' + _h(step) if step else ''}</li>")
    out.append('<li><a href="#history">the aligned history</a></li>')
    return out + ["</ul>", "</nav>"]


# ---- the picture -----------------------------------------------------------------

_SLOT = 64
_LEFT = 70
_BAR = 22
_MAX_BAR = 70


def _positions(steps: tuple[StepRow, ...]) -> tuple[dict[tuple[str, int], float], list[tuple[float, str]]]:
    """x of each step on each side: an ordinal time axis (equal times share a slot), and the slot labels.

    Build times span months and seconds at once; ranks keep every step apart
    while steps of one created time stand together, so a run of steps that
    took one time (a cache import) is seen as one column.
    """
    stamps: list[tuple[str, int, int | None]] = []
    for r in steps:
        for side, index, ts in (("A", r.index_a, r.created_a), ("B", r.index_b, r.created_b)):
            if index is not None:
                stamps.append((side, index, ts.ns if ts is not None else None))
    known = sorted({ns for _, _, ns in stamps if ns is not None})
    rank = {ns: i for i, ns in enumerate(known)}
    slots: list[tuple[str, int, float]] = []
    last = {"A": -1.0, "B": -1.0}
    for side, index, ns in stamps:
        # A step without a time stands just after its side's previous one.
        slot = float(rank[ns]) if ns is not None else last[side] + 0.5
        slots.append((side, index, slot))
        last[side] = slot
    # Each slot is as wide as the most steps one side has at that time.
    counts: dict[float, dict[str, int]] = {}
    for side, _, slot in slots:
        per = counts.setdefault(slot, {"A": 0, "B": 0})
        per[side] += 1
    start: dict[float, float] = {}
    x = float(_LEFT)
    for slot in sorted(counts):
        start[slot] = x
        x += max(counts[slot].values()) * (_BAR + 4) + _SLOT - _BAR - 4
    pos: dict[tuple[str, int], float] = {}
    used: dict[tuple[str, float], int] = {}
    for side, index, slot in slots:
        k = used.get((side, slot), 0)
        used[(side, slot)] = k + 1
        pos[(side, index)] = start[slot] + k * (_BAR + 4)
    labels: list[tuple[float, str]] = []
    for ns in known:
        parts = common.time_parts(Timestamp("", ns))
        labels.append((start[float(rank[ns])], parts[1] if parts else ""))
    return pos, labels


def _bar_height(size: int, biggest: int) -> float:
    return 4 + (_MAX_BAR - 4) * math.log10(size + 1) / math.log10(biggest + 1) if biggest > 0 else 4


def _svg(report: Report, ordered: tuple[Finding, ...]) -> list[str]:
    steps = report.steps
    if not steps:
        return []
    pos, labels = _positions(steps)
    sizes = [layer.size for r in steps for layer in (r.layer_a, r.layer_b) if layer is not None]
    biggest = max(sizes, default=0)
    emptied = {(f.step_a, f.step_b) for f in ordered if f.code == "step-wrongly-empty"}
    lost = {f.step_a for f in ordered if f.code == "paths-missing"}
    width = int(max(pos.values(), default=_LEFT) + _SLOT + _BAR)
    base_a, base_b = 110, 230
    height = base_b + _MAX_BAR + 30
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" role="img" '
           f'aria-labelledby="picture-title">',
           '<title id="picture-title">The two builds: each step at its created time (equal times in one column), '
           "its layer size as a bar, A above and B below, aligned steps joined</title>",
           f'<text x="8" y="{base_a - 4}" font-size="16" font-weight="700">A</text>',
           f'<text x="8" y="{base_b + 16}" font-size="16" font-weight="700">B</text>',
           f'<line x1="{_LEFT - 10}" y1="{base_a}" x2="{width - 10}" y2="{base_a}" stroke="#8c959f"/>',
           f'<line x1="{_LEFT - 10}" y1="{base_b}" x2="{width - 10}" y2="{base_b}" stroke="#8c959f"/>']
    shown_labels = labels[:: max(1, len(labels) // 24 + (len(labels) % 24 > 0))]
    for x, label in shown_labels:
        out.append(f'<text x="{x:.0f}" y="{(base_a + base_b) / 2 + 4:.0f}" font-size="10" fill="#656d76">'
                   f"{_h(label)}</text>")
    for r in steps:
        anchor = _row_id(r)
        differs = common.differs(r)
        xa = pos.get(("A", r.index_a)) if r.index_a is not None else None
        xb = pos.get(("B", r.index_b)) if r.index_b is not None else None
        if xa is not None and xb is not None:
            colour = "#cf222e" if differs else "#8c959f"
            out.append(f'<line class="join" x1="{xa + _BAR / 2:.0f}" y1="{base_a + 2}" x2="{xb + _BAR / 2:.0f}" '
                       f'y2="{base_b - 2}" stroke="{colour}" stroke-dasharray="{"4 3" if differs else "none"}"/>')
        wrongly = (r.index_a, r.index_b) in emptied
        placed: list[tuple[str, float | None]] = [("A", xa), ("B", xb)]
        for side, maybe_x in placed:
            if maybe_x is None:
                continue
            x = maybe_x
            layer = r.layer_a if side == "A" else r.layer_b
            other = r.layer_b if side == "A" else r.layer_a
            index = r.index_a if side == "A" else r.index_b
            title = f"step {index} in {side}: {display_created_by(r.created_by_a if side == 'A' else r.created_by_b)}"
            title += f" — {common.layer_cell(r, side)}"
            out.append(f'<a href="#{anchor}"><g class="mark mark-{side.lower()}">')
            out.append(f"<title>{_h(title, 300)}</title>")
            up = side == "A"
            base = base_a if up else base_b
            if layer is not None and layer.present and not layer.empty_kind:
                h = _bar_height(layer.size, biggest)
                y = base - h if up else base
                layer_differs = common.marked(r, "layer")
                fill = "#cf222e" if layer_differs and (side == "B" or r.match == "only-a") else "#0969da"
                out.append(f'<rect x="{x:.0f}" y="{y:.0f}" width="{_BAR}" height="{h:.0f}" fill="{fill}"/>')
            else:
                out.append(f'<circle cx="{x + _BAR / 2:.0f}" cy="{base - 6 if up else base + 6}" r="4" fill="#8c959f"/>')
            if wrongly and (layer is None or layer.empty_kind) and other is not None and not other.empty_kind:
                # The content this side lacks: the other side's bar, as an outline.
                h = _bar_height(other.size, biggest)
                y = base - h if up else base
                out.append(f'<rect class="missing" x="{x:.0f}" y="{y:.0f}" width="{_BAR}" height="{h:.0f}" '
                           'fill="none" stroke="#cf222e" stroke-width="2" stroke-dasharray="4 3"/>')
                ty = y - 4 if up else y + h + 12
                out.append(f'<text x="{x - 6:.0f}" y="{ty:.0f}" font-size="11" fill="#cf222e">missing</text>')
            if side == "A" and index in lost and layer is not None:
                out.append(f'<text x="{x:.0f}" y="{base - _MAX_BAR - 6}" font-size="11" fill="#cf222e">lost in B</text>')
            label_y = base + 14 if up else base - 6
            colour = "#cf222e" if differs else "#1f2328"
            out.append(f'<text x="{x + 3:.0f}" y="{label_y}" font-size="11" fill="{colour}">{index}</text>')
            out.append("</g></a>")
    out.append("</svg>")
    legend = ('<p class="legend">Bars: layer size (log scale); a dot: no layer (empty_layer or an empty tar). '
              "Red: the step differs between A and B; a dashed outline: content B lacks where the step was "
              "wrongly left empty. Columns are created times in order; steps of one time stand together. "
              "Each step links to its row of the history.</p>")
    return ['<h2 id="picture">The two builds</h2>', '<div class="picture">', *out, "</div>", legend]


# ---- what changed ----------------------------------------------------------------

_VISIBLE_ROWS = 20


def _changes(report: Report, max_paths: int, full_digests: bool, all_mtimes: bool) -> tuple[list[str], list[StepChanges]]:
    groups = changes_by_step(report, full_digests=True)
    if not groups:
        return [], groups
    out = ["<h2>What changed, by step</h2>"]
    for group in groups:
        created_by = display_created_by(group.created_by)
        out.append(f'<h3 id="changes-{group.anchor}">{_h(group.label)}'
                   f"{' ' + _code(created_by) if created_by else ''}</h3>")
        rows = group.shown_rows(all_mtimes)
        shown = rows[: max(max_paths, 0)]
        # The first rows in view, the rest of those --max-paths allows one click away.
        for part, chunk in enumerate((shown[:_VISIBLE_ROWS], shown[_VISIBLE_ROWS:])):
            if not chunk:
                continue
            if part:
                out.append(f"<details><summary>{len(chunk):,} more changes</summary>")
            out.append('<table><colgroup><col style="width:40%"><col style="width:10%"><col style="width:25%">'
                       '<col style="width:25%"></colgroup>')
            out.append("<tr><th>path</th><th>change</th><th>A</th><th>B</th></tr>")
            for row in chunk:
                out.append(f"<tr>{_td(_code(row.path))}{_td(_h(row.change))}"
                           f"{_td(_value(row.a, full_digests))}{_td(_value(row.b, full_digests))}</tr>")
            out.append("</table>")
            if part:
                out.append("</details>")
        rest = len(rows) - len(shown) + group.more(all_mtimes)
        notes = []
        if rest:
            notes.append(f"… and {rest:,} more (--max-paths to show; the JSON report has every path)")
        folded, span = group.folded(all_mtimes)
        if folded:
            notes.append(f"and {folded:,} path{'s' if folded != 1 else ''} differing only in mtime"
                         f"{f' ({_h(span)})' if span else ''} (--all-mtimes lists them)")
        out += [f"<p>{n}</p>" for n in notes]
    return out, groups


def _value(text: str, full_digests: bool) -> str:
    """A change's value: its digest short (whole in the title), the rest as text."""
    words = text.split(" ")
    return " ".join(_digest(w, full_digests) if common.short_digest(w) != w else _h(w) for w in words)


# ---- findings ----------------------------------------------------------------------


def _evidence(f: Finding, max_paths: int, full_digests: bool, tabled: frozenset[str] = frozenset()) -> str:
    parts = []
    texts, left_out = common.evidence_shown(f, max_paths, full_digests=True, numbered=f.code not in TABLED_CODES,
                                            tabled=tabled)
    for label, items in common.evidence_groups(texts):
        values = ", ".join(f"{_h(k)} {_value_code(v, full_digests)}" if k else _value_code(v, full_digests)
                           for k, v in items)
        parts.append(f"<b>{label}:</b> {values}" if label else values)
    if left_out:
        parts.append(f"… and {left_out:,} more details (--max-paths to show)")
    if f.code in TABLED_CODES:
        parts.append("each path's change: under What changed")
    if f.path:
        parts.append(f"path {_code(f.path)}")
    return "<br>".join(parts) or "—"


def _value_code(value: str, full_digests: bool) -> str:
    return _digest(value, full_digests) if common.short_digest(value) != value else _code(value)


def _findings(ordered: tuple[Finding, ...], max_paths: int, full_digests: bool,
              tabled: dict[tuple[int | None, int | None], frozenset[str]]) -> list[str]:
    out = ["<h2>Findings</h2>"]
    if not ordered:
        return out + ["<p>None.</p>"]
    for severity in sorted(Severity, reverse=True):
        members = [(i, f) for i, f in enumerate(ordered) if f.severity == severity]
        if not members:
            continue
        # Errors and warnings open; notes folded.
        state = " open" if severity != Severity.INFO else ""
        name = severity.name.lower()
        out.append(f'<details class="severity" id="{name}"{state}><summary>'
                   f'<span class="sev sev-{name}">{severity.label}</span> ({len(members):,})</summary>')
        out += ['<table><colgroup><col style="width:16%"><col style="width:16%"><col style="width:38%">'
                '<col style="width:30%"></colgroup>',
                "<tr><th>code</th><th>step</th><th>finding</th><th>evidence</th></tr>"]
        for i, f in members:
            step = common.step_label(f)
            if f.side and not step.endswith(f"in {f.side}"):
                step = f"{step} (in {f.side})".strip()
            where = " ".join(x for x in (_h(step), _code(display_created_by(f.created_by)) if f.created_by else "")
                             if x)
            summary = _prose(f.summary)
            if f.paths:
                summary += _paths(f, max_paths)
            out.append(f'<tr id="{_finding_id(i)}">{_td(_code(f.code))}'
                       f"{_td(where or '—')}{_td(summary)}{_td(_evidence(f, max_paths, full_digests, tabled_for(f, tabled)))}</tr>")
        out += ["</table>", "</details>"]
    return out


def _paths(f: Finding, max_paths: int) -> str:
    shown = common.sample_paths(f.paths, max_paths)
    items = "".join(f"<li>{_code(p)}</li>" for p in shown)
    rest = len(f.paths) - len(shown)
    if rest:
        items += f"<li>… and {rest:,} more (--max-paths to show)</li>"
    return (f"<details><summary>{common.count(len(f.paths), 'path')}</summary>"
            f'<ul class="paths">{items}</ul></details>')


# ---- inputs and history --------------------------------------------------------------


def _inputs(report: Report, full_digests: bool, full_paths: bool) -> list[str]:
    a, b = report.a, report.b
    rows = [
        ("source", _code(common.input_name(a.source, full_paths)), _code(common.input_name(b.source, full_paths))),
        ("references", _refs(a), _refs(b)),
        ("image ID", _digest(a.image_id, full_digests), _digest(b.image_id, full_digests)),
        ("layout", _code(a.layout), _code(b.layout)),
        ("platform", _code(a.platform), _code(b.platform)),
        ("layers / steps", f"{a.layer_count:,} / {a.history_count:,}", f"{b.layer_count:,} / {b.history_count:,}"),
        ("created", _code(a.created), _code(b.created)),
    ]
    if a.archive_sha256 or b.archive_sha256:  # taken only with --archive-digest
        rows.insert(3, ("archive sha256", _digest(a.archive_sha256, full_digests),
                        _digest(b.archive_sha256, full_digests)))
    if a.notes or b.notes:
        rows.append(("notes", "<br>".join(html_prose(n) for n in a.notes) or "—",
                     "<br>".join(html_prose(n) for n in b.notes) or "—"))
    out = ["<h2>Inputs</h2>", '<table class="inputs">', "<tr><th></th><th>A</th><th>B</th></tr>"]
    out += [f"<tr><th>{name}</th>{_td(va)}{_td(vb)}</tr>" for name, va, vb in rows]
    return out + ["</table>"]


def _refs(side: InputSide) -> str:
    shown = [_code(r) for r in side.references[:20]]
    if len(side.references) > 20:
        shown.append(f"and {len(side.references) - 20:,} more")
    return ", ".join(shown) or "(none)"


def _history(report: Report) -> list[str]:
    steps = report.steps
    out = ['<h2 id="history">History, aligned by created_by</h2>']
    if not steps:
        return out + ["<p>No history steps.</p>"]
    times = common.TimeColumn(common.row_stamps(steps))
    note = "Highlighted cells differ between A and B."
    if times.shared_date:
        note += f" Created times are UTC on {times.shared_date}."
    out += [f"<p>{note}</p>",
            '<table><colgroup><col style="width:6%"><col style="width:34%"><col style="width:14%">'
            '<col style="width:14%"><col style="width:8%"><col style="width:12%"><col style="width:12%"></colgroup>',
            "<tr><th>step</th><th>created_by</th><th>created A</th><th>created B</th><th>drift</th>"
            "<th>layer A</th><th>layer B</th></tr>"]
    out += [_step_row(r, times) for r in steps]
    return out + ["</table>"]


def _step_row(r: StepRow, times: common.TimeColumn) -> str:
    created_by = _code(display_created_by(r.created_by))
    if r.created_by_a and r.created_by_b and r.created_by_a != r.created_by_b:
        created_by += "<br>B: " + _code(display_created_by(r.created_by_b))
    created = common.marked(r, "created")
    layer = common.marked(r, "layer")
    layer_b = "same as A" if common.same_layer(r) else _h(common.layer_cell(r, "B"))

    def cell(content: str, diff: bool, num: bool = False) -> str:
        classes = " ".join(c for c in ("diff" if diff else "", "num" if num else "") if c)
        return _td(content, cls=classes)

    cls = ' class="differs"' if common.differs(r) else ""
    return (f'<tr id="{_row_id(r)}"{cls}>' + cell(_h(common.index_cell(r)), False, True)
            + cell(created_by, common.marked(r, "created_by"))
            + cell(_time(times, r.created_a), created) + cell(_time(times, r.created_b), created)
            + cell(_h(common.drift_cell(r)), created and bool(r.drift_ns), True)
            + cell(_h(common.layer_cell(r, "A")), layer) + cell(layer_b, layer) + "</tr>")


def _time(times: common.TimeColumn, ts: Timestamp | None) -> str:
    # Our own formatted times never wrap; a raw unparsed string may.
    cls = "mono nowrap" if ts is not None and ts.ns is not None else "mono"
    return f'<span class="{cls}">{_h(times.cell(ts))}</span>'


def render_html(report: Report, *, max_paths: int = 200, full_digests: bool = False, full_paths: bool = False,
                all_mtimes: bool = False) -> str:
    """The self-contained HTML report (no scripts, no external resources).

    ``full_paths``: the inputs as named on the command line (by default their
    file names only, as in Markdown: a page is shared, a user's paths stay theirs).
    """
    bad = any(f.severity == Severity.ERROR for f in report.findings)
    verdict_cls = "verdict bad" if bad else "verdict"
    ordered = common.by_severity(report)
    options = ""
    if report.options:
        options = " · options: " + ", ".join(f"{_h(k)}={_h(v)}" for k, v in report.options)
    changes, groups = _changes(report, max_paths, full_digests, all_mtimes)
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>imageforensics: {_h(common.input_name(report.a.source, full_paths), 200)} vs "
        f"{_h(common.input_name(report.b.source, full_paths), 200)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        "<h1>imageforensics report</h1>",
        f'<div class="{verdict_cls}"><b>Verdict:</b> {_prose(report.verdict)}</div>',
        f"<p><b>Findings:</b> {common.severity_counts(report.findings)}</p>",
    ]
    lines += _summary(report, ordered, groups)
    lines += _svg(report, ordered)
    lines += changes
    lines += _findings(ordered, max_paths, full_digests, tabled_paths(report))
    lines += _inputs(report, full_digests, full_paths)
    lines += _history(report)
    lines += [f"<footer>imageforensics {_h(report.tool_version)} · report format {report.format_version}"
              f"{options}</footer>", "</body>", "</html>"]
    return "\n".join(lines) + "\n"
