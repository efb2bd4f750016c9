"""The HTML report: one self-contained page with the Markdown report's content.

No external resources, no script: an inline stylesheet, and a Content
Security Policy that forbids loading anything else, so the page can be opened
offline and from an untrusted attachment. Every value from the report passes
through ``escape.html_text`` (``html_prose`` for our own sentences: summaries,
notes, the verdict); only this module's own tags reach the page.
"""

from __future__ import annotations

from imageforensics.created_by import display_created_by
from imageforensics.findings import Finding, Severity, evidence_texts
from imageforensics.report import _common as common
from imageforensics.report._escape import html_prose, html_text
from imageforensics.report._values import InputSide, Report, StepRow
from imageforensics.timestamp import Timestamp

_STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328;
       margin: 2em auto; max-width: 1200px; padding: 0 1.5em; }
h1 { font-size: 1.5em; margin-bottom: .2em; }
h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #d0d7de; padding-bottom: .2em; }
code, .mono { font: 13px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
code { background: #f6f8fa; padding: .1em .3em; border-radius: 4px; overflow-wrap: anywhere; }
table { border-collapse: collapse; margin: .6em 0; }
th, td { border: 1px solid #d0d7de; padding: .3em .6em; vertical-align: top; text-align: left;
         overflow-wrap: anywhere; }
th { background: #f6f8fa; white-space: nowrap; overflow-wrap: normal; }
td.num, td.nowrap, .nowrap { white-space: nowrap; }
td.num { text-align: right; }
.verdict { border-left: 6px solid #0969da; background: #ddf4ff; padding: .7em 1em; margin: 1em 0; }
.verdict.bad { border-color: #cf222e; background: #ffebe9; }
.sev { font-weight: 700; white-space: nowrap; }
.sev-error { color: #cf222e; } .sev-warning { color: #9a6700; } .sev-info { color: #0969da; }
tr.differs td:first-child { border-left: 4px solid #cf222e; }
td.diff { font-weight: 700; background: #fff8c5; }
details { margin: .5em 0; } summary { cursor: pointer; }
ul.paths { columns: 2; margin: .4em 0; } ul.paths li { break-inside: avoid; }
footer { margin-top: 2em; color: #656d76; font-size: .9em; }
"""

# The page may load nothing at all; inline style only.
_CSP = "default-src 'none'; style-src 'unsafe-inline'"


def _h(value: str, limit: int = 4000) -> str:
    return html_text(value, limit=limit)


def _code(value: str) -> str:
    return f"<code>{_h(value)}</code>" if value else "—"


def _td(content: str, *, cls: str = "") -> str:
    return f'<td class="{cls}">{content}</td>' if cls else f"<td>{content}</td>"


def _inputs(report: Report) -> list[str]:
    a, b = report.a, report.b
    rows = [
        ("source", _code(a.source), _code(b.source)),
        ("references", _refs(a), _refs(b)),
        ("image ID", _code(a.image_id), _code(b.image_id)),
        ("archive sha256", _code(a.archive_sha256), _code(b.archive_sha256)),
        ("layout", _code(a.layout), _code(b.layout)),
        ("platform", _code(a.platform), _code(b.platform)),
        ("layers / steps", f"{a.layer_count:,} / {a.history_count:,}", f"{b.layer_count:,} / {b.history_count:,}"),
        ("created", _code(a.created), _code(b.created)),
    ]
    if a.notes or b.notes:
        rows.append(("notes", "<br>".join(html_prose(n) for n in a.notes) or "—",
                     "<br>".join(html_prose(n) for n in b.notes) or "—"))
    out = ["<table>", "<tr><th></th><th>A</th><th>B</th></tr>"]
    out += [f"<tr><th>{name}</th>{_td(va)}{_td(vb)}</tr>" for name, va, vb in rows]
    return out + ["</table>"]


def _refs(side: InputSide) -> str:
    shown = [_code(r) for r in side.references[:20]]
    if len(side.references) > 20:
        shown.append(f"and {len(side.references) - 20:,} more")
    return ", ".join(shown) or "(none)"


def _evidence(f: Finding) -> str:
    parts = []
    for label, items in common.evidence_groups(evidence_texts(f)):
        values = ", ".join(f"{_h(k)} {_code(v)}" if k else _code(v) for k, v in items)
        parts.append(f"<b>{label}:</b> {values}" if label else values)
    if f.path:
        parts.append(f"path {_code(f.path)}")
    return "<br>".join(parts) or "—"


def _findings(report: Report, max_paths: int) -> list[str]:
    ordered = common.by_severity(report)
    out = ["<h2>Findings</h2>"]
    if not ordered:
        return out + ["<p>None.</p>"]
    out += ["<table>", "<tr><th>severity</th><th>code</th><th>step</th><th>finding</th><th>evidence</th></tr>"]
    for f in ordered:
        step = common.step_label(f)
        if f.side and not step.endswith(f"in {f.side}"):
            step = f"{step} (in {f.side})".strip()
        where = " ".join(x for x in (_h(step), _code(display_created_by(f.created_by)) if f.created_by else "")
                         if x)
        summary = html_prose(f.summary)
        if f.paths:
            summary += _paths(f, max_paths)
        sev = f.severity.name.lower()
        out.append(f'<tr>{_td(f.severity.label, cls=f"sev sev-{sev}")}{_td(_code(f.code), cls="nowrap")}'
                   f"{_td(where or '—')}{_td(summary)}{_td(_evidence(f))}</tr>")
    return out + ["</table>"]


def _paths(f: Finding, max_paths: int) -> str:
    shown = common.sample_paths(f.paths, max_paths)
    items = "".join(f"<li>{_code(p)}</li>" for p in shown)
    rest = len(f.paths) - len(shown)
    if rest:
        items += f"<li>… and {rest:,} more (--max-paths to show)</li>"
    return (f"<details><summary>{common.count(len(f.paths), 'path')}</summary>"
            f'<ul class="paths">{items}</ul></details>')


def _history(report: Report) -> list[str]:
    steps = report.steps
    out = ["<h2>History, aligned by created_by</h2>"]
    if not steps:
        return out + ["<p>No history steps.</p>"]
    times = common.TimeColumn(common.row_stamps(steps))
    note = "Highlighted cells differ between A and B."
    if times.shared_date:
        note += f" Created times are UTC on {times.shared_date}."
    out += [f"<p>{note}</p>", "<table>",
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
    return (f"<tr{cls}>" + cell(_h(common.index_cell(r)), False, True)
            + cell(created_by, common.marked(r, "created_by"))
            + cell(_time(times, r.created_a), created) + cell(_time(times, r.created_b), created)
            + cell(_h(common.drift_cell(r)), created and bool(r.drift_ns), True)
            + cell(_h(common.layer_cell(r, "A")), layer) + cell(layer_b, layer) + "</tr>")


def _time(times: common.TimeColumn, ts: Timestamp | None) -> str:
    # Our own formatted times never wrap; a raw unparsed string may.
    cls = "mono nowrap" if ts is not None and ts.ns is not None else "mono"
    return f'<span class="{cls}">{_h(times.cell(ts))}</span>'


def render_html(report: Report, *, max_paths: int = 200, full_digests: bool = False, all_mtimes: bool = False) -> str:
    """The self-contained HTML report (no scripts, no external resources)."""
    bad = any(f.severity == Severity.ERROR for f in report.findings)
    verdict_cls = "verdict bad" if bad else "verdict"
    options = ""
    if report.options:
        options = " · options: " + ", ".join(f"{_h(k)}={_h(v)}" for k, v in report.options)
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>imageforensics: {_h(report.a.source, 200)} vs {_h(report.b.source, 200)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        "<h1>imageforensics report</h1>",
        f'<div class="{verdict_cls}"><b>Verdict:</b> {html_prose(report.verdict)}</div>',
        f"<p><b>Findings:</b> {common.severity_counts(report.findings)}</p>",
    ]
    lines += _inputs(report)
    lines += _findings(report, max_paths)
    lines += _history(report)
    lines += [f"<footer>imageforensics {_h(report.tool_version)} · report format {report.format_version}"
              f"{options}</footer>", "</body>", "</html>"]
    return "\n".join(lines) + "\n"
