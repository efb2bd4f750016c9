"""read/_compression: detection by magic bytes and streaming decompression of every kind."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import shutil
import subprocess
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imageforensics.read import _compression as compress
from imageforensics.read._compression import ZSTD_DECODERS, ZSTD_MISSING, ZstdDecoder, detect, open_decompressed
from imageforensics.errors import InputError, LimitError, ToolMissingError
from imageforensics.options import Limits

ZSTD = shutil.which("zstd")
needs_zstd = pytest.mark.skipif(ZSTD is None, reason="the zstd program is not installed")
DATA = b"".join(hashlib.sha256(b"%d" % i).digest() * (i % 7 + 1) for i in range(3000))
# The zstd program even where compression.zstd (Python 3.14+) would be preferred.
PROGRAM: tuple[ZstdDecoder, ...] = ("program",)


def zstd_compress(data: bytes, *args: str) -> bytes:
    assert ZSTD is not None
    return subprocess.run([ZSTD, "-q", "-c", *args], input=data, capture_output=True, check=True).stdout


def _open(data: bytes, kind: str, limits: Limits = Limits(),
          zstd_decoders: tuple[ZstdDecoder, ...] = ZSTD_DECODERS) -> compress.DecompressedStream:
    stream = open_decompressed(io.BytesIO(data), kind, archive="a.tar", member="blob", limits=limits,
                               zstd_decoders=zstd_decoders)
    assert isinstance(stream, compress.DecompressedStream)
    return stream


def _read_all(stream: compress.DecompressedStream, size: int = 65536) -> bytes:
    parts = []
    try:
        while True:
            part = stream.read(size)
            if not part:
                return b"".join(parts)
            assert len(part) <= size
            parts.append(part)
    finally:
        stream.close()


def _decompress(data: bytes, kind: str, limits: Limits = Limits(),
                zstd_decoders: tuple[ZstdDecoder, ...] = ZSTD_DECODERS) -> bytes:
    return _read_all(_open(data, kind, limits, zstd_decoders))


COMPRESSORS = {
    "gzip": gzip.compress,
    "bzip2": bz2.compress,
    "xz": lzma.compress,
}


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\x1f\x8b\x08\x00", "gzip"),
        (b"BZh91AY", "bzip2"),
        (b"\xfd7zXZ\x00\x00", "xz"),
        (b"\x28\xb5\x2f\xfd\x24", "zstd"),
        (b"\x1f", "none"),  # too short to be gzip
        (b"", "none"),
        (b"ustar\x00", "none"),
        (b"\xfd7zXZ\x01", "none"),  # the xz magic ends with a zero byte
        (b"{\"a\": 1}", "none"),
    ],
)
def test_detect(head: bytes, kind: str) -> None:
    assert detect(head) == kind


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_round_trip(kind: str) -> None:
    packed = COMPRESSORS[kind](DATA)
    assert detect(packed) == kind
    stream = _open(packed, kind)
    assert _read_all(stream, 1000) == DATA
    assert stream.compressed_bytes == len(packed)
    assert stream.decompressed_bytes == len(DATA)
    assert stream.trailing_bytes == 0
    assert stream.streams == 1


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_concatenated_streams_read_as_one(kind: str) -> None:
    parts = [DATA[:1000], DATA[1000:50000], b"", DATA[50000:]]
    packed = b"".join(COMPRESSORS[kind](p) for p in parts)
    stream = _open(packed, kind)
    assert _read_all(stream) == DATA
    assert stream.streams == 4


def test_none_passes_bytes_through() -> None:
    stream = _open(DATA, "none")
    assert _read_all(stream, 333) == DATA
    assert stream.compressed_bytes == len(DATA)


def test_read_negative_reads_everything() -> None:
    stream = _open(gzip.compress(DATA), "gzip")
    assert stream.read() == DATA
    assert stream.read(10) == b""
    stream.close()


def test_readinto() -> None:
    stream = _open(gzip.compress(DATA), "gzip")
    buffer = bytearray(5000)
    assert stream.readinto(buffer) == 5000
    assert bytes(buffer) == DATA[:5000]
    stream.close()


def test_gzip_trailing_garbage_is_counted_not_decompressed() -> None:
    garbage = b"this is not gzip" * 100
    stream = _open(gzip.compress(DATA) + garbage, "gzip")
    assert _read_all(stream) == DATA
    assert stream.trailing_bytes == len(garbage)
    assert stream.trailing_zero is False
    assert stream.compressed_bytes == len(gzip.compress(DATA)) + len(garbage)


def test_gzip_zero_padding_is_trailing_zero() -> None:
    stream = _open(gzip.compress(DATA) + bytes(4096), "gzip")
    assert _read_all(stream) == DATA
    assert (stream.trailing_bytes, stream.trailing_zero) == (4096, True)


def test_gzip_one_byte_of_trailing_garbage() -> None:
    stream = _open(gzip.compress(b"abc") + b"\x1f", "gzip")
    assert _read_all(stream) == b"abc"
    assert stream.trailing_bytes == 1


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_truncated_stream_ends_early(kind: str) -> None:
    packed = COMPRESSORS[kind](DATA)
    with pytest.raises(InputError) as info:
        _decompress(packed[: len(packed) // 2], kind)
    assert str(info.value).startswith(f"a.tar: blob: {kind} stream ends early")
    assert not isinstance(info.value, LimitError)


def test_gzip_missing_only_the_trailer_ends_early() -> None:
    packed = gzip.compress(DATA)
    with pytest.raises(InputError, match="gzip stream ends early"):
        _decompress(packed[:-8], "gzip")


def test_corrupt_gzip_names_archive_member_and_reason() -> None:
    packed = bytearray(gzip.compress(DATA))
    packed[-8] ^= 0xFF  # the CRC-32 of the data
    with pytest.raises(InputError) as info:
        _decompress(bytes(packed), "gzip")
    assert str(info.value) == "a.tar: blob: gzip stream is corrupt: Error -3 while decompressing data: incorrect data check"


def test_corrupt_deflate_data() -> None:
    packed = bytearray(gzip.compress(DATA, compresslevel=1))
    packed[len(packed) // 2] ^= 0x55
    with pytest.raises(InputError, match=r"^a\.tar: blob: gzip stream is corrupt: "):
        _decompress(bytes(packed), "gzip")


def test_not_gzip_at_all() -> None:
    with pytest.raises(InputError, match="gzip stream is corrupt: .*incorrect header check"):
        _decompress(b"plain text, not gzip", "gzip")


def test_empty_input_declared_gzip() -> None:
    with pytest.raises(InputError, match="gzip stream is empty"):
        _decompress(b"", "gzip")


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_decompression_bomb(kind: str) -> None:
    packed = COMPRESSORS[kind](bytes(4 << 20))
    limits = Limits(max_expansion_ratio=10, expansion_allowance=1000)
    with pytest.raises(LimitError) as info:
        _decompress(packed, kind, limits)
    message = str(info.value)
    assert message.startswith("a.tar: blob: ")
    assert message == (
        f"a.tar: blob: {kind} data expands to more than 10x its compressed size plus 1000 bytes"
        " (decompression bomb?; raise the limit with --max-expansion)"
    )


def test_bomb_limit_allows_exactly_the_allowance() -> None:
    data = bytes(100_000)
    packed = gzip.compress(data)
    ok = Limits(max_expansion_ratio=1, expansion_allowance=len(data) - len(packed))
    assert _decompress(packed, "gzip", ok) == data
    too_small = Limits(max_expansion_ratio=1, expansion_allowance=len(data) - len(packed) - 1)
    with pytest.raises(LimitError):
        _decompress(packed, "gzip", too_small)


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown compression"):
        _open(b"", "lz4")


class Chunked(io.RawIOBase):
    """A raw stream that returns at most a given sequence of chunk sizes (like a pipe)."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        super().__init__()
        self._data = data
        self._pos = 0
        self._sizes = sizes or [1]
        self._i = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        size = self._sizes[self._i % len(self._sizes)]
        self._i += 1
        if n >= 0:
            size = min(size, n)
        chunk = self._data[self._pos : self._pos + size]
        self._pos += len(chunk)
        return chunk


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=3000),
    cuts=st.lists(st.integers(0, 3000), max_size=3),
    sizes=st.lists(st.integers(1, 700), min_size=1, max_size=8),
    read_size=st.integers(1, 5000),
    kind=st.sampled_from(sorted(COMPRESSORS)),
    level=st.integers(0, 9),
)
def test_decompression_is_independent_of_chunking(
    data: bytes, cuts: list[int], sizes: list[int], read_size: int, kind: str, level: int
) -> None:
    bounds = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    if kind == "gzip":
        packed = b"".join(
            gzip.compress(data[a:b], compresslevel=level) for a, b in zip(bounds, bounds[1:])
        )
    else:
        packed = b"".join(COMPRESSORS[kind](data[a:b]) for a, b in zip(bounds, bounds[1:]))
    stream = open_decompressed(
        Chunked(packed, sizes), kind, archive="a", member=None, limits=Limits()  # type: ignore[arg-type]
    )
    assert isinstance(stream, compress.DecompressedStream)
    assert _read_all(stream, read_size) == data
    assert stream.compressed_bytes == len(packed)
    assert stream.streams == len(bounds) - 1


def test_tiny_input_chunks_and_tiny_reads() -> None:
    # Highly compressible data fed a byte at a time and read 7 bytes at a
    # time: each input byte yields far more output than one read takes.
    data = os.urandom(10) + bytes(200_000)
    packed = gzip.compress(data)
    for sizes in ([1], [len(packed)]):
        stream = open_decompressed(
            Chunked(packed, sizes), "gzip", archive="a", member=None, limits=Limits()  # type: ignore[arg-type]
        )
        assert _read_all(stream, 7) == data


@needs_zstd
def test_zstd_with_the_program() -> None:
    packed = zstd_compress(DATA[:70000]) + zstd_compress(DATA[70000:])
    assert detect(packed) == "zstd"
    stream = _open(packed, "zstd", zstd_decoders=PROGRAM)
    assert isinstance(stream, compress._ZstdProcess)
    assert _read_all(stream, 4096) == DATA
    assert stream.compressed_bytes == len(packed)


@needs_zstd
def test_zstd_large_stream_no_deadlock() -> None:
    # More than a pipe buffer each way, read slowly in small pieces.
    data = os.urandom(1 << 20) * 3
    assert _read_all(_open(zstd_compress(data), "zstd", zstd_decoders=PROGRAM), 1000) == data


@needs_zstd
def test_zstd_corrupt_and_truncated() -> None:
    packed = zstd_compress(DATA)
    with pytest.raises(InputError, match=r"^a\.tar: blob: zstd stream ends early"):
        _decompress(packed[: len(packed) // 2], "zstd", zstd_decoders=PROGRAM)
    with pytest.raises(InputError, match=r"^a\.tar: blob: zstd stream is corrupt"):
        _decompress(packed + b"trailing garbage", "zstd", zstd_decoders=PROGRAM)


@needs_zstd
def test_zstd_bomb_stops_the_process() -> None:
    packed = zstd_compress(bytes(32 << 20))
    stream = _open(packed, "zstd", Limits(max_expansion_ratio=2, expansion_allowance=0), PROGRAM)
    with pytest.raises(LimitError, match="zstd data expands"):
        _read_all(stream)
    process = stream._proc  # type: ignore[attr-defined]
    assert process.returncode is not None  # reaped: no zombie, no orphan


@needs_zstd
def test_zstd_closed_early_leaves_no_process() -> None:
    stream = _open(zstd_compress(os.urandom(4 << 20)), "zstd", zstd_decoders=PROGRAM)
    assert len(stream.read(10)) == 10
    stream.close()
    assert stream._proc.returncode is not None  # type: ignore[attr-defined]


@needs_zstd
def test_zstd_raw_error_surfaces_in_the_reader() -> None:
    class Failing(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            raise EOFError("outer archive cut short")

    stream = open_decompressed(Failing(), "zstd", archive="a", member="m", limits=Limits(),  # type: ignore[arg-type]
                               zstd_decoders=PROGRAM)
    with pytest.raises(EOFError, match="outer archive cut short"):
        _read_all(stream)


def test_zstd_without_any_decoder() -> None:
    with pytest.raises(ToolMissingError) as info:
        _open(b"\x28\xb5\x2f\xfd", "zstd", zstd_decoders=())
    assert str(info.value) == (
        "zstd-compressed data needs Python 3.14+ (compression.zstd) or the zstd program on PATH"
    )
    assert str(info.value) == ZSTD_MISSING


def test_gzip_decoder_keeps_its_unconsumed_input() -> None:
    # Shaped like bz2/lzma: after a capped call, b"" continues from the kept input.
    decoder = compress._GzipDecoder()
    packed = gzip.compress(bytes(1 << 16))
    out = decoder.decompress(packed, 10)
    assert len(out) == 10 and not decoder.needs_input
    rest = b""
    while not decoder.eof:
        rest += decoder.decompress(b"", 4096)
    assert out + rest == bytes(1 << 16)
    assert zlib.crc32(out + rest) == zlib.crc32(bytes(1 << 16))


@needs_zstd
def test_zstd_skippable_frames_between_frames() -> None:
    # zstd:chunked puts its table of contents in a skippable frame (magic 0x184D2A5?).
    skippable = bytes([0x5A, 0x2A, 0x4D, 0x18]) + (7).to_bytes(4, "little") + b"toc-toc"
    packed = zstd_compress(DATA[:1000]) + skippable + zstd_compress(DATA[1000:])
    assert _decompress(packed, "zstd", zstd_decoders=PROGRAM) == DATA
    assert compress._is_skippable_frame(skippable)
    assert not compress._is_skippable_frame(zstd_compress(b"x"))


def test_endless_trailing_data_after_a_gzip_stream_comes_to_an_end():
    from imageforensics.errors import InputError

    limits = Limits(max_bytes_after_end=4096)
    data = gzip.compress(b"payload", mtime=0)
    fine = open_decompressed(io.BytesIO(data + bytes(4096)), "gzip", archive="a", member="m", limits=limits)
    assert fine.read(-1) == b"payload"
    endless = open_decompressed(io.BytesIO(data + bytes(10_000)), "gzip", archive="a", member="m", limits=limits)
    with pytest.raises(InputError, match="a: m: more than 4096 bytes follow the end of the gzip stream"):
        while endless.read(1 << 16):
            pass
