"""Showing strings from untrusted archives: names and values come from strangers.

Every name that reaches an output (paths, tags, labels, created_by, member
names) was written by whoever made the archive. A terminal obeys escape
sequences, a bidi override (U+202E) reorders what the reader sees, a zero-width
space hides a difference. This module is the one place that decides how such a
string is shown as text:

- ``escape``: one untrusted value (a path, a tag, a created_by) as text.
- ``show``: the same, cut at a number of characters, for messages and
  finding summaries.
- ``show_prose``: a sentence of ours (an error message, a finding's summary,
  the verdict) whose untrusted parts went through ``show`` when it was
  written; a guard that lets no unsafe character through either.

The text, inspect and progress outputs and error messages use these as they
are; Markdown and HTML apply them first and then their own markup escaping
(``report._escape``); the JSON report keeps every value exact.
"""

from __future__ import annotations

import unicodedata

# Unicode categories that must never reach an output verbatim: Cc (C0/C1
# controls, DEL), Cf (bidi overrides and isolates, zero-width joiners, BOM),
# Cs (lone surrogates, e.g. os.fsdecode's surrogateescape of a non-UTF-8
# byte), Zl/Zp (line and paragraph separators, which some renderers break on).
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})

# Bidirectional overrides and isolates can make a name read differently from
# what it is ("Trojan Source"); line and paragraph separators break lines.
_INVISIBLE = frozenset("\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\ufeff")


def _is_unsafe(ch: str) -> bool:
    return unicodedata.category(ch) in _UNSAFE_CATEGORIES


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if ch == "\n":
        return "\\n"
    if ch == "\t":
        return "\\t"
    if ch == "\r":
        return "\\r"
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _visible(text: str) -> str:
    if text.isprintable() and text.isascii():
        return text  # fast path: plain ASCII names are the common case
    return "".join(_escape_char(ch) if _is_unsafe(ch) else ch for ch in text)


def escape(value: str) -> str:
    """One untrusted value as text: every control, format, separator and surrogate character escaped."""
    return _visible(value)


def show_prose(text: str) -> str:
    """A sentence of ours holding shown untrusted parts: any unsafe character still in it escaped."""
    return _visible(text)


def show(text: str, limit: int = 200) -> str:
    """``text`` safe to print on one line: control characters escaped, cut at ``limit`` characters."""
    out = []
    for ch in text[:limit]:
        code = ord(ch)
        if code < 0x20 or code == 0x7F or 0x80 <= code < 0xA0:
            out.append(f"\\x{code:02x}")
        elif 0xD800 <= code < 0xE000 or ch in _INVISIBLE:
            out.append(f"\\u{code:04x}")
        elif ch == "\\":
            out.append("\\\\")
        else:
            out.append(ch)
    return "".join(out) + ("…" if len(text) > limit else "")
