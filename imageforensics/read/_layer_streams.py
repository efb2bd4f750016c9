"""The byte streams under a layer read: stored bytes, the uncompressed tar, and their sha256.

``StoredReader`` wraps the blob as the archive gives it (counted, hashed,
peekable); ``TarStream`` is the forward-only file ``tarfile`` reads the
uncompressed tar from, hashing every byte for the diff_id; ``HashPipe`` runs
those sha256 computations on another core.
"""

from __future__ import annotations

import hashlib
import queue
import tarfile
import threading
from typing import BinaryIO

from imageforensics.read._compression import CHUNK
from imageforensics.read._forward_view import ForwardView

BLOCK = tarfile.BLOCKSIZE
# A seek this long (a large file's data, not hashed for its content) is hashed on the seeking thread (TarStream).
LONG_SKIP = 8 * CHUNK


class RawError(Exception):
    """Reading the stored stream itself failed (the outer archive is cut short or unreadable)."""


class TruncatedData(tarfile.ReadError):
    """The tar ends inside an entry's data."""


class HashPipe:
    """sha256 of a byte stream, computed on another thread once it grows past 1 MiB.

    hashlib releases the GIL on large updates, so the diff_id and blob digests
    run on another core while this one decompresses and hashes file contents.
    Chunks are handed over in order through a queue of one chunk: memory
    stays bounded, and chunks are freed soon after they were read (with
    more of them waiting, the allocator gives their pages back to the system
    and faults them in again: measured on bench big, 54,000-124,000 page
    faults with a queue of 4, 18,000 with 1). Short streams are hashed
    inline without a thread.
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
            self._queue = queue.Queue(maxsize=1)
            self._thread = threading.Thread(target=self._work, name="sha256", daemon=True)
            self._thread.start()
        self._queue.put(data)

    def update_here(self, chunk: bytes) -> None:
        """Add ``chunk`` (in order), hashed on the calling thread, after whatever was handed over.

        For a caller with nothing else to do meanwhile (a skip over a large
        file's data in an uncompressed layer): there the handing over costs
        more than it saves, since every core already runs a layer of its own
        (measured on bench big: 15 % more CPU per layer than reading and
        hashing on one thread). The next ``update`` starts a thread again.
        """
        if self._thread is not None:
            self.close()  # the thread has hashed everything it was handed
        for pending in self._pending:
            self._hash.update(pending)
        self._pending, self._pending_size = [], 0
        self._hash.update(chunk)

    def _work(self) -> None:
        assert self._queue is not None
        while True:
            item = self._queue.get()
            if item is None:
                return
            self._hash.update(item)

    def hexdigest(self) -> str:
        """The digest of everything added so far."""
        self.close()  # the thread has hashed all it was handed; the rest is pending
        for chunk in self._pending:
            self._hash.update(chunk)
        self._pending, self._pending_size = [], 0
        return self._hash.hexdigest()

    def close(self) -> None:
        """Stop the hashing thread, if any, after it hashed what it was handed."""
        if self._thread is not None and self._queue is not None:
            self._queue.put(None)
            self._thread.join()
        self._thread = None
        self._queue = None


class StoredReader:
    """The stored blob bytes as read from ``raw``: counted, hashed, and peekable at the start.

    Every exception raised by ``raw`` is wrapped in ``RawError`` so that it can
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
            raise RawError(exc) from exc
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


class TarStream(ForwardView):
    """The uncompressed tar as a forward-only file for ``tarfile``, hashing every byte (diff_id).

    Seeks may only go forward (skipped bytes are still read and hashed).
    ``hashing=False`` leaves the bytes unhashed (a second read of bytes
    already hashed). ``skips_here``: a long seek hashes what it skips on
    this thread (``HashPipe.update_here``), for a source that costs nothing
    to read but the copy (an uncompressed blob); from a decompressor, the
    other thread hashes while this one inflates.
    """

    def __init__(self, source: BinaryIO, cap: int, archive: str, member: str, *, hashing: bool = True,
                 skips_here: bool = False) -> None:
        super().__init__(source, cap=cap, archive=archive, member=member)
        self.total = 0
        self.hash = HashPipe()
        self.hashing = hashing
        self._skips_here = skips_here
        self._here = False

    def _on_chunk(self, chunk: bytes) -> None:
        if self.hashing:
            if self._here:
                self.hash.update_here(chunk)
            else:
                self.hash.update(chunk)
        self.total += len(chunk)

    def seek(self, pos: int, whence: int = 0) -> int:
        """As ``ForwardView.seek``; a skip of ``LONG_SKIP`` bytes or more is hashed here when ``skips_here``."""
        if not (self._skips_here and whence == 0 and pos - self._pos >= LONG_SKIP):
            return super().seek(pos, whence)
        self._here = True
        try:
            return super().seek(pos, whence)
        finally:
            self._here = False

    def head(self, n: int) -> bytes:
        """The first ``n`` bytes; only before anything was read."""
        while len(self._buf) < n:
            rest = self._buf
            if not self._fill():
                self._buf = rest
                break
            self._buf = rest + self._buf
        return self._buf[:n]

    def hash_exactly(self, n: int, digest: "hashlib._Hash") -> None:
        """Feed the next ``n`` bytes to ``digest``; TruncatedData when the tar ends first."""
        while n:
            buf, off = self._buf, self._off
            avail = len(buf) - off
            if not avail:
                if not self._fill():
                    raise TruncatedData(f"tar ends inside entry data (offset {self._pos})")
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
