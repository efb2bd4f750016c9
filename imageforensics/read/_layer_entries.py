"""Turn the TarInfo records of a layer tar into FileEntry values, noting what is odd.

Names are normalised as docker does (``path.Clean`` of the name without its
leading ``/``), whiteouts and opaque markers become entries of their own kind,
and each regular file's data is hashed as it streams past.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import posixpath
import re
import tarfile
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Protocol, cast

from imageforensics.errors import LimitError
from imageforensics.options import Limits, ReadOptions
from imageforensics.model import FileEntry, KeptFile, PackageDatabase, file_entry
from imageforensics.parse import database_manager, read_package_database, package_database_too_large
from imageforensics.collector import paused_collector
from imageforensics.read._pax import PaxError, parse_time_ns
from imageforensics.read._tar_header import BLOCK, DATA_TYPES, plain_member

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
AUFS_META = ".wh..wh."

_FILE_TYPES = frozenset(
    (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE, tarfile.GNUTYPE_SPARSE)
)
_KINDS = {
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hardlink",
    tarfile.CHRTYPE: "char",
    tarfile.BLKTYPE: "block",
    tarfile.FIFOTYPE: "fifo",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PERCENT = re.compile(rb"%([0-9A-Fa-f]{2})")
# The records tarfile applies to members (PAX_FIELDS), listed first in a global header's detail.
_APPLIED = frozenset(("path", "linkpath", "size", "mtime", "uid", "gid", "uname", "gname"))
_EMPTY_DIGEST = hashlib.sha256().digest()
# Escaped text of each byte: printable ASCII as is, "\\" doubled, others \xNN.
_BYTE_TEXT = tuple(
    "\\\\" if b == 0x5C else chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}" for b in range(256)
)


class EntryData(Protocol):
    """The tar stream an entry's data is read from (``read/_layer_streams.TarStream``)."""

    def seek(self, pos: int, whence: int = 0) -> int: ...

    def hash_exactly(self, n: int, digest: "hashlib._Hash") -> None: ...

    def peek_at(self, pos: int, n: int) -> bytes | None: ...

    def advance(self, n: int) -> None: ...


def global_header_detail(info: tarfile.TarInfo) -> str:
    """What a PAX global header holds, as ``key=value`` records (the ones tarfile would apply first)."""
    return records_detail(info.pax_headers)


def records_detail(pax: Mapping[str, str]) -> str:
    """Extended header records as ``key=value`` text (the ones tarfile would apply first), cut at 200 characters."""
    records = sorted(pax.items(), key=lambda kv: (kv[0] not in _APPLIED, kv[0]))
    text = ", ".join(f"{key}={value}" for key, value in records) or "no records"
    return text if len(text) <= 200 else text[:200] + "…"


def escape_text(text: str) -> str:
    """A name as printable text (its UTF-8 bytes escaped where not printable ASCII), for messages."""
    return escape_bytes(text.encode("utf-8", "surrogateescape"))


def escape_bytes(data: bytes) -> str:
    """Stable printable text for arbitrary bytes (xattr values)."""
    if data.isascii() and data.isalnum():
        return data.decode("ascii")
    return "".join([_BYTE_TEXT[b] for b in data])


def mtime_ns(info: tarfile.TarInfo) -> int:
    """Exact modification time in ns; PAX ``mtime`` may carry a fraction (parsed as text, not float).

    The header reader has checked the text by Go's ``parsePAXTime``
    (``read/_pax.py``); a TarInfo from elsewhere falls back to whole seconds.
    """
    text = info.pax_headers.get("mtime")
    if text:
        try:
            return parse_time_ns(text)
        except PaxError:
            pass
    try:
        return int(info.mtime) * 1_000_000_000
    except (ValueError, OverflowError):  # a TarInfo of tarfile's own, with a PAX mtime of "nan" or "inf"
        return 0


def xattrs(pax: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """Sorted (name, escaped value) pairs from ``SCHILY.xattr.*`` and ``LIBARCHIVE.xattr.*``."""
    found: dict[str, bytes] = {}
    for key, value in pax.items():
        if key.startswith("SCHILY.xattr."):
            # tarfile decoded the value as UTF-8 with surrogateescape: undo it.
            found[key[13:]] = value.encode("utf-8", "surrogateescape")
        elif key.startswith("LIBARCHIVE.xattr."):
            # libarchive URL-encodes the name and base64-encodes the value (unpadded).
            name = _percent_decode(key[17:])
            try:
                raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
            except (binascii.Error, ValueError):
                raw = value.encode("utf-8", "surrogateescape")
            found.setdefault(name, raw)
    return tuple(sorted((name, escape_bytes(raw)) for name, raw in found.items()))


def _percent_decode(text: str) -> str:
    """Undo libarchive's %XX escapes in an xattr name (bytes kept via surrogateescape)."""
    if "%" not in text:
        return text
    raw = _PERCENT.sub(
        lambda m: bytes([int(m.group(1), 16)]), text.encode("utf-8", "surrogateescape")
    )
    return raw.decode("utf-8", "surrogateescape")


def _is_utf8(name: str) -> bool:
    if name.isascii():
        return True
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _byte_length(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))


class EntryBudget:
    """How many more entries the layers of one input may list (``--max-total-entries``), shared by its layers."""

    def __init__(self, limits: Limits) -> None:
        self.limit = limits.max_entries_total
        self.left = self.limit


# Entries repeat the same modes, owners, times and (empty-file) digests: equal values are
# shared, up to this many distinct ones per layer (the table itself costs memory while listing).
_SHARED_VALUES = 1 << 16


_NO_RECORDS: Mapping[str, str] = MappingProxyType({})


class _Data:
    """Where a regular file's data lies in the stream, and what its header says of it."""

    __slots__ = ("name", "size", "sparse", "at", "data")

    def __init__(self, name: str, size: int, sparse: list[tuple[int, int]] | None, at: int, data: EntryData) -> None:
        self.name, self.size, self.sparse, self.at, self.data = name, size, sparse, at, data

    def read(self) -> bytes:
        """The data itself (a file small enough to keep)."""
        self.data.seek(self.at)
        sink = _Collecting()
        self.data.hash_exactly(self.size, sink)  # type: ignore[arg-type]  # hash_exactly needs only update()
        return b"".join(sink.parts)


_sha256 = hashlib.sha256
# Files up to this size are hashed as one copy of their bytes; larger ones through hash_exactly, chunk by chunk.
_IN_PLACE = 1 << 16


def _digest(data: EntryData, at: int, size: int) -> bytes:
    """The sha256 of the ``size`` bytes of data at ``at``: in place when the chunk at hand holds them."""
    if not size:
        return _EMPTY_DIGEST
    if size < _IN_PLACE:
        body = data.peek_at(at, size)
        if body is not None:
            data.advance(size)
            return _sha256(body).digest()
    data.seek(at)
    digest = hashlib.sha256()
    data.hash_exactly(size, digest)
    return digest.digest()


class _Collecting:
    """Takes the chunks ``hash_exactly`` hands on, to keep a file's bytes."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def update(self, chunk: bytes | memoryview) -> None:
        self.parts.append(bytes(chunk))


class EntryLister:
    """Collects the entries of one layer, in tar order, with their anomalies."""

    def __init__(self, archive: str, member: str, options: ReadOptions = ReadOptions(),
                 budget: EntryBudget | None = None) -> None:
        self._budget = budget
        self._shared: dict[Any, Any] = {}
        self._where = (archive, member)
        self._limits = options.limits
        self._quarter_path_cap = options.limits.max_path_bytes // 4
        self._content_digests = options.content_digests
        self._digest_below = options.digest_below
        self._entries: list[FileEntry] = []
        self._anomalies: list[tuple[str, str]] = []
        self._dropped = 0
        self._seen: set[str] = set()
        self._keep_paths = options.keep_paths
        self._kept_bytes = 0
        self.kept: list[KeptFile] = []
        self._package_databases = options.package_databases
        self.databases: list[PackageDatabase] = []
        self._databases_left_out = 0
        self.members = 0

    @property
    def listed(self) -> int:
        """How many entries are listed so far."""
        return len(self._entries)

    @property
    def last_path(self) -> str:
        """The path of the entry listed last ("" before any)."""
        return self._entries[-1].path if self._entries else ""

    def note(self, code: str, detail: str) -> None:
        """Record an anomaly (see model.LAYER_ANOMALIES); the list is capped."""
        if len(self._anomalies) < self._limits.max_anomalies_per_layer:
            self._anomalies.append((code, detail))
        else:
            self._dropped += 1

    def result(self) -> tuple[tuple[FileEntry, ...], tuple[tuple[str, str], ...]]:
        """The entries and anomalies collected so far."""
        anomalies = list(self._anomalies)
        if self._dropped:
            anomalies.append(("more-anomalies", f"{self._dropped} more not listed"))
        return tuple(self._entries), tuple(anomalies)

    def _check_limits(self, name: str, linkname: str) -> None:
        """The entry counts and name lengths ``Limits`` allow (one entry more is being listed)."""
        limits = self._limits
        self.members += 1
        budget = self._budget
        if budget is not None:
            budget.left -= 1
            if budget.left < 0:
                raise LimitError(*self._where, f"the layers of this input hold more than {budget.limit} entries"
                                               " (raise the limit with --max-total-entries)")
        if self.members > limits.max_entries_per_layer:
            raise LimitError(
                *self._where,
                f"layer has more than {limits.max_entries_per_layer} entries"
                " (raise the limit with --max-entries)",
            )
        # A name of at most cap/4 characters is at most cap bytes in UTF-8: only longer ones are encoded.
        if len(name) > self._quarter_path_cap or len(linkname) > self._quarter_path_cap:
            cap = limits.max_path_bytes
            for text in (name, linkname):
                if _byte_length(text) > cap:
                    raise LimitError(
                        *self._where,
                        f"entry {self.members} has a name of {_byte_length(text)} bytes,"
                        f" over the limit of {cap} bytes (raise it with --max-path-bytes)",
                    )

    def list_members(self, archive: tarfile.TarFile, tar: EntryData) -> None:
        """List every member ``archive`` (a TarFile opened on ``tar``) reads, in tar order.

        A plain header (``plain_member``) is parsed on the spot, in the chunk
        at hand; any other, and one that straddles two chunks, is read by
        ``archive.next()`` as tarfile reads it (``FastTarInfo``). Both leave
        ``archive.offset`` at the next header. Errors are tarfile's, raised
        as they would be by a loop over ``archive.next()``.
        """
        # No first member: stop here (Python 3.10's next() would then seek back to -1).
        # firstmember and members are undocumented TarFile attributes typeshed leaves out.
        if archive.firstmember is None and not archive.offset:  # type: ignore[attr-defined]
            return
        with paused_collector():
            while True:
                if archive.firstmember is None:  # type: ignore[attr-defined]
                    offset = archive.offset
                    while True:
                        block = tar.peek_at(offset, BLOCK)
                        member = None if block is None else plain_member(block)
                        if member is None:
                            break
                        tar.advance(BLOCK)
                        name, kind, size, mode, uid, gid, mtime, linkname, devmajor, devminor = member
                        data_at = offset + BLOCK
                        # As tarfile: the next header follows the data, padded to a block.
                        offset = data_at + (-(-size // BLOCK) * BLOCK if kind in DATA_TYPES else 0)
                        # Kept up to date: a limit or a content problem may end the listing here.
                        archive.offset = offset
                        self._list(name, kind, size, mode, uid, gid, mtime * 1_000_000_000, linkname, devmajor,
                                   devminor, _NO_RECORDS, None, data_at, tar)
                info = archive.next()
                if info is None:
                    return
                # tarfile keeps every TarInfo; the listing keeps only what it needs.
                archive.members.clear()  # type: ignore[attr-defined]
                self.add(info, tar)

    def add(self, info: tarfile.TarInfo, data: EntryData) -> None:
        """List one tar entry; regular files' data is read from ``data`` to hash it.

        A PAX global header is an entry of its own (see ``read/_tar_header``):
        noted, never applied. A file with a negative size raises
        tarfile.ReadError: Go's archive/tar refuses the header, so the
        runtime cannot apply the layer.
        """
        pax = info.pax_headers
        # typeshed declares TarInfo.sparse as bytes | None; tarfile stores (offset, size) pairs there.
        sparse = cast("list[tuple[int, int]] | None", info.sparse)
        self._list(info.name, info.type, info.size, info.mode, info.uid, info.gid,
                   mtime_ns(info) if pax else int(info.mtime) * 1_000_000_000, info.linkname, info.devmajor,
                   info.devminor, pax, sparse, info.offset_data, data)

    def _list(self, name: str, typeflag: bytes, size: int, mode: int, uid: int, gid: int, mtime: int, linkname: str,
              devmajor: int, devminor: int, pax: Mapping[str, str], sparse: list[tuple[int, int]] | None,
              data_at: int, data: EntryData) -> None:
        """List one member: the fields of its header, its extended records, its sparse map, where its data is."""
        self._check_limits(name, linkname)
        if typeflag == tarfile.XGLTYPE:
            self.note("pax-global-header", records_detail(pax))
            return
        if not name.isascii():
            if not _is_utf8(name):
                self.note("non-utf8-name", name)
            if _CONTROL.search(name):
                self.note("control-char-name", name)
        elif not name.isprintable():  # printable ASCII holds no control character
            self.note("control-char-name", name)
        if name and "//" not in name and "/." not in name and name[0] not in "./" and name[-1] != "/":
            path = name  # already clean: nothing for normpath to change (the common case)
        else:
            normalised = self._normalise(name)
            if normalised is None:
                return
            path = normalised
        if WHITEOUT in path:
            if self._whiteout(path, name):
                return
        kind = "file" if typeflag in _FILE_TYPES else _KINDS.get(typeflag)
        if kind is None:
            self.note("unknown-type", f"type {typeflag.decode('latin-1')!r}: {name}")
            return
        content: bytes = b""
        if kind == "file":
            if size < 0:
                raise tarfile.ReadError(f"entry {escape_text(name)} has a negative size ({size})")
            if sparse is not None:
                self.note("sparse-file", path)
            database = self._package_databases and database_manager(path)
            if path in self._keep_paths and sparse is None and self._can_keep(size):
                content = self._keep(path, _Data(name, size, sparse, data_at, data))
                if database:
                    self.databases.append(read_package_database(path, self.kept[-1].data))
            elif database:
                content = self._read_database(path, _Data(name, size, sparse, data_at, data))
            elif self._content_digests or size < self._digest_below:
                content = _digest(data, data_at, size) if sparse is None else self._content_digest(
                    _Data(name, size, sparse, data_at, data))
        else:
            size = 0
            if kind == "hardlink":
                target = self._normalise(linkname, link_of=path)
                if target is None:
                    return
                if target not in self._seen:
                    self.note("hardlink-target-absent", f"{path} -> {target}")
                linkname = target
            elif kind in ("char", "block"):
                if kind == "char" and devmajor == 0 and devminor == 0:
                    self.note("overlay-whiteout", path)
                else:
                    self.note("device-node", f"{path} ({kind} {devmajor}:{devminor})")
        if kind not in ("char", "block"):
            devmajor = devminor = 0
        seen = self._seen
        if path in seen:
            self.note("duplicate-path", path)
        else:
            seen.add(path)
        # Equal values shared (one int for a million equal mtimes), up to a cap on the table's size.
        shared = self._shared
        share = shared.setdefault if len(shared) < _SHARED_VALUES else shared.get
        self._entries.append(file_entry(
            path, kind, share(size, size), share(mode & 0o7777, mode & 0o7777), share(uid, uid), share(gid, gid),
            share(mtime, mtime), linkname, devmajor, devminor, xattrs(pax) if pax else (),
            share(content, content) if content else ""))

    def _normalise(self, name: str, link_of: str | None = None) -> str | None:
        """docker's ``path.Clean(name without leading "/")``; None (noted) when it escapes the root."""
        if name and "//" not in name and "/." not in name and name[0] not in "./" and name[-1] != "/":
            return name  # already clean: nothing for normpath to change (the common case)
        stripped = name.lstrip("/")
        if link_of is None and len(stripped) != len(name):
            self.note("absolute-name", name)
        path = posixpath.normpath(stripped) if stripped else "."
        if path == ".." or path.startswith("../"):
            if link_of is None:
                self.note("escaping-name", name)
            else:
                self.note("hardlink-escaping", f"{link_of} -> {name}")
            return None
        if path == ".":
            if link_of is not None:
                self.note("hardlink-escaping", f"{link_of} -> {name}")
            return None
        return path

    def _whiteout(self, path: str, name: str) -> bool:
        """Handle whiteout names; True when the entry was consumed (recorded or left out)."""
        parent, _, base = path.rpartition("/")
        if path.startswith(AUFS_META) and path != OPAQUE or (
            base.startswith(AUFS_META) and base != OPAQUE
        ):
            # "Other .wh..wh.* names are AUFS metadata: skip them" (moby archive/diff.go).
            self.note("aufs-metadata", name)
            return True
        if base == OPAQUE:
            self._entries.append(FileEntry(path=parent, kind="opaque"))
            return True
        if not base.startswith(WHITEOUT):
            return False
        target = base[len(WHITEOUT) :]
        if target in ("", ".", ".."):
            self.note("invalid-whiteout", name)
            return True
        self._entries.append(
            FileEntry(path=f"{parent}/{target}" if parent else target, kind="whiteout")
        )
        return True

    def _read_database(self, path: str, found: _Data) -> bytes:
        """Read a package database file's packages as its data streams past; its content digest ("" when not read)."""
        limits = self._limits
        if len(self.databases) >= limits.max_package_databases_per_layer:
            self._databases_left_out += 1
            return self._content_digest(found) if self._content_digests or found.size < self._digest_below else b""
        if found.sparse is not None or not self._can_keep(found.size):
            self.databases.append(package_database_too_large(path, found.size, limits.max_kept_file_bytes))
            return self._content_digest(found) if self._content_digests or found.size < self._digest_below else b""
        body = found.read()
        self.databases.append(read_package_database(path, body))
        return hashlib.sha256(body).digest()

    def package_databases(self) -> tuple[PackageDatabase, ...]:
        """The package databases read, and one naming how many were left out past the cap."""
        left = self._databases_left_out
        extra = (PackageDatabase(path="", manager="", problem=f"{left} more package database files not read "
                                 f"(over {self._limits.max_package_databases_per_layer} in the layer)"),) if left else ()
        return tuple(self.databases) + extra

    def _can_keep(self, size: int) -> bool:
        limits = self._limits
        return size <= limits.max_kept_file_bytes and self._kept_bytes + size <= limits.max_kept_layer_bytes

    def _keep(self, path: str, found: _Data) -> bytes:
        """Hash a regular file's data and keep its bytes (``ReadOptions.keep_paths``)."""
        body = found.read()
        self._kept_bytes += len(body)
        occurrence = sum(1 for e in self._entries if e.path == path)
        self.kept.append(KeptFile(path=path, occurrence=occurrence, data=body))
        return hashlib.sha256(body).digest()

    def _content_digest(self, found: _Data) -> bytes:
        data = found.data
        data.seek(found.at)
        if found.sparse is not None:
            return self._sparse_digest(found)
        if not found.size:
            return _EMPTY_DIGEST
        digest = hashlib.sha256()
        data.hash_exactly(found.size, digest)
        return digest.digest()

    def _sparse_digest(self, found: _Data) -> bytes:
        """Hash a sparse file as it reads back: its stored runs with the holes as zeros."""
        # Unused slots of an old-GNU header read back as (0, 0): empty runs hold nothing.
        # typeshed declares TarInfo.sparse as bytes | None; tarfile stores a list of
        # (offset, size) pairs there (_proc_sparse, _proc_gnusparse_*, tarheader).
        data, size = found.data, found.size
        runs = [(int(offset), int(length)) for offset, length in found.sparse or () if length]
        stored = sum(length for _, length in runs)
        position = 0
        for offset, length in runs:
            if offset < position or length < 0:
                raise tarfile.ReadError("sparse map is out of order")
            position = offset + length
        if position > size:
            raise tarfile.ReadError("sparse map runs past the file's size")
        limits = self._limits
        if size - stored > limits.max_expansion_ratio * stored + limits.expansion_allowance:
            raise LimitError(
                *self._where,
                f"sparse file {found.name!r} has {size - stored} bytes of holes for"
                f" {stored} stored bytes (raise the limit with --max-expansion)",
            )
        digest = hashlib.sha256()
        zeros = bytes(min(size - stored, 1 << 20))
        position = 0
        for offset, length in runs + [(size, 0)]:
            gap = offset - position
            while gap:
                k = min(gap, len(zeros))
                digest.update(memoryview(zeros)[:k])
                gap -= k
            data.hash_exactly(length, digest)
            position = offset + length
        return digest.digest()
