"""Read one layer blob in a single forward pass: digests, compression, and its tar entries.

The stored bytes are hashed as they stream (the blob digest), decompressed,
hashed again (the diff_id) and listed with ``tarfile`` over a forward-only
view, so memory is bounded by the entries' metadata, never by the data. The
tar is never extracted; links are recorded, never followed.
"""

from __future__ import annotations

import hashlib
import queue
import tarfile
import threading
from typing import BinaryIO, cast

from imageforensics.compress import CHUNK, HEAD_BYTES, detect, open_decompressed
from imageforensics.errors import ImageForensicsError, InputError, LimitError
from imageforensics.layerentry import EntryLister, FastTarInfo
from imageforensics.limits import Limits
from imageforensics.model import WELL_KNOWN_EMPTY, Digest, Layer

BLOCK = tarfile.BLOCKSIZE
_HINT_BYTES = 16


class _RawError(Exception):
    """Reading the stored stream itself failed (the outer archive is cut short or unreadable)."""


class _TruncatedData(tarfile.ReadError):
    """The tar ends inside an entry's data."""


class HashPipe:
    """sha256 of a byte stream, computed on another thread once it grows past 1 MiB.

    hashlib releases the GIL on large updates, so the diff_id and blob digests
    run on another core while this one decompresses and hashes file contents.
    Chunks are handed over in order through a small bounded queue (memory
    stays bounded); short streams are hashed inline without a thread.
    """

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._queue: queue.Queue[bytes | None] | None = None
        self._thread: threading.Thread | None = None

    def update(self, chunk: bytes) -> None:
        """Add ``chunk`` (in order)."""
        self._pending.append(chunk)
        self._pending_size += len(chunk)
        if self._pending_size >= CHUNK:
            self._hand_over()

    def _hand_over(self) -> None:
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending, self._pending_size = [], 0
        if self._queue is None:
            self._queue = queue.Queue(maxsize=4)
            self._thread = threading.Thread(target=self._work, name="sha256", daemon=True)
            self._thread.start()
        self._queue.put(data)

    def _work(self) -> None:
        assert self._queue is not None
        while True:
            item = self._queue.get()
            if item is None:
                return
            self._hash.update(item)

    def hexdigest(self) -> str:
        """The digest of everything added; the pipe is closed afterwards."""
        if self._queue is None:
            for chunk in self._pending:
                self._hash.update(chunk)
            self._pending = []
        else:
            if self._pending:
                self._hand_over()
            self.close()
        return self._hash.hexdigest()

    def close(self) -> None:
        """Stop the hashing thread, if any (after it hashed what it was given)."""
        if self._thread is not None and self._queue is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None


class StoredReader:
    """The stored blob bytes as read from ``raw``: counted, hashed, and peekable at the start.

    Every exception raised by ``raw`` is wrapped in ``_RawError`` so that it can
    never be mistaken for a problem of the layer's content.
    """

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._head = b""
        self.size = 0
        self.hash = HashPipe()
        self.hashing = True

    def _pull(self, n: int) -> bytes:
        try:
            data = self._raw.read(n)
        except Exception as exc:
            raise _RawError(exc) from exc
        if not data:
            return b""
        if type(data) is not bytes:
            data = bytes(data)
        self.size += len(data)
        if self.hashing:
            self.hash.update(data)
        return data

    def peek(self, n: int) -> bytes:
        """The first ``n`` bytes (fewer at the end), without consuming them."""
        while len(self._head) < n:
            more = self._pull(CHUNK)
            if not more:
                break
            self._head += more
        return self._head[:n]

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes; b"" at the end."""
        if self._head:
            if 0 < n < len(self._head):
                data, self._head = self._head[:n], self._head[n:]
            else:
                data, self._head = self._head, b""
            return data
        return self._pull(n if n > 0 else CHUNK)

    def drain(self) -> None:
        """Read (and hash) everything left."""
        while self.read(CHUNK):
            pass


class TarStream:
    """The uncompressed tar as a forward-only file for ``tarfile``, hashing every byte (diff_id).

    ``tarfile`` needs ``read``, ``tell`` and ``seek``; seeks may only go
    forward (skipped bytes are still read and hashed). Reads larger than
    ``cap`` come only from absurd extended headers and raise LimitError.
    """

    def __init__(self, source: BinaryIO, cap: int, archive: str, member: str) -> None:
        self._source = source
        self._cap = cap
        self._where = (archive, member)
        self._buf = b""
        self._off = 0
        self._pos = 0
        self.total = 0
        self.hash = HashPipe()
        self.first_block: bytes | None = None
        self.last_block: bytes | None = None

    def _fill(self) -> bool:
        chunk = self._source.read(CHUNK)
        if not chunk:
            return False
        self.hash.update(chunk)
        self.total += len(chunk)
        self._buf = chunk
        self._off = 0
        return True

    def head(self, n: int) -> bytes:
        """The first ``n`` bytes; only before anything was read."""
        while len(self._buf) < n:
            rest = self._buf
            if not self._fill():
                self._buf = rest
                break
            self._buf = rest + self._buf
        return self._buf[:n]

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (fewer only at the end of the stream)."""
        if n < 0 or n > self._cap:
            raise LimitError(
                *self._where,
                f"tar extended header of {n} bytes at offset {self._pos} exceeds the"
                f" limit of {self._cap} bytes (path length limit)",
            )
        buf, off = self._buf, self._off
        end = off + n
        if end <= len(buf):
            data = buf[off:end]
            self._off = end
            self._pos += n
        else:
            parts = [buf[off:]]
            got = len(buf) - off
            self._off = len(buf)
            while got < n and self._fill():
                take = min(n - got, len(self._buf))
                parts.append(self._buf[:take])
                self._off = take
                got += take
            data = b"".join(parts)
            self._pos += got
        if n == BLOCK:
            if self.first_block is None:
                self.first_block = data
            self.last_block = data
        return data

    def tell(self) -> int:
        """Position in the uncompressed tar."""
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        """Move forward to ``pos`` (stops at the end of the stream)."""
        if whence != 0 or pos < self._pos:
            raise tarfile.ReadError(f"entry data out of order (seek back to offset {pos})")
        n = pos - self._pos
        while n:
            avail = len(self._buf) - self._off
            if not avail:
                if not self._fill():
                    break
                continue
            k = min(avail, n)
            self._off += k
            self._pos += k
            n -= k
        return self._pos

    def hash_exactly(self, n: int, digest: "hashlib._Hash") -> None:
        """Feed the next ``n`` bytes to ``digest``; _TruncatedData when the tar ends first."""
        while n:
            buf, off = self._buf, self._off
            avail = len(buf) - off
            if not avail:
                if not self._fill():
                    raise _TruncatedData(f"tar ends inside entry data (offset {self._pos})")
                continue
            k = min(avail, n)
            if off == 0 and k == len(buf):
                digest.update(buf)
            else:
                digest.update(memoryview(buf)[off : off + k])
            self._off = off + k
            self._pos += k
            n -= k

    def drain(self) -> tuple[int, bool]:
        """Read (and hash) the rest: how many bytes, and whether any was non-zero."""
        rest = len(self._buf) - self._off
        count, nonzero = rest, rest > 0 and self._buf.count(0, self._off) != rest
        while self._fill():
            count += len(self._buf)
            if not nonzero:
                nonzero = self._buf.count(0) != len(self._buf)
        self._off = len(self._buf)
        self._pos += count
        return count, nonzero


def read_layer(
    raw: BinaryIO, *, archive: str, member: str, limits: Limits, content_digests: bool = True
) -> Layer:
    """Hash, decompress and list one layer blob, consuming ``raw`` to its end.

    Content problems (not a tar, corrupt compression, a corrupt or truncated
    tar) give ``readable=False`` with ``problem`` set. Failures to read
    ``raw`` itself raise InputError naming the archive and member; limits
    raise LimitError; zstd without a decoder raises ToolMissingError.
    ``content_digests=False`` leaves files' ``content_digest`` empty (their
    data is then only hashed once, for the diff_id).
    """
    stored = StoredReader(raw)
    try:
        return _read(stored, archive, member, limits, content_digests)
    except _RawError as exc:
        cause = exc.__cause__
        if isinstance(cause, ImageForensicsError):
            raise cause from None
        if isinstance(cause, (tarfile.ReadError, EOFError)):
            what = f"archive ends in the middle of this member ({cause})"
        else:
            what = f"cannot read this member ({type(cause).__name__}: {cause})"
        raise InputError(archive, member, what) from None
    finally:
        stored.hash.close()


def _read(
    stored: StoredReader, archive: str, member: str, limits: Limits, content_digests: bool
) -> Layer:
    kind = detect(stored.peek(HEAD_BYTES))
    # Uncompressed: the stored bytes are the tar, so the diff_id hash is the blob digest.
    stored.hashing = kind != "none"
    source = open_decompressed(
        cast(BinaryIO, stored), kind, archive=archive, member=member, limits=limits
    )
    # Extended headers hold a path (plus xattrs); anything far larger is hostile.
    tar = TarStream(source, 2 * limits.max_path_bytes + CHUNK, archive, member)
    lister = EntryLister(archive, member, limits, content_digests)
    problem = ""
    decompressed = True
    try:
        try:
            problem, ended = _list_tar(tar, lister, kind)
            if ended:
                after, nonzero = tar.drain()
                if nonzero:
                    # estargz puts its TOC entry here; it counts toward the diff_id.
                    lister.note("trailing-data", f"{after} bytes")
            tar.drain()
        except LimitError:
            raise
        except InputError as exc:  # the compressed data is corrupt or cut short
            problem, decompressed = exc.expected, False
        trailing = getattr(source, "trailing_bytes", 0)
        if trailing:
            zero = " (all zero)" if getattr(source, "trailing_zero", False) else ""
            lister.note("trailing-garbage", f"{trailing} bytes after the {kind} stream{zero}")
    except BaseException:
        tar.hash.close()
        raise
    finally:
        source.close()
    stored.drain()
    diff_hex = tar.hash.hexdigest()
    blob_hex = diff_hex if kind == "none" else stored.hash.hexdigest()
    entries, anomalies = lister.result()
    empty_kind = WELL_KNOWN_EMPTY.get(blob_hex) or (
        WELL_KNOWN_EMPTY.get(diff_hex, "") if decompressed else ""
    )
    if not empty_kind and not problem and lister.members == 0:
        empty_kind = "entry-less tar"
    return Layer(
        member=member,
        blob_digest=Digest.sha256(blob_hex),
        diff_id=Digest.sha256(diff_hex) if decompressed else None,
        compression=kind,
        size=stored.size,
        uncompressed_size=tar.total,
        entries=entries,
        readable=not problem,
        problem=problem,
        empty_kind=empty_kind,
        anomalies=anomalies,
    )


# What tarfile (and our own checks) raise on a corrupt or truncated tar.
_TAR_ERRORS = (
    tarfile.TarError,
    EOFError,
    ValueError,
    OverflowError,
    IndexError,
    KeyError,
    UnicodeError,
)


def _list_tar(tar: TarStream, lister: EntryLister, kind: str) -> tuple[str, bool]:
    """List every entry into ``lister``: (content problem or "", whether an end block was seen)."""
    start = tar.head(_HINT_BYTES)
    if kind != "none" and detect(start) != "none":
        return f"not a tar archive: {kind} data holding {detect(start)} data (compressed twice)", False
    try:
        archive = tarfile.TarFile(
            fileobj=tar,  # type: ignore[arg-type]
            mode="r",
            tarinfo=FastTarInfo,
            encoding="utf-8",
            errors="surrogateescape",
        )
    except (ImageForensicsError, _RawError):
        raise
    except _TAR_ERRORS as exc:
        if tar.total == 0:
            return "not a tar archive (0 bytes)", False
        if _is_header(tar.first_block):
            return f"tar is corrupt near offset {tar.tell()}: {exc}", False
        return f"not a tar archive ({exc}; starts with {start!r})", False
    try:
        # No first member: stop here (Python 3.10's next() would then seek back to -1).
        while archive.firstmember is not None or archive.offset:
            info = archive.next()
            if info is None:
                break
            # tarfile keeps every TarInfo; the listing keeps only what it needs.
            archive.members.clear()
            lister.add(info, tar)
    except (ImageForensicsError, _RawError):
        raise
    except _TAR_ERRORS as exc:
        if str(exc) == "unexpected end of data" or isinstance(exc, _TruncatedData):
            return f"tar ends in the middle of an entry (offset {tar.tell()})", False
        return f"tar is corrupt near offset {tar.tell()}: {exc}", False
    return _end_problem(tar, lister, archive.offset)


def _is_header(block: bytes | None) -> bool:
    """Whether ``block`` is a well-formed tar header (its checksum matches)."""
    try:
        tarfile.TarInfo.frombuf(block or b"", "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def _end_problem(tar: TarStream, lister: EntryLister, offset: int) -> tuple[str, bool]:
    """tarfile stops quietly at a bad header: tell the end-of-archive block from corruption."""
    block = tar.last_block
    if not block:
        # Go's archive/tar accepts a tar that just stops after an entry.
        lister.note("no-end-marker", f"offset {offset}")
        return "", False
    if len(block) < BLOCK:
        return f"tar ends in the middle of a header (offset {offset})", False
    if block.count(0) == BLOCK:
        return "", True
    try:
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
        reason = "unreadable header"
    except tarfile.HeaderError as exc:
        reason = str(exc)
    return f"tar header at offset {offset} is corrupt ({reason})", False
