"""The in-place header parser (``plain_member``) and tarfile's reading agree on every header.

A layer is listed with plain headers parsed in place and every other header
left to tarfile (``FastTarInfo``); with the fast path switched off, tarfile
reads them all. Hypothesis builds header blocks field by field, each number
written in one of the ways writers (and attackers) write them: octal padded
with NULs or spaces, full width, signed, base-256 positive and negative,
out of range, junk; checksums right (unsigned or signed), wrong or junk;
names with ustar or GNU prefixes and trailing slashes; PAX headers (paths,
fractional mtimes, uids, link paths, xattrs) and GNU long names between
them; data delivered in chunks of any size, so headers straddle chunks. The
two listings must give the same layer: entries, anomalies, problem.
"""

from __future__ import annotations

import io
import tarfile
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imageforensics.model import Layer
from imageforensics.read import _layer_entries
from imageforensics.read._layer_blob import read_layer
from imageforensics.read._tar_header import FastTarInfo, plain_member
from tests.archivekit import Chunked

BLOCK = 512


def _octal_forms(width: int, value: int) -> list[bytes]:
    """The ways a writer spells ``value`` in an octal field of ``width`` bytes (those that fit)."""
    digits = b"%o" % abs(value)
    sign = b"-" if value < 0 else b""
    forms = [
        sign + digits.rjust(width - 1 - len(sign), b"0") + b"\0",  # tarfile, GNU tar, Go
        sign + digits + b"\0" * (width - len(sign) - len(digits)),  # short, NUL-padded
        sign + digits.rjust(width - 2 - len(sign), b"0") + b" \0",  # old tar: digits, space, NUL
        b" " * (width - 1 - len(sign) - len(digits)) + sign + digits + b"\0",  # space-padded
        sign + digits.rjust(width - len(sign), b"0"),  # full width, no NUL
        b"+" + digits.rjust(width - 2, b"0") + b"\0",
        digits[:1] + b"_" + digits[1:] + b"\0" * (width - 1 - len(digits)),
    ]
    return [f for f in forms if len(f) == width]


def _base256(width: int, value: int) -> bytes:
    if value >= 0:
        return b"\x80" + value.to_bytes(width - 1, "big")
    return b"\xff" + (value + (1 << (8 * (width - 1)))).to_bytes(width - 1, "big")


@st.composite
def number_field(draw: st.DrawFn, width: int, values: st.SearchStrategy[int], odd: bool) -> bytes:
    """A numeric field: well formed (as tarfile writes it) unless ``odd``: then base-256, signed, odd or junk."""
    value = draw(values)
    if not odd:
        return _octal_forms(width, value)[0] if 0 <= value < 8 ** (width - 1) else _base256(width, value)
    how = draw(st.sampled_from(["octal", "octal", "octal", "nul", "base256", "base256-wide", "junk"]))
    if how == "nul":
        return b"\0" * width
    if how == "junk":
        return draw(st.binary(min_size=width, max_size=width))
    if how.startswith("base256"):
        if how == "base256-wide":
            value = draw(st.integers(min_value=-(1 << (8 * (width - 1) - 1)), max_value=(1 << (8 * (width - 1))) - 1))
        if not -(1 << (8 * (width - 1))) < value < (1 << (8 * (width - 1))):
            return b"\0" * width
        return _base256(width, value)
    forms = _octal_forms(width, value)
    return draw(st.sampled_from(forms)) if forms else b"\0" * width


_NAME_PART = st.sampled_from(["etc", "usr", "bin", "a", "b", ".wh.x", ".wh..wh..opq", "..", ".", "caf\u00e9", "x" * 99,
                              "l\x01", ""])


@st.composite
def name_field(draw: st.DrawFn, width: int) -> bytes:
    parts = draw(st.lists(_NAME_PART, min_size=0, max_size=4))
    text = "/".join(parts) + draw(st.sampled_from(["", "", "/", "//"]))
    if draw(st.booleans()):
        text = "/" + text
    raw = text.encode("utf-8")
    if draw(st.integers(0, 19)) == 0:
        raw = draw(st.binary(max_size=width))
    raw = raw[:width]
    return raw + b"\0" * (width - len(raw))


_TYPES = st.sampled_from([b"0", b"0", b"0", b"\0", b"5", b"5", b"2", b"1", b"3", b"4", b"6", b"7", b"S", b"V", b"Z",
                          b"x", b"g", b"L"])
_MAGIC = st.sampled_from([b"ustar\x0000", b"ustar  \x00", b"\0" * 8, b"ustar\x00\x00\x00"])


@st.composite
def header_block(draw: st.DrawFn) -> tuple[bytes, int]:
    """One header block and how many data bytes follow it (its size as meant, padded to blocks)."""
    size = draw(st.sampled_from([0, 0, 1, 5, 511, 512, 513, 1500]))
    kind = draw(_TYPES)
    # Most headers are as writers write them, every field well formed; an odd one has its numbers drawn
    # from every spelling, each field on its own.
    odd = draw(st.integers(0, 4)) == 0
    fields = [
        draw(name_field(100)),
        draw(number_field(8, st.sampled_from([0o644, 0o755, 0o4755, 0o7777, 0, 0o100644]), odd)),
        draw(number_field(8, st.sampled_from([0, 1000, 65534, 2097151, 1 << 40]), odd)),
        draw(number_field(8, st.sampled_from([0, 1000, 65534]), odd)),
        draw(number_field(12, st.just(size), odd)),
        draw(number_field(12, st.sampled_from([0, 1_600_000_000, 8**11 - 1, -1, -(1 << 40)]), odd)),
    ]
    linkname = draw(name_field(100)) if kind in (b"1", b"2") else b"\0" * 100
    magic = draw(_MAGIC)
    dev = [draw(number_field(8, st.sampled_from([0, 1, 259]), odd)) for _ in range(2)]
    prefix = draw(name_field(155)) if draw(st.booleans()) else b"\0" * 155
    head = b"".join(fields)
    tail = kind + linkname + magic + b"root".ljust(32, b"\0") + b"root".ljust(32, b"\0") + dev[0] + dev[1] + prefix
    tail += b"\0" * 12
    spaces = head + b" " * 8 + tail
    unsigned = sum(spaces)
    signed = sum(b - 256 if b > 127 else b for b in spaces)
    how = draw(st.sampled_from(["unsigned", "unsigned7", "signed", "wrong", "junk", "b256"]) if odd else st.just("unsigned"))
    if how == "unsigned":
        chksum = b"%06o\0 " % unsigned
    elif how == "unsigned7":
        chksum = b"%07o\0" % unsigned
    elif how == "signed":
        chksum = b"%06o\0 " % signed if signed >= 0 else b"-%05o\0 " % -signed
    elif how == "wrong":
        chksum = b"%06o\0 " % (unsigned + 1)
    elif how == "b256":
        chksum = _base256(8, unsigned)
    else:
        chksum = draw(st.binary(min_size=8, max_size=8))
    block = head + chksum[:8].ljust(8, b"\0") + tail
    assert len(block) == BLOCK
    # Data follows a file's header; after a directory's, link's or device's only in an odd tar.
    data = kind in (b"0", b"\0", b"7") or (odd and draw(st.booleans()))
    return block, -(-size // BLOCK) * BLOCK if data else 0


def _pax_member(records: dict[str, str]) -> bytes:
    info = tarfile.TarInfo("pax")
    info.pax_headers = records
    info.size = 0
    return info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape")


_PAX_VALUES = {
    "path": ["a/b", "dir/", "caf\u00e9", "x" * 120, ""],
    "linkpath": ["a/b", "../x", ""],
    "mtime": ["1.5", "-1.25", "1700000000.123456789", "7", "1.", "x"],
    "uid": ["0", "7", "99999999999", "-1", ""],
    "gid": ["0", "65534"],
    "size": ["0", "3"],
    "SCHILY.xattr.user.a": ["v", "\x00\x01"],
    "comment": ["anything"],
}
_PAX = st.lists(st.sampled_from(sorted(_PAX_VALUES)), max_size=3, unique=True).flatmap(
    lambda keys: st.fixed_dictionaries({k: st.sampled_from(_PAX_VALUES[k]) for k in keys}))


@st.composite
def layer_bytes(draw: st.DrawFn) -> bytes:
    """A layer tar of generated members, extended headers among them, ended in one of the ways tars end."""
    # tarfile reads the first member as it opens the tar; the listing reads the others.
    first = tarfile.TarInfo("etc")
    first.type = tarfile.DIRTYPE
    out = bytearray(first.tobuf(format=tarfile.USTAR_FORMAT) if draw(st.integers(0, 4)) else b"")
    for _ in range(draw(st.integers(1, 12))):
        what = draw(st.sampled_from(["plain", "plain", "plain", "plain", "pax", "longname", "tarfile"]))
        if what == "pax":
            # tarfile writes a pax header and its member; the generated block then follows as a member of its own.
            out += _pax_member(draw(_PAX))[:-BLOCK]
        elif what == "longname":
            info = tarfile.TarInfo("n/" + "long" * 40)
            out += info.tobuf(format=tarfile.GNU_FORMAT)[:-BLOCK]
        elif what == "tarfile":
            info = tarfile.TarInfo(draw(st.sampled_from(["f", "d/e", "caf\u00e9"])))
            info.size = 3
            info.mtime = draw(st.sampled_from([0, -5, 8**12, 1 << 40]))
            info.uid = draw(st.sampled_from([0, 8**7, 1 << 40]))
            out += info.tobuf(format=draw(st.sampled_from([tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])),
                              encoding="utf-8", errors="surrogateescape") + b"abc".ljust(BLOCK, b"\0")
            continue
        block, data = draw(header_block())
        out += block + bytes(draw(st.binary(min_size=min(data, 8), max_size=min(data, 8)))).ljust(data, b"\0")
    ending = draw(st.sampled_from(["end", "end", "none", "half", "one-zero-block"]))
    if ending == "end":
        out += b"\0" * (2 * BLOCK)
    elif ending == "half":
        out += b"\0" * (BLOCK // 2)
    elif ending == "one-zero-block":
        out += b"\0" * BLOCK
    return bytes(out)


def _read(data: bytes, sizes: list[int]) -> Layer | str:
    try:
        return read_layer(Chunked(data, sizes), archive="a.tar", member="layer.tar")  # type: ignore[arg-type]
    except Exception as e:  # errors must agree too: which one, and what it says
        return f"{type(e).__name__}: {e}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=layer_bytes(), sizes=st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=6))
def test_the_fast_path_lists_a_layer_as_tarfile_does(data: bytes, sizes: list[int]) -> None:
    fast = _read(data, sizes)
    with mock.patch.object(_layer_entries, "plain_member", lambda block: None):
        slow = _read(data, sizes)
    assert fast == slow


def _tarfile_member(block: bytes, data: int) -> tuple[object, ...] | None:
    """The first member tarfile reads (through FastTarInfo) from ``block``, its data and an end marker."""
    tar = block + b"\0" * data + b"\0" * (2 * BLOCK)
    try:
        with tarfile.TarFile(fileobj=io.BytesIO(tar), mode="r", tarinfo=FastTarInfo, encoding="utf-8",
                             errors="surrogateescape") as tf:
            m = tf.next()
            if m is None:
                return None
            return (m.name, m.type, m.size, m.mode, m.uid, m.gid, m.mtime, m.linkname, m.devmajor, m.devminor,
                    tf.offset)  # type: ignore[attr-defined]
    except tarfile.TarError:
        return None


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header=header_block())
def test_every_header_the_fast_path_reads_tarfile_reads_alike(header: tuple[bytes, int]) -> None:
    block, data = header
    fast = plain_member(block)
    if fast is None:
        return
    reference = _tarfile_member(block, data)
    assert reference is not None, "the fast path read a header tarfile refuses"
    name, kind, size, mode, uid, gid, mtime, linkname, devmajor, devminor = fast
    next_header = BLOCK + (-(-size // BLOCK) * BLOCK if kind in (b"0", b"\0", b"7") else 0)
    assert (name, kind, size, mode, uid, gid, mtime, linkname, devmajor, devminor, next_header) == reference
