"""Truncated archives: samples cut at every 512-byte block, in the middle of every header and of every member's data.

Each cut has one exact expected outcome, computed from where it falls in the
archive (independently, with tarfile on the whole archive): an empty input,
a header cut short, member data cut short (naming the member and how many of
its bytes arrived), a missing end-of-archive marker (naming the last whole
member), or, once the end-of-archive marker is in, the same images as the
whole archive. A truncated archive never reads as a model of fewer images.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from imageforensics.errors import ImageForensicsError, InputError
from imageforensics.model import Archive
from imageforensics.parse._members import normalise_member_name
from imageforensics.read._archive import read_stream
from imageforensics.untrusted import show
from tools.fuzz import guarded

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
# One per layout: legacy (dirs, VERSION, json), containers-image (symlinked layer.tar),
# crane (gzip blobs named by digest), graphdriver and containerd (OCI + manifest.json), oci-archive.
CUT_SAMPLES = ("tomcat-pulled.tar", "mode-a.tar", "whiteout-b.tar", "platform-a.tar", "opaque-b.tar", "same-oci.tar")


def read(data: bytes) -> Archive:
    return guarded(lambda: read_stream(io.BytesIO(data), "t.tar"))  # type: ignore[arg-type]


def layout(data: bytes) -> tuple[list[tuple[int, int, int, str]], int]:
    """(header offset, data offset, size, name) of every member, and where the end-of-archive marker starts."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        members = [(m.offset, m.offset_data, m.size, m.name) for m in tf.getmembers()]
        return members, tf.offset


def expected(data: bytes, cut: int) -> str | None:
    """The exact error for ``data[:cut]``, or None when it must read like the whole archive."""
    members, end = layout(data)
    if cut == 0:
        return "t.tar: empty input: expected a tar archive"
    if cut >= end + 512:
        return None
    last = None
    for offset, offset_data, size, name in members:
        shown = show(normalise_member_name(name))
        if cut < offset_data:
            if last is None:
                return "t.tar: not a tar archive (truncated header)"
            return f"t.tar: archive is truncated after member {last}: no end-of-archive marker at offset {offset}"
        if cut < offset_data + size:
            return f"t.tar: {shown}: archive is truncated: member data ends after {cut - offset_data} of {size} bytes"
        last = shown
    return f"t.tar: archive is truncated after member {last}: no end-of-archive marker at offset {end}"


def cuts(data: bytes) -> list[int]:
    """Every block boundary, plus the middle of every header and of every member's data."""
    members, end = layout(data)
    points = set(range(0, len(data) + 1, 512))
    for offset, offset_data, size, _ in members:
        points.add(offset + 100)
        points.add(offset_data + size // 2)
        points.add(offset_data + size - 1)
    points.update((end + 1, end + 511, len(data) - 1))
    return sorted(p for p in points if 0 <= p <= len(data))


def test_the_expected_outcomes_are_computed_from_the_layout() -> None:
    data = (SAMPLES / "same-oci.tar").read_bytes()
    members, end = layout(data)
    _, first_data, first_size, first_name = [m for m in members if m[2] > 10][0]
    assert expected(data, first_data + 3) == f"t.tar: {first_name}: archive is truncated: member data ends after 3 of {first_size} bytes"
    assert expected(data, end) is not None and expected(data, end + 512) is None


@pytest.mark.parametrize("sample", CUT_SAMPLES)
def test_every_cut_of_a_sample_gives_its_exact_outcome(sample: str) -> None:
    path = SAMPLES / sample
    if not path.exists():
        pytest.skip("samples/ not present")
    data = path.read_bytes()
    whole = read(data)
    checked = 0
    for cut in cuts(data):
        want = expected(data, cut)
        if want is None:
            archive = read(data[:cut])
            assert archive.images == whole.images and archive.findings == whole.findings, cut
        else:
            with pytest.raises(InputError) as info:
                read(data[:cut])
            assert str(info.value) == want, cut
        checked += 1
    assert checked > len(data) // 512


@pytest.mark.parametrize("sample", ("same-legacy.tar", "same-oci.tar"))
def test_a_gzip_compressed_archive_cut_anywhere_is_an_error_naming_the_archive(sample: str) -> None:
    path = SAMPLES / sample
    if not path.exists():
        pytest.skip("samples/ not present")
    packed = gzip.compress(path.read_bytes(), mtime=0)
    for cut in sorted({1, 2, 5, 9, 10, 11, 100, len(packed) // 3, len(packed) // 2, len(packed) - 9, len(packed) - 8, len(packed) - 1}):
        with pytest.raises(ImageForensicsError) as info:
            read(packed[:cut])
        message = str(info.value)
        assert "\n" not in message and message.startswith("t.tar: "), (cut, message)
        # Whatever stops first (gzip or tar), the message says the input ended early.
        assert any(word in message for word in ("ends early", "truncated", "is empty")), (cut, message)
