"""The HTML report: self-contained, no script, every value escaped."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from hypothesis import given, settings

from imageforensics.report._html import render_html
from imageforensics.report._values import Report
from imageforensics.untrusted import escape
from tests.reportfactory import HOSTILE_PIECES, hostile_report, hostile_text, reports, tomcat_report

_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "div", "p", "b", "table", "tr", "th",
         "td", "code", "span", "br", "details", "summary", "ul", "li", "footer", "nav", "a", "colgroup", "col",
         # the picture of the two builds
         "svg", "g", "rect", "circle", "line", "text"}
_ATTRS = {"lang", "charset", "http-equiv", "content", "name", "class", "id", "href", "title", "open", "style",
          "aria-label", "aria-labelledby", "role", "xmlns", "viewbox", "width", "height", "x", "y", "x1", "y1", "x2",
          "y2", "cx", "cy", "r", "fill", "stroke", "stroke-width", "stroke-dasharray", "font-size", "font-weight"}


class _Page(HTMLParser):
    """Collects every tag, attribute and text node, and anything unexpected."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []
        self.other: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        self.other.append("comment")

    def handle_pi(self, data: str) -> None:
        self.other.append("pi")

    def unknown_decl(self, data: str) -> None:
        self.other.append("decl")


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    return parser


def _assert_safe(page: str) -> _Page:
    parsed = _parse(page)
    assert set(parsed.tags) <= _TAGS, set(parsed.tags) - _TAGS
    assert {name for name, _ in parsed.attrs} <= _ATTRS, {name for name, _ in parsed.attrs} - _ATTRS
    # A link goes to an anchor of the page or to an upstream issue, nowhere else; every anchor exists.
    ids = {value for name, value in parsed.attrs if name == "id"}
    for name, value in parsed.attrs:
        if name == "href":
            assert value is not None
            assert value[1:] in ids if value.startswith("#") else \
                re.fullmatch(r"https://github\.com/[A-Za-z]+/[A-Za-z0-9_.-]+/issues/[0-9]+", value), value
        if name == "style":
            assert re.fullmatch(r"width:[0-9]+%", value or ""), value
    assert parsed.other == []
    assert parsed.tags.count("style") == 1 and parsed.tags.count("body") == 1
    text = "".join(parsed.text)
    assert not any(ord(c) < 0x20 and c not in "\n" or c in "\u202e\u2028\x7f" for c in text)
    page.encode("utf-8")
    return parsed


def test_tomcat_page_is_self_contained_and_complete() -> None:
    page = render_html(tomcat_report())
    parsed = _assert_safe(page)
    assert ("http-equiv", "Content-Security-Policy") in parsed.attrs
    assert ("content", "default-src 'none'; style-src 'unsafe-inline'") in parsed.attrs
    for external in ("src=", 'href="http', "url(", "@import", "<script", "<link"):
        assert external not in page
    text = "".join(parsed.text)
    assert "Verdict: B is missing content that A has" in text
    whole = "sha256:2ea3401ac2fc9e0a0c1b0c5b6c1d7a7e0f3e1b58f5b8c8e0d2b3c4a5f6e7d8c9"
    assert f'title="{whole}"' in page and f'title="sha256:{"b2" * 32}"' in page
    assert "/usr/local/bin/install-war-into-tomcat.sh" in text
    assert '<td class="diff">7.65 kB, 12 entries</td><td class="diff">empty_layer</td></tr>' in page
    assert '<tr id="step-6" class="differs"><td class="num">6</td>' in page
    assert "<td>93 B, 1 entry</td><td>same as A</td>" in page


def test_each_hostile_piece_is_text() -> None:
    hostile = "".join(HOSTILE_PIECES)
    page = render_html(hostile_report(hostile))
    parsed = _assert_safe(page)
    assert escape(hostile) in "".join(parsed.text)
    assert "<script>" not in page


@settings(max_examples=80, deadline=None)
@given(hostile_text)
def test_hostile_names_stay_text(text: str) -> None:
    parsed = _assert_safe(render_html(hostile_report(text)))
    # The source name appears, escaped, exactly once in the inputs table.
    assert escape(text) in "".join(parsed.text)


@settings(max_examples=40, deadline=None)
@given(reports)
def test_any_report_gives_a_safe_page(report: Report) -> None:
    _assert_safe(render_html(report))


def test_path_lists_cut_with_counts() -> None:
    page = render_html(tomcat_report(), max_paths=4)
    assert "<li>… and 8 more (--max-paths to show)</li>" in page
    assert page == render_html(tomcat_report(), max_paths=4)


def test_the_page_links_steps_findings_and_upstream_issues() -> None:
    from tests.report.test_golden import CASES

    page = render_html(CASES["sample-tomcat"]())
    _assert_safe(page)
    assert '<a href="https://github.com/moby/buildkit/issues/1981">moby/buildkit#1981</a>' in page
    assert '<a href="https://github.com/moby/buildkit/issues/2198">#2198</a>' in page
    assert '<a href="https://github.com/moby/moby/issues/41219">moby/moby#41219</a>' in page
    # Backticked text of our sentences is code; severities fold, errors and warnings open, notes closed.
    assert "step 6 <code>COPY rootfs /</code> carries" in page
    assert '<details class="severity" id="error" open>' in page and '<details class="severity" id="info">' in page
    assert '<a href="#finding-1">' in page and '<tr id="finding-1">' in page
    assert '<a href="#changes-step-6">changes of step 6</a> (12 changes)' in page
    assert '<tr id="step-6" class="differs">' in page


def test_the_picture_has_one_mark_per_step_and_shows_the_lost_copy() -> None:
    from tests.report.test_golden import CASES

    report = CASES["sample-tomcat"]()
    page = render_html(report)
    svg = page[page.index("<svg"):page.index("</svg>")]
    assert svg.count('class="mark mark-a"') == sum(r.index_a is not None for r in report.steps) == 7
    assert svg.count('class="mark mark-b"') == sum(r.index_b is not None for r in report.steps) == 7
    # Step 6: a bar in A; in B no bar but the outline of the content it lacks.
    marks = svg.split('<a href="#step-6"><g class="mark mark-')
    a6, b6 = marks[1], marks[2]
    assert a6.startswith("a") and "<rect " in a6.split("</g>")[0]
    assert b6.startswith("b") and '<rect class="missing"' in b6.split("</g>")[0]
    assert b6.split("</g>")[0].count("<rect") == 1


def test_digests_are_short_with_the_whole_value_in_the_title() -> None:
    page = render_html(tomcat_report())
    whole = "sha256:2ea3401ac2fc9e0a0c1b0c5b6c1d7a7e0f3e1b58f5b8c8e0d2b3c4a5f6e7d8c9"
    assert f'<code title="{whole}">sha256:2ea3…d8c9</code>' in page
    assert f"<code>{whole}</code>" in render_html(tomcat_report(), full_digests=True)


def test_the_inputs_are_named_by_file_name_unless_full_paths() -> None:
    """As in Markdown: a page is shared, so the user's own paths stay theirs unless --full-paths."""
    from dataclasses import replace

    base = tomcat_report()
    report = replace(base, a=replace(base.a, source="/home/alice/secret-project/pulled.tar"),
                     b=replace(base.b, source="/home/alice/oci-layout/"))
    page = render_html(report)
    assert "alice" not in page and "secret-project" not in page
    assert "<title>imageforensics: pulled.tar vs oci-layout</title>" in page
    assert "<tr><th>source</th><td><code>pulled.tar</code></td><td><code>oci-layout</code></td></tr>" in page
    whole = render_html(report, full_paths=True)
    assert "<title>imageforensics: /home/alice/secret-project/pulled.tar vs /home/alice/oci-layout/</title>" in whole
    assert "<td><code>/home/alice/secret-project/pulled.tar</code></td>" in whole
    # Standard input stays as it is named.
    assert "<td><code>-</code></td>" in render_html(replace(report, a=replace(report.a, source="-")))
