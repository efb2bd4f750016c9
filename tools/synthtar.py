"""Byte-exact tar, gzip and outer-compression encoding for the synthetic archive writer.

Headers are written the way Go's ``archive/tar`` writes them (docker, podman,
crane and containerd are all Go): USTAR when the fields fit, a PAX ``x``
record named ``<dir>/PaxHeaders.0/<base>`` when they do not, octal fields
zero-padded and NUL-terminated, the checksum as six digits, NUL, space, and
an end of archive of exactly two zero blocks (no padding to a 10240-byte
record, which is why docker's empty layer is 1024 zero bytes). Everything
streams: member data comes from ``Content`` objects that can regenerate
their bytes, so an archive of many gigabytes never sits in memory.
"""

from __future__ import annotations

import bz2
import hashlib
import lzma
import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterable, Iterator, Union

BLOCK = 512
CHUNK = 1 << 20

# Go's archive/tar type flags.
REG, LNK, SYM, CHR, BLK, DIR, FIFO, PAX = b"0", b"1", b"2", b"3", b"4", b"5", b"6", b"x"

# The file-type bits moby's archive package adds to tar modes
# (pkg/archive fillGo18FileTypeBits keeps Go < 1.9 behaviour: c_ISREG etc.).
TYPE_BITS = {REG: 0o100000, LNK: 0o100000, SYM: 0o120000, CHR: 0o20000, BLK: 0o60000, DIR: 0o40000, FIFO: 0o10000}


@dataclass(frozen=True)
class PseudoRandom:
    """``size`` bytes of deterministic pseudo-random data derived from ``seed`` (shake-256 per MiB)."""

    size: int
    seed: int = 0

    def chunks(self) -> Iterator[bytes]:
        """The bytes in chunks of at most 1 MiB; the same on every call and every Python."""
        left, index = self.size, 0
        while left > 0:
            n = min(left, CHUNK)
            yield hashlib.shake_256(b"synth:%d:%d" % (self.seed, index)).digest(n)
            left -= n
            index += 1


Data = Union[bytes, PseudoRandom]


def data_size(data: Data) -> int:
    """Length of member data."""
    return len(data) if isinstance(data, bytes) else data.size


def data_chunks(data: Data) -> Iterator[bytes]:
    """Member data as chunks."""
    if isinstance(data, bytes):
        if data:
            yield data
    else:
        yield from data.chunks()


@dataclass(frozen=True)
class TarMember:
    """One tar member to write: header fields plus a way to (re)produce its data."""

    name: str
    typeflag: bytes = REG
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: int = 0
    size: int = 0
    linkname: str = ""
    uname: str = ""
    gname: str = ""
    devmajor: int = 0
    devminor: int = 0
    pax: tuple[tuple[str, str], ...] = ()
    source: Callable[[], Iterable[bytes]] = field(default=lambda: (), compare=False)


def bytes_member(name: str, data: bytes, **kw: object) -> TarMember:
    """A regular-file member holding ``data``."""
    return TarMember(name=name, size=len(data), source=lambda: (data,), **kw)  # type: ignore[arg-type]


def _octal(value: int, width: int) -> bytes:
    """Go's formatOctal: zero-padded digits followed by a NUL."""
    digits = b"%o" % value
    return digits.rjust(width - 1, b"0") + b"\0"


def _field(text: bytes, width: int) -> bytes:
    return text[:width].ljust(width, b"\0")


def _pax_record(key: str, value: str) -> bytes:
    """``"%d %s=%s\\n"`` where the length counts itself (POSIX pax)."""
    # Values may carry raw bytes as surrogate escapes (xattrs): write them back as bytes.
    body = f" {key}={value}\n".encode("utf-8", "surrogateescape")
    size = len(body)
    while len(str(size).encode()) + len(body) != size:
        size = len(str(size).encode()) + len(body)
    return str(size).encode() + body


def _split_ustar(name: bytes) -> tuple[bytes, bytes] | None:
    """Go's splitUSTARPath: (prefix, name) when a long name fits the ustar prefix field."""
    if len(name) <= 100:
        return b"", name
    length = min(len(name) - 1, 155 + 1)
    i = name.rfind(b"/", 0, length)
    if i <= 0:
        return None
    prefix, rest = name[:i], name[i + 1:]
    if len(prefix) > 155 or not rest or len(rest) > 100:
        return None
    return prefix, rest


def _ascii(text: str) -> bytes:
    """Go's toASCII: drop every non-ASCII character (the PAX record keeps the real value)."""
    return "".join(c for c in text if ord(c) < 0x80).encode()


def _block(name: bytes, typeflag: bytes, mode: int, uid: int, gid: int, size: int, mtime: int,
           linkname: bytes = b"", uname: bytes = b"", gname: bytes = b"",
           dev: tuple[int, int] | None = (0, 0), prefix: bytes = b"") -> bytes:
    """One header block; ``dev=None`` leaves the device fields NUL as Go's writeRawFile does."""
    head = (
        _field(name, 100)
        + _octal(mode, 8)
        + _octal(uid, 8)
        + _octal(gid, 8)
        + _octal(size, 12)
        + _octal(mtime, 12)
        + b"        "
        + typeflag
        + _field(linkname, 100)
        + b"ustar\x0000"
        + _field(uname, 32)
        + _field(gname, 32)
        + (_octal(dev[0], 8) + _octal(dev[1], 8) if dev is not None else b"\0" * 16)
        + _field(prefix, 155)
    ).ljust(BLOCK, b"\0")
    checksum = sum(head)
    return head[:148] + b"%06o\0 " % checksum + head[156:]


def header(m: TarMember) -> bytes:
    """The header block(s) for a member: a PAX record first when USTAR cannot hold it."""
    pax = dict(m.pax)
    name = _ascii(m.name)
    # Go records a long or non-ASCII path for PAX, but uses the ustar prefix
    # split instead when nothing else forces the PAX format.
    long_path = len(m.name.encode()) > 100 or not m.name.isascii()
    split = _split_ustar(name) if m.name.isascii() else None
    for key, text, limit in (("linkpath", m.linkname, 100), ("uname", m.uname, 32), ("gname", m.gname, 32)):
        if len(text.encode()) > limit or not text.isascii():
            pax[key] = text
    numbers = {"uid": m.uid, "gid": m.gid, "size": m.size, "mtime": m.mtime}
    fields = dict(numbers)
    for key, value in numbers.items():
        width = 12 if key in ("size", "mtime") else 8
        if not 0 <= value < 8 ** (width - 1):
            pax.setdefault(key, str(value))
            fields[key] = 0
    if long_path and (pax or split is None):
        pax["path"] = m.name
    out = b""
    if pax:
        records = b"".join(_pax_record(k, pax[k]) for k in sorted(pax))
        directory, _, base = m.name.rstrip("/").rpartition("/")
        pax_name = _ascii(f"{directory}/PaxHeaders.0/{base}" if directory else f"PaxHeaders.0/{base}")
        out += _block(pax_name[:100], PAX, 0, 0, 0, len(records), 0, dev=None)
        out += records + b"\0" * (-len(records) % BLOCK)
        # Go packs the main header of a PAX entry without the ustar prefix split.
        split = (b"", name[:100])
    assert split is not None
    out += _block(split[1], m.typeflag, m.mode, fields["uid"], fields["gid"], fields["size"],
                  fields["mtime"], _ascii(m.linkname)[:100], _ascii(m.uname)[:32], _ascii(m.gname)[:32],
                  (m.devmajor, m.devminor), split[0])
    return out


def member_chunks(m: TarMember) -> Iterator[bytes]:
    """Header, data and padding of one member."""
    yield header(m)
    written = 0
    for chunk in m.source():
        written += len(chunk)
        yield chunk
    if written != m.size:
        raise ValueError(f"{m.name}: source produced {written} bytes, header says {m.size}")
    if m.size % BLOCK:
        yield b"\0" * (BLOCK - m.size % BLOCK)


def tar_chunks(members: Iterable[TarMember], *, end_padding: int = 2 * BLOCK) -> Iterator[bytes]:
    """A whole tar stream: members then ``end_padding`` zero bytes (Go: two blocks)."""
    for m in members:
        yield from member_chunks(m)
    if end_padding:
        yield b"\0" * end_padding


def gzip_chunks(chunks: Iterable[bytes], *, level: int = 6) -> Iterator[bytes]:
    """Gzip with a fixed header (mtime 0, OS 255 as Go writes it).

    Level 0 writes stored deflate blocks by hand, so the bytes do not depend
    on the zlib build; other levels use zlib and are deterministic for one
    zlib version.
    """
    yield b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    crc, total = 0, 0
    if level == 0:
        pending = b""
        for chunk in chunks:
            crc = zlib.crc32(chunk, crc)
            total += len(chunk)
            pending += chunk
            while len(pending) > 65535:
                piece, pending = pending[:65535], pending[65535:]
                yield b"\x00" + struct.pack("<HH", len(piece), len(piece) ^ 0xFFFF) + piece
        yield b"\x01" + struct.pack("<HH", len(pending), len(pending) ^ 0xFFFF) + pending
    else:
        comp = zlib.compressobj(level, zlib.DEFLATED, -15, 9)
        for chunk in chunks:
            crc = zlib.crc32(chunk, crc)
            total += len(chunk)
            out = comp.compress(chunk)
            if out:
                yield out
        yield comp.flush()
    yield struct.pack("<II", crc & 0xFFFFFFFF, total & 0xFFFFFFFF)


def zstd_program() -> str | None:
    """Path of the zstd program, if installed."""
    return shutil.which("zstd")


def zstd_bytes(data: bytes) -> bytes:
    """zstd-compress with the zstd program (deterministic for one zstd version)."""
    program = zstd_program()
    if program is None:
        raise RuntimeError("zstd compression needs the zstd program on PATH")
    done = subprocess.run([program, "-q", "-c", "-3", "--no-progress"], input=data,
                          stdout=subprocess.PIPE, check=True)
    return done.stdout


def compressed_chunks(chunks: Iterable[bytes], kind: str, *, gzip_level: int = 6) -> Iterator[bytes]:
    """Compress a stream of chunks: none, gzip, bzip2, xz or zstd (zstd buffers in memory)."""
    if kind == "none":
        yield from chunks
    elif kind == "gzip":
        yield from gzip_chunks(chunks, level=gzip_level)
    elif kind in ("bzip2", "xz"):
        comp = bz2.BZ2Compressor(9) if kind == "bzip2" else lzma.LZMACompressor(lzma.FORMAT_XZ)
        for chunk in chunks:
            out = comp.compress(chunk)
            if out:
                yield out
        yield comp.flush()
    elif kind == "zstd":
        yield zstd_bytes(b"".join(chunks))
    else:
        raise ValueError(f"unknown compression {kind!r}")


def write_chunks(chunks: Iterable[bytes], out: BinaryIO) -> int:
    """Write chunks to a binary file; returns the byte count."""
    total = 0
    for chunk in chunks:
        out.write(chunk)
        total += len(chunk)
    return total


def digest_chunks(chunks: Iterable[bytes]) -> tuple[str, int]:
    """(sha256 hex, size) of a stream of chunks."""
    h = hashlib.sha256()
    n = 0
    for chunk in chunks:
        h.update(chunk)
        n += len(chunk)
    return h.hexdigest(), n


def pseudo_text(name: str, size: int) -> bytes:
    """``size`` bytes of deterministic text lines derived from ``name`` (readable sample file content)."""
    out = bytearray()
    i = 0
    while len(out) < size:
        out += b"# %s %04d %s\n" % (name.encode(), i, hashlib.sha256(b"%s:%d" % (name.encode(), i)).hexdigest()[:40].encode())
        i += 1
    return bytes(out[:size])
