"""A forward-only, buffered view of a byte stream: the file ``tarfile`` reads a tar from.

tarfile's stream mode ("r|") passes every byte through its own buffer and
copies it several times on the way (about 1 s per GiB). Over this view
tarfile reads only headers (extended headers capped: tarfile reads one whole,
however large it claims to be) and seeks forward over data, while the data
itself is taken by the caller in the chunks it was read in. The outer archive
(``outerstream.TarView``) and each layer's tar (``layerstream.TarStream``)
are read through it.
"""

from __future__ import annotations

import tarfile
from typing import Protocol

from imageforensics.errors import LimitError

CHUNK = 1 << 20
BLOCK = tarfile.BLOCKSIZE


class Readable(Protocol):
    """Anything with ``read(n)``."""

    def read(self, n: int = -1, /) -> bytes: ...


class ForwardView:
    """``read``, ``tell`` and forward-only ``seek`` over ``raw``, read in chunks of ``CHUNK`` bytes.

    The first and the last block read as a header (a 512-byte read) are kept:
    tarfile stops silently at a header it cannot parse and at the end of the
    data, and that block tells a proper end-of-archive marker (a zero block)
    from a truncated or corrupt tar. Reads over ``cap`` bytes come only from
    absurd extended headers and raise LimitError naming ``archive`` and ``member``.
    """

    def __init__(self, raw: Readable, *, cap: int, archive: str, member: str | None) -> None:
        self._raw = raw
        self._cap = cap
        self._where = (archive, member)
        self._buf = b""
        self._off = 0
        self._pos = 0
        self.first_block: bytes | None = None
        self.last_block: bytes | None = None
        self.last_block_at = -1

    def _on_chunk(self, chunk: bytes) -> None:
        """Called with each chunk as it is read from ``raw`` (subclasses hash it)."""

    def _fill(self) -> bool:
        chunk = self._raw.read(CHUNK)
        if not chunk:
            return False
        self._on_chunk(chunk)
        self._buf, self._off = chunk, 0
        return True

    def read(self, n: int = -1) -> bytes:
        """``n`` bytes (fewer only at the end of the data)."""
        if n is None or n < 0 or n > self._cap:
            raise LimitError(*self._where, f"tar extended header of {n if n is not None and n >= 0 else 'unbounded'} "
                                           f"bytes at offset {self._pos} is over the {self._cap}-byte limit "
                                           f"(twice --max-path-bytes plus 1 MiB)")
        start = self._pos
        buf, off = self._buf, self._off
        end = off + n
        if end <= len(buf):
            data = buf[off:end]
            self._off = end
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
        self._pos += len(data)
        if n == BLOCK:
            if self.first_block is None:
                self.first_block = data
            self.last_block, self.last_block_at = data, start
        return data

    def read_some(self, n: int) -> bytes:
        """Up to ``n`` bytes of the chunk at hand (a whole chunk as it is, no copy); b"" at the end."""
        if self._off >= len(self._buf) and not self._fill():
            return b""
        buf, off = self._buf, self._off
        k = min(n, len(buf) - off)
        data = buf if off == 0 and k == len(buf) else buf[off : off + k]
        self._off = off + k
        self._pos += k
        return data

    def peek_at(self, pos: int, n: int) -> bytes | None:
        """The ``n`` bytes at ``pos`` (at or after ``tell()``: skipped to), when the chunk at hand holds them all.

        Nothing after ``pos`` is consumed: the caller reads a header or a
        small file's data in place, then ``advance``s over what it took. None
        when the bytes straddle two chunks or the data ends first (the
        stream is then at ``pos``, or at its end).
        """
        start = self._off + pos - self._pos
        if pos < self._pos:
            return None
        if start + n > len(self._buf):
            self.seek(pos)
            if self._pos != pos or self._off >= len(self._buf) and not self._fill():
                return None
            start = self._off
            if start + n > len(self._buf):
                return None
        self._off = start
        self._pos = pos
        return self._buf[start : start + n]

    def advance(self, n: int) -> None:
        """Consume ``n`` bytes that ``peek_at`` showed (they lie in the chunk at hand)."""
        self._off += n
        self._pos += n

    def tell(self) -> int:
        """Position in the stream."""
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        """Move forward to ``pos`` (what is skipped is still read); stops at the end of the data."""
        if whence != 0 or pos < self._pos:
            raise tarfile.ReadError(f"cannot seek back to offset {pos} in a forward-only stream")
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
