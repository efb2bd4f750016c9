"""The streams the reader walks the outer archive with.

``TarView`` gives tarfile a forward-only view of the outer tar (headers
parsed, data handed on in the chunks it was read in); ``MemberStream`` is one
member's data, where a short read means the archive is truncated;
``Prefixed`` replays bytes already peeked at.
"""

from __future__ import annotations

import tarfile
from typing import BinaryIO, Protocol

from imageforensics.errors import InputError, LimitError

CHUNK = 1 << 20


class Readable(Protocol):
    """Anything with ``read(n)``."""

    def read(self, n: int = -1, /) -> bytes: ...


class Prefixed:
    """A stream that first replays bytes already peeked, then continues with the rest."""

    def __init__(self, head: bytes, rest: "Readable") -> None:
        self._head = head
        self._rest = rest

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n is None or n < 0:
                data, self._head = self._head + self._rest.read(-1), b""
                return data
            data, self._head = self._head[:n], self._head[n:]
            return data
        return self._rest.read(n)

    def readable(self) -> bool:
        return True


class TarView:
    """The outer tar as a forward-only file for ``tarfile.TarFile`` (mode "r").

    tarfile's stream mode ("r|") passes every byte through its own buffer and
    copies it several times on the way (about 1 s per GiB); here tarfile only
    reads headers and seeks forward over data, while member data is handed on
    in the chunks it was read in (``read_some``, no copy). The last block
    tarfile read as a header is kept: tarfile stops silently at a header it
    cannot parse and at the end of the data, and that block tells a proper
    end-of-archive marker (a zero block) from a truncated or corrupt archive.
    """

    def __init__(self, raw: BinaryIO, *, archive: str = "", cap: int = 1 << 62) -> None:
        self._raw = raw
        self._buf = b""
        self._off = 0
        self._pos = 0
        self._block: tuple[int, bytes] | None = None
        # tarfile reads an extended header (PAX, GNU long name) whole, however large it claims to be.
        self._archive = archive
        self._cap = cap

    def _fill(self) -> bool:
        chunk = self._raw.read(CHUNK)
        if not chunk:
            return False
        self._buf, self._off = chunk, 0
        return True

    def read(self, n: int = -1) -> bytes:
        """``n`` bytes (fewer only at the end of the data)."""
        if n is None or n < 0:
            n = 1 << 62
        if n > self._cap:
            raise LimitError(self._archive, None, f"tar extended header of {n} bytes at offset {self._pos} is over the {self._cap}-byte limit (twice --max-path-bytes plus 1 MiB)")
        start = self._pos
        buf, off = self._buf, self._off
        if off + n <= len(buf):
            data = buf[off : off + n]
            self._off = off + n
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
        if n == 512:
            self._block = (start, data)
        return data

    def read_some(self, n: int) -> bytes:
        """Up to ``n`` bytes of the chunk at hand (a whole chunk as it is); b"" at the end."""
        if self._off >= len(self._buf) and not self._fill():
            return b""
        buf, off = self._buf, self._off
        k = min(n, len(buf) - off)
        data = buf if off == 0 and k == len(buf) else buf[off : off + k]
        self._off = off + k
        self._pos += k
        return data

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        """Move forward to ``pos`` (reading what is skipped); stops at the end of the data."""
        if whence != 0 or pos < self._pos:
            raise tarfile.ReadError(f"cannot seek back to offset {pos} in a forward-only stream")
        while self._pos < pos:
            if not self.read_some(pos - self._pos):
                break
        return self._pos

    def block_at(self, offset: int) -> bytes | None:
        """The (up to 512) bytes tarfile last read as a header, if that was at ``offset``."""
        if self._block is not None and self._block[0] == offset:
            return self._block[1]
        return None


class MemberStream:
    """The data of one tar member; a short read means the outer archive is truncated."""

    def __init__(self, fileobj: BinaryIO | TarView, size: int, *, archive: str, member: str) -> None:
        # From the outer tar, data comes in the chunks it was read in (no copy).
        self._read = fileobj.read_some if isinstance(fileobj, TarView) else fileobj.read
        self._left = size
        self._size = size
        self._archive = archive
        self._member = member

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        want = self._left if n is None or n < 0 else min(n, self._left)
        try:
            # At most a chunk per read: callers loop, and the tar view refuses huge reads.
            data = self._read(min(want, CHUNK))
        except (tarfile.TarError, EOFError, OSError) as e:
            raise self._truncated(f" ({e})") from None
        if not data:
            raise self._truncated("")
        self._left -= len(data)
        return data

    def _truncated(self, why: str) -> InputError:
        done = self._size - self._left
        return InputError(self._archive, self._member, f"archive is truncated: member data ends after {done} of {self._size} bytes{why}")

    def drain(self) -> None:
        while self.read(CHUNK):
            pass

    def readable(self) -> bool:
        return True
