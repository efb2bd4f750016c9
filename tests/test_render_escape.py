"""Escaping untrusted names: each format's escape is inert there and loses nothing."""

from __future__ import annotations

import html
import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from imageforensics.report._escape import (
    display_width,
    html_text,
    md_code,
    md_text,
    shorten,
    wrap,
)
from imageforensics.untrusted import escape
from reportfactory import hostile_text

_UNSAFE = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def _unescape_text(safe: str) -> str:
    """Undo escape's visible escapes (only valid where the input had no backslash)."""
    return re.sub(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8}|[ntr])",
                  lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1)) or chr(int(m.group(1)[1:], 16)),
                  safe)


def test_escape_shows_escape_sequences_and_bidi_as_text() -> None:
    assert escape("evil\x1b[2Jname") == "evil\\x1b[2Jname"
    assert escape("a\nb\tc\rd") == "a\\nb\\tc\\rd"
    assert escape("invoice\u202etxt.exe") == "invoice\\u202etxt.exe"
    assert escape("nul\x00") == "nul\\x00"
    assert escape("caf\udce9") == "caf\\udce9"  # surrogate-escaped byte 0xE9
    assert escape("\x9b31m") == "\\x9b31m"  # C1 CSI
    assert escape("/usr/local/bin/install-war-into-tomcat.sh") == "/usr/local/bin/install-war-into-tomcat.sh"
    assert escape("漢字 e\u0301 \U0001f600") == "漢字 e\u0301 \U0001f600"


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_escape_is_printable_and_reversible(value: str) -> None:
    safe = escape(value)
    assert not any(unicodedata.category(ch) in _UNSAFE for ch in safe)
    safe.encode("utf-8")  # no lone surrogate survives
    if "\\" not in value:
        assert _unescape_text(safe) == value


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
    # Every markup character is preceded by an escaping backslash.
    i = 0
    while i < len(out):
        if out[i] == "\\":
            assert i + 1 < len(out), "a trailing backslash would escape what follows"
            i += 2
            continue
        assert out[i] not in "`*[]<>|~&@", (out, i)
        i += 1
    # GFM extended autolinks (www., scheme://, mailto:) are defused.
    assert "www." not in out.lower()
    assert re.search(r"(?<!\\):(?=//)", out) is None
    assert re.search(r"(?i)(mailto|xmpp):", out) is None
    assert _commonmark_unescape(out) == escape(value)


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
