"""Hostile layers inside whole archives: odd entries, huge sizes, bombs, double compression, corrupted digests.

read/test_layer_blob.py checks ``read_layer`` on each of these blobs; here each one sits
in a real archive and the test asserts what a user sees: the audit finding on
the image (code and evidence), or the one-line error naming archive and
member. Odd entries are findings, never errors; only limits stop a read.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile

import pytest

from tests.archivekit import js, layer_tar, legacy, oci, simple_image, tar_of
from imageforensics.audit import image_findings
from imageforensics.errors import LimitError
from imageforensics.options import Limits, ReadOptions
from imageforensics.model import Archive, Image
from imageforensics.read._archive import read_stream
from tools.fuzz import guarded

IMG = simple_image()
LEGACY = legacy([IMG])
LAYER_MEMBER = [n for n, _ in LEGACY if n.endswith("/layer.tar")][1]
OCI = oci([IMG])
OCI_MANIFEST = [n for n, c in OCI if b"image.manifest.v1" in c[:100]][0]
OCI_GZ_LAYER = [n for n, c in OCI if c[:2] == b"\x1f\x8b"][0]


def read(data: bytes, limits: Limits = Limits()) -> Archive:
    return guarded(lambda: read_stream(io.BytesIO(data), "t.tar", ReadOptions(limits=limits)))  # type: ignore[arg-type]


def entries_tar(entries: list[dict], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """A layer tar of entries given as dicts (name, data, type, link, dev, pax)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt, encoding="utf-8", errors="surrogateescape") as tf:
        for e in entries:
            info = tarfile.TarInfo(e["name"])
            info.type = e.get("type", tarfile.REGTYPE)
            info.linkname = e.get("link", "")
            info.devmajor, info.devminor = e.get("dev", (0, 0))
            info.pax_headers = e.get("pax", {})
            data = e.get("data", b"")
            info.size = len(data) if info.type == tarfile.REGTYPE else 0
            tf.addfile(info, io.BytesIO(data) if info.size else None)
    return out.getvalue()


def image_with_layer(layer: bytes) -> bytes:
    """A legacy archive whose second layer is ``layer`` (config diff_ids match it)."""
    img = simple_image()
    img.layers[1] = layer
    return tar_of(legacy([img]))


def member_of(layer: bytes) -> str:
    """The member name of that second layer (its v1 ID depends on the layer)."""
    img = simple_image()
    img.layers[1] = layer
    return [n for n, _ in legacy([img]) if n.endswith("/layer.tar")][1]


def swapped(members: list, name: str, data: bytes) -> bytes:
    assert name in dict(members)
    return tar_of([(n, data if n == name else c) for n, c in members])


def anomalies(image: Image) -> dict[str, str]:
    """anomaly code → first example, from the image's layer-anomaly findings."""
    return {f.evidence_value("anomaly"): f.evidence_value("first") for f in image_findings(image) if f.code == "layer-anomaly"}


def codes(findings: object) -> set[str]:
    return {f.code for f in findings}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("entries", "code", "first", "paths"),
    [
        ([{"name": "../../etc/passwd", "data": b"x"}], "escaping-name", "../../etc/passwd", []),
        ([{"name": "a/../../../b", "data": b"x"}], "escaping-name", "a/../../../b", []),
        ([{"name": "/etc/shadow", "data": b"x"}], "absolute-name", "/etc/shadow", ["etc/shadow"]),
        ([{"name": "a\x1b[31mred\x07", "data": b"x"}], "control-char-name", "a\x1b[31mred\x07", ["a\x1b[31mred\x07"]),
        ([{"name": "bad\udcffname", "data": b"x"}], "non-utf8-name", "bad\udcffname", ["bad\udcffname"]),
        ([{"name": "f", "data": b"1"}, {"name": "./f", "data": b"2"}], "duplicate-path", "f", ["f", "f"]),
        ([{"name": "h", "type": tarfile.LNKTYPE, "link": "missing"}], "hardlink-target-absent", "h -> missing", ["h"]),
        ([{"name": "h", "type": tarfile.LNKTYPE, "link": "../../etc/passwd"}], "hardlink-escaping", "h -> ../../etc/passwd", []),
        ([{"name": "dev/sda", "type": tarfile.BLKTYPE, "dev": (8, 0)}], "device-node", "dev/sda (block 8:0)", ["dev/sda"]),
        ([{"name": "dev/null", "type": tarfile.CHRTYPE, "dev": (1, 3)}], "device-node", "dev/null (char 1:3)", ["dev/null"]),
        ([{"name": "x/.wh.", "data": b""}], "invalid-whiteout", "x/.wh.", []),
        ([{"name": "odd", "type": b"Z"}], "unknown-type", "type 'Z': odd", []),
    ],
    ids=lambda v: v if isinstance(v, str) and v.isprintable() else None,
)
def test_odd_layer_entries_are_findings_on_the_image(entries: list[dict], code: str, first: str, paths: list[str]) -> None:
    archive = read(image_with_layer(entries_tar(entries, tarfile.GNU_FORMAT if "\udcff" in entries[0]["name"] else tarfile.PAX_FORMAT)))
    image = archive.images[0]
    assert anomalies(image) == {code: first}
    layer = image.layers[1]
    assert layer is not None and layer.readable
    assert [e.path for e in layer.entries] == paths
    assert "diff-id-mismatch" not in codes(image_findings(image))


def test_a_nul_in_a_pax_path_makes_the_layer_unreadable_as_for_the_runtime() -> None:
    # Go's validPAXRecord refuses a NUL in path/linkpath/uname/gname: dockerd cannot apply the layer.
    # (tarfile kept the NUL inside the name; a NUL in a ustar name field ends it, in both.)
    archive = read(image_with_layer(entries_tar([{"name": "x", "pax": {"path": "nul\x00inside"}, "data": b"x"}])))
    (finding,) = [f for f in image_findings(archive.images[0]) if f.code == "layer-unreadable"]
    assert "path holds a NUL byte" in str(finding.evidence_value("problem"))


def test_a_sparse_file_is_a_finding_and_its_digest_covers_the_holes() -> None:
    pax = {"GNU.sparse.map": "0,5,100,5", "GNU.sparse.realsize": "105", "GNU.sparse.name": "sparse", "GNU.sparse.numblocks": "2"}
    archive = read(image_with_layer(entries_tar([{"name": "GNUSparseFile.0/sparse", "pax": pax, "data": b"aaaaabbbbb"}])))
    assert anomalies(archive.images[0]) == {"sparse-file": "sparse"}
    (entry,) = archive.images[0].layers[1].entries  # type: ignore[union-attr]
    assert (entry.path, entry.size) == ("sparse", 105)
    assert entry.content_digest == "sha256:" + hashlib.sha256(b"aaaaa" + bytes(95) + b"bbbbb").hexdigest()


def test_a_sparse_map_claiming_terabytes_of_holes_is_a_limit_error() -> None:
    pax = {"GNU.sparse.map": "0,5,1099511627776,5", "GNU.sparse.realsize": "1099511627781", "GNU.sparse.name": "s", "GNU.sparse.numblocks": "2"}
    layer = entries_tar([{"name": "GNUSparseFile.0/s", "pax": pax, "data": b"aaaaabbbbb"}])
    with pytest.raises(LimitError) as info:
        read(image_with_layer(layer))
    assert str(info.value) == f"t.tar: {member_of(layer)}: sparse file 's' has 1099511627771 bytes of holes for 10 stored bytes (raise the limit with --max-expansion)"


def test_a_1_mb_pax_name_is_a_limit_error_naming_the_layer_and_reads_with_the_limit_raised() -> None:
    layer = entries_tar([{"name": "a" * (1 << 20), "data": b"x"}])
    with pytest.raises(LimitError) as info:
        read(image_with_layer(layer))
    assert str(info.value) == f"t.tar: {member_of(layer)}: entry 1 has a name of 1048576 bytes, over the limit of 65536 bytes (raise it with --max-path-bytes)"
    archive = read(image_with_layer(layer), Limits(max_path_bytes=2 << 20))
    assert [len(e.path) for e in archive.images[0].layers[1].entries] == [1 << 20]  # type: ignore[union-attr]


def test_the_entries_per_layer_limit_names_the_layer() -> None:
    layer = entries_tar([{"name": f"f{i}"} for i in range(50)])
    with pytest.raises(LimitError) as info:
        read(image_with_layer(layer), Limits(max_entries_per_layer=20))
    assert str(info.value) == f"t.tar: {member_of(layer)}: layer has more than 20 entries (raise the limit with --max-entries)"


# 8 GiB in octal reads as a size with too little data after it; 2**64 - 1 in base-256 does not fit
# Go's int64, whose parser (parseNumeric) refuses the header at once.
@pytest.mark.parametrize(("size_field", "problem"), [
    (b"77777777777\x00", "tar ends in the middle of an entry (offset 10240)"),
    (b"\x80\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff",
     "tar is corrupt near offset 512: a header number (18446744073709551615) is out of the 64-bit range"),
])
def test_a_huge_declared_entry_size_is_an_unreadable_layer_not_a_read_of_terabytes(size_field: bytes, problem: str) -> None:
    tar = bytearray(entries_tar([{"name": "big", "data": b"x" * 10}]))
    block = tar[:512]
    block[124:136] = size_field
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\x00 " % sum(block)
    tar[:512] = block
    image = read(image_with_layer(bytes(tar))).images[0]
    layer = image.layers[1]
    assert layer is not None and not layer.readable
    assert layer.problem == problem
    assert "layer-unreadable" in codes(image_findings(image))


# --- compression ----------------------------------------------------------------------


def test_a_layer_compressed_twice_is_unreadable_with_the_reason() -> None:
    image = read(swapped(LEGACY, LAYER_MEMBER, gzip.compress(gzip.compress(IMG.layers[1])))).images[0]
    assert image.layers[1] is not None and image.layers[1].problem == "not a tar archive: gzip data holding gzip data (compressed twice)"
    assert "layer-unreadable" in codes(image_findings(image))


@pytest.mark.parametrize(("tail", "first"), [(b"garbage!", "8 bytes after the gzip stream"), (bytes(100), "100 bytes after the gzip stream (all zero)")])
def test_gzip_trailing_garbage_is_a_finding_and_the_layer_still_reads(tail: bytes, first: str) -> None:
    image = read(swapped(LEGACY, LAYER_MEMBER, gzip.compress(IMG.layers[1]) + tail)).images[0]
    assert anomalies(image) == {"trailing-garbage": first}
    assert image.layers[1] is not None and image.layers[1].readable and str(image.layers[1].diff_id) == IMG.diff_ids()[1]


def test_a_gzip_bomb_layer_stops_at_the_expansion_limit() -> None:
    bomb = gzip.compress(bytes(20 << 20), 9)
    with pytest.raises(LimitError) as info:
        read(swapped(LEGACY, LAYER_MEMBER, bomb), Limits(max_expansion_ratio=10, expansion_allowance=1 << 20))
    assert str(info.value) == (
        f"t.tar: {LAYER_MEMBER}: gzip data expands to more than 10x its compressed size plus 1048576 bytes"
        " (decompression bomb?; raise the limit with --max-expansion)"
    )


@pytest.mark.skipif(shutil.which("zstd") is None, reason="the zstd program is not installed")
def test_a_zstd_bomb_layer_stops_at_the_default_expansion_limit() -> None:
    # 200 MB of zeros in about 6 KB: the default (1000x + 64 MiB) stops it after 64 MiB.
    bomb = subprocess.run(["zstd", "-c", "-19"], input=bytes(200 << 20), capture_output=True, check=True).stdout
    assert len(bomb) < 64 << 10
    with pytest.raises(LimitError) as info:
        read(swapped(LEGACY, LAYER_MEMBER, bomb))
    assert str(info.value) == (
        f"t.tar: {LAYER_MEMBER}: zstd data expands to more than 1000x its compressed size plus 67108864 bytes"
        " (decompression bomb?; raise the limit with --max-expansion)"
    )


def test_an_outer_gzip_bomb_names_the_archive() -> None:
    with pytest.raises(LimitError) as info:
        read(gzip.compress(tar_of(LEGACY)), Limits(max_expansion_ratio=2, expansion_allowance=1000))
    assert str(info.value) == "t.tar: gzip data expands to more than 2x its compressed size plus 1000 bytes (decompression bomb?; raise the limit with --max-expansion)"


# --- corrupted digests: findings, not errors -------------------------------------------


def test_an_edited_config_is_an_image_id_mismatch() -> None:
    config = [n for n, _ in LEGACY if n.endswith(".json") and "/" not in n and n != "manifest.json"][0]
    archive = read(swapped(LEGACY, config, dict(LEGACY)[config].replace(b'"amd64"', b'"arm64"')))
    assert codes(archive.images[0].findings) >= {"image-id-mismatch"}
    assert archive.images[0].platform.architecture == "arm64"


def test_an_edited_layer_is_a_diff_id_mismatch_on_that_layer() -> None:
    image = read(swapped(LEGACY, LAYER_MEMBER, layer_tar({"app/a.txt": b"HELLO a"}))).images[0]
    mismatch = [f for f in image_findings(image) if f.code == "diff-id-mismatch"]
    assert len(mismatch) == 1 and mismatch[0].evidence_value("layer") == 1


def test_an_edited_oci_manifest_is_a_blob_digest_mismatch() -> None:
    edited = dict(OCI)[OCI_MANIFEST].replace(b'"schemaVersion":2', b'"schemaVersion":2 ')
    archive = read(swapped(OCI, OCI_MANIFEST, edited))
    assert {"blob-digest-mismatch", "descriptor-size-mismatch"} <= codes(archive.findings)
    assert len(archive.images) == 1


def test_a_recompressed_oci_layer_is_a_blob_digest_and_size_mismatch_but_its_diff_id_holds() -> None:
    recompressed = gzip.compress(gzip.decompress(dict(OCI)[OCI_GZ_LAYER]), 1, mtime=1)
    archive = read(swapped(OCI, OCI_GZ_LAYER, recompressed))
    assert "blob-digest-mismatch" in codes(archive.findings)
    image = archive.images[0]
    assert "descriptor-size-mismatch" in codes(image.findings) and "diff-id-mismatch" not in codes(image_findings(image))


def test_a_wrong_size_in_index_json_is_a_finding() -> None:
    index = json.loads(dict(OCI)["index.json"])
    index["manifests"][0]["size"] += 1
    archive = read(swapped(OCI, "index.json", js(index)))
    assert "descriptor-size-mismatch" in codes(archive.findings) and len(archive.images) == 1


@pytest.mark.parametrize(("name", "want"), [
    ("layer-through-symlink.tar", [("WARNING", 1, "e/passwd", "etc/passwd", "e", "/etc")]),
    ("layer-through-lower-symlink.tar", [("WARNING", 2, "e/os-release", "etc/os-release", "e", "../../etc"),
                                         ("WARNING", 2, "e/passwd", "etc/passwd", "e", "../../etc")]),
    ("layer-symlink-chain-loop.tar", [("ERROR", 1, "a/x", "", "a", "b")]),
])
def test_entries_written_through_a_symlink_name_the_path_written(name: str, want: list[tuple[object, ...]]) -> None:
    from pathlib import Path

    from imageforensics.read._sources import read_input

    archive = guarded(lambda: read_input(str(Path(__file__).parent / name)))
    found = [f for f in image_findings(archive.images[0]) if f.code == "layer-write-through-symlink"]
    assert [(f.severity.name, f.evidence_value("layer"), f.evidence_value("entry"), f.evidence_value("written"),
             f.evidence_value("link"), f.evidence_value("target")) for f in found] == want
