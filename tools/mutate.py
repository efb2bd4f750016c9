"""The mutation engine of tools/fuzz.py: hostile variations of an archive, every choice from a Chooser.

Mutations work on raw bytes (truncation, bit flips, tar header fields), on
the members of a tar (reordering, duplication, removal, renaming to
escaping/absolute/control-character names, links in loops or out of the
archive, member types, PAX records), on JSON members (values swapped for
other types, keys dropped or duplicated, non-UTF-8 bytes, digests fixed up
so that the mutation reaches deep) and, recursively, on the layer tars
inside (entries; compressed twice; trailing garbage; bombs). The choices
come from ``random.Random`` in a campaign, or from hypothesis in the tests
(so that failures shrink).
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import lzma
import tarfile
import zlib
from typing import Any, Protocol, Sequence

BLOCK = 512


class Chooser(Protocol):
    """Where a mutation's choices come from: ``random.Random``, or hypothesis via ``DrawChooser``."""

    def randint(self, a: int, b: int) -> int: ...

    def choice(self, seq: Sequence[Any]) -> Any: ...

    def random(self) -> float: ...


def chance(rng: Chooser, p: float) -> bool:
    """True with probability ``p``."""
    return rng.random() < p


# --- raw byte mutations -------------------------------------------------------------

# Offsets of the ustar header fields worth breaking: name, mode, size, mtime, chksum,
# typeflag, linkname, magic, devmajor, prefix.
_FIELDS = ((0, 100), (100, 8), (124, 12), (136, 12), (148, 8), (156, 1), (157, 100), (257, 6), (329, 8), (345, 155))
_FIELD_VALUES = (
    b"77777777777\x00", b"\x80\x00\x00\x00\x7f\xff\xff\xff\xff\xff\xff\xff", b"\xff" * 12, b"-1\x00",
    b"00000001000\x00", b"99999999999\x00", b"\x00" * 12, b"0", b"1", b"2", b"3", b"4", b"5", b"6", b"7",
    b"S", b"L", b"K", b"x", b"g", b"Z", b"../../../etc/passwd\x00", b"/abs\x00", b"a\x1b[31mb\x00",
    b"\xff\xfe\x00", b"ustar\x00", b"ustar ", b"",
)


def tar_checksum(block: bytearray) -> None:
    """Rewrite the header checksum of a 512-byte block in place (so a broken field still parses)."""
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\x00 " % (sum(block) & 0o777777)


def header_offsets(data: bytes) -> list[int]:
    """Offsets of the tar headers in ``data`` (as far as tarfile can walk it)."""
    offsets = []
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
            for info in tf:
                offsets.append(info.offset)
                if len(offsets) > 4000:
                    break
    except (tarfile.TarError, EOFError, ValueError, OverflowError, UnicodeError, OSError):
        pass
    return offsets


def mutate_bytes(data: bytes, rng: Chooser) -> tuple[bytes, str]:
    """One raw mutation: truncation, bit flips, a run overwritten, or a tar header field changed."""
    if not data:
        return bytes([rng.randint(0, 255)]), "one byte"
    op = rng.choice(("truncate", "truncate-block", "flip", "overwrite", "header", "header", "insert", "append"))
    if op == "truncate":
        cut = rng.randint(0, len(data) - 1)
        return data[:cut], f"truncate at {cut}"
    if op == "truncate-block":
        cut = BLOCK * rng.randint(0, max(0, len(data) // BLOCK - 1)) + rng.choice((0, 0, 1, 100, 257, 511))
        return data[:cut], f"truncate at {cut}"
    buf = bytearray(data)
    if op == "flip":
        count = rng.randint(1, 16)
        for _ in range(count):
            pos = rng.randint(0, len(buf) - 1)
            buf[pos] ^= 1 << rng.randint(0, 7)
        return bytes(buf), f"flip {count} bits"
    if op == "overwrite":
        pos = rng.randint(0, len(buf) - 1)
        run = bytes([rng.choice((0, 0xFF, 0x30, 0x37, 0x7B, 0x5B, rng.randint(0, 255)))]) * rng.randint(1, 64)
        buf[pos : pos + len(run)] = run
        return bytes(buf), f"overwrite {len(run)} bytes at {pos}"
    if op == "insert":
        pos = rng.randint(0, len(buf))
        run = bytes(rng.randint(0, 255) for _ in range(rng.randint(1, 8))) * rng.choice((1, 64))
        return bytes(buf[:pos]) + run + bytes(buf[pos:]), f"insert {len(run)} bytes at {pos}"
    if op == "append":
        tail = rng.choice((bytes(BLOCK * 2), b"garbage" * 10, b"\x1f\x8b\x08\x00", bytes(rng.randint(0, 255) for _ in range(700))))
        return data + tail, f"append {len(tail)} bytes"
    offsets = header_offsets(data)
    if not offsets:
        return mutate_bytes(data, rng)
    base = rng.choice(offsets)
    start, width = rng.choice(_FIELDS)
    value = (rng.choice(_FIELD_VALUES) or bytes(width))[:width]
    block = bytearray(buf[base : base + BLOCK])
    if len(block) < BLOCK:
        return data[:base], f"truncate at {base}"
    block[start : start + len(value)] = value
    if chance(rng, 0.75):
        tar_checksum(block)
    buf[base : base + BLOCK] = block
    return bytes(buf), f"header at {base} field {start}: {value[:16]!r}"


# --- tar member mutations -----------------------------------------------------------


class TarMember:
    """One member of a tar being mutated: its TarInfo and its data."""

    __slots__ = ("info", "data")

    def __init__(self, info: tarfile.TarInfo, data: bytes) -> None:
        self.info = info
        self.data = data


def read_members(data: bytes, limit: int = 2000) -> list[TarMember] | None:
    """The members of a tar held in ``data``, or None when it does not read as a tar."""
    out: list[TarMember] = []
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:", encoding="utf-8", errors="surrogateescape") as tf:
            for info in tf:
                body = b""
                if info.size > len(data) or info.sparse is not None:
                    return None  # a mutated header claiming more than there is (sparse holes read as zeros)
                if info.isreg():
                    f = tf.extractfile(info)
                    body = f.read() if f is not None else b""
                out.append(TarMember(info, body))
                if len(out) >= limit:
                    break
    except (tarfile.TarError, EOFError, ValueError, OverflowError, UnicodeError, OSError):
        return None
    return out


def write_members(members: list[TarMember], rng: Chooser) -> bytes | None:
    """A tar of ``members`` (PAX or GNU format); None when tarfile cannot write what the mutation made."""
    out = io.BytesIO()
    fmt = rng.choice((tarfile.PAX_FORMAT, tarfile.PAX_FORMAT, tarfile.GNU_FORMAT))
    try:
        with tarfile.open(fileobj=out, mode="w", format=fmt, encoding="utf-8", errors="surrogateescape") as tf:
            for m in members:
                info = m.info
                if info.isreg():
                    info.size = len(m.data)
                    tf.addfile(info, io.BytesIO(m.data))
                else:
                    info.size = 0
                    tf.addfile(info)
    except (ValueError, UnicodeError, tarfile.TarError, OverflowError):
        return None
    return out.getvalue()


_HOSTILE_NAMES = (
    "../escape", "../../etc/passwd", "/etc/passwd", "/abs/dir/file", "a/../../b", ".", "./", "", "a//b/./c",
    "ctl\x1b[31mred\x07", "nl\nname", "del\x7f", "bad\udcffutf8", ".wh.", ".wh..wh..opq", "d/.wh..wh..opq",
    ".wh..wh.plnk", "x/.wh.y", "é☃", "manifest.json", "index.json", "oci-layout", "repositories",
    "blobs/sha256", "blobs/sha256/" + "0" * 64, "sha256:" + "1" * 64, "l" * 300, "d/" * 120 + "f",
)


_PAX_RECORDS = (
    ("size", "-1024"), ("size", "99999999999999999999"), ("size", "0"), ("path", "../../x"), ("path", "a" * 70000),
    ("path", "/abs/p"), ("mtime", "nan"), ("mtime", "-1e400"), ("mtime", "1.5e3"), ("mtime", "12345678901234567890.123456789123"),
    ("uid", "-5"), ("uid", "1" * 30), ("gid", "x"), ("linkpath", "/etc/passwd"), ("linkpath", "../.."),
    ("GNU.sparse.map", "0,5,1000000000000,5"), ("GNU.sparse.map", "5,0,0,5"), ("GNU.sparse.map", "1,2,3"),
    ("GNU.sparse.realsize", "-1"), ("GNU.sparse.size", "99999999999"), ("GNU.sparse.major", "1"),
    ("GNU.sparse.minor", "0"), ("GNU.sparse.name", "../sparse"), ("GNU.sparse.numblocks", "100000000"),
    ("SCHILY.xattr.security.capability", "\x00\x01\udcff"), ("LIBARCHIVE.xattr.user%00%zz", "!!!"),
    ("hdrcharset", "BINARY"), ("atime", "x"), ("comment", "x" * 3000), ("", "empty key"),
)


def _other_name(members: list[TarMember], rng: Chooser) -> str:
    if members and chance(rng, 0.5):
        return str(rng.choice(members).info.name)
    return str(rng.choice(_HOSTILE_NAMES))


def _link_target(members: list[TarMember], m: TarMember, rng: Chooser) -> str:
    return str(rng.choice((
        m.info.name, "../" + m.info.name.rpartition("/")[2], "/etc/shadow", "../../x", ".", "..",
        _other_name(members, rng), m.info.name.rpartition("/")[0] or "blobs", "missing/target",
    )))


def mutate_members(members: list[TarMember], rng: Chooser, *, depth: int) -> str:
    """One mutation of the member list, in place; returns what it did."""
    if not members:
        members.append(TarMember(tarfile.TarInfo(_other_name(members, rng)), b"{}"))
        return "add a member"
    i = rng.randint(0, len(members) - 1)
    m = members[i]
    ops = ["reorder", "duplicate", "drop", "rename", "link", "type", "json", "json", "json", "json",
           "inner", "inner", "inner", "compress", "size-bomb", "data", "pax", "pax"]
    op = rng.choice(ops)
    if op == "reorder":
        j = rng.randint(0, len(members) - 1)
        members[i], members[j] = members[j], members[i]
        if chance(rng, 0.3):
            members.reverse()
        return f"swap members {i} and {j}"
    if op == "duplicate":
        copy = TarMember(_copy_info(m.info), m.data)
        if m.data and chance(rng, 0.5):
            copy.data, what = mutate_bytes(m.data, rng)
        members.insert(rng.randint(0, len(members)), copy)
        return f"duplicate {m.info.name!r}"
    if op == "drop":
        del members[i]
        return f"drop {m.info.name!r}"
    if op == "rename":
        old, m.info.name = m.info.name, _other_name(members, rng)
        return f"rename {old!r} to {m.info.name!r}"
    if op == "link":
        m.info.type = rng.choice((tarfile.SYMTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE))
        m.info.linkname = _link_target(members, m, rng)
        m.data = b""
        return f"{m.info.name!r} becomes a link to {m.info.linkname!r}"
    if op == "type":
        m.info.type = rng.choice((tarfile.DIRTYPE, tarfile.FIFOTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE,
                                  tarfile.CONTTYPE, b"Z", b"V"))
        m.info.devmajor, m.info.devminor = rng.choice(((0, 0), (1, 3), (8, 1)))
        if m.info.type != tarfile.CONTTYPE:
            m.data = b""
        return f"{m.info.name!r} becomes type {m.info.type!r}"
    if op == "json":
        candidates = [k for k, x in enumerate(members) if x.info.isreg() and x.data.lstrip()[:1] in (b"{", b"[")]
        if not candidates:
            return mutate_members(members, rng, depth=depth)
        k = rng.choice(candidates)
        return mutate_json_member(members, k, rng)
    if op == "inner":
        candidates = [k for k, x in enumerate(members) if x.info.isreg() and len(x.data) >= BLOCK]
        if not candidates or depth > 0:
            op = "data"
        else:
            k = rng.choice(candidates)
            members[k].data, what = mutate_blob(members[k].data, rng, depth=depth + 1)
            return f"inside {members[k].info.name!r}: {what}"
    if op == "pax":
        key, value = rng.choice(_PAX_RECORDS)
        m.info.pax_headers = {**m.info.pax_headers, key: value}
        return f"{m.info.name!r} gets PAX {key}={value[:30]!r}"
    if op == "compress":
        # mtime=0: the same input on every run (gzip's header holds the time it was written).
        m.data = rng.choice((lambda d: gzip.compress(d, mtime=0), bz2.compress,
                             lambda d: gzip.compress(gzip.compress(d, mtime=0), mtime=0)))(m.data)
        return f"compress {m.info.name!r}"
    if op == "size-bomb":
        # A small gzip stream that expands far: the bomb limit must stop it, not memory.
        m.data = gzip.compress(bytes(rng.choice((1 << 20, 8 << 20, 80 << 20))), 1, mtime=0)
        return f"{m.info.name!r} becomes a gzip bomb"
    m.data, what = mutate_bytes(m.data, rng)
    return f"data of {m.info.name!r}: {what}"


def _copy_info(info: tarfile.TarInfo) -> tarfile.TarInfo:
    copy = tarfile.TarInfo(info.name)
    for attr in ("size", "mode", "uid", "gid", "mtime", "type", "linkname", "uname", "gname", "devmajor", "devminor"):
        setattr(copy, attr, getattr(info, attr))
    copy.pax_headers = dict(info.pax_headers)
    return copy


def mutate_blob(data: bytes, rng: Chooser, *, depth: int) -> tuple[bytes, str]:
    """Mutate a member's data: a (possibly gzip-compressed) tar by its entries, anything by its bytes."""
    compression = ""
    inner = data
    if data[:2] == b"\x1f\x8b":
        try:
            inner = zlib.decompressobj(31).decompress(data, 64 << 20)
            compression = "gzip"
        except zlib.error:
            return mutate_bytes(data, rng)
    members = read_members(inner) if chance(rng, 0.75) else None
    if members is not None:
        what = mutate_members(members, rng, depth=depth)
        rebuilt = write_members(members, rng)
        if rebuilt is not None:
            inner = rebuilt
    else:
        inner, what = mutate_bytes(inner, rng)
    if compression == "gzip" or chance(rng, 0.1):
        inner = gzip.compress(inner, mtime=0)
        if chance(rng, 0.15):
            inner += rng.choice((b"\x00" * 100, b"trailing garbage", b"\x1f\x8b\x08"))
            what += ", trailing bytes"
    return inner, what


# --- JSON mutations -----------------------------------------------------------------

_SWAPS: tuple[Any, ...] = (
    None, True, False, 0, -1, 2**64, 1.5, "", "x", "sha256:" + "0" * 64, "sha256:xyz", "../../etc/passwd",
    "/etc/passwd", "manifest.json", "blobs/sha256", [], {}, [None], [1, "a"], {"a": None}, "\u202e\u0000",
    "a" * 5000, [[[[[[[[[[[]]]]]]]]]]], "1970-01-01T00:00:00Z", "9999-99-99T99:99:99Z", "0001-01-01T00:00:00Z",
)


def json_paths(value: Any, *, limit: int = 5000, items: int = 200, depth: int | None = None,
               prefix: tuple[Any, ...] = (), out: list[tuple[Any, ...]] | None = None) -> list[tuple[Any, ...]]:
    """The paths (key and index tuples) of a JSON value, depth first: up to ``limit`` of them, the
    first ``items`` of each list, no deeper than ``depth``."""
    out = [] if out is None else out
    if len(out) > limit or (depth is not None and len(prefix) > depth):
        return out
    out.append(prefix)
    if isinstance(value, dict):
        for key, item in value.items():
            json_paths(item, limit=limit, items=items, depth=depth, prefix=prefix + (key,), out=out)
    elif isinstance(value, list):
        for k, item in enumerate(value[:items]):
            json_paths(item, limit=limit, items=items, depth=depth, prefix=prefix + (k,), out=out)
    return out


def _paths(value: Any) -> list[tuple[Any, ...]]:
    return json_paths(value)


def _strings(value: Any) -> list[str]:
    return [v for v in (_get(value, p) for p in _paths(value)) if isinstance(v, str)]


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


def mutate_json(text: bytes, rng: Chooser) -> tuple[bytes, str]:
    """Swap one JSON value for another type (or drop/duplicate a key, break the text)."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return mutate_bytes(text, rng)
    paths = _paths(value)
    path = rng.choice(paths)
    op = rng.choice(("swap", "swap", "swap", "swap", "drop", "dup-key", "non-utf8", "top", "text"))
    if op == "top" or not path and op in ("swap", "drop"):
        new = rng.choice(_SWAPS)
        return json.dumps(new).encode(), f"document becomes {json.dumps(new)[:40]}"
    if op == "text":
        return mutate_bytes(text, rng)
    if op == "non-utf8":
        pos = rng.randint(0, len(text))
        return text[:pos] + b"\xff\xfe" + text[pos:], f"non-UTF-8 bytes at {pos}"
    if op == "dup-key":
        encoded = json.dumps(value).encode()
        pos = encoded.find(b"{")
        if pos < 0:
            return encoded, "no object for a duplicate key"
        keys = [k for k in (value.keys() if isinstance(value, dict) else [])] or ["Config"]
        key = json.dumps(rng.choice(keys)).encode()
        return encoded[: pos + 1] + key + b":" + json.dumps(rng.choice(_SWAPS)).encode() + b"," + encoded[pos + 1 :], "duplicate key"
    # Only a swap or a drop is left, and the document itself was handled above: the path names a member.
    parent = _get(value, path[:-1])
    if op == "drop":
        del parent[path[-1]]
        return json.dumps(value).encode(), f"drop {path}"
    strings = _strings(value)
    new = rng.choice(_SWAPS + tuple(strings[:50]))
    parent[path[-1]] = new
    return json.dumps(value).encode(), f"{path} = {json.dumps(new)[:40]}"


def mutate_json_member(members: list[TarMember], k: int, rng: Chooser) -> str:
    """Mutate JSON member ``k``; often rename it to its new digest and fix every reference to it."""
    m = members[k]
    old_hex = hashlib.sha256(m.data).hexdigest()
    m.data, what = mutate_json(m.data, rng)
    new_hex = hashlib.sha256(m.data).hexdigest()
    if old_hex in m.info.name and chance(rng, 0.7):
        m.info.name = m.info.name.replace(old_hex, new_hex)
        for other in members:
            if other is not m and other.info.isreg() and old_hex.encode() in other.data:
                other.data = other.data.replace(old_hex.encode(), new_hex.encode())
                other.data = _fix_size(other.data, old_hex, len(m.data))
        what += " (references fixed)"
    return f"JSON {m.info.name!r}: {what}"


def _fix_size(data: bytes, hex_digest: str, size: int) -> bytes:
    """Keep OCI descriptors' ``size`` right after a referenced blob changed (best effort)."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return data
    for path in _paths(value):
        node = _get(value, path)
        if isinstance(node, dict) and isinstance(node.get("digest"), str) and node["digest"].endswith(hex_digest):
            node["size"] = size
    return json.dumps(value).encode()


# --- whole inputs -------------------------------------------------------------------


def mutate_archive(data: bytes, rng: Chooser) -> tuple[bytes, list[str]]:
    """1-3 mutations of an archive (members, JSON, layers, bytes), sometimes compressed as a whole."""
    steps: list[str] = []
    for _ in range(rng.randint(1, 3)):
        members = read_members(data) if chance(rng, 0.8) else None
        rebuilt = None
        if members is not None:
            what = mutate_members(members, rng, depth=0)
            rebuilt = write_members(members, rng)
        if rebuilt is not None:
            data = rebuilt
            steps.append(what)
        else:
            data, what = mutate_bytes(data, rng)
            steps.append(what)
    if chance(rng, 0.1):
        kind = rng.choice(("gzip", "bzip2", "xz"))
        data = {"gzip": lambda d: gzip.compress(d, mtime=0), "bzip2": bz2.compress, "xz": lzma.compress}[kind](data)
        steps.append(f"outer {kind}")
        if chance(rng, 0.3):
            data, what = mutate_bytes(data, rng)
            steps.append(f"compressed bytes: {what}")
    return data, steps
