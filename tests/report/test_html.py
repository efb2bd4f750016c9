"""The HTML report: self-contained, no script, every value escaped."""

from __future__ import annotations

from html.parser import HTMLParser

from hypothesis import given, settings

from imageforensics.report._html import render_html
from imageforensics.report._values import Report
from imageforensics.untrusted import escape
from tests.reportfactory import HOSTILE_PIECES, hostile_report, hostile_text, reports, tomcat_report

_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "div", "p", "b", "table", "tr", "th", "td",
         "code", "span", "br", "details", "summary", "ul", "li", "footer"}
_ATTRS = {"lang", "charset", "http-equiv", "content", "name", "class"}


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
    assert {name for name, _ in parsed.attrs} <= _ATTRS
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
    for external in ("src=", "href=", "url(", "@import", "<script", "<link"):
        assert external not in page
    text = "".join(parsed.text)
    assert "Verdict: B is missing content that A has" in text
    assert "sha256:2ea3401ac2fc9e0a0c1b0c5b6c1d7a7e0f3e1b58f5b8c8e0d2b3c4a5f6e7d8c9" in text
    assert "sha256:" + "b2" * 32 in text
    assert "/usr/local/bin/install-war-into-tomcat.sh" in text
    assert '<td class="diff">7.65 kB, 12 entries</td><td class="diff">empty_layer</td></tr>' in page
    assert '<tr class="differs"><td class="num">6</td>' in page
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
