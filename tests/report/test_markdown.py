"""The Markdown report: GitHub-ready content, inert hostile names, under 65,536 characters."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import replace
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings

from imageforensics.report._markdown import GITHUB_LIMIT, render_markdown
from imageforensics.report._values import Report, StepRow
from imageforensics.untrusted import escape
from tests.reportfactory import HOSTILE_PIECES, hostile_report, hostile_text, reports, tomcat_report

# The only raw HTML the renderer itself writes.
_OUR_TAGS = re.compile(r"</?(details|summary|sub)>|<br>|<!-- -->")
_LINE_STARTS = ("## ", "### ", "**Verdict:** ", "**Findings:** ", "| ", "|---", "<details><summary>", "- ",
                "</details>", "---", "<sub>", "Cells in **bold**", "*… and ", "None.", "No history steps.",
                "… and ", "and ")


def _live(line: str) -> str:
    """The characters of a line that Markdown interprets: outside code spans and backslash escapes."""
    live = []
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == "\\" and i + 1 < len(line) and line[i + 1] in r"""!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~""":
            i += 2
            continue
        if ch == "`":
            run = re.match(r"`+", line[i:])
            assert run is not None
            n = len(run.group(0))
            close = re.compile(r"(?<!`)`{%d}(?!`)" % n).search(line, i + n)
            assert close is not None, f"unclosed code span in {line!r}"
            i = close.end()
            continue
        live.append(ch)
        i += 1
    return "".join(live)


def _table_cells(line: str) -> int:
    """Cells in a GFM table row: pipes not escaped by a backslash split cells."""
    pipes = 0
    i = 0
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        pipes += line[i] == "|"
        i += 1
    return pipes - 1


def _assert_inert(md: str) -> None:
    assert len(md) < GITHUB_LIMIT
    md.encode("utf-8")
    columns = 0
    for line in md.splitlines():
        assert not line or line.startswith(_LINE_STARTS), f"a line we did not write: {line!r}"
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c in "\u202e\u2028" for c in line), line
        if line.startswith("<details><summary>"):
            inner = _OUR_TAGS.sub("", line)
            assert "<" not in inner and ">" not in inner, line
            continue
        live = _OUR_TAGS.sub("", _live(line)).replace("&#32;", " ")
        for bad in ("<", ">", "[", "]", "&", "*\u0000"):
            assert bad not in live.replace("**", ""), (bad, line)
        assert "://" not in live and "www." not in live.lower(), line
        if line.startswith("|"):
            cells = _table_cells(line)
            if line.startswith("|---") or line.startswith("| |") or line.startswith("| severity") or \
                    line.startswith("| step ") or line.startswith("| path |"):
                columns = cells
            assert cells == columns, f"table row with {cells} cells, header has {columns}: {line!r}"


def test_tomcat_markdown_has_verdict_inputs_findings_and_history() -> None:
    md = render_markdown(tomcat_report())
    assert md.startswith("## imageforensics report\n\n**Verdict:** B is missing content that A has")
    # Short digests fit GitHub's comment column; --full-digests gives them whole.
    assert "| image ID | `sha256:2ea3…d8c9` |" in md
    assert "| archive sha256 | `sha256:a1a1…a1a1` | `sha256:b2b2…b2b2` |" in md
    whole = render_markdown(tomcat_report(), full_digests=True)
    assert "| image ID | `sha256:2ea3401ac2fc9e0a0c1b0c5b6c1d7a7e0f3e1b58f5b8c8e0d2b3c4a5f6e7d8c9` |" in whole
    # The inputs by file name: the user's own paths stay theirs unless --full-paths.
    assert "| source | `tomcat-pulled.tar` | `tomcat-cache-from.tar` |" in md
    assert "| source | `samples/tomcat-pulled.tar` |" in render_markdown(tomcat_report(), full_paths=True)
    assert "| **ERROR** | `step-wrongly-empty` | step 6 `COPY rootfs /` |" in md
    assert "<details><summary>paths-missing step 6 in A: 12 paths</summary>" in md
    assert "- `/usr/local/bin/install-war-into-tomcat.sh`" in md
    # Differing cells in bold, equal ones plain.
    assert ("| 6 | `COPY rootfs /` | **2021-02-04 15:19:27.935272300** | **2021-02-04 15:19:27.845664700** "
            "| **-89.6 ms** | **7.65 kB, 12 entries** | **empty_layer** |") in md
    assert "| 4 | `WORKDIR /opt/tomcat` | 2021-02-04 15:19:27.845664700 | 2021-02-04 15:19:27.845664700 | = " \
           "| 93 B, 1 entry | same as A |" in md
    assert "<sub>imageforensics 0.1.0 · report format 2</sub>" in md
    _assert_inert(md)


def test_path_lists_cut_with_counts() -> None:
    report = tomcat_report()
    md = render_markdown(report, max_paths=3)
    assert "- … and 9 more (--max-paths to show)" in md
    # One path per directory before a second from any directory.
    assert "- `/etc/services.d/tomcat/finish`" in md and "- `/opt/tomcat/conf/Catalina/localhost/ROOT.xml`" in md
    assert "- `/etc/services.d/tomcat/run`" not in md and "- `/opt/tomcat/conf/server.xml`" not in md


def test_huge_report_stays_under_githubs_limit_and_says_what_was_cut() -> None:
    report = tomcat_report()
    paths = tuple(f"/usr/share/doc/package-{i:06d}/copyright" for i in range(5_000))
    findings = tuple(replace(f, paths=paths) for f in report.findings)
    steps = tuple(replace(report.steps[2], index_a=i, index_b=i, created_by_a="RUN " + "x" * 3000)
                  for i in range(1000))
    md = render_markdown(replace(report, findings=findings * 30, steps=steps))
    assert len(md) + md.count("\n") < GITHUB_LIMIT
    assert "more steps, not shown to stay within GitHub's comment limit" in md
    assert re.search(r"… and [\d,]+ more \(--max-paths to show\)|more findings, not shown", md)
    _assert_inert(md)


def test_twenty_thousand_rows_are_cut_to_the_first_that_fit_and_counted() -> None:
    report = tomcat_report()
    steps = tuple(replace(report.steps[2], index_a=i, index_b=i, created_by_a=f"RUN step {i}") for i in range(20_000))
    findings = tuple(replace(report.findings[-1], summary=f"finding {i}") for i in range(20_000))
    for table, pattern, what in (("steps", r"^\| (\d+) \| `RUN step \1`", "steps"), ("findings", r"\| finding (\d+) \|", "findings")):
        huge = replace(report, steps=steps) if table == "steps" else replace(report, findings=findings)
        md = render_markdown(huge)
        assert len(md) + md.count("\n") < GITHUB_LIMIT
        shown = [int(i) for i in re.findall(pattern, md, re.M)]
        # The first rows, in order, as many as fit (halving from 3,276 rows, the most that could), the rest counted.
        assert shown == list(range(len(shown))) and len(shown) > 100
        assert f"… and {20_000 - len(shown):,} more {what}" in md


def test_each_hostile_piece_is_inert() -> None:
    md = render_markdown(hostile_report("".join(HOSTILE_PIECES)))
    _assert_inert(md)
    assert "\\x1b\\[31m" in md or "\\x1b[31m" in md
    assert "\\u202e" in md


@settings(max_examples=80, deadline=None)
@given(hostile_text)
def test_hostile_names_cannot_inject_markdown(text: str) -> None:
    _assert_inert(render_markdown(hostile_report(text)))


@settings(max_examples=40, deadline=None)
@given(reports)
def test_any_report_gives_inert_markdown(report: Report) -> None:
    _assert_inert(render_markdown(report))


def test_only_a_and_only_b_rows_and_renamed_steps() -> None:
    report = tomcat_report()
    extra = (StepRow(index_a=None, index_b=7, created_by_b="RUN echo | tee x", match="only-b"),
             replace(report.steps[0], created_by_b="ADD other", marks=("created_by",), match="metadata"))
    md = render_markdown(replace(report, steps=report.steps + extra))
    assert "| -/7 | **`RUN echo \\| tee x`** | — | " in md
    assert "<br>B: `ADD other`" in md
    _assert_inert(md)


def test_deterministic() -> None:
    assert render_markdown(tomcat_report()) == render_markdown(tomcat_report())


# --- rendered by GitHub's own Markdown library (cmark-gfm), when installed ----------

_CMARK = shutil.which("cmark-gfm")
_GFM_TAGS = {"h2", "h3", "p", "strong", "table", "thead", "tbody", "tr", "th", "td", "code", "details", "summary",
             "ul", "li", "br", "sub", "hr"}


class _Rendered(HTMLParser):
    """Tags, table shapes and the text of each table cell in cmark-gfm's output."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.rows: list[list[str]] = []  # cells' text, per row, per table (a row of [] starts a table)
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag == "table":
            self.rows.append([])
        elif tag == "tr":
            self.rows.append(["<tr>"])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append("".join(self.cell))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def _gfm_html(md: str) -> str:
    assert _CMARK is not None
    return subprocess.run([_CMARK, "--unsafe", "-e", "table", "-e", "autolink", "-e", "strikethrough",
                           "-e", "tagfilter"], input=md.encode("utf-8"), capture_output=True, check=True).stdout.decode()


def _gfm(md: str) -> _Rendered:
    html = _gfm_html(md)
    parsed = _Rendered()
    parsed.feed(html)
    parsed.close()
    return parsed


def _check_gfm(md: str) -> _Rendered:
    parsed = _gfm(md)
    assert parsed.tags <= _GFM_TAGS, parsed.tags - _GFM_TAGS  # no <a>, <img>, <script>, <del>, <em>
    width = 0
    for row in parsed.rows:
        if not row:
            width = -1  # a new table: its first row sets the width
        elif width == -1:
            width = len(row)
        else:
            assert len(row) == width, row
    return parsed


@pytest.mark.skipif(_CMARK is None, reason="cmark-gfm (Debian package cmark-gfm) not installed")
def test_github_renders_the_tomcat_report_as_intended() -> None:
    parsed = _check_gfm(render_markdown(tomcat_report()))
    cells = [row for row in parsed.rows if row]
    assert ["<tr>", "source", "tomcat-pulled.tar", "tomcat-cache-from.tar"] in cells
    # Our sentences quote a step as a code span, not as escaped backticks.
    assert "<code>COPY rootfs /</code>" in _gfm_html(render_markdown(tomcat_report()))
    assert ["<tr>", "6", "COPY rootfs /", "2021-02-04 15:19:27.935272300", "2021-02-04 15:19:27.845664700",
            "-89.6 ms", "7.65 kB, 12 entries", "empty_layer"] in cells


@pytest.mark.skipif(_CMARK is None, reason="cmark-gfm (Debian package cmark-gfm) not installed")
@settings(max_examples=40, deadline=None)
@given(hostile_text)
def test_github_shows_hostile_names_as_plain_text(text: str) -> None:
    parsed = _check_gfm(render_markdown(hostile_report(text)))
    references = next(row for row in parsed.rows if row[1:2] == ["references"])
    # What GitHub shows is exactly the escaped name (cut only when very long).
    assert references[2] == f"{escape(text) or '—'}, x:{escape(text)}" or len(text) > 1000


@pytest.mark.skipif(_CMARK is None, reason="cmark-gfm (Debian package cmark-gfm) not installed")
@pytest.mark.parametrize("name", ["a@evil.example", "a\\@evil.example", "www.evil.example", "http://evil.example/x",
                                  "mailto:a@evil.example", "x@y.zz|q"])
def test_github_makes_no_link_of_a_name(name: str) -> None:
    report = hostile_report(name)
    html = _gfm_html(render_markdown(report))
    assert "<a " not in html and "href" not in html


def test_under_the_budget_the_summary_and_history_are_kept_before_long_lists() -> None:
    from tools.large_report import large_report

    report = large_report(100_000, steps=40)
    md = render_markdown(report, max_paths=100_000)
    assert len(md) + md.count("\n") <= GITHUB_LIMIT
    assert md.index("**Verdict:**") < md.index("### What changed, by step") < md.index("### History")
    assert "| step 30 | `COPY rootfs /` | 50,000 missing |" in md
    # Every step of the history is there; the path lists were cut to fit.
    assert all(f"\n| {i} | " in md for i in range(40))
    assert "more (--max-paths to show" in md


def test_a_finding_s_row_cuts_its_step_text_the_history_keeps_it_whole() -> None:
    from tests.report.test_golden import CASES

    report = CASES["sample-mode"]()
    whole = "RUN /bin/sh -c chmod 0700 /usr/local/bin/tool && chown 1000:1000 /usr/local/bin/tool"
    out = render_markdown(report)
    rows = [line for line in out.splitlines() if line.startswith("| **WARNING** |")]
    assert rows and all(f"`{whole[:59]}…`" in row and whole not in row for row in rows)
    assert whole in out  # the history table's own row
