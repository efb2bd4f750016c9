"""Directory inputs that change under the reader or lie about their files: swapped names, unlistable folders, huge sparse blobs.

The reader lists a directory, then opens each file: a name swapped in
between for a FIFO (which would block a plain open forever) or for a symlink
(to a file outside the directory) is an error naming the file, never a hang
or outside bytes in the report. A blob is read no further than its
descriptors declare (plus one byte). The swaps are simulated by running them
between the listing and the reads.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from imageforensics.audit import image_findings
from imageforensics.errors import InputError
from imageforensics.read import _archive
from imageforensics.read._sources import read_input
from tools.fuzz import guarded
from tools.make_hostile import BASE, TOP, oci


def layout(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    members, roles = oci([BASE, TOP])
    top = tmp_path / "layout"
    for name, data in members:
        path = top / name
        path.parent.mkdir(parents=True, exist_ok=True)
        assert isinstance(data, bytes)
        path.write_bytes(data)
    return top, roles


def swap_before_reading(monkeypatch: pytest.MonkeyPatch, swap) -> None:
    """Run ``swap()`` after the directory is listed and before any file of it is opened."""
    real = _archive._declared_sizes

    def listed_then_swapped(*args, **kwargs):
        swap()
        return real(*args, **kwargs)

    monkeypatch.setattr(_archive, "_declared_sizes", listed_then_swapped)


def test_a_blob_swapped_for_a_fifo_is_an_error_not_a_hang(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    top, roles = layout(tmp_path)
    blob = top / roles["layer0"]

    def to_fifo() -> None:
        blob.unlink()
        os.mkfifo(blob)

    swap_before_reading(monkeypatch, to_fifo)
    with pytest.raises(InputError) as info:
        guarded(lambda: read_input(str(top)))
    assert str(info.value) == f"{top}: {roles['layer0']}: cannot open: it is no longer a regular file (mode prw-r--r--)"


def test_a_blob_swapped_for_a_symlink_is_never_followed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    top, roles = layout(tmp_path)
    blob = top / roles["layer0"]
    outside = tmp_path / "secret"
    outside.write_bytes(blob.read_bytes())

    def to_symlink() -> None:
        blob.unlink()
        blob.symlink_to(outside)

    swap_before_reading(monkeypatch, to_symlink)
    with pytest.raises(InputError) as info:
        guarded(lambda: read_input(str(top)))
    assert str(info.value) == f"{top}: {roles['layer0']}: cannot open: Too many levels of symbolic links"


def test_a_blob_replaced_by_another_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    top, roles = layout(tmp_path)
    blob = top / roles["layer0"]
    listed_inode = blob.stat().st_ino
    other = tmp_path / "other"
    other.write_bytes(blob.read_bytes())
    swap_before_reading(monkeypatch, lambda: os.replace(other, blob))
    with pytest.raises(InputError) as info:
        guarded(lambda: read_input(str(top)))
    assert str(info.value) == (f"{top}: {roles['layer0']}: cannot open: it was replaced by another file "
                               f"(inode {blob.stat().st_ino}, listed as {listed_inode})")


def test_a_fifo_in_the_listing_is_never_opened(tmp_path: Path) -> None:
    top, _ = layout(tmp_path)
    os.mkfifo(top / "blobs" / "sha256" / "pipe")
    archive = guarded(lambda: read_input(str(top)))
    assert len(archive.images) == 1
    assert "member-special" in {f.code for f in archive.findings}


def test_an_unlistable_folder_is_an_error_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    top, _ = layout(tmp_path)
    real = os.scandir
    folder = str(top / "blobs" / "sha256")

    def scandir(path):  # what os.walk meets in a folder without read permission (root ignores chmod)
        if os.fspath(path) == folder:
            raise PermissionError(13, "Permission denied", folder)
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(InputError) as info:
        guarded(lambda: read_input(str(top)))
    assert str(info.value) == f"{top}: blobs/sha256: cannot list this directory: Permission denied"


def test_a_huge_sparse_blob_is_read_no_further_than_its_descriptor_says(tmp_path: Path) -> None:
    top, roles = layout(tmp_path)
    blob = top / roles["layer0"]
    stored = blob.read_bytes()
    with open(blob, "r+b") as f:
        f.truncate(10 << 30)  # 10 GiB, sparse: reading it whole would take half a minute
    archive = guarded(lambda: read_input(str(top)))
    findings = {f.code: f for f in (*archive.findings, *image_findings(archive.images[0]))}
    # Exactly the declared bytes and one more were hashed: the digest of those, the size the file's.
    mismatch = findings["blob-digest-mismatch"]
    assert str(mismatch.evidence_value("actual")) == "sha256:" + hashlib.sha256(stored + b"\0").hexdigest()
    size = findings["descriptor-size-mismatch"]
    assert (size.evidence_value("declared"), size.evidence_value("actual")) == (len(stored), 10 << 30)


@pytest.mark.parametrize("swap", ["symlink", "fifo"])
def test_the_second_read_opens_the_same_way(tmp_path: Path, swap: str) -> None:
    from imageforensics.options import ReadOptions
    from imageforensics.read._sources import _read_again

    top, roles = layout(tmp_path)
    archive = guarded(lambda: read_input(str(top), ReadOptions(content_digests=False)))
    old = next(layer for layer in archive.images[0].layers if layer is not None and layer.member == roles["layer0"])
    assert old.location is not None
    blob = top / roles["layer0"]
    outside = tmp_path / "outside"
    outside.write_bytes(blob.read_bytes())
    blob.unlink()
    if swap == "symlink":
        blob.symlink_to(outside)
    else:
        os.mkfifo(blob)
    with pytest.raises(InputError) as info:
        _read_again(str(top), old, ReadOptions())
    why = "Too many levels of symbolic links" if swap == "symlink" else "it is no longer a regular file (mode prw-r--r--)"
    assert str(info.value) == f"{top}: {roles['layer0']}: cannot open {blob} again to hash file contents: {why}"
