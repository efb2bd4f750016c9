"""Compression of whole archives and of layer blobs: detection and streaming decompression.

Everything streams in 1 MiB chunks with bounded memory; nothing is written to
disk. Concatenated streams (multi-member gzip, several bzip2/xz streams, zstd
frames) are read as one, as ``gzip -d`` and Go's ``compress/gzip`` do.
"""

from __future__ import annotations

import bz2
import importlib
import io
import lzma
import shutil
import subprocess
import threading
import zlib
from typing import BinaryIO, Callable, Literal, Protocol, cast

from imageforensics.errors import InputError, LimitError, ToolMissingError
from imageforensics.options import Limits

CHUNK = 1 << 20
ZSTD_MISSING = (
    "zstd-compressed data needs Python 3.14+ (compression.zstd) or the zstd program on PATH"
)

_MAGIC = {
    "gzip": b"\x1f\x8b",
    "bzip2": b"BZh",
    "xz": b"\xfd7zXZ\x00",
    "zstd": b"\x28\xb5\x2f\xfd",
}
# Longest magic: how many bytes detect() wants to see.
HEAD_BYTES = max(len(m) for m in _MAGIC.values())

# The zstd decoders open_decompressed tries, in order: the compression.zstd
# module (Python 3.14+), then the zstd program on PATH.
ZstdDecoder = Literal["module", "program"]
ZSTD_DECODERS: tuple[ZstdDecoder, ...] = ("module", "program")


def detect(head: bytes) -> str:
    """Name the compression of data starting with ``head``: gzip, bzip2, xz, zstd or none.

    A zstd stream may start with a skippable frame (magic 0x184D2A50 to
    0x184D2A5F, e.g. the zstd:chunked metadata), which ``zstd -d`` skips
    (RFC 8878, 3.1.2): it is zstd too.
    """
    for kind, magic in _MAGIC.items():
        if head.startswith(magic):
            return kind
    if _is_skippable_frame(head):
        return "zstd"
    return "none"


class _Decoder(Protocol):
    """What bz2/lzma decompressor objects offer (zlib is adapted to it)."""

    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    @property
    def needs_input(self) -> bool: ...

    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


class _GzipDecoder:
    """zlib's gzip decoder shaped like bz2/lzma's (``needs_input``, input kept inside)."""

    __slots__ = ("_z", "_full")

    def __init__(self) -> None:
        # wbits=31: gzip header and trailer, CRC-32 and length checked by zlib.
        self._z = zlib.decompressobj(wbits=31)
        # A call that filled max_length may leave output pending inside zlib
        # even with no input left, so it needs another call before more input.
        self._full = False

    @property
    def eof(self) -> bool:
        return self._z.eof

    @property
    def unused_data(self) -> bytes:
        return self._z.unused_data

    @property
    def needs_input(self) -> bool:
        return not self._z.unconsumed_tail and not self._full

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        if not data:
            data = self._z.unconsumed_tail
        out = self._z.decompress(data, max_length if max_length > 0 else 0)
        self._full = 0 < max_length <= len(out)
        return out


def _zstd_module_decoder() -> Callable[[], _Decoder] | None:
    """``compression.zstd.ZstdDecompressor`` on Python 3.14+, else None."""
    try:
        module = importlib.import_module("compression.zstd")
    except ImportError:
        return None
    return cast("Callable[[], _Decoder]", module.ZstdDecompressor)


def _error_types(kind: str) -> tuple[type[BaseException], ...]:
    """Exceptions a decoder raises on corrupt data."""
    errors: list[type[BaseException]] = [zlib.error, lzma.LZMAError, OSError, EOFError, ValueError]
    if kind == "zstd":
        try:
            errors.append(importlib.import_module("compression.zstd").ZstdError)
        except (ImportError, AttributeError):
            pass
    return tuple(errors)


class DecompressedStream(io.RawIOBase):
    """A forward-only readable stream of decompressed bytes.

    ``compressed_bytes`` counts what was read from the stored stream,
    ``decompressed_bytes`` what was returned. ``trailing_bytes`` counts stored
    bytes found after the last complete stream that do not start another one
    (``trailing_zero`` tells whether they were all zero bytes, i.e. padding);
    they are read and counted, never decompressed. ``streams`` counts the
    concatenated streams (gzip members, bzip2/xz streams).
    """

    def __init__(self, raw: BinaryIO, kind: str, archive: str, member: str | None, limits: Limits):
        super().__init__()
        self.kind = kind
        self.compressed_bytes = 0
        self.decompressed_bytes = 0
        self.trailing_bytes = 0
        self.trailing_zero = True
        self.streams = 0
        self._raw = raw
        self._archive = archive
        self._member = member
        self._limits = limits
        self._done = False

    # io plumbing: a readable, non-seekable stream.
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer: "bytearray | memoryview") -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        n = len(data)
        memoryview(buffer).cast("B")[:n] = data
        return n

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` decompressed bytes (all the rest when negative); b"" at the end."""
        if size is None or size < 0:
            parts: list[bytes] = []
            while True:
                part = self.read(CHUNK)
                if not part:
                    return b"".join(parts)
                parts.append(part)
        if size == 0 or self._done:
            return b""
        data = self._produce(size)
        if data:
            self.decompressed_bytes += len(data)
            self._check_ratio()
        else:
            self._done = True
        return data

    def _produce(self, size: int) -> bytes:
        raise NotImplementedError

    def _read_stored(self) -> bytes:
        data = self._raw.read(CHUNK)
        if data:
            if type(data) is not bytes:
                data = bytes(data)
            self.compressed_bytes += len(data)
        return data

    def _check_ratio(self) -> None:
        # A decompression bomb: refuse before memory or time run away.
        limits = self._limits
        allowed = limits.max_expansion_ratio * self.compressed_bytes + limits.expansion_allowance
        if self.decompressed_bytes > allowed:
            raise LimitError(
                self._archive,
                self._member,
                f"{self.kind} data expands to more than {limits.max_expansion_ratio}x its "
                f"compressed size plus {limits.expansion_allowance} bytes (decompression bomb?;"
                " raise the limit with --max-expansion)",
            )

    def _error(self, what: str) -> InputError:
        return InputError(self._archive, self._member, f"{self.kind} stream {what}")

    def _count_trailing(self, data: bytes) -> None:
        while data:
            self.trailing_bytes += len(data)
            if self.trailing_bytes > self._limits.max_bytes_after_end:
                # Trailing bytes are counted, never decoded: an endless input
                # (``cat a.tar.gz /dev/zero``) must still come to an end.
                raise InputError(self._archive, self._member, f"more than {self._limits.max_bytes_after_end} bytes follow the end of the {self.kind} stream (an endless input such as /dev/zero?)")
            if self.trailing_zero and data.count(0) != len(data):
                self.trailing_zero = False
            data = self._read_stored()


class _PlainStream(DecompressedStream):
    """``kind == "none"``: the stored bytes as they are."""

    def _produce(self, size: int) -> bytes:
        data = self._raw.read(size)
        if data and type(data) is not bytes:
            data = bytes(data)
        self.compressed_bytes += len(data)
        return data

    def _check_ratio(self) -> None:
        return None


class _DecoderStream(DecompressedStream):
    """gzip, bzip2, xz (and zstd with compression.zstd) through an in-process decoder."""

    def __init__(
        self,
        raw: BinaryIO,
        kind: str,
        archive: str,
        member: str | None,
        limits: Limits,
        new_decoder: Callable[[], _Decoder],
    ) -> None:
        super().__init__(raw, kind, archive, member, limits)
        self._new_decoder = new_decoder
        self._decoder: _Decoder = new_decoder()
        self._errors = _error_types(kind)
        self._pending = b""  # stored bytes not yet handed to the decoder
        self._started = False

    def _produce(self, size: int) -> bytes:
        while True:
            decoder = self._decoder
            if decoder.eof:
                if not self._next_stream():
                    return b""
                continue
            data = b""
            if decoder.needs_input:
                data = self._pending or self._read_stored()
                self._pending = b""
                if not data:
                    if not self._started:
                        raise self._error("is empty")
                    raise self._error(
                        f"ends early (after {self.compressed_bytes} compressed bytes)"
                    )
            self._started = True
            try:
                out = decoder.decompress(data, size)
            except self._errors as exc:
                raise self._error(f"is corrupt: {exc}") from None
            if out:
                return out

    def _next_stream(self) -> bool:
        """After a complete stream: start the next one, or count trailing bytes."""
        self.streams += 1
        rest = self._decoder.unused_data + self._pending
        self._pending = b""
        magic = _MAGIC[self.kind]
        while len(rest) < len(magic):
            more = self._read_stored()
            if not more:
                break
            rest += more
        if not rest:
            return False
        if not (rest.startswith(magic) or self.kind == "zstd" and _is_skippable_frame(rest)):
            # Not another stream: trailing bytes after the last one. gzip(1)
            # warns "trailing garbage ignored"; read them for the blob digest.
            self._count_trailing(rest)
            return False
        self._decoder = self._new_decoder()
        self._pending = rest
        return True


def _is_skippable_frame(data: bytes) -> bool:
    """A zstd skippable frame (magic 0x184D2A5?, e.g. the zstd:chunked TOC): a frame to read."""
    return len(data) >= 4 and 0x50 <= data[0] <= 0x5F and data[1:4] == b"\x2a\x4d\x18"


class _ZstdProcess(DecompressedStream):
    """zstd through the ``zstd -d`` program: a thread feeds its stdin, we read its stdout."""

    def __init__(
        self, raw: BinaryIO, archive: str, member: str | None, limits: Limits, program: str
    ) -> None:
        super().__init__(raw, "zstd", archive, member, limits)
        self._proc = subprocess.Popen(
            [program, "-d", "-c", "-q"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._feed_error: BaseException | None = None
        self._stderr = b""
        self._feeder = threading.Thread(target=self._feed, name="zstd-feeder", daemon=True)
        self._feeder.start()

    def _feed(self) -> None:
        stdin = self._proc.stdin
        assert stdin is not None and self._proc.stderr is not None
        try:
            while True:
                data = self._read_stored()
                if not data:
                    break
                stdin.write(data)
        except (BrokenPipeError, ValueError):
            pass  # zstd stopped reading (it failed, or we closed it): its stderr says why
        except BaseException as exc:  # handed to the reading thread, raised there
            self._feed_error = exc
        finally:
            try:
                stdin.close()
            except OSError:
                pass
        # zstd writes only a short message to stderr, after it stops reading.
        self._stderr = self._proc.stderr.read(64 * 1024)

    def _produce(self, size: int) -> bytes:
        stdout = self._proc.stdout
        assert stdout is not None
        data = stdout.read(size)
        if data:
            return data
        self._finish()
        return b""

    def _finish(self) -> None:
        self._proc.wait()
        self._feeder.join()
        if self._feed_error is not None:
            raise self._feed_error
        if self._proc.returncode != 0:
            lines = self._stderr.decode("utf-8", "replace").strip().splitlines()
            detail = lines[-1] if lines else f"zstd exited with status {self._proc.returncode}"
            # zstd prefixes its messages with the input name, "/*stdin*\".
            detail = detail.replace("zstd: ", "").replace("/*stdin*\\", "").strip(" :")
            if "premature end" in detail:
                raise self._error(f"ends early ({detail})")
            raise self._error(f"is corrupt: {detail}")

    def close(self) -> None:
        """Stop the zstd process (if still running) and the feeder thread; no zombie left."""
        if self._proc.poll() is None:
            self._proc.kill()
        for pipe in (self._proc.stdout,):
            if pipe is not None:
                pipe.close()
        self._proc.wait()
        self._feeder.join()
        if self._proc.stderr is not None:
            self._proc.stderr.close()
        super().close()


def open_decompressed(
    raw: BinaryIO, kind: str, *, archive: str, member: str | None, limits: Limits,
    zstd_decoders: tuple[ZstdDecoder, ...] = ZSTD_DECODERS,
) -> BinaryIO:
    """A non-seekable stream of ``raw`` decompressed as ``kind`` (see :func:`detect`).

    The result is a :class:`DecompressedStream`; close it when done (for zstd
    this stops the helper process). Corrupt or truncated data raises
    InputError, a decompression bomb LimitError, zstd without a decoder
    ToolMissingError. ``zstd_decoders``: the zstd decoders to try, in order
    (a test names just one, to exercise it whatever this Python has).
    """
    stream: DecompressedStream
    if kind == "none":
        stream = _PlainStream(raw, kind, archive, member, limits)
    elif kind == "gzip":
        stream = _DecoderStream(raw, kind, archive, member, limits, _GzipDecoder)
    elif kind == "bzip2":
        stream = _DecoderStream(raw, kind, archive, member, limits, bz2.BZ2Decompressor)
    elif kind == "xz":
        stream = _DecoderStream(raw, kind, archive, member, limits, lzma.LZMADecompressor)
    elif kind == "zstd":
        stream = _zstd_stream(raw, archive, member, limits, zstd_decoders)
    else:
        raise ValueError(f"unknown compression {kind!r}")
    return cast(BinaryIO, stream)


def _zstd_stream(raw: BinaryIO, archive: str, member: str | None, limits: Limits,
                 decoders: tuple[ZstdDecoder, ...]) -> DecompressedStream:
    """zstd through the first of ``decoders`` this machine has."""
    for name in decoders:
        if name == "module":
            decoder = _zstd_module_decoder()
            if decoder is not None:
                return _DecoderStream(raw, "zstd", archive, member, limits, decoder)
        else:
            program = shutil.which("zstd")
            if program is not None:
                return _ZstdProcess(raw, archive, member, limits, program)
    raise ToolMissingError(ZSTD_MISSING)
