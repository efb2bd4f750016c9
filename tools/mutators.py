"""Structure-aware mutators of tools/fuzz.py: each a named, seeded change that reaches the deep parsers.

A mutator takes a ``random.Random`` and an archive's bytes and returns a
``Mutant`` (the new bytes and what was done), or None when the archive has
nothing it can change (no layer, no JSON member). Mutators work on the raw
tar blocks (``RawTar``: every header kept byte for byte, so fields that
``tarfile`` cannot write, such as a negative base-256 size, can be planted),
rewrite header checksums, and after changing a layer or a JSON member
re-fix the whole digest chain (``relink``): blob names, descriptors' digests
and sizes, ``rootfs.diff_ids``, the config's digest and every manifest and
index above it, so that the mutation is not stopped by a digest mismatch.

``MUTATORS`` is the table: name -> (function, what the mutator keeps
intact). ``"chain"`` means the digest chain is re-fixed (the archive must read
without a digest finding); ``"outer"`` means the outer tar is kept readable
(the change is inside a layer); ``""`` promises nothing.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import lzma
import re
import shutil
import subprocess
import zlib
from dataclasses import dataclass, field
from random import Random
from typing import Any, Callable

from tools.mutate import json_paths

BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)

# --- raw tar --------------------------------------------------------------------------


def checksum(header: bytearray) -> None:
    """Rewrite a header block's checksum in place (so that a changed field still parses)."""
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\x00 " % (sum(header) & 0o777777)


def checksum_ok(header: bytes) -> bool:
    """Whether a header block's checksum field matches its bytes (unsigned sum, as Go and tarfile take it)."""
    field_ = header[148:156].split(b"\x00", 1)[0].strip()
    try:
        stored = int(field_ or b"0", 8)
    except ValueError:
        return False
    return stored == sum(header[:148]) + 256 + sum(header[156:])


def parse_number(raw: bytes) -> int | None:
    """A numeric header field: octal text, or base-256 (first byte 0x80 positive, 0xff negative)."""
    if raw[:1] in (b"\x80", b"\xff"):
        value = int.from_bytes(raw[1:], "big")
        if raw[0] == 0xFF:
            value -= 1 << (8 * (len(raw) - 1))
        return value
    text = raw.split(b"\x00", 1)[0].strip()
    try:
        return int(text or b"0", 8)
    except ValueError:
        return None


def octal(value: int, width: int) -> bytes:
    """``value`` as the octal text of a ``width``-byte field (NUL-terminated)."""
    return b"%0*o\x00" % (width - 1, value)


def base256(value: int, width: int) -> bytes:
    """``value`` in GNU base-256 (two's complement for a negative value) in ``width`` bytes."""
    if value < 0:
        value += 1 << (8 * width)
        return value.to_bytes(width, "big")
    return b"\x80" + value.to_bytes(width - 1, "big")


def number_field(value: int, width: int) -> bytes:
    """Octal when it fits, base-256 otherwise (as GNU tar writes a large size)."""
    if 0 <= value < 8 ** (width - 1):
        return octal(value, width)
    return base256(value, width)


@dataclass
class Block:
    """One header block and its data (without the padding)."""

    header: bytearray
    data: bytes = b""

    @property
    def typeflag(self) -> bytes:
        """The header's type flag (``b"0"`` for a NUL flag, as both readers take it)."""
        flag = bytes(self.header[156:157])
        return b"0" if flag == b"\x00" else flag

    def set_data(self, data: bytes) -> None:
        """New data, with the size field and checksum to match."""
        self.data = data
        self.header[124:136] = number_field(len(data), 12)
        checksum(self.header)

    def raw(self) -> bytes:
        """The block as it is written: header, data, zero padding to the block size."""
        return bytes(self.header) + self.data + bytes(-len(self.data) % BLOCK)


def pax_records(body: bytes) -> list[tuple[bytes, bytes]]:
    """The records of a PAX header body, in order (duplicates kept); stops at the first malformed one."""
    out = []
    pos = 0
    while pos < len(body):
        m = re.match(rb"(\d{1,20}) ", body[pos:pos + 22])
        if not m:
            break
        length = int(m.group(1))
        record = body[pos + m.end():pos + length]
        if length < m.end() or not record.endswith(b"\n") or b"=" not in record:
            break
        key, _, value = record[:-1].partition(b"=")
        out.append((key, value))
        pos += length
    return out


def pax_body(records: list[tuple[bytes, bytes]]) -> bytes:
    """A PAX header body of ``records``: each ``"%d %s=%s\\n"``, the length counting itself."""
    out = bytearray()
    for key, value in records:
        payload = b" " + key + b"=" + value + b"\n"
        length = len(payload) + 1
        while len(str(length)) + len(payload) != length:
            length = len(str(length)) + len(payload)
        out += str(length).encode() + payload
    return bytes(out)


def new_header(name: bytes, *, typeflag: bytes = b"0", size: int = 0, linkname: bytes = b"", mode: int = 0o644,
               mtime: int = 0) -> bytearray:
    """A fresh ustar header block (checksum set)."""
    header = bytearray(BLOCK)
    header[0:100] = name[:100].ljust(100, b"\x00")
    header[100:108] = octal(mode, 8)
    header[108:116] = octal(0, 8)
    header[116:124] = octal(0, 8)
    header[124:136] = number_field(size, 12)
    header[136:148] = number_field(mtime, 12)
    header[156:157] = typeflag
    header[157:257] = linkname[:100].ljust(100, b"\x00")
    header[257:265] = b"ustar\x0000"
    checksum(header)
    return header


def pax_block(records: list[tuple[bytes, bytes]], *, typeflag: bytes = b"x", name: bytes = b"././@PaxHeader") -> Block:
    """A PAX extended (``x``) or global (``g``) header block holding ``records``."""
    body = pax_body(records)
    return Block(new_header(name, typeflag=typeflag, size=len(body)), body)


@dataclass
class Entry:
    """One member as a reader sees it: the blocks that describe it (PAX ``x``, GNU ``L``/``K``) then its own."""

    prefixes: list[Block]
    main: Block

    @property
    def name(self) -> bytes:
        """The member's name as a reader resolves it (PAX path, GNU long name, ustar prefix/name)."""
        for block in self.prefixes:
            if block.typeflag == b"x":
                for key, value in pax_records(block.data):
                    if key == b"path":
                        return value
            if block.typeflag == b"L":
                return block.data.split(b"\x00", 1)[0]
        h = self.main.header
        name = bytes(h[0:100]).split(b"\x00", 1)[0]
        prefix = bytes(h[345:500]).split(b"\x00", 1)[0]
        if bytes(h[257:263]) == b"ustar\x00" and prefix:
            return prefix + b"/" + name
        return name

    @property
    def linkname(self) -> bytes:
        """The member's link target."""
        for block in self.prefixes:
            if block.typeflag == b"K":
                return block.data.split(b"\x00", 1)[0]
            if block.typeflag == b"x":
                for key, value in pax_records(block.data):
                    if key == b"linkpath":
                        return value
        return bytes(self.main.header[157:257]).split(b"\x00", 1)[0]

    @property
    def is_file(self) -> bool:
        """A regular file (type 0, NUL or 7) with data."""
        return self.main.typeflag in (b"0", b"7")

    def blocks(self) -> list[Block]:
        """Every block of the member, in order."""
        return [*self.prefixes, self.main]

    def set_data(self, data: bytes) -> None:
        """New data, the size field (and any PAX size record) to match."""
        self.main.set_data(data)
        for block in self.prefixes:
            if block.typeflag == b"x":
                records = pax_records(block.data)
                if any(k == b"size" for k, _ in records):
                    block.set_data(pax_body([(k, str(len(data)).encode() if k == b"size" else v) for k, v in records]))

    def replace_in_names(self, old: bytes, new: bytes) -> bool:
        """Replace ``old`` by ``new`` (the same length: a hex digest) in the name and link fields; True if any."""
        changed = False
        for block in self.blocks():
            if block.typeflag in (b"L", b"K", b"x") and old in block.data:
                block.data = block.data.replace(old, new)
                changed = True
            if old in block.header[0:100] or old in block.header[157:257] or old in block.header[345:500]:
                block.header[0:500] = bytes(block.header[0:500]).replace(old, new)
                checksum(block.header)
                changed = True
        return changed


@dataclass
class RawTar:
    """A tar as its blocks: entries (and global headers, each an entry of its own), then whatever follows."""

    entries: list[Entry]
    end: bytes = ZERO_BLOCK * 2

    @classmethod
    def parse(cls, data: bytes, limit: int = 20000) -> RawTar | None:
        """The blocks of ``data``, or None when it does not walk as a tar (a bad checksum, a size past the end)."""
        entries: list[Entry] = []
        prefixes: list[Block] = []
        pos = 0
        while pos + BLOCK <= len(data):
            header = data[pos:pos + BLOCK]
            if header == ZERO_BLOCK:
                if prefixes:
                    return None
                return cls(entries, data[pos:])
            if not checksum_ok(header):
                return None
            size = parse_number(header[124:136])
            if size is None or size < 0 or pos + BLOCK + size > len(data):
                return None
            block = Block(bytearray(header), data[pos + BLOCK:pos + BLOCK + size])
            pos += BLOCK + size + (-size % BLOCK)
            if block.typeflag in (b"x", b"L", b"K"):
                prefixes.append(block)
            else:
                entries.append(Entry(prefixes, block))
                prefixes = []
            if len(entries) > limit:
                return None
        if prefixes or not entries:
            return None
        return cls(entries, data[pos:])

    def dump(self) -> bytes:
        """The tar's bytes."""
        return b"".join(b.raw() for e in self.entries for b in e.blocks()) + self.end

    def files(self) -> list[Entry]:
        """The regular-file entries."""
        return [e for e in self.entries if e.is_file]


# --- compression ----------------------------------------------------------------------

_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"))


def compression_of(data: bytes) -> str:
    """gzip, bzip2, xz, zstd or none, by magic."""
    return next((kind for magic, kind in _MAGIC if data.startswith(magic)), "none")


def decompress(data: bytes, kind: str, limit: int = 32 << 20) -> bytes | None:
    """The decompressed bytes, or None when they do not decompress cleanly or expand past ``limit``."""
    try:
        if kind == "none":
            return data
        if kind == "gzip":
            out = bytearray()
            rest = data
            while rest:
                z = zlib.decompressobj(31)
                out += z.decompress(rest, limit)
                if not z.eof or len(out) >= limit:
                    return None
                rest = z.unused_data
            return bytes(out)
        if kind in ("bzip2", "xz"):
            # One stream, at most ``limit`` bytes: a bomb is left alone, not expanded.
            d = bz2.BZ2Decompressor() if kind == "bzip2" else lzma.LZMADecompressor()
            out_ = d.decompress(data, limit)
            return out_ if d.eof and not d.unused_data else None
        program = shutil.which("zstd")
        if program is None:
            return None
        done = subprocess.run([program, "-dcq"], input=data, capture_output=True, timeout=60, check=False)
        return done.stdout if done.returncode == 0 else None
    except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError, subprocess.SubprocessError):
        return None


def compress(data: bytes, kind: str) -> bytes:
    """``data`` compressed as ``kind`` (deterministic: gzip mtime 0)."""
    if kind == "gzip":
        return gzip.compress(data, compresslevel=1, mtime=0)
    if kind == "bzip2":
        return bz2.compress(data, 1)
    if kind == "xz":
        return lzma.compress(data, preset=0)
    if kind == "zstd":
        program = shutil.which("zstd")
        if program is None:
            raise OSError("zstd program not found")
        return subprocess.run([program, "-1cq"], input=data, capture_output=True, timeout=60, check=True).stdout
    return data


def _tar_head(data: bytes) -> bool:
    return len(data) >= BLOCK and (data[257:262] == b"ustar" or checksum_ok(data[:BLOCK]))


# --- the digest chain ---------------------------------------------------------------


def sha(data: bytes) -> bytes:
    """The sha256 hex digest, as bytes (how it appears in names and JSON)."""
    return hashlib.sha256(data).hexdigest().encode()


def _is_json(data: bytes) -> bool:
    return len(data) < (16 << 20) and data.lstrip()[:1] in (b"{", b"[")


class _Raw(str):
    """A JSON number kept as its text, so that re-writing a document changes nothing else."""


def _loads_lossless(data: bytes) -> Any:
    return json.loads(data, object_pairs_hook=lambda pairs: ("obj", pairs), parse_int=_Raw, parse_float=_Raw,
                      parse_constant=_Raw)


def _dumps_lossless(value: Any) -> str:
    if isinstance(value, tuple) and value[:1] == ("obj",):
        return "{" + ",".join(json.dumps(k) + ":" + _dumps_lossless(v) for k, v in value[1]) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_dumps_lossless(v) for v in value) + "]"
    if isinstance(value, _Raw):
        return str(value)
    return json.dumps(value)


def _fix_sizes(data: bytes, hex_digest: bytes, size: int) -> bytes:
    """Set ``size`` in every descriptor of ``data`` whose digest ends in ``hex_digest`` (the rest kept as it was)."""
    try:
        value = _loads_lossless(data)
    except (ValueError, RecursionError):
        return data
    wanted = hex_digest.decode()
    changed = False

    def walk(node: Any, depth: int = 0) -> None:
        nonlocal changed
        if depth > 200:
            return
        if isinstance(node, tuple) and node[:1] == ("obj",):
            pairs = node[1]
            if any(k == "digest" and isinstance(v, str) and not isinstance(v, _Raw) and v.endswith(wanted) for k, v in pairs):
                for i, (k, v) in enumerate(pairs):
                    if k == "size" and v != str(size):
                        pairs[i] = (k, _Raw(str(size)))
                        changed = True
            for _, v in pairs:
                walk(v, depth + 1)
        elif isinstance(node, list):
            for v in node:
                walk(v, depth + 1)

    try:
        walk(value)
        return _dumps_lossless(value).encode() if changed else data
    except RecursionError:
        return data


def relink(tar: RawTar, changes: list[tuple[bytes, bytes, int | None]], *, skip: Entry | None = None) -> None:
    """Re-fix the digest chain after blobs changed: ``changes`` holds (old hex, new hex, new size or None).

    Every member named by an old digest is renamed (blobs/sha256/<hex>,
    <hex>.json, links to them); every JSON member that mentions an old digest
    gets the new one (and descriptors their new size), which changes that
    member's own digest in turn, until nothing above it is left.
    ``skip`` is a member whose bytes must stay as they are (the one mutated).
    """
    queue = [c for c in changes if c[0] != c[1]]
    seen = 0
    while queue and seen < 200:
        old, new, size = queue.pop(0)
        seen += 1
        for entry in tar.entries:
            entry.replace_in_names(old, new)
            if entry is skip or not entry.is_file or not _is_json(entry.main.data) or old not in entry.main.data:
                continue
            before = sha(entry.main.data)
            data = entry.main.data.replace(old, new)
            if size is not None:
                data = _fix_sizes(data, new, size)
            entry.set_data(data)
            queue.append((before, sha(data), len(data)))


@dataclass
class Layer:
    """A layer blob found in an archive: its member, compression and decompressed tar."""

    entry: Entry
    kind: str
    tar: bytes


def _layer_of(entry: Entry) -> Layer | None:
    data = entry.main.data
    if len(data) < 64 or _is_json(data):
        return None
    kind = compression_of(data)
    if kind == "none" and not _tar_head(data):
        return None
    inner = decompress(data, kind)
    return Layer(entry, kind, inner) if inner is not None and _tar_head(inner) else None


def layers(tar: RawTar) -> list[Layer]:
    """Every member whose (decompressed) bytes are a tar: the layers."""
    return [layer for entry in tar.files() if (layer := _layer_of(entry)) is not None]


def replace_layer(tar: RawTar, layer: Layer, inner: bytes, *, tail: bytes = b"") -> None:
    """Put a new layer tar in ``layer``'s place (compressed as it was, ``tail`` after it) and re-fix the chain."""
    old_blob = layer.entry.main.data
    blob = compress(inner, layer.kind) + tail
    layer.entry.set_data(blob)
    relink(tar, [(sha(old_blob), sha(blob), len(blob)), (sha(layer.tar), sha(inner), None)])


def replace_json(tar: RawTar, entry: Entry, data: bytes) -> None:
    """Put new bytes in a JSON member and re-fix the chain above it."""
    old = entry.main.data
    entry.set_data(data)
    relink(tar, [(sha(old), sha(data), len(data))], skip=entry)


# --- mutators -------------------------------------------------------------------------


@dataclass
class Mutant:
    """A mutated input: its bytes and what was done (enough to tell it from every other)."""

    data: bytes
    what: str
    # Offsets of the header blocks the mutation changed in the outer tar (checked by the tests).
    headers: list[int] = field(default_factory=list)


Mutator = Callable[[Random, bytes], "Mutant | None"]

_NAMES = (b"e/passwd", b"../../etc/shadow", b"/etc/passwd", b"a\x00hidden", b"n" * 100, b"./", b"", b"\xff\xfeutf8",
          b"dir/", b"usr/bin/sudo", b".wh..wh..opq", b"x/.wh.y", b"manifest.json", b"\x1b[31mred")
_LINKS = (b"/etc/passwd", b"../../..", b"/", b"l" * 100, b"a\x00b", b"e", b"missing", b"usr/bin/sudo")
_TYPES = (b"0", b"\x00", b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"g", b"x", b"L", b"K", b"S", b"V", b"M", b"D",
          b"N", b"A", b"Z", b"\xff")
_UNAMES = (b"root", b"u" * 32, b"\xff\xfe", b"\x1b[2J", b"", b"a\x00b")
_PREFIXES = (b"etc", b"../..", b"/abs", b"p" * 155, b"a\x00b", b"usr/bin")
_MAGICS = (b"ustar\x0000", b"ustar  \x00", b"\x00" * 8, b"ustaX\x0000")


def _numbers(width: int, actual: int) -> list[bytes]:
    big = 1 << (8 * (width - 1) - 2)
    return [base256(-1, width), base256(-512, width), base256(-(1 << 62), width), base256(actual, width),
            base256(big, width), octal(actual + BLOCK, width), octal(max(actual - 1, 0), width), b" " * width,
            b"\x00" * width, b"9" * (width - 1) + b"\x00", b"-1".ljust(width, b"\x00"), b"7" * width,
            b"0" * (width - 2) + b"1x", octal(0, width), b" " * (width - 3) + b"17\x00"]


# Field name -> (offset, width, kind).
_FIELDS = {
    "name": (0, 100, "name"), "mode": (100, 8, "num"), "uid": (108, 8, "num"), "gid": (116, 8, "num"),
    "size": (124, 12, "num"), "mtime": (136, 12, "num"), "typeflag": (156, 1, "type"), "linkname": (157, 100, "link"),
    "magic": (257, 8, "magic"), "uname": (265, 32, "uname"), "gname": (297, 32, "uname"), "devmajor": (329, 8, "num"),
    "devminor": (337, 8, "num"), "prefix": (345, 155, "prefix"), "gnu-atime": (345, 12, "gnu"),
    "gnu-offset": (369, 12, "gnu"), "gnu-sparse": (386, 24, "gnu"), "gnu-isextended": (482, 1, "gnu"),
    "gnu-realsize": (483, 12, "gnu"),
}


def _mutate_header(rng: Random, header: bytearray, names: list[bytes]) -> str:
    """Change one field of a header block (checksum re-fixed); returns which and to what."""
    before = bytes(header)
    what = ""
    for _ in range(8):
        what = _set_field(rng, header, names)
        if header != before:
            break
    return what


def _set_field(rng: Random, header: bytearray, names: list[bytes]) -> str:
    name = rng.choice(sorted(_FIELDS))
    offset, width, kind = _FIELDS[name]
    actual = parse_number(bytes(header[124:136])) or 0
    if kind == "num":
        value = rng.choice(_numbers(width, actual if name == "size" else rng.choice((0, 1, 0o777, 1 << 33))))
    elif kind == "name":
        value = rng.choice(_NAMES + tuple(names[:20]))
    elif kind == "link":
        value = rng.choice(_LINKS + tuple(names[:20]))
    elif kind == "type":
        value = rng.choice(_TYPES)
    elif kind == "magic":
        value = rng.choice(_MAGICS)
    elif kind == "uname":
        value = rng.choice(_UNAMES)
    elif kind == "prefix":
        value = rng.choice(_PREFIXES)
    else:
        header[257:265] = b"ustar  \x00"  # GNU fields are read only in a GNU header
        value = rng.choice(_numbers(width, 0) if width > 1 else [b"1", b"\x01", b"\x00"])
    value = value[:width].ljust(width, b"\x00")
    header[offset:offset + width] = value
    checksum(header)
    return f"{name} = {bytes(value).rstrip(bytes(1))[:24]!r}"


def _names(tar: RawTar) -> list[bytes]:
    return [e.name for e in tar.entries]


def _offsets(tar: RawTar) -> dict[int, int]:
    """id(block header) -> its offset in the dumped tar."""
    out, pos = {}, 0
    for e in tar.entries:
        for b in e.blocks():
            out[id(b.header)] = pos
            pos += BLOCK + len(b.data) + (-len(b.data) % BLOCK)
    return out


def _outer(data: bytes) -> RawTar | None:
    return RawTar.parse(data)


def _pick_layer(rng: Random, tar: RawTar) -> tuple[Layer, RawTar] | None:
    """One layer chosen by ``rng`` and its tar's blocks (only the chosen one is decompressed)."""
    files = tar.files()
    order = sorted(range(len(files)), key=lambda _: rng.random())
    for i in order:
        layer = _layer_of(files[i])
        inner = RawTar.parse(layer.tar) if layer is not None else None
        if layer is not None and inner is not None:
            return layer, inner
    return None


def outer_header(rng: Random, data: bytes) -> Mutant | None:
    """A field of an outer member's header (name, size incl. base-256 and negative, mode, GNU fields...)."""
    tar = _outer(data)
    if tar is None:
        return None
    entry = rng.choice(tar.entries)
    what = _mutate_header(rng, entry.main.header, _names(tar))
    offset = _offsets(tar)[id(entry.main.header)]
    return Mutant(tar.dump(), f"outer {entry.name[:60]!r}: {what}", [offset])


def layer_header(rng: Random, data: bytes) -> Mutant | None:
    """A field of a layer entry's header, the layer re-compressed and the digest chain re-fixed."""
    tar = _outer(data)
    picked = tar and _pick_layer(rng, tar)
    if tar is None or not picked:
        return None
    layer, inner = picked
    entry = rng.choice(inner.entries)
    what = _mutate_header(rng, entry.main.header, _names(inner))
    replace_layer(tar, layer, inner.dump())
    return Mutant(tar.dump(), f"layer {layer.entry.name[:80]!r} entry {entry.name[:60]!r}: {what}")


_PAX = (
    (b"path", b"usr/bin/sudo"), (b"path", b"../../etc/passwd"), (b"path", b"/abs"), (b"path", b"a\x00b"),
    (b"linkpath", b"/etc/shadow"), (b"linkpath", b"../../x"), (b"size", b"0"), (b"size", b"-1"),
    (b"size", b"1" * 40), (b"size", b"512"), (b"mtime", b"1" * 4295), (b"mtime", b"1" * 900 + b"." + b"1" * 900),
    (b"mtime", b"-1.5"), (b"mtime", b"nan"), (b"mtime", b"1e999999"), (b"uid", b"1" * 30), (b"gid", b"-1"),
    (b"GNU.sparse.map", b"0,5,99999999999,5"), (b"GNU.sparse.map", b"x,y"), (b"GNU.sparse.map", b"1" * 4000),
    (b"GNU.sparse.numblocks", b"100000000"), (b"GNU.sparse.offset", b"-1"), (b"GNU.sparse.numbytes", b"z"),
    (b"GNU.sparse.realsize", b"1" * 50), (b"GNU.sparse.size", b"-5"), (b"GNU.sparse.major", b"1"),
    (b"GNU.sparse.minor", b"0"), (b"GNU.sparse.name", b"../sparse"), (b"hdrcharset", b"BINARY"),
    (b"hdrcharset", b"ISO-IR 10646 2000 UTF-8"), (b"uname", b"\xff\xfe"), (b"SCHILY.xattr.security.capability", b"\x01"),
    (b"comment", b"1" * 3000), (b"", b"empty key"),
    # Digits that CPython's unpatched tarfile (CVE-2024-6232) scans in quadratic time: minutes on 3.11.7.
    (b"atime", b"9" * 200_000),
)


def _pax_records(rng: Random, names: list[bytes]) -> list[tuple[bytes, bytes]]:
    records = [rng.choice(_PAX) for _ in range(rng.randint(1, 3))]
    if names and rng.random() < 0.3:
        records.append((b"path", rng.choice(names)))
    if rng.random() < 0.3:
        records.append(rng.choice(records))  # a duplicate key: the last one wins in Go and in tarfile
    return records


def _insert_pax(rng: Random, tar: RawTar) -> str:
    """Insert a PAX extended or global header before a member (or as the first header)."""
    records = _pax_records(rng, _names(tar))
    i = rng.randint(0, len(tar.entries) - 1)
    entry = tar.entries[i]
    if rng.random() < 0.5:
        entry.prefixes.insert(0, pax_block(records))
        kind = "extended"
    else:
        tar.entries.insert(i, Entry([], pax_block(records, typeflag=b"g", name=b"././@GlobalHead")))
        kind = "global"
    shown = ", ".join(f"{k.decode('latin-1')}={v[:20].decode('latin-1')!r}" for k, v in records)
    return f"{kind} PAX header before {entry.name[:60]!r}: {shown}"


def outer_pax(rng: Random, data: bytes) -> Mutant | None:
    """A PAX extended or global header in the outer tar (path, size, mtime with long digits, sparse keys...)."""
    tar = _outer(data)
    if tar is None:
        return None
    what = _insert_pax(rng, tar)
    return Mutant(tar.dump(), "outer " + what)


def layer_pax(rng: Random, data: bytes) -> Mutant | None:
    """A PAX extended or global header inside a layer, the digest chain re-fixed."""
    tar = _outer(data)
    picked = tar and _pick_layer(rng, tar)
    if tar is None or not picked:
        return None
    layer, inner = picked
    what = _insert_pax(rng, inner)
    replace_layer(tar, layer, inner.dump())
    return Mutant(tar.dump(), f"layer {layer.entry.name[:80]!r}: {what}")


# JSON values written as their raw text (numbers where strings are required, huge numbers, deep nesting).
_RAW_VALUES = ("1", "-1", "0", "1.5", "1e999999", "-1e999999", "1" * 400, "-" + "9" * 5000, "true", "null", "[]", "{}",
               "[" * 3000 + "]" * 3000, '{"a":' * 2000 + "1" + "}" * 2000, '"1e999999"', '""', '"x"',
               '"sha256:' + "0" * 64 + '"', '"sha256:XYZ"', '"2024-13-45T99:99:99Z"', '"0001-01-01T00:00:00Z"',
               '"' + "9" * 4300 + '-01-01T00:00:00Z"', '"2024-01-01T00:00:00.' + "1" * 4000 + 'Z"',
               '"\\u0000\\u202e"', '"a\\nb\\tc"', '"' + "a" * 100000 + '"')
# Keys worth aiming at: the fields the parsers read.
_KEYS = ("history", "empty_layer", "created", "created_by", "diff_ids", "rootfs", "Labels", "Env", "Cmd", "Entrypoint",
         "User", "size", "digest", "mediaType", "Config", "Layers", "RepoTags", "LayerSources", "manifests", "layers",
         "config", "annotations", "platform", "architecture", "os", "schemaVersion", "comment", "author", "parent")


def _paths(value: Any) -> list[tuple[Any, ...]]:
    return json_paths(value, limit=3000, items=100, depth=50)


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


def _json_edit(rng: Random, value: Any) -> tuple[bytes, str] | None:
    """One targeted change of a JSON document; the new text and what it did."""
    paths = [p for p in _paths(value) if p]
    if not paths:
        return None
    aimed = [p for p in paths if any(isinstance(k, str) and k in _KEYS for k in p[-2:])]
    path = rng.choice(aimed if aimed and rng.random() < 0.85 else paths)
    parent = _get(value, path[:-1])
    key = path[-1]
    holder = "\x00raw\x00"
    op = rng.choice(("raw", "raw", "raw", "drop", "duplicate-key", "list", "empty-layer", "swap-string"))
    if op == "drop":
        del parent[key]
        return json.dumps(value).encode(), f"drop {path}"
    if op == "duplicate-key" and isinstance(parent, dict):
        raw = rng.choice(_RAW_VALUES[:20])
        text = json.dumps(value)
        inner = json.dumps(parent)
        at = text.find(inner)
        if at < 0 or not inner.startswith("{"):
            return None
        dup = json.dumps(key) + ":" + raw + ","
        first = rng.random() < 0.5
        new_inner = ("{" + dup + inner[1:]) if first else (inner[:-1] + "," + dup[:-1] + "}")
        return (text[:at] + new_inner + text[at + len(inner):]).encode(), f"duplicate key {path} = {raw[:30]} ({'first' if first else 'last'})"
    if op == "list":
        # A list near the path: an element dropped, duplicated, moved (history entries, diff_ids, layers).
        lists = [p for p in paths if isinstance(_get(value, p), list) and _get(value, p)]
        if not lists:
            return None
        lpath = rng.choice(lists)
        items = _get(value, lpath)
        i, j = rng.randint(0, len(items) - 1), rng.randint(0, len(items) - 1)
        how = rng.choice(("drop", "duplicate", "move", "reverse"))
        if how == "drop":
            del items[i]
        elif how == "duplicate":
            items.insert(j, items[i])
        elif how == "move":
            items.insert(j, items.pop(i))
        else:
            items.reverse()
        return json.dumps(value).encode(), f"{how} item {i} of {lpath}"
    if op == "empty-layer":
        history = value.get("history") if isinstance(value, dict) else None
        if not isinstance(history, list) or not history or not isinstance(history[0], dict):
            return None
        step = rng.choice(history)
        if not isinstance(step, dict):
            return None
        step["empty_layer"] = rng.choice((True, False, "true", 1, None))
        return json.dumps(value).encode(), f"a history step's empty_layer = {step['empty_layer']!r}"
    if op == "swap-string":
        strings = [p for p in paths if isinstance(_get(value, p), str)]
        if not strings:
            return None
        others = [o for o in (_get(value, p) for p in strings) if o != parent[key]]
        if not others:
            return None
        other = rng.choice(others)
        parent[key] = other
        return json.dumps(value).encode(), f"{path} = {other[:40]!r}"
    raw = rng.choice(_RAW_VALUES)
    parent[key] = holder
    text = json.dumps(value).replace(json.dumps(holder), raw, 1)
    return text.encode(), f"{path} = {raw[:40]}"


def json_field(rng: Random, data: bytes) -> Mutant | None:
    """A field of manifest.json, index.json, an OCI manifest or a config, the digest chain re-fixed above it."""
    tar = _outer(data)
    if tar is None:
        return None
    candidates = []
    for entry in tar.files():
        if _is_json(entry.main.data):
            try:
                candidates.append((entry, json.loads(entry.main.data)))
            except (ValueError, RecursionError):
                continue
    if not candidates:
        return None
    entry, value = rng.choice(candidates)
    edited = _json_edit(rng, value)
    if edited is None:
        return None
    text, what = edited
    replace_json(tar, entry, text)
    return Mutant(tar.dump(), f"JSON {entry.name[:80]!r}: {what}")


def descriptor(rng: Random, data: bytes) -> Mutant | None:
    """A descriptor's size or digest made wrong (the chain above it re-fixed): the archive fails its own digests."""
    tar = _outer(data)
    if tar is None:
        return None
    found = [(e, m) for e in tar.files() if _is_json(e.main.data)
             for m in re.finditer(rb'"size"\s*:\s*(\d+)|"digest"\s*:\s*"sha256:([0-9a-f]{64})"', e.main.data)]
    if not found:
        return None
    entry, m = rng.choice(found)
    body = entry.main.data
    if m.group(1) is not None:
        size = int(m.group(1))
        new = str(rng.choice((size + 1, max(size - 1, 0), 0, size * 2 + 7))).encode()
        text = body[:m.start(1)] + new + body[m.end(1):]
        what = f"size {size} -> {new.decode()}"
    else:
        hex_ = bytearray(m.group(2))
        hex_[rng.randint(0, 63)] ^= 1
        text = body[:m.start(2)] + bytes(hex_) + body[m.end(2):]
        what = f"digest {m.group(2)[:12].decode()} -> {bytes(hex_[:12]).decode()}"
    replace_json(tar, entry, text)
    return Mutant(tar.dump(), f"descriptor in {entry.name[:80]!r}: {what}")


def _reorder(rng: Random, tar: RawTar) -> str:
    entries = tar.entries
    i, j = rng.randint(0, len(entries) - 1), rng.randint(0, len(entries) - 2) if len(entries) > 1 else 0
    j += j >= i and len(entries) > 1  # another place than its own
    how = rng.choice(("move", "duplicate", "swap", "reverse", "duplicate-changed") if len(entries) > 1 else ("duplicate",))
    name = entries[i].name[:60]
    if how == "move":
        entries.insert(j, entries.pop(i))
    elif how == "duplicate":
        entries.insert(j, _copy(entries[i]))
    elif how == "duplicate-changed" and entries[i].is_file:
        copy = _copy(entries[i])
        copy.set_data(copy.main.data[: len(copy.main.data) // 2] + b"changed")
        entries.insert(j, copy)
    elif how == "swap":
        entries[i], entries[j] = entries[j], entries[i]
    else:
        entries.reverse()
    return f"{how} {name!r} (member {i}) to {j}"


def _copy(entry: Entry) -> Entry:
    return Entry([Block(bytearray(b.header), b.data) for b in entry.prefixes], Block(bytearray(entry.main.header), entry.main.data))


def outer_members(rng: Random, data: bytes) -> Mutant | None:
    """Outer members moved, duplicated (the same or changed bytes), swapped or reversed."""
    tar = _outer(data)
    if tar is None:
        return None
    what = _reorder(rng, tar)
    return Mutant(tar.dump(), "outer " + what)


def layer_members(rng: Random, data: bytes) -> Mutant | None:
    """Layer entries moved, duplicated, swapped or reversed, the digest chain re-fixed."""
    tar = _outer(data)
    picked = tar and _pick_layer(rng, tar)
    if tar is None or not picked:
        return None
    layer, inner = picked
    what = _reorder(rng, inner)
    replace_layer(tar, layer, inner.dump())
    return Mutant(tar.dump(), f"layer {layer.entry.name[:80]!r}: {what}")


def _hidden_manifest() -> bytes:
    body = b'[{"Config":"evil.json","RepoTags":["evil:latest"],"Layers":[]}]'
    return Block(new_header(b"manifest.json", size=len(body)), body).raw() + ZERO_BLOCK * 2


_TAILS: tuple[Callable[[], bytes], ...] = (
    _hidden_manifest, lambda: b"junk after the end", lambda: ZERO_BLOCK * 20, lambda: b"\x00" * 100 + b"x",
    lambda: gzip.compress(b"more", mtime=0), lambda: bytes(range(256)) * 4,
)


def outer_trailing(rng: Random, data: bytes) -> Mutant | None:
    """Data after the outer end-of-archive marker (a second manifest.json, junk), or the marker cut short."""
    tar = _outer(data)
    if tar is None:
        return None
    how = rng.randint(0, len(_TAILS))
    if how == len(_TAILS):
        tar.end = rng.choice((b"", ZERO_BLOCK))
        return Mutant(tar.dump(), f"outer end-of-archive marker of {len(tar.end) // BLOCK} block(s)")
    tail = _TAILS[how]()
    tar.end = ZERO_BLOCK * 2 + tail
    return Mutant(tar.dump(), f"outer trailing data: {tail[:24]!r} ({len(tail)} bytes)")


def compressed_junk(rng: Random, data: bytes) -> Mutant | None:
    """A compressed stream followed by junk: the whole archive, or one layer (digest chain re-fixed)."""
    junk = rng.choice((b"junk", b"\x00" * 512, b"\x1f\x8b\x08\x00", b"\x28\xb5\x2f\xfd", b"BZh9", bytes(range(200))))
    tar = _outer(data)
    picked = tar and _pick_layer(rng, tar)
    if rng.random() < 0.5 or tar is None or not picked:
        kind = rng.choice(("gzip", "bzip2", "xz") + (("zstd",) if shutil.which("zstd") else ()))
        return Mutant(compress(data, kind) + junk, f"outer {kind} followed by {junk[:12]!r}")
    layer, inner = picked
    if layer.kind in ("none", "zstd"):
        layer.kind = "gzip"
    replace_layer(tar, layer, inner.dump(), tail=junk)
    return Mutant(tar.dump(), f"layer {layer.entry.name[:80]!r} ({layer.kind}) followed by {junk[:12]!r}")


_THROUGH = (
    ((b"e", b"/etc"), b"e/passwd"), ((b"e", b"../../etc"), b"e/shadow"), ((b"e", b"etc"), b"e/hosts"),
    ((b"a", b"b"), b"a/c"), ((b"l1", b"l2"), b"l1/x"), ((b"usr/lib/x", b"/usr/bin"), b"usr/lib/x/sudo"),
    ((b"e", b"/etc/"), b"e/../e/passwd"), ((b"loop", b"loop"), b"loop/x"),
)


def symlink_child(rng: Random, data: bytes) -> Mutant | None:
    """A layer gets a symlink then an entry below it (``e -> /etc``, ``e/passwd``), the digest chain re-fixed."""
    tar = _outer(data)
    picked = tar and _pick_layer(rng, tar)
    if tar is None or not picked:
        return None
    layer, inner = picked
    (link, target), child = rng.choice(_THROUGH)
    blocks = [Entry([], Block(new_header(link, typeflag=b"2", linkname=target, mode=0o777)))]
    if link == b"l1":
        blocks.append(Entry([], Block(new_header(b"l2", typeflag=b"2", linkname=b"/l1", mode=0o777))))
    if child.startswith(b"a/") and rng.random() < 0.5:
        blocks.insert(0, Entry([], Block(new_header(b"b", typeflag=b"5", mode=0o755))))
    body = b"root::0:0::/root:/bin/sh\n"
    blocks.append(Entry([], Block(new_header(child, size=len(body)), body)))
    at = rng.randint(0, len(inner.entries))
    inner.entries[at:at] = blocks
    replace_layer(tar, layer, inner.dump())
    return Mutant(tar.dump(), f"layer {layer.entry.name[:80]!r}: {link.decode()} -> {target.decode()}, then {child.decode()}")


def hardlink_forward(rng: Random, data: bytes) -> Mutant | None:
    """A hardlink to a member that comes later: in the outer tar, or in a layer (digest chain re-fixed)."""
    tar = _outer(data)
    if tar is None:
        return None
    picked = _pick_layer(rng, tar) if rng.random() < 0.6 else None
    where = picked[1] if picked else tar
    if len(where.entries) < 1:
        return None
    j = rng.randint(0, len(where.entries) - 1)
    target = where.entries[j].name
    name = rng.choice((b"hl-" + target[-60:].replace(b"/", b"-"), b"manifest.json", b"index.json", target))
    at = rng.randint(0, j)
    where.entries.insert(at, Entry([], Block(new_header(name, typeflag=b"1", linkname=target))))
    if picked:
        replace_layer(tar, picked[0], where.dump())
        return Mutant(tar.dump(), f"layer {picked[0].entry.name[:80]!r}: hardlink {name[:60]!r} -> later {target[:60]!r}")
    return Mutant(tar.dump(), f"outer hardlink {name[:60]!r} -> later {target[:60]!r}")


def classic(rng: Random, data: bytes) -> Mutant:
    """The byte- and member-level engine of tools/mutate.py (truncation, flips, type swaps, renames)."""
    from tools.mutate import mutate_archive

    mutated, steps = mutate_archive(data, rng)
    return Mutant(mutated, "; ".join(steps))


def _changing(fn: Mutator) -> Mutator:
    """``fn``, tried again (the same ``rng`` going on) while it gives back the bytes it was given."""

    def run(rng: Random, data: bytes) -> Mutant | None:
        for _ in range(5):
            mutant = fn(rng, data)
            if mutant is None or mutant.data != data:
                return mutant
        return None

    run.__doc__ = fn.__doc__
    run.__name__ = fn.__name__
    return run


# name -> (mutator, what it keeps intact: "chain" digest chain re-fixed, "outer" outer tar readable, "" nothing)
MUTATORS: dict[str, tuple[Mutator, str]] = {
    "outer-header": (_changing(outer_header), ""),
    "layer-header": (_changing(layer_header), "chain"),
    "outer-pax": (_changing(outer_pax), ""),
    "layer-pax": (_changing(layer_pax), "chain"),
    "json-field": (_changing(json_field), "chain"),
    "descriptor": (_changing(descriptor), ""),
    "outer-members": (_changing(outer_members), ""),
    "layer-members": (_changing(layer_members), "chain"),
    "outer-trailing": (_changing(outer_trailing), ""),
    "compressed-junk": (_changing(compressed_junk), ""),
    "symlink-child": (_changing(symlink_child), "chain"),
    "hardlink-forward": (_changing(hardlink_forward), ""),
    "classic": (_changing(classic), ""),
}
