"""Exact RFC 3339 parsing: nanoseconds kept, offsets applied, junk refused."""

from __future__ import annotations

import calendar
import datetime as dt

from hypothesis import given, strategies as st

from imageforensics.timestamp import NS, Timestamp, format_duration, parse_ns


def test_seed_times_keep_sub_microsecond_digits():
    a = Timestamp.parse("2021-02-04T15:19:27.9352723Z")
    b = Timestamp.parse("2021-02-04T15:19:27.8456647Z")
    assert a.ns - b.ns == 89_607_600
    assert format_duration(b.ns - a.ns) == "-89.6 ms"


def test_offsets_and_special_times():
    assert parse_ns("2013-06-13T14:03:50.821769-07:00") == parse_ns("2013-06-13T21:03:50.821769Z")
    assert Timestamp.parse("0001-01-01T00:00:00Z").is_zero
    assert Timestamp.parse("1970-01-01T00:00:00Z").is_epoch
    assert parse_ns("2020-01-01T00:00:00+01:00") == calendar.timegm((2019, 12, 31, 23, 0, 0)) * NS


def test_not_rfc3339_gives_none_and_keeps_raw():
    for raw in ("", "yesterday", "2021-02-04", "2021-13-01T00:00:00Z", "2021-02-04T15:19:27.1234567890Z", "2021-02-04T15:19:27"):
        t = Timestamp.parse(raw)
        assert t.ns is None and t.raw == raw


@given(
    st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)),
    st.integers(0, 999_999_999),
    st.integers(1, 9),
    st.integers(-14 * 60, 14 * 60),
)
def test_parse_is_exact(moment, nanos, digits, offset_minutes):
    frac = str(nanos).rjust(9, "0")[:digits]
    sign = "+" if offset_minutes >= 0 else "-"
    zone = f"{sign}{abs(offset_minutes) // 60:02d}:{abs(offset_minutes) % 60:02d}"
    raw = moment.strftime("%Y-%m-%dT%H:%M:%S").rjust(19, "0") + "." + frac + zone
    local_seconds = calendar.timegm(moment.replace(microsecond=0).timetuple())
    expected = (local_seconds - offset_minutes * 60) * NS + int(frac.ljust(9, "0"))
    assert parse_ns(raw) == expected


def test_format_duration_units():
    assert format_duration(0) == "0"
    assert format_duration(3) == "+3 ns"
    assert format_duration(-1500) == "-1.5 µs"
    assert format_duration(2 * NS) == "+2 s"
    assert format_duration(-(3600 + 120) * NS) == "-1 h 2 min"
