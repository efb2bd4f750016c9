"""An archive that fails its own digests never holds "the same image": the verdict says so, exit status 1.

The images compared here are read from archive bytes (tests.archivekit), so the
integrity findings are the reader's own: one flipped byte in a gzip layer's
header (its FNAME/mtime field: the layer decompresses to the same tar, so the
diff_ids still agree) gives ``blob-digest-mismatch``; a descriptor's size
edited gives ``descriptor-size-mismatch``.
"""

from __future__ import annotations

import io
import json

from tests.archivekit import oci, simple_image, tar_of

from imageforensics.diff._engine import diff_images
from imageforensics.findings import Severity
from imageforensics.model import Archive, Image
from imageforensics.options import ReadOptions
from imageforensics.read._archive import read_stream

IMG = simple_image()
OCI = oci([IMG])
GZ_LAYER = [n for n, c in OCI if c[:2] == b"\x1f\x8b"][0]


def read(data: bytes, name: str) -> tuple[Archive, Image]:
    archive = read_stream(io.BytesIO(data), name, ReadOptions())  # type: ignore[arg-type]
    return archive, archive.images[0]


def flipped_gzip_mtime() -> bytes:
    """The OCI archive with one byte of a gzip layer's header mtime flipped: same tar inside, another blob digest."""
    members = []
    for name, content in OCI:
        if name == GZ_LAYER:
            content = content[:4] + bytes([content[4] ^ 0x01]) + content[5:]
        members.append((name, content))
    return tar_of(members)


def size_edited() -> bytes:
    """The OCI archive with the manifest's size in index.json off by one."""
    index = json.loads(dict(OCI)["index.json"])
    index["manifests"][0]["size"] += 1
    return tar_of([(n, json.dumps(index).encode() if n == "index.json" else c) for n, c in OCI])


def test_the_flipped_byte_keeps_the_diff_ids_but_breaks_the_blob_digest() -> None:
    (a, ia), (b, ib) = read(tar_of(OCI), "good.tar"), read(flipped_gzip_mtime(), "flipped.tar")
    assert ia.image_id == ib.image_id and ia.diff_ids == ib.diff_ids
    assert "blob-digest-mismatch" in {f.code for f in b.findings}


def test_an_archive_failing_its_digests_is_never_identical() -> None:
    (a, ia), (b, ib) = read(tar_of(OCI), "good.tar"), read(flipped_gzip_mtime(), "flipped.tar")
    for report, side in ((diff_images(a, ia, b, ib), "B"), (diff_images(b, ib, a, ia), "A")):
        assert report.verdict_kind == "corrupt" and report.exit_status == 1
        assert report.verdict.startswith("not the same image: the same config ")
        assert f"{side}'s archive fails its own digests or references (blob-digest-mismatch" in report.verdict
        [f] = [f for f in report.findings if f.code == "blob-digest-mismatch"]
        assert (f.severity, f.side) == (Severity.ERROR, side)


def test_two_copies_of_a_corrupt_archive_are_corrupt_on_both_sides() -> None:
    (a, ia), (b, ib) = read(flipped_gzip_mtime(), "one.tar"), read(flipped_gzip_mtime(), "two.tar")
    report = diff_images(a, ia, b, ib)
    assert report.verdict_kind == "corrupt" and report.exit_status == 1
    assert "A's archive fails its own digests" in report.verdict and "B's archive" in report.verdict
    # The finding both archives carry is shown once, for both.
    [f] = [f for f in report.findings if f.code == "blob-digest-mismatch"]
    assert f.side == "" and f.summary.startswith("in both images: ")


def test_a_descriptor_size_mismatch_is_never_identical() -> None:
    (a, ia), (b, ib) = read(tar_of(OCI), "good.tar"), read(size_edited(), "edited.tar")
    report = diff_images(a, ia, b, ib)
    assert "descriptor-size-mismatch" in {f.code for f in (*b.findings, *ib.findings)}
    assert report.verdict_kind != "identical" and report.exit_status == 1
    assert "B's archive fails its own digests or references (" in report.verdict


def test_an_intact_copy_is_identical() -> None:
    (a, ia), (b, ib) = read(tar_of(OCI), "one.tar"), read(tar_of(OCI), "two.tar")
    report = diff_images(a, ia, b, ib)
    assert report.verdict_kind == "identical" and report.exit_status == 0 and report.findings == ()
