"""PAX extended header records (POSIX.1-2001 ``pax``), parsed in linear time as the runtimes parse them.

A record is ``"%d %s=%s\\n" % (length, keyword, value)``, the length counting
the whole record. ``tarfile`` of unpatched Pythons finds records with a
regular expression that backtracks quadratically on a header of digits
(CVE-2024-6232: 974 bytes, 51 s of CPU on 3.11.7); this parser looks at each
byte a bounded number of times, whatever the interpreter.

The rules are Go's ``archive/tar`` (``parsePAXRecord``, ``validPAXRecord``,
``parsePAXTime``, ``strconv.ParseInt``), which dockerd, containerd, podman
and skopeo read layers and archives with, so a header means here what it
means to the runtime:

- a malformed record makes the whole header invalid (tarfile stops at the
  first one it cannot match and keeps the rest silently);
- a keyword is non-empty and holds neither ``=`` nor NUL; the values of
  ``path``, ``linkpath``, ``uname`` and ``gname`` hold no NUL (tarfile keeps
  a NUL inside a name);
- a repeated keyword: the last record wins (as in tarfile), except the GNU
  sparse 0.0 ``GNU.sparse.offset``/``GNU.sparse.numbytes`` pairs, which
  accumulate, in order, into one ``GNU.sparse.map``;
- ``hdrcharset`` means nothing (Go ignores it): every value is kept as its
  bytes, decoded as UTF-8 with surrogate escapes, so no byte is lost;
- numbers are decimal ``int64`` (an optional sign, ASCII digits; tarfile's
  ``int()`` also takes ``_``, spaces and non-ASCII digits and reads a bad
  number as 0, where Go refuses the header).
"""

from __future__ import annotations

import re

__all__ = ["PaxError", "parse_records", "parse_int64", "parse_time_ns", "NAME_KEYS"]

# The keywords that stand for ustar string fields: no NUL in their values.
NAME_KEYS = frozenset(("path", "linkpath", "uname", "gname"))
SPARSE_OFFSET = "GNU.sparse.offset"
SPARSE_NUMBYTES = "GNU.sparse.numbytes"
SPARSE_MAP = "GNU.sparse.map"
_INT64 = re.compile(r"[+-]?[0-9]+")
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
# The length field is a native int in Go: more than 19 significant digits never fits.
_MAX_DIGITS = 19


class PaxError(ValueError):
    """An extended header the runtime refuses (Go's ``archive/tar: invalid tar header``)."""


def parse_int64(text: str) -> int:
    """``strconv.ParseInt(text, 10, 64)``: an optional sign and ASCII digits, within int64; PaxError otherwise."""
    if not _INT64.fullmatch(text):
        raise PaxError(f"{_quote(text)} is not a decimal number")
    digits = text.lstrip("+-").lstrip("0")
    # Checked before int(): Python refuses to convert more than 4300 digits at all.
    if len(digits) > _MAX_DIGITS:
        raise PaxError(f"{_quote(text)} is out of the 64-bit range")
    value = int(text)
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise PaxError(f"{_quote(text)} is out of the 64-bit range")
    return value


def parse_time_ns(text: str) -> int:
    """Go's ``parsePAXTime``: ``seconds[.fraction]`` in nanoseconds (digits past the ninth cut off)."""
    seconds, dot, fraction = text.partition(".")
    whole = parse_int64(seconds)
    if not dot or not fraction:
        return whole * 1_000_000_000
    if not fraction.isascii() or not fraction.isdigit():
        raise PaxError(f"{_quote(text)} is not a time (seconds.fraction)")
    ns = int(fraction[:9].ljust(9, "0"))
    # "-1.5" is one and a half seconds before the epoch: the fraction takes the sign of the seconds.
    return whole * 1_000_000_000 + (-ns if seconds.startswith("-") else ns)


def parse_records(data: bytes) -> dict[str, str]:
    """The records of one extended header as a dict (in record order), by Go's rules; PaxError when malformed.

    Linear in ``len(data)``: each record is scanned once, up to its first
    space and its first ``=``, and its length field is converted only when
    it has at most 19 significant digits.
    """
    records: dict[str, str] = {}
    sparse: list[str] = []
    pos, end = 0, len(data)
    while pos < end:
        # Unbounded, yet linear overall: a record that parses ends past its space, one that does not ends the parse.
        space = data.find(b" ", pos)
        if space < 0:
            raise PaxError(f"record at byte {pos}: no length field")
        field = data[pos:space]
        stripped = field.lstrip(b"+").lstrip(b"0")
        if not field or not field.lstrip(b"+").isdigit() or field.count(b"+") > 1 or not field[-1:].isdigit() \
                or len(stripped) > _MAX_DIGITS:
            raise PaxError(f"record at byte {pos}: length {_quote(field.decode('latin-1'))} is not a number")
        length = int(stripped or b"0")
        body_start = space + 1
        if length < 5 or pos + length > end or pos + length <= body_start:
            raise PaxError(f"record at byte {pos}: length {length} is not between 5 and the {end - pos} bytes left")
        stop = pos + length
        if data[stop - 1] != 0x0A:
            raise PaxError(f"record at byte {pos}: does not end with a newline")
        body = data[body_start : stop - 1]
        eq = body.find(b"=")
        if eq < 0:
            raise PaxError(f"record at byte {pos}: no '=' between keyword and value")
        raw_key, raw_value = body[:eq], body[eq + 1 :]
        key = raw_key.decode("utf-8", "surrogateescape")
        if not raw_key or b"\0" in raw_key:
            raise PaxError(f"record at byte {pos}: keyword {_quote(key)} is empty or holds a NUL")
        if key in NAME_KEYS and b"\0" in raw_value:
            raise PaxError(f"record at byte {pos}: {key} holds a NUL byte")
        value = raw_value.decode("utf-8", "surrogateescape")
        if key in (SPARSE_OFFSET, SPARSE_NUMBYTES):
            # GNU sparse 0.0: offset, numbytes, offset, numbytes… in this order (Go converts them to a 0.1 map).
            if key != (SPARSE_OFFSET if len(sparse) % 2 == 0 else SPARSE_NUMBYTES) or "," in value:
                raise PaxError(f"record at byte {pos}: {key} out of order in a GNU sparse 0.0 map")
            sparse.append(value)
        else:
            records.pop(key, None)  # a repeated keyword moves to its last place, as its value does
            records[key] = value
        pos = stop
    if sparse:
        records[SPARSE_MAP] = ",".join(sparse)
    return records


def _quote(text: str) -> str:
    shown = text if len(text) <= 40 else text[:40] + "…"
    return repr(shown)
