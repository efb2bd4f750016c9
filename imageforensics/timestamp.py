"""Exact RFC 3339 timestamps.

Go writes times as RFC3339Nano (0-9 fraction digits, ``Z`` or ``+hh:mm``).
``datetime`` holds only microseconds and Python 3.10's ``fromisoformat``
rejects ``Z``, so the differences that matter here (sub-microsecond drift
between a build and its cache-import rebuild) would vanish. We keep the raw
string and an exact integer count of nanoseconds since the Unix epoch.
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})"
)

NS = 1_000_000_000
ZERO_TIME_NS = -62135596800 * NS  # 0001-01-01T00:00:00Z, Go's zero time (kaniko writes it)


@dataclass(frozen=True, slots=True)
class Timestamp:
    """A timestamp as written (``raw``) and as exact epoch nanoseconds (``ns``).

    ``ns`` is None when the string is not RFC 3339; the raw text is kept as
    evidence either way.
    """

    raw: str
    ns: int | None

    @classmethod
    def parse(cls, raw: str) -> "Timestamp":
        """Parse an RFC 3339 string exactly; never raises."""
        return cls(raw, parse_ns(raw))

    @property
    def is_zero(self) -> bool:
        """Go's zero time (0001-01-01T00:00:00Z)."""
        return self.ns == ZERO_TIME_NS

    @property
    def is_epoch(self) -> bool:
        """The Unix epoch, which Bazel, ggcr and legacy v1 json write."""
        return self.ns == 0


def parse_ns(raw: str) -> int | None:
    """Epoch nanoseconds of an RFC 3339 string, or None if it is not one."""
    m = _RFC3339.fullmatch(raw.strip()) if isinstance(raw, str) else None
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59 and second <= 60):
        return None
    try:
        seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    except (ValueError, OverflowError):
        return None
    frac = m.group(7) or ""
    nanos = int(frac.ljust(9, "0")) if frac else 0
    zone = m.group(8)
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        offset = int(zone[1:3]) * 3600 + int(zone[4:6]) * 60
        seconds -= sign * offset
    return seconds * NS + nanos


def format_instant(ns: int) -> str:
    """Epoch nanoseconds as RFC 3339 in UTC, exact (``2026-12-03T10:28:09.5Z``); beyond years 1–9999, ``N ns``."""
    seconds, nanos = divmod(ns, NS)
    try:
        t = time.gmtime(seconds)
    except (OverflowError, OSError, ValueError):
        return f"{ns} ns"
    if not 1 <= t.tm_year <= 9999:
        return f"{ns} ns"
    frac = f".{nanos:09d}".rstrip("0") if nanos else ""
    return (f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
            + frac + "Z")


def format_duration(ns: int) -> str:
    """A signed duration, short and exact enough to read: ``-89.6 ms``, ``+3 ns``, ``+2 h 5 min``."""
    sign = "-" if ns < 0 else "+"
    n = abs(ns)
    if n == 0:
        return "0"
    if n < 1_000:
        return f"{sign}{n} ns"
    if n < 1_000_000:
        return f"{sign}{_trim(n / 1_000)} µs"
    if n < NS:
        return f"{sign}{_trim(n / 1_000_000)} ms"
    if n < 60 * NS:
        return f"{sign}{_trim(n / NS)} s"
    seconds = n // NS
    if seconds < 3600:
        return f"{sign}{seconds // 60} min {seconds % 60} s"
    if seconds < 86400:
        return f"{sign}{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{sign}{seconds // 86400} d {seconds % 86400 // 3600} h"


def _trim(value: float) -> str:
    """Three significant digits at most, without trailing zeros (89.6, 1.5, 250)."""
    text = f"{value:.3g}" if value < 1000 else f"{value:.0f}"
    return text
