"""read/_layer_blob, _layer_entries, _layer_streams, _tar_header: one-pass hashing and listing of layer blobs, built in memory.

The real layer tars of the corpus are read in corpus/test_layers.py.
"""

from __future__ import annotations

import base64
import bz2
import gzip
import hashlib
import io
import lzma
import posixpath
import shutil
import subprocess
import tarfile
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imageforensics.errors import InputError, LimitError
from imageforensics.read._layer_blob import read_layer
from imageforensics.read._layer_entries import EntryLister
from imageforensics.read._layer_streams import LONG_SKIP, HashPipe
from imageforensics.read._tar_header import FastTarInfo
from imageforensics.options import Limits, ReadOptions
from imageforensics.model import (
    EMPTY_GZIP_BUILDKIT,
    EMPTY_GZIP_SCHEMA1,
    EMPTY_TAR_1024,
    EMPTY_TAR_10240,
    LAYER_ANOMALIES,
    WELL_KNOWN_EMPTY,
    Digest,
    FileEntry,
    Layer,
)

ZSTD = shutil.which("zstd")

# containers/image GzippedEmptyLayer: Go's gzip of 1024 zero bytes, header mtime 0x886e0900.
EMPTY_GZIP = bytes(
    [31, 139, 8, 0, 0, 9, 110, 136, 0, 255, 98, 24, 5, 163, 96, 20, 140, 88, 0, 8, 0, 0, 255, 255]
    + [46, 175, 181, 239, 0, 4, 0, 0]
)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", **fields: object) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind in (tarfile.REGTYPE, tarfile.AREGTYPE) else 0
    info.mtime = 1_600_000_000
    info.mode = 0o644
    for key, value in fields.items():
        setattr(info, key, value)
    return info, data


def make_tar(*members: tuple[tarfile.TarInfo, bytes], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data else None)
    return out.getvalue()


def read(data: bytes, limits: Limits = Limits(), raw: io.RawIOBase | io.BytesIO | None = None) -> Layer:
    return read_layer(raw or io.BytesIO(data), archive="a.tar", member="blobs/sha256/x", options=ReadOptions(limits=limits))  # type: ignore[arg-type]


def codes(layer: Layer) -> list[str]:
    return [code for code, _ in layer.anomalies]


def test_every_entry_kind() -> None:
    blob = make_tar(
        member("etc", tarfile.DIRTYPE, mode=0o755, uid=1, gid=2),
        member("etc/hosts", data=b"127.0.0.1 localhost\n", mode=0o4755, uid=1000, gid=1001),
        member("etc/link", tarfile.SYMTYPE, linkname="../etc/hosts", mode=0o777),
        member("etc/hard", tarfile.LNKTYPE, linkname="etc/hosts"),
        member("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3),
        member("dev/sda", tarfile.BLKTYPE, devmajor=8, devminor=0),
        member("run/fifo", tarfile.FIFOTYPE),
        member("empty", data=b""),
    )
    layer = read(blob)
    assert layer.blob_digest == Digest.sha256(sha(blob))
    assert layer.diff_id == layer.blob_digest
    assert (layer.compression, layer.size, layer.uncompressed_size) == ("none", len(blob), len(blob))
    assert layer.readable and layer.problem == "" and layer.empty_kind == ""
    ns = 1_600_000_000 * 10**9
    assert layer.entries == (
        FileEntry(path="etc", kind="dir", mode=0o755, uid=1, gid=2, mtime_ns=ns),
        FileEntry(
            path="etc/hosts", kind="file", size=20, mode=0o4755, uid=1000, gid=1001, mtime_ns=ns,
            content_digest="sha256:" + sha(b"127.0.0.1 localhost\n"),
        ),
        FileEntry(path="etc/link", kind="symlink", mode=0o777, mtime_ns=ns, linkname="../etc/hosts"),
        FileEntry(path="etc/hard", kind="hardlink", mode=0o644, mtime_ns=ns, linkname="etc/hosts"),
        FileEntry(path="dev/null", kind="char", mode=0o644, mtime_ns=ns, devmajor=1, devminor=3),
        FileEntry(path="dev/sda", kind="block", mode=0o644, mtime_ns=ns, devmajor=8, devminor=0),
        FileEntry(path="run/fifo", kind="fifo", mode=0o644, mtime_ns=ns),
        FileEntry(path="empty", kind="file", mode=0o644, mtime_ns=ns, content_digest="sha256:" + sha(b"")),
    )
    assert layer.anomalies == (
        ("device-node", "dev/null (char 1:3)"),
        ("device-node", "dev/sda (block 8:0)"),
    )
    hash(layer)


def test_whiteouts_opaque_and_aufs_metadata() -> None:
    blob = make_tar(
        member(".wh.gone"),
        member("usr", tarfile.DIRTYPE),
        member("usr/.wh.lib"),
        member("usr/share/.wh..wh..opq"),
        member(".wh..wh..opq"),
        member(".wh..wh.plnk", tarfile.DIRTYPE),
        member(".wh..wh.plnk/1234.5678", data=b"hardlink target"),
        member(".wh..wh.aufs"),
        member("usr/.wh..wh.orph"),
        member("usr/.wh."),
        member("keep", data=b"x"),
    )
    layer = read(blob)
    assert [(e.kind, e.path) for e in layer.entries] == [
        ("whiteout", "gone"),
        ("dir", "usr"),
        ("whiteout", "usr/lib"),
        ("opaque", "usr/share"),
        ("opaque", ""),
        ("file", "keep"),
    ]
    assert layer.anomalies == (
        ("aufs-metadata", ".wh..wh.plnk"),
        ("aufs-metadata", ".wh..wh.plnk/1234.5678"),
        ("aufs-metadata", ".wh..wh.aufs"),
        ("aufs-metadata", "usr/.wh..wh.orph"),
        ("invalid-whiteout", "usr/.wh."),
    )
    # Skipped entries still count toward the diff_id.
    assert layer.diff_id == Digest.sha256(sha(blob))


def test_overlay_char_device_whiteout_is_kept_and_flagged() -> None:
    layer = read(make_tar(member("var/old", tarfile.CHRTYPE, devmajor=0, devminor=0)))
    assert [(e.kind, e.path, e.devmajor, e.devminor) for e in layer.entries] == [("char", "var/old", 0, 0)]
    assert layer.anomalies == (("overlay-whiteout", "var/old"),)


def test_names_are_normalised_like_docker() -> None:
    blob = make_tar(
        member("./", tarfile.DIRTYPE),
        member(".", tarfile.DIRTYPE),
        member("./bin", tarfile.DIRTYPE),
        member("./bin//sh", data=b"#!"),
        member("/etc/passwd", data=b"root"),
        member("a/b/../c", data=b"c"),
        member("../../etc/shadow", data=b"evil"),
        member("x/../../escape", data=b"evil"),
        member("/", tarfile.DIRTYPE),
        member("ok/..", tarfile.DIRTYPE),
    )
    layer = read(blob)
    assert [e.path for e in layer.entries] == ["bin", "bin/sh", "etc/passwd", "a/c"]
    assert layer.anomalies == (
        ("absolute-name", "/etc/passwd"),
        ("escaping-name", "../../etc/shadow"),
        ("escaping-name", "x/../../escape"),
    )  # "/" as a directory is the root: tarfile strips a directory's trailing "/"


def test_duplicate_paths_keep_both_in_order() -> None:
    layer = read(make_tar(member("f", data=b"one"), member("./f", data=b"two"), member("d", tarfile.DIRTYPE), member("d/", tarfile.DIRTYPE)))
    assert [(e.path, e.content_digest) for e in layer.entries] == [
        ("f", "sha256:" + sha(b"one")),
        ("f", "sha256:" + sha(b"two")),
        ("d", ""),
        ("d", ""),
    ]
    assert codes(layer) == ["duplicate-path", "duplicate-path"]


def test_hardlinks_normalised_and_checked_within_the_layer() -> None:
    layer = read(
        make_tar(
            member("bin/busybox", data=b"elf"),
            member("bin/sh", tarfile.LNKTYPE, linkname="/bin/busybox"),
            member("bin/ls", tarfile.LNKTYPE, linkname="./bin/./busybox"),
            member("bin/lower", tarfile.LNKTYPE, linkname="usr/bin/from-lower-layer"),
            member("bin/out", tarfile.LNKTYPE, linkname="../../etc/shadow"),
        )
    )
    assert [(e.path, e.linkname) for e in layer.entries] == [
        ("bin/busybox", ""),
        ("bin/sh", "bin/busybox"),
        ("bin/ls", "bin/busybox"),
        ("bin/lower", "usr/bin/from-lower-layer"),
    ]
    assert layer.anomalies == (
        ("hardlink-target-absent", "bin/lower -> usr/bin/from-lower-layer"),
        ("hardlink-escaping", "bin/out -> ../../etc/shadow"),
    )


def test_pax_xattrs_schily_and_libarchive() -> None:
    capability = b"\x01\x00\x00\x02\xc0\x00\x00\x00" + bytes(12)
    info, data = member("bin/ping", data=b"elf")
    info.pax_headers = {
        "SCHILY.xattr.security.capability": capability.decode("utf-8", "surrogateescape"),
        "SCHILY.xattr.user.note": "a\\b \u00e9",
        "LIBARCHIVE.xattr.user.with%20space": base64.b64encode(b"v=1").decode().rstrip("="),
        "LIBARCHIVE.xattr.security.capability": base64.b64encode(b"ignored: SCHILY wins").decode(),
    }
    layer = read(make_tar((info, data)))
    assert layer.entries[0].xattrs == (
        ("security.capability", "\\x01\\x00\\x00\\x02\\xc0" + "\\x00" * 15),
        ("user.note", "a\\\\b \\xc3\\xa9"),
        ("user.with space", "v=1"),
    )


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("1700000000.123456789", 1_700_000_000_123_456_789),
        ("1700000000.1234567891234", 1_700_000_000_123_456_789),  # beyond ns: cut off
        ("1700000000.5", 1_700_000_000_500_000_000),
        ("1700000000", 1_700_000_000_000_000_000),
        ("-1.25", -1_250_000_000),
        ("0.000000001", 1),
        ("+7.5", 7_500_000_000),  # Go's ParseInt takes a sign
        ("-0.5", -500_000_000),
        ("9223372036854775807", 9223372036854775807 * 10**9),
    ],
)
def test_pax_mtime_is_exact(text: str, ns: int) -> None:
    info, data = member("f", data=b"x")
    info.pax_headers = {"mtime": text}
    assert read(make_tar((info, data))).entries[0].mtime_ns == ns


# Go's parsePAXTime refuses these (tarfile's float() read 1e3 as 1000 s and nan/inf as 0),
# so the runtime cannot apply the layer: it is unreadable, not a file with a guessed mtime.
@pytest.mark.parametrize("text", ["1e3", "nan", "inf", "1.5e", "", "1" * 4295, "9223372036854775808", "0x10", "1_0"])
def test_pax_mtime_the_runtime_refuses_makes_the_layer_unreadable(text: str) -> None:
    info, data = member("f", data=b"x")
    info.pax_headers = {"mtime": text}
    layer = read(make_tar((info, data)))
    if text == "":
        # An empty value keeps the header's own mtime (Go's mergePAX skips it).
        assert layer.readable and layer.entries[0].mtime_ns == int(info.mtime) * 10**9 != 0
        return
    assert not layer.readable and "invalid extended header" in layer.problem, layer.problem
    assert len(layer.problem) < 200  # one line, the hostile number shown cut short


def test_gnu_long_names_and_links() -> None:
    long_dir = "/".join(["directory-with-a-long-name"] * 8)
    blob = make_tar(
        member(f"{long_dir}/file", data=b"long"),
        member(f"{long_dir}/link", tarfile.SYMTYPE, linkname="x" * 300),
        member(f"{long_dir}/hard", tarfile.LNKTYPE, linkname=f"{long_dir}/file"),
        fmt=tarfile.GNU_FORMAT,
    )
    layer = read(blob)
    assert [(e.path, e.linkname) for e in layer.entries] == [
        (f"{long_dir}/file", ""),
        (f"{long_dir}/link", "x" * 300),
        (f"{long_dir}/hard", f"{long_dir}/file"),
    ]
    assert layer.anomalies == ()


def test_non_utf8_and_control_character_names() -> None:
    raw_name = b"caf\xe9-\x01".decode("utf-8", "surrogateescape")
    info, data = member(raw_name, data=b"x")
    layer = read(make_tar((info, data), fmt=tarfile.GNU_FORMAT))
    assert layer.entries[0].path == raw_name
    assert layer.entries[0].path.encode("utf-8", "surrogateescape") == b"caf\xe9-\x01"
    assert layer.anomalies == (("non-utf8-name", raw_name), ("control-char-name", raw_name))


def _sparse_tar(name: str, runs: list[tuple[int, bytes]], real_size: int) -> bytes:
    """An old-GNU sparse member ('S'), built by hand: tarfile cannot write one."""
    stored = b"".join(chunk for _, chunk in runs)
    info = tarfile.TarInfo(name)
    info.size = len(stored)
    header = bytearray(info.tobuf(format=tarfile.GNU_FORMAT))
    header[156:157] = tarfile.GNUTYPE_SPARSE
    for i, (offset, chunk) in enumerate(runs):
        pos = 386 + 24 * i
        header[pos : pos + 24] = b"%011o\0%011o\0" % (offset, len(chunk))
    header[483:495] = b"%011o\0" % real_size
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    padding = bytes(-len(stored) % 512)
    return bytes(header) + stored + padding + bytes(1024)


def test_gnu_sparse_file_hashes_as_it_reads_back() -> None:
    runs = [(4096, b"A" * 100), (10_000, b"B" * 600)]
    layer = read(_sparse_tar("disk.img", runs, 20_000))
    expanded = bytearray(20_000)
    for offset, chunk in runs:
        expanded[offset : offset + len(chunk)] = chunk
    (entry,) = layer.entries
    assert (entry.kind, entry.size) == ("file", 20_000)
    assert entry.content_digest == "sha256:" + sha(bytes(expanded))
    assert layer.anomalies == (("sparse-file", "disk.img"),)
    assert layer.readable


def test_sparse_holes_count_against_the_expansion_limit() -> None:
    blob = _sparse_tar("huge.img", [(0, b"x" * 10)], 10**12)
    with pytest.raises(LimitError, match="huge.img"):
        read(blob)


@pytest.mark.parametrize(
    ("kind", "pack"),
    [("gzip", gzip.compress), ("bzip2", bz2.compress), ("xz", lzma.compress)],
)
def test_compressed_layers(kind: str, pack: object) -> None:
    tar = make_tar(member("a", data=b"alpha" * 1000), member("b", tarfile.DIRTYPE))
    blob = pack(tar)  # type: ignore[operator]
    layer = read(blob)
    assert layer.compression == kind
    assert layer.blob_digest == Digest.sha256(sha(blob))
    assert layer.diff_id == Digest.sha256(sha(tar))
    assert (layer.size, layer.uncompressed_size) == (len(blob), len(tar))
    assert layer.entries == read(tar).entries


@pytest.mark.skipif(ZSTD is None, reason="the zstd program is not installed")
def test_zstd_layer() -> None:
    assert ZSTD is not None
    tar = make_tar(member("z", data=b"zstd" * 5000))
    blob = subprocess.run([ZSTD, "-q", "-c"], input=tar, capture_output=True, check=True).stdout
    layer = read(blob)
    assert (layer.compression, layer.diff_id, layer.blob_digest) == (
        "zstd", Digest.sha256(sha(tar)), Digest.sha256(sha(blob)),
    )
    assert layer.entries == read(tar).entries


def test_multi_member_gzip() -> None:
    tar = make_tar(*(member(f"f{i}", data=bytes([i]) * 3000) for i in range(10)))
    blob = gzip.compress(tar[:5000]) + gzip.compress(tar[5000:9000]) + gzip.compress(tar[9000:])
    layer = read(blob)
    assert layer.diff_id == Digest.sha256(sha(tar))
    assert layer.blob_digest == Digest.sha256(sha(blob))
    assert len(layer.entries) == 10 and layer.anomalies == ()


def test_gzip_trailing_garbage_is_an_anomaly() -> None:
    tar = make_tar(member("f", data=b"x"))
    blob = gzip.compress(tar) + b"GARBAGE!"
    layer = read(blob)
    assert layer.readable and layer.diff_id == Digest.sha256(sha(tar))
    assert layer.blob_digest == Digest.sha256(sha(blob)) and layer.size == len(blob)
    assert layer.anomalies == (("trailing-garbage", "8 bytes after the gzip stream"),)
    padded = read(gzip.compress(tar) + bytes(512))
    assert padded.anomalies == (("trailing-garbage", "512 bytes after the gzip stream (all zero)"),)


def test_truncated_gzip_is_unreadable_not_an_error() -> None:
    blob = gzip.compress(make_tar(member("f", data=bytes(range(256)) * 400)))[:-100]
    layer = read(blob)
    assert not layer.readable
    assert layer.problem.startswith("gzip stream ends early")
    assert layer.diff_id is None
    assert layer.blob_digest == Digest.sha256(sha(blob)) and layer.size == len(blob)


def test_corrupt_gzip_is_unreadable_and_keeps_earlier_entries() -> None:
    first = bytes(range(256)) * 800
    second = hashlib.sha256(b"seed").digest() * 100_000  # 3.2 MB: several 1 MiB reads
    blob = bytearray(gzip.compress(make_tar(member("a", data=first), member("b", data=second)), 1))
    blob[-6] ^= 1  # the CRC-32: zlib notices only at the very end
    layer = read(bytes(blob))
    assert (layer.readable, layer.diff_id) == (False, None)
    assert layer.problem == "gzip stream is corrupt: Error -3 while decompressing data: incorrect data check"
    assert [(e.path, e.content_digest) for e in layer.entries] == [("a", "sha256:" + sha(first))]
    assert layer.blob_digest == Digest.sha256(sha(bytes(blob)))


def test_compressed_twice() -> None:
    tar = make_tar(member("f", data=b"x"))
    inner = gzip.compress(tar)
    layer = read(gzip.compress(inner))
    assert not layer.readable
    assert layer.problem == "not a tar archive: gzip data holding gzip data (compressed twice)"
    assert layer.diff_id == Digest.sha256(sha(inner))


def test_decompression_bomb_raises_limit_error() -> None:
    blob = gzip.compress(make_tar(member("zeros", data=bytes(8 << 20))))
    with pytest.raises(LimitError) as info:
        read(blob, Limits(max_expansion_ratio=20, expansion_allowance=0))
    assert str(info.value).startswith("a.tar: blobs/sha256/x: gzip data expands to more than 20x")


def test_entry_and_path_limits() -> None:
    blob = make_tar(*(member(f"f{i}") for i in range(11)))
    assert len(read(blob, Limits(max_entries_per_layer=11)).entries) == 11
    with pytest.raises(LimitError, match=r"^a\.tar: blobs/sha256/x: layer has more than 10 entries \(raise the limit with --max-entries\)$"):
        read(blob, Limits(max_entries_per_layer=10))
    long_name = "d/" * 100 + "f"
    with pytest.raises(LimitError, match=r"entry 1 has a name of 201 bytes, over the limit of 200 bytes \(raise it with --max-path-bytes\)$"):
        read(make_tar(member(long_name)), Limits(max_path_bytes=200))
    with pytest.raises(LimitError, match="limit"):
        read(make_tar(member("x" * 1_000_000)), Limits(max_path_bytes=1000))


@pytest.mark.parametrize(
    ("blob", "kind"),
    [
        (bytes(1024), EMPTY_TAR_1024),
        (bytes(10240), EMPTY_TAR_10240),
        (EMPTY_GZIP, EMPTY_GZIP_SCHEMA1),
        (EMPTY_GZIP[:4] + bytes(4) + EMPTY_GZIP[8:], EMPTY_GZIP_BUILDKIT),
    ],
)
def test_well_known_empty_layers(blob: bytes, kind: str) -> None:
    assert sha(blob) == kind
    layer = read(blob)
    assert layer.empty_kind == WELL_KNOWN_EMPTY[kind]
    assert layer.readable and layer.entries == () and layer.anomalies == ()
    assert layer.diff_id == Digest.sha256(EMPTY_TAR_1024 if len(blob) in (32, 1024) else kind)


def test_other_entry_less_tar() -> None:
    layer = read(bytes(2048))
    assert (layer.empty_kind, layer.readable, layer.entries) == ("entry-less tar", True, ())
    assert read(make_tar(member("f"))).empty_kind == ""


def test_estargz_like_toc_after_the_end_block() -> None:
    body = make_tar(member("f", data=b"content"))
    toc = make_tar(member("stargz.index.json", data=b'{"version":1}'))
    blob = gzip.compress(body + toc)  # the TOC entry follows the first tar's end blocks
    layer = read(blob)
    assert [e.path for e in layer.entries] == ["f"]
    assert layer.diff_id == Digest.sha256(sha(body + toc))
    assert layer.uncompressed_size == len(body + toc)
    # tarfile stops after the first zero block (offset 1024..1536); all the rest is trailing.
    assert layer.anomalies == (("trailing-data", f"{len(body) + len(toc) - 1536} bytes"),)
    assert layer.readable and layer.empty_kind == ""


def test_tar_without_end_blocks() -> None:
    blob = make_tar(member("f", data=b"abc"))[: 1024]
    layer = read(blob)
    assert layer.readable and [e.path for e in layer.entries] == ["f"]
    assert layer.anomalies == (("no-end-marker", "offset 1024"),)


@pytest.mark.parametrize(
    ("blob", "problem"),
    [
        (b"", "not a tar archive (0 bytes)"),
        (b"placeholder layer\n", "not a tar archive (truncated header; starts with b'placeholder laye')"),
        (b'{"not": "a tar"}' + bytes(600), "not a tar archive (bad checksum; starts with b'{\"not\": \"a tar\"}')"),
    ],
)
def test_non_tar_blobs(blob: bytes, problem: str) -> None:
    layer = read(blob)
    assert (layer.readable, layer.problem, layer.entries) == (False, problem, ())
    assert layer.diff_id == layer.blob_digest == Digest.sha256(sha(blob))
    assert layer.empty_kind == ""


def test_truncated_and_corrupt_tars_keep_what_was_listed() -> None:
    blob = make_tar(member("a", data=b"a" * 700), member("b", data=b"b" * 3000))
    cut = read(blob[:2500])
    assert not cut.readable and cut.problem == "tar ends in the middle of an entry (offset 2500)"
    assert [e.path for e in cut.entries] == ["a"]
    half_header = read(blob[: 1536 + 100])
    assert not half_header.readable
    assert half_header.problem == "tar ends in the middle of a header (offset 1536)"
    assert [e.path for e in half_header.entries] == ["a"]
    corrupt = bytearray(blob)
    corrupt[1536 + 10] ^= 0xFF  # inside b's name: its header checksum no longer matches
    bad = read(bytes(corrupt))
    assert not bad.readable and bad.problem == "tar header at offset 1536 is corrupt (bad checksum)"
    assert [e.path for e in bad.entries] == ["a"]
    assert bad.diff_id == Digest.sha256(sha(bytes(corrupt)))


class Chunked(io.RawIOBase):
    """Returns the data in the given sequence of chunk sizes, as a pipe might."""

    def __init__(self, data: bytes, sizes: list[int], fail_at: int | None = None) -> None:
        super().__init__()
        self._data, self._sizes, self._fail_at = data, sizes, fail_at
        self._pos = self._i = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self._fail_at is not None and self._pos >= self._fail_at:
            raise tarfile.ReadError("unexpected end of data")
        size = self._sizes[self._i % len(self._sizes)]
        self._i += 1
        if n >= 0:
            size = min(size, n)
        if self._fail_at is not None:
            size = min(size, self._fail_at - self._pos)
        chunk = self._data[self._pos : self._pos + size]
        self._pos += len(chunk)
        return chunk


@pytest.mark.parametrize("pack", [lambda b: b, gzip.compress])
def test_outer_archive_truncated_raises_input_error(pack: object) -> None:
    blob = pack(make_tar(member("f", data=bytes(range(256)) * 100)))  # type: ignore[operator]
    with pytest.raises(InputError) as info:
        read(b"", raw=Chunked(blob, [100], fail_at=len(blob) // 2))
    assert str(info.value) == (
        "a.tar: blobs/sha256/x: archive ends in the middle of this member (unexpected end of data)"
    )


@pytest.mark.skipif(ZSTD is None, reason="the zstd program is not installed")
def test_outer_archive_truncated_inside_a_zstd_layer() -> None:
    assert ZSTD is not None
    tar = make_tar(member("f", data=bytes(range(256)) * 4000))
    blob = subprocess.run([ZSTD, "-q", "-c", "-1"], input=tar, capture_output=True, check=True).stdout
    with pytest.raises(InputError, match="archive ends in the middle of this member"):
        read(b"", raw=Chunked(blob, [300], fail_at=len(blob) // 2))


def test_outer_errors_of_our_own_pass_through() -> None:
    class Outer(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            raise InputError("outer.tar.gz", None, "gzip stream is corrupt: bad")

    with pytest.raises(InputError) as info:
        read(b"", raw=Outer())
    assert str(info.value) == "outer.tar.gz: gzip stream is corrupt: bad"


def test_anomaly_codes_are_documented() -> None:
    blob = make_tar(
        member("/abs"), member("../esc"), member("d"), member("d"), member("c", tarfile.CHRTYPE),
        member(".wh..wh.aufs"), member(".wh."), member("h", tarfile.LNKTYPE, linkname="nowhere"),
        member("h2", tarfile.LNKTYPE, linkname="../x"), member("b", tarfile.BLKTYPE, devmajor=1),
    )
    assert codes(read(blob)) == [
        "absolute-name", "escaping-name", "duplicate-path", "overlay-whiteout", "aufs-metadata",
        "invalid-whiteout", "hardlink-target-absent", "hardlink-escaping", "device-node",
    ]
    assert set(codes(read(blob))) <= set(LAYER_ANOMALIES)


def test_anomalies_are_capped() -> None:
    blob = make_tar(*(member("/same") for _ in range(1200)))
    layer = read(blob)
    assert len(layer.entries) == 1200
    assert len(layer.anomalies) == 1001
    assert layer.anomalies[-1] == ("more-anomalies", f"{2 * 1200 - 1 - 1000} more not listed")


# ---- property: reading does not depend on how the stored bytes arrive -------------

NAMES = st.lists(st.sampled_from(["a", "b", "c", "dir", "é", "x" * 120]), min_size=1, max_size=3).map("/".join)
ENTRY = st.tuples(
    NAMES,
    st.sampled_from(["file", "dir", "symlink", "hardlink", "fifo"]),
    st.binary(max_size=1500),
    st.integers(0, 0o7777),
    st.integers(0, 2**21),
    st.integers(0, 2**33 - 1),
)


@settings(max_examples=40, deadline=None)
@given(
    specs=st.lists(ENTRY, max_size=8, unique_by=lambda e: e[0]),
    sizes=st.lists(st.integers(1, 600), min_size=1, max_size=6),
    compression=st.sampled_from(["none", "gzip", "multi-gzip"]),
    fmt=st.sampled_from([tarfile.PAX_FORMAT, tarfile.GNU_FORMAT]),
)
def test_listing_is_independent_of_chunking(
    specs: list[tuple[str, str, bytes, int, int, int]], sizes: list[int], compression: str, fmt: int
) -> None:
    types = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE}
    members = []
    expected = []
    for name, kind, data, mode, uid, mtime in specs:
        link = "target/of/link" if kind in ("symlink", "hardlink") else ""
        body = data if kind == "file" else b""
        members.append(member(name, types[kind], body, mode=mode, uid=uid, gid=uid // 2, mtime=mtime, linkname=link))
        expected.append(
            FileEntry(
                path=name, kind=kind, size=len(body), mode=mode, uid=uid, gid=uid // 2,
                mtime_ns=mtime * 10**9, linkname=link,
                content_digest="sha256:" + sha(body) if kind == "file" else "",
            )
        )
    tar = make_tar(*members, fmt=fmt)
    if compression == "none":
        blob = tar
    elif compression == "gzip":
        blob = gzip.compress(tar, compresslevel=1)
    else:
        blob = b"".join(gzip.compress(tar[i : i + 777]) for i in range(0, len(tar), 777))
    whole = read(blob)
    chunked = read(b"", raw=Chunked(blob, sizes))
    assert chunked == whole
    assert whole.entries == tuple(expected)
    assert whole.diff_id == Digest.sha256(sha(tar))
    assert whole.blob_digest == Digest.sha256(sha(blob))
    assert whole.readable and whole.problem == ""


# ---- the fast paths agree with tarfile and posixpath ---------------------------------


def _reference_normalise(name: str) -> str | None:
    stripped = name.lstrip("/")
    path = posixpath.normpath(stripped) if stripped else "."
    return None if path == "." or path == ".." or path.startswith("../") else path


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["a", "b.c", ".", "..", "", "/", ".wh", "x."]), max_size=6).map("/".join))
def test_name_normalisation_matches_posixpath(name: str) -> None:
    lister = EntryLister("a.tar", "m")
    assert lister._normalise(name) == _reference_normalise(name)


HEADER_FIELDS = ("name", "mode", "uid", "gid", "size", "mtime", "chksum", "type", "linkname", "uname", "gname", "devmajor", "devminor")


def _parse(cls: type[tarfile.TarInfo], block: bytes) -> object:
    # FastTarInfo's block parser, before the runtime's prefix rule (tests/read/test_runtime_rules.py) applies.
    parse = FastTarInfo.parse_block if cls is FastTarInfo else cls.frombuf
    try:
        info = parse(block, "utf-8", "surrogateescape")
    except tarfile.HeaderError as exc:
        return type(exc).__name__
    return tuple(getattr(info, f) for f in HEADER_FIELDS) + (getattr(info, "_sparse_structs", None),)


@settings(max_examples=400, deadline=None)
@given(
    name=st.text(st.sampled_from("ab/."), min_size=90, max_size=200) | st.text(st.sampled_from("ab/.é \x00"), max_size=120),
    kind=st.sampled_from([tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.CHRTYPE, tarfile.GNUTYPE_SPARSE]),
    numbers=st.tuples(st.integers(0, 0o7777), st.integers(0, 2**21 - 1), st.integers(0, 2**40)),
    fmt=st.sampled_from([tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT]),
    edits=st.lists(st.tuples(st.integers(0, 511), st.sampled_from(b"0 7\x00/a8\xff\t\x1c-+_")), max_size=4),
    fix_checksum=st.booleans(),
)
def test_fast_header_parser_matches_tarfile(
    name: str, kind: bytes, numbers: tuple[int, int, int], fmt: int, edits: list[tuple[int, int]], fix_checksum: bool
) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode, info.uid, info.size = numbers
    try:
        block = bytearray(info.tobuf(format=fmt, encoding="utf-8", errors="surrogateescape")[-512:])
    except ValueError:
        return  # not representable in this format
    for position, value in edits:
        block[position] = value
    if fix_checksum:
        block[148:156] = b" " * 8
        block[148:156] = b"%06o\0 " % sum(block)
    assert _parse(FastTarInfo, bytes(block)) == _parse(tarfile.TarInfo, bytes(block))


# ---- hostile bytes: a Layer or one of our own errors, nothing else ----------------------

def _pax_member() -> tuple[tarfile.TarInfo, bytes]:
    info, data = member("pax", data=b"p")
    info.pax_headers = {"mtime": "1.5", "SCHILY.xattr.user.a": "b"}
    return info, data


_SEED_TAR = make_tar(
    member("etc", tarfile.DIRTYPE),
    member("etc/passwd", data=b"root:x:0:0\n" * 40),
    member("etc/ln", tarfile.LNKTYPE, linkname="etc/passwd"),
    member("x" * 150, tarfile.SYMTYPE, linkname="y" * 150),
    member(".wh.old"),
    _pax_member(),
)
_SEEDS = [_SEED_TAR, gzip.compress(_SEED_TAR), bz2.compress(_SEED_TAR), _sparse_tar("s", [(10, b"a" * 600)], 5000)]


@settings(max_examples=150, deadline=None)
@given(
    seed=st.sampled_from(range(len(_SEEDS))),
    cut=st.integers(0, 20000),
    flips=st.lists(st.tuples(st.integers(0, 20000), st.integers(1, 255)), max_size=6),
)
def test_mutated_layers_give_a_layer_or_our_error(seed: int, cut: int, flips: list[tuple[int, int]]) -> None:
    blob = bytearray(_SEEDS[seed][: max(cut, 1)] if cut < len(_SEEDS[seed]) else _SEEDS[seed])
    for position, mask in flips:
        if blob:
            blob[position % len(blob)] ^= mask
    try:
        layer = read(bytes(blob), Limits(max_expansion_ratio=50, expansion_allowance=1 << 20))
    except (InputError, LimitError):
        return
    assert layer.blob_digest == Digest.sha256(sha(bytes(blob))) and layer.size == len(blob)
    assert layer.readable == (layer.problem == "")
    hash(layer)


def _pax_sparse_1_0(name: str, runs: list[tuple[int, bytes]], real_size: int, count: int | None = None) -> bytes:
    """A GNU tar 1.0 sparse member: PAX GNU.sparse.* records, the map at the start of the data."""
    sparse_map = b"%d\n" % (len(runs) if count is None else count)
    sparse_map += b"".join(b"%d\n%d\n" % (offset, len(chunk)) for offset, chunk in runs)
    sparse_map += bytes(-len(sparse_map) % 512)
    data = sparse_map + b"".join(chunk for _, chunk in runs)
    info = tarfile.TarInfo("GNUSparseFile.0/" + name)
    info.size = len(data)
    info.pax_headers = {
        "GNU.sparse.major": "1", "GNU.sparse.minor": "0",
        "GNU.sparse.name": name, "GNU.sparse.realsize": str(real_size),
    }
    return make_tar((info, data))


def test_pax_sparse_1_0_file() -> None:
    runs = [(0, b"head"), (70_000, b"tail" * 300)]
    layer = read(_pax_sparse_1_0("var/sparse.db", runs, 80_000))
    expanded = bytearray(80_000)
    for offset, chunk in runs:
        expanded[offset : offset + len(chunk)] = chunk
    (entry,) = layer.entries
    assert (entry.path, entry.size, entry.content_digest) == ("var/sparse.db", 80_000, "sha256:" + sha(bytes(expanded)))
    assert layer.readable and layer.anomalies == (("sparse-file", "var/sparse.db"),)


def test_hostile_sparse_maps_are_refused_not_read_into_memory() -> None:
    huge = read(_pax_sparse_1_0("f", [(0, b"x")], 10, count=10**12))
    assert not huge.readable and huge.problem.endswith("sparse map has more than 100000 runs")
    backwards = read(_pax_sparse_1_0("f", [(500, b"x"), (0, b"y")], 1000))
    assert not backwards.readable and backwards.problem.endswith("sparse map is out of order")


def test_old_gnu_sparse_with_extension_blocks() -> None:
    runs = [(1000 * i, bytes([65 + i]) * 10) for i in range(1, 8)]  # 7 runs: 4 in the header, 3 in an extension
    block = bytearray(_sparse_tar("ext.img", runs[:4], 9000)[:512])
    block[482] = 1  # isextended
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    extension = bytearray(512)
    for i, (offset, chunk) in enumerate(runs[4:]):
        extension[24 * i : 24 * i + 24] = b"%011o\0%011o\0" % (offset, len(chunk))
    stored = b"".join(chunk for _, chunk in runs)
    block[124:136] = b"%011o\0" % len(stored)  # the stored size covers all 7 runs
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    blob = bytes(block) + bytes(extension) + stored + bytes(-len(stored) % 512) + bytes(1024)
    expanded = bytearray(9000)
    for offset, chunk in runs:
        expanded[offset : offset + len(chunk)] = chunk
    layer = read(blob)
    assert [(e.path, e.size, e.content_digest) for e in layer.entries] == [("ext.img", 9000, "sha256:" + sha(bytes(expanded)))]
    assert layer.readable


# ---- hashing on another core ------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 3 << 20), max_size=6), st.integers(0, 255))
def test_hash_pipe_equals_hashlib(sizes: list[int], fill: int) -> None:
    chunks = [bytes([(fill + i) % 256]) * n for i, n in enumerate(sizes)]
    pipe = HashPipe()
    for chunk in chunks:
        pipe.update(chunk)
    assert pipe.hexdigest() == sha(b"".join(chunks))


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 3 << 20)), max_size=8), st.integers(0, 255))
def test_hash_pipe_hashed_here_or_there_equals_hashlib(steps: list[tuple[bool, int]], fill: int) -> None:
    # Chunks hashed on the calling thread (update_here) between chunks handed to the pipe's thread keep their order.
    chunks = [(here, bytes([(fill + i) % 256]) * n) for i, (here, n) in enumerate(steps)]
    before = threading.active_count()
    pipe = HashPipe()
    for here, chunk in chunks:
        (pipe.update_here if here else pipe.update)(chunk)
    assert pipe.hexdigest() == sha(b"".join(chunk for _, chunk in chunks))
    assert threading.active_count() == before


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("content_digests", [False, True])
def test_long_skips_hash_as_the_rest(compress: bool, content_digests: bool) -> None:
    # A file longer than LONG_SKIP between small ones: an uncompressed layer hashes its skipped data on the
    # reading thread, a compressed one on the pipe's; both give every digest of one pass over the bytes.
    large = bytes(range(256)) * (LONG_SKIP // 256 + 13)
    tar = make_tar(member("a", data=b"a" * 3000), member("large", data=large), member("b", data=b"b" * 70_000),
                   member("large2", data=large[::-1]), member("c", data=b"c"))
    blob = gzip.compress(tar, compresslevel=1) if compress else tar
    layer = read_layer(io.BytesIO(blob), archive="a", member="m",
                       options=ReadOptions(content_digests=content_digests, digest_below=64 * 1024))
    assert layer.diff_id == Digest.sha256(sha(tar))
    assert layer.blob_digest == Digest.sha256(sha(blob))
    digests = {e.path: e.content_digest for e in layer.entries}
    assert digests["a"] == "sha256:" + sha(b"a" * 3000) and digests["c"] == "sha256:" + sha(b"c")
    assert digests["large"] == ("sha256:" + sha(large) if content_digests else "")
    assert digests["b"] == ("sha256:" + sha(b"b" * 70_000) if content_digests else "")
    assert digests["large2"] == ("sha256:" + sha(large[::-1]) if content_digests else "")


def test_no_hashing_thread_outlives_a_layer() -> None:
    before = threading.active_count()
    big = make_tar(member("big", data=bytes(range(256)) * 20_000))
    assert read(big).diff_id == Digest.sha256(sha(big))
    with pytest.raises(LimitError):
        read(gzip.compress(big), Limits(max_expansion_ratio=2, expansion_allowance=0))
    with pytest.raises(InputError):
        read(b"", raw=Chunked(big, [1 << 20], fail_at=3 << 20))
    assert threading.active_count() == before


def test_without_content_digests() -> None:
    tar = make_tar(member("a", data=b"x" * 5000), member("l", tarfile.SYMTYPE, linkname="a"))
    layer = read_layer(io.BytesIO(tar), archive="a", member="m", options=ReadOptions(content_digests=False, digest_below=0))
    assert [(e.path, e.size, e.content_digest) for e in layer.entries] == [("a", 5000, ""), ("l", 0, "")]
    assert layer.diff_id == Digest.sha256(sha(tar))
    # Files smaller than digest_below are hashed all the same.
    small = read_layer(io.BytesIO(tar), archive="a", member="m", options=ReadOptions(content_digests=False, digest_below=5001))
    assert [e.content_digest for e in small.entries] == ["sha256:" + sha(b"x" * 5000), ""]


def test_huge_declared_size_with_little_data() -> None:
    info = tarfile.TarInfo("claims-8GiB")
    info.size = 2**33 - 1
    blob = info.tobuf(format=tarfile.USTAR_FORMAT) + b"only this much" * 100
    layer = read(blob)
    assert not layer.readable
    assert layer.problem == f"tar ends in the middle of an entry (offset {len(blob)})"
    assert layer.diff_id == Digest.sha256(sha(blob)) and layer.uncompressed_size == len(blob)


def test_huge_extended_header_is_a_limit_error() -> None:
    info, data = member("f", data=b"x")
    info.pax_headers = {"comment": "c" * (3 << 20)}
    with pytest.raises(LimitError, match=r"tar extended header of \d+ bytes at offset 512 is over the \d+-byte limit"):
        read(make_tar((info, data)))


def test_sparse_map_caps_are_active_on_this_python() -> None:
    # The old-GNU cap replaces a private tarfile method: on 3.10-3.13 the signature matches.
    # Extended headers (and the PAX sparse maps in them) are read by our own _proc_member.
    assert "_proc_sparse" in vars(FastTarInfo) and "_proc_member" in vars(FastTarInfo)
