"""The streams the reader walks the outer archive with.

``TarView`` gives tarfile a forward-only view of the outer tar (headers
parsed, data handed on in the chunks it was read in); ``MemberStream`` is one
member's data, where a short read means the archive is truncated;
``Prefixed`` replays bytes already peeked at.
"""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from typing import BinaryIO

from imageforensics.errors import InputError
from imageforensics.read._forward_view import CHUNK, ForwardView, Readable

__all__ = ["CHUNK", "MemberStream", "Prefixed", "Readable", "TarView"]

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


class TarView(ForwardView):
    """The outer tar as a forward-only file for ``tarfile.TarFile`` (mode "r").

    tarfile reads headers through it; member data is handed on in the chunks
    it was read in (``read_some``, no copy).
    """

    def __init__(self, raw: Readable, *, archive: str = "", cap: int = 1 << 62) -> None:
        super().__init__(raw, cap=cap, archive=archive, member=None)

    @property
    def buffered_to(self) -> int:
        """The position up to which the raw stream was read (the buffer holds what lies before it)."""
        return self._pos + len(self._buf) - self._off

    def skip_to(self, pos: int, skip_raw: Callable[[int], None]) -> None:
        """Move forward to ``pos`` without reading what lies between: past the buffer, ``skip_raw(pos)`` moves the raw stream.

        Only for a raw stream whose positions are the tar's (an uncompressed file,
        once the bytes peeked at were replayed): a member's data read elsewhere.
        """
        buffered_to = self.buffered_to
        if pos <= buffered_to:
            self.seek(pos)
            return
        skip_raw(pos)
        self._buf, self._off, self._pos = b"", 0, pos

    def block_at(self, offset: int) -> bytes | None:
        """The (up to 512) bytes tarfile last read as a header, if that was at ``offset``."""
        return self.last_block if self.last_block_at == offset else None


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
