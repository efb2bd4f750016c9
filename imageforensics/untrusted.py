"""Showing strings from untrusted archives: names and values come from strangers."""

from __future__ import annotations

# Bidirectional overrides and isolates can make a name read differently from
# what it is ("Trojan Source"); line and paragraph separators break lines.
_INVISIBLE = frozenset("\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\ufeff")


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
