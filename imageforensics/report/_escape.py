"""Escaping untrusted strings (paths, tags, labels, created_by) for each output format.

Every name shown in a report comes from a stranger's archive. How a name is
shown as text is decided once, in ``imageforensics.untrusted`` (``escape`` for
a value, ``show_prose`` for a sentence of ours such as a finding's summary);
the text report uses that as it is. A ``|`` breaks a Markdown table and
``](javascript:…)`` makes a link, so the other formats apply the same rule
first and then their own escaping:

- ``md_code`` / ``md_text`` / ``md_prose``: a CommonMark code span, or text
  with every character that could start markup backslash-escaped (CommonMark:
  "any ASCII punctuation character may be backslash-escaped").
- ``html_text`` / ``html_prose``: then ``html.escape``.

The JSON report keeps every value exact. The width helpers measure and cut
text that is already safe.
"""

from __future__ import annotations

import html
import re
import unicodedata

from imageforensics.untrusted import escape, show_prose

ELLIPSIS = "…"


def char_width(ch: str) -> int:
    """Terminal columns a (safe) character takes: 2 for wide East Asian, 0 for combining marks."""
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def display_width(value: str) -> int:
    """Terminal columns a safe string takes."""
    if value.isascii():
        return len(value)
    return sum(char_width(ch) for ch in value)


def shorten(value: str, width: int) -> str:
    """Cut a safe string to at most ``width`` columns, ending in ``…`` when cut."""
    if display_width(value) <= width:
        return value
    if width <= 0:
        return ""
    out: list[str] = []
    used = 0
    for ch in value:
        w = char_width(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + ELLIPSIS


def cap(value: str, limit: int) -> str:
    """Cut a very long untrusted string to ``limit`` characters, saying how much was left out."""
    if len(value) <= limit:
        return value
    return f"{value[:limit]}{ELLIPSIS} ({len(value) - limit:,} more characters)"


def wrap(value: str, width: int) -> list[str]:
    """Greedy word wrap of a safe string by display width; only a word longer than a line is broken."""
    width = max(width, 1)
    lines: list[str] = []
    current = ""
    for word in value.split(" "):
        if not word:
            word = ""
        candidate = f"{current} {word}" if current else word
        if display_width(candidate) <= width:
            current = candidate
            continue
        # A value after its name (``diff_id=sha256:…``) goes to a line of its own, whole, when
        # it fits one: a digest broken over two lines copies as two halves.
        name, sep, value = word.partition("=")
        if sep and name and value and display_width(value) <= width < display_width(word) \
                and display_width(name + sep) <= width:
            head = f"{current} {name}{sep}" if current else name + sep
            if display_width(head) <= width:
                current, word = head, value
            else:
                lines.append(current)
                current, word = name + sep, value
        if current:
            lines.append(current)
        current = ""
        while display_width(word) > width:
            head, word = _split_at_width(word, width)
            lines.append(head)
        current = word
    lines.append(current)
    return lines


def _split_at_width(word: str, width: int) -> tuple[str, str]:
    used = 0
    for i, ch in enumerate(word):
        w = char_width(ch)
        if used + w > width:
            # A character wider than the whole line still has to go somewhere.
            return (word[:i], word[i:]) if i else (word[:1], word[1:])
        used += w
    return word, ""


# --- Markdown (GitHub-flavoured) -------------------------------------------

# Characters that can start or end GFM inline constructs anywhere in a line:
# code spans, emphasis and strikethrough, links and images (``[``), raw HTML
# and autolinks (``<``), entities (``&``), table cells (``|``). Backslash comes
# first so that our own escapes are not doubled. An underscore between two
# letters or digits can neither open nor close emphasis (CommonMark's
# flanking rules), so ``empty_layer`` stays as it is.
_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|~&]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
# GFM's extended autolinks start at ``www.``, ``http://``/``https://``/``ftp://``,
# ``mailto:``/``xmpp:`` and around ``@``; one escaped character defuses the first
# four. Not ``@``: cmark-gfm finds an email address in the text after escapes are
# undone (``a\\@evil.example`` still links), so an empty HTML comment, which shows
# nothing and copies as nothing, ends the text node before it.
_MD_AUTOLINK = re.compile(r"(?i)(?<=www)\.|:(?=//)|(?<=mailto):|(?<=xmpp):|@")
_MD_AT = "<!-- -->@"


def _md_escape(safe: str) -> str:
    escaped = _MD_SPECIAL.sub(r"\\\1", safe)
    return _MD_AUTOLINK.sub(lambda m: _MD_AT if m.group(0) == "@" else "\\" + m.group(0), escaped)


def md_text(value: str, *, limit: int = 2000) -> str:
    """Untrusted text as inert GitHub Markdown: no link, HTML, emphasis, table break or newline."""
    return _md_escape(escape(cap(value, limit)))


def md_prose(text: str, *, limit: int = 2000, in_table: bool = True) -> str:
    """A sentence of ours (summary, verdict, note) as inert GitHub Markdown, like ``md_text``.

    What our sentences quote between backticks (a step's instruction) becomes
    a code span, fenced to hold any backtick inside, instead of escaped backticks.
    """
    shown = show_prose(cap(text, limit))
    parts = shown.split("`")
    if len(parts) % 2 == 0:
        # An odd backtick: no pairs to trust, all text.
        return _md_escape(shown)
    return "".join(_md_escape(p) if i % 2 == 0 else _md_quoted(p, in_table) for i, p in enumerate(parts))


def _md_quoted(safe: str, in_table: bool) -> str:
    """What a sentence of ours quotes between backticks: a code span when it reads back exactly as one."""
    # A code span shows backslashes literally and trims a space at each end; a table cell splits at |.
    if safe and safe == safe.strip(" ") and "\\" not in safe and "|" not in safe:
        return _md_span(safe, in_table)
    return "\\`" + _md_escape(safe) + "\\`"


def md_code(value: str, *, limit: int = 2000, in_table: bool = True) -> str:
    """Untrusted text as a GitHub Markdown code span (literal: no markup is interpreted inside).

    CommonMark: a code span ends at a backtick string of the same length as
    the opening one, so the fence is one backtick longer than the longest
    run inside; one space of padding is stripped from each side when both are
    present. In a GFM table ``|`` still splits cells even inside a code span
    unless written ``\\|``.
    """
    return _md_span(escape(cap(value, limit)), in_table)


def _md_span(safe: str, in_table: bool) -> str:
    """Safe (already shown) text as a code span: ``md_code`` after the escaping."""
    if not safe:
        return ""
    longest = max((len(run) for run in re.findall(r"`+", safe)), default=0)
    fence = "`" * (longest + 1)
    # A span of only spaces is kept as it is; any other is stripped of one pad.
    pad = " " if (safe[0] in "` " or safe[-1] in "` ") and safe.strip(" ") else ""
    if in_table:
        if "\\|" in safe:
            # GFM splits table cells before parsing code spans, and readers
            # disagree on whether ``\\|`` is an escaped backslash then a cell
            # break. Escaped text is unambiguous under both readings.
            # GFM trims a cell; a space written as an entity survives that.
            escaped = _md_escape(safe)
            core = escaped.strip(" ")
            lead = len(escaped) - len(escaped.lstrip(" "))
            trail = len(escaped) - len(escaped.rstrip(" "))
            return "&#32;" * lead + core + "&#32;" * trail if core else "&#32;" * len(escaped)
        safe = safe.replace("|", "\\|")
    return f"{fence}{pad}{safe}{pad}{fence}"


# --- HTML ------------------------------------------------------------------


def html_text(value: str, *, limit: int = 4000) -> str:
    """Untrusted text as HTML character data or attribute value: everything escaped."""
    return html.escape(escape(cap(value, limit)), quote=True)


def html_prose(text: str, *, limit: int = 4000) -> str:
    """A sentence of ours (summary, verdict, note) as HTML character data, like ``html_text``."""
    return html.escape(show_prose(cap(text, limit)), quote=True)
