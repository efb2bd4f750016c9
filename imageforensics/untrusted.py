"""Showing strings from untrusted archives: names and values come from strangers.

Every name that reaches an output (paths, tags, labels, created_by, member
names) was written by whoever made the archive. A terminal obeys escape
sequences, a bidi override (U+202E) reorders what the reader sees, a zero-width
space hides a difference. This module is the one place that decides how such a
string is shown as text, by one rule:

- control characters (C0, DEL, C1), format characters (Unicode category Cf:
  zero-width U+200B-U+200F, bidi overrides U+202A-U+202E and isolates
  U+2066-U+2069, U+FEFF, ...), the line and paragraph separators U+2028 and
  U+2029, and lone surrogates are shown as escapes: ``\\n``, ``\\t``,
  ``\\r``, ``\\x1b`` (an ASCII control), ``\\u200b`` / ``\\U000e0001``
  (a code point);
- a lone surrogate U+DC80-U+DCFF is what ``surrogateescape`` makes of an
  undecodable byte (tar member names, os.fsdecode): it is shown as that byte,
  ``\\xe9``, so ``\\xNN`` always means one byte;
- a backslash is doubled, so that an escape in the output always means an
  escape: the name ``\\x1b`` (four characters) is shown ``\\\\x1b``;
- a character that Unicode normalisation (NFC) would change — a combining
  mark that composes with the character before it (``cafe\\u0301``), a
  singleton such as U+2126 OHM SIGN — is shown as its code point, so two
  names that differ only by normalisation never show alike;
- everything else, ``café`` and ``漢字`` included, is shown as it is.

Shown text can be read back exactly: two different strings never show alike.

- ``escape``: one untrusted value (a path, a tag, a created_by) by this rule.
- ``show``: the same, cut at a number of characters, for the names that
  error messages and finding summaries quote.
- ``show_prose``: a sentence of ours (an error message, a finding's summary,
  the verdict) whose untrusted parts were shown when it was written. Its
  backslashes are already escapes or doubled, so only a character the rule
  escapes is escaped: a guard for sentences read back from a snapshot or
  report, and for JSON-encoded values quoted in them (JSON doubles
  backslashes itself).

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
_SHORT_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}
# surrogateescape decodes an undecodable byte 0x80-0xFF as U+DC80-U+DCFF.
_ESCAPED_BYTES = range(0xDC80, 0xDD00)


def _is_unsafe(ch: str) -> bool:
    return unicodedata.category(ch) in _UNSAFE_CATEGORIES


def _escape_char(ch: str) -> str:
    """The visible escape of one unsafe character: ``\\xNN`` is a byte, ``\\uNNNN`` a code point."""
    short = _SHORT_ESCAPES.get(ch)
    if short is not None:
        return short
    code = ord(ch)
    if code < 0x80:
        return f"\\x{code:02x}"
    if code in _ESCAPED_BYTES:
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x10000:
        # C1 controls too: U+009B is \u009b, never \x9b, which is the undecodable byte 0x9B.
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _shown(ch: str) -> str:
    if ch == "\\":
        return "\\\\"
    return _escape_char(ch) if _is_unsafe(ch) else ch


def _unnormal(value: str) -> set[int]:
    """Positions of the characters NFC would change: they are shown as code points."""
    if value.isascii() or unicodedata.is_normalized("NFC", value):
        return set()
    out: set[int] = set()
    for i, ch in enumerate(value):
        if unicodedata.normalize("NFC", ch) != ch:
            out.add(i)
        elif i and unicodedata.combining(ch):
            pair = value[i - 1:i + 1]
            # A mark after one shown as a code point would sit on the escape's last digit.
            if i - 1 in out or unicodedata.normalize("NFC", pair) != pair:
                out.add(i)
    return out


def _code_point(ch: str) -> str:
    code = ord(ch)
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def escape(value: str) -> str:
    """One untrusted value as text: unsafe characters escaped, backslashes doubled (see the module)."""
    # Every unsafe character is also not printable: the common plain name costs one scan.
    if value.isprintable() and "\\" not in value and (value.isascii() or unicodedata.is_normalized("NFC", value)):
        return value
    unnormal = _unnormal(value)
    if not unnormal:
        return "".join(map(_shown, value))
    return "".join(_code_point(ch) if i in unnormal else _shown(ch) for i, ch in enumerate(value))


def show_prose(text: str) -> str:
    """A sentence of ours holding shown untrusted parts: any unsafe character still in it escaped."""
    if text.isprintable() and (text.isascii() or unicodedata.is_normalized("NFC", text)):
        return text
    unnormal = _unnormal(text)
    return "".join(_code_point(ch) if i in unnormal else _escape_char(ch) if _is_unsafe(ch) else ch
                   for i, ch in enumerate(text))


def show(text: str, limit: int = 200) -> str:
    """``text`` escaped (``escape``) and cut at ``limit`` characters, for quoting a name in a message."""
    return escape(text[:limit]) + ("…" if len(text) > limit else "")
