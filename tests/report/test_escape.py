"""Escaping untrusted names: each format's escape is inert there and loses nothing.

The rule itself (``untrusted.escape``) is tested in test_untrusted.py; here,
what Markdown and HTML add to it, and the width helpers.
"""

from __future__ import annotations

import html
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from imageforensics.report._escape import (
    display_width,
    html_prose,
    html_text,
    md_code,
    md_prose,
    md_text,
    shorten,
    wrap,
)
from imageforensics.untrusted import escape, show_prose
from tests.reportfactory import hostile_text


@settings(max_examples=200, deadline=None)
@given(hostile_text, st.integers(1, 60))
def test_shorten_and_wrap_respect_display_width(value: str, width: int) -> None:
    safe = escape(value)
    cut = shorten(safe, width)
    assert display_width(cut) <= width
    assert cut == safe or cut.endswith("…")
    for line in wrap(safe, max(width, 2)):
        assert display_width(line) <= max(width, 2)


def test_wide_characters_count_double() -> None:
    assert display_width("漢字") == 4
    assert display_width("e\u0301") == 1
    assert display_width(shorten("漢字漢字漢字", 5)) <= 5


def _commonmark_unescape(text: str) -> str:
    """CommonMark backslash escapes: a backslash before ASCII punctuation yields the punctuation."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)


@settings(max_examples=300, deadline=None)
@given(hostile_text)
def test_md_text_escapes_every_markup_character_and_reads_back(value: str) -> None:
    out = md_text(value)
    assert "\n" not in out and "\r" not in out
    # Every markup character is preceded by an escaping backslash; an @ by an empty HTML comment
    # (cmark-gfm finds email autolinks after undoing escapes, so a backslash would not do).
    i = 0
    while i < len(out):
        if out[i] == "\\":
            assert i + 1 < len(out), "a trailing backslash would escape what follows"
            i += 2
            continue
        if out.startswith("<!-- -->@", i):
            i += len("<!-- -->@")
            continue
        assert out[i] not in "`*[]<>|~&@", (out, i)
        i += 1
    # GFM extended autolinks (www., scheme://, mailto:) are defused.
    assert "www." not in out.lower()
    assert re.search(r"(?<!\\):(?=//)", out) is None
    assert re.search(r"(?i)(mailto|xmpp):", out) is None
    assert _commonmark_unescape(out.replace("<!-- -->", "")) == escape(value)


def _code_span_content(span: str, in_table: bool) -> str:
    """What GitHub shows for a code span written by md_code (CommonMark 6.1, GFM tables)."""
    fence = re.match(r"`+", span)
    assert fence is not None
    n = len(fence.group(0))
    assert span.endswith("`" * n)
    inner = span[n:-n]
    assert "`" * n not in re.sub(r"`{%d,}" % (n + 1), "", inner), "an equal backtick run would close the span early"
    if in_table:
        assert re.search(r"(?<!\\)\|", inner) is None
        inner = inner.replace("\\|", "|")
    if len(inner) >= 2 and inner[0] == " " and inner[-1] == " " and inner.strip(" "):
        inner = inner[1:-1]
    return inner


@settings(max_examples=300, deadline=None)
@given(hostile_text, st.booleans())
def test_md_code_shows_exactly_the_safe_text(value: str, in_table: bool) -> None:
    out = md_code(value, in_table=in_table)
    assert "\n" not in out
    safe = escape(value)
    if not safe:
        assert out == ""
    elif out.startswith("`"):
        assert _code_span_content(out, in_table) == safe
    else:
        # Fallback for a backslash before a pipe in a table: escaped text.
        assert in_table and "\\|" in safe
        assert _commonmark_unescape(out.replace("&#32;", " ")) == safe


def test_md_code_fences_around_backticks() -> None:
    assert md_code("a`b") == "``a`b``"
    assert md_code("`x`") == "`` `x` ``"
    assert md_code("a|b") == "`a\\|b`"
    assert md_code("a|b", in_table=False) == "`a|b`"


@settings(max_examples=300, deadline=None)
@given(hostile_text)
def test_html_text_is_plain_character_data(value: str) -> None:
    out = html_text(value)
    assert not set(out) & set("<>\"'")
    assert re.search(r"&(?!(amp|lt|gt|quot|#x27);)", out) is None
    assert html.unescape(out) == escape(value)


@settings(max_examples=200, deadline=None)
@given(hostile_text)
def test_our_sentences_get_the_same_markup_escaping_over_show_prose(text: str) -> None:
    out = md_prose(text)
    assert "\n" not in out and "\r" not in out
    assert _commonmark_unescape(out.replace("<!-- -->", "")) == show_prose(text)
    assert html.unescape(html_prose(text)) == show_prose(text)
