"""Layer blobs of an archive file read on a pool's workers (read/_layer_pool, read/_archive ``_Units``).

The result must be what one forward pass over the same bytes gives (a
stream, read sequentially): the same archive, the same first error, word for
word, whatever the threads' timing; the entry budget of the input
(``--max-total-entries``) runs out at the same layer and entry.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from imageforensics.errors import ImageForensicsError
from imageforensics.model import Archive
from imageforensics.options import Limits, ReadOptions
from imageforensics.read import _archive as reader
from imageforensics.read._layer_pool import FileRange, LayerPool
from imageforensics.read._progress import Progress
from imageforensics.read._sources import read_input
from tests.archivekit import Img, layer_tar, legacy, oci, tar_of


def _without_locations(archive: Archive) -> Archive:
    """The archive as a stream read gives it: a stream's layers have no place in a file."""
    images = tuple(dataclasses.replace(image, layers=tuple(
        None if layer is None else dataclasses.replace(layer, location=None) for layer in image.layers))
        for image in archive.images)
    return dataclasses.replace(archive, images=images)


def _outcome(read: object) -> object:
    try:
        return _without_locations(read())  # type: ignore[operator]
    except ImageForensicsError as e:
        return (type(e).__name__, str(e))


def _both(path: Path, options: ReadOptions) -> tuple[object, object]:
    """The outcome of reading the file (layers on the pool) and of reading its bytes as a stream (one forward pass)."""
    data = path.read_bytes()
    with LayerPool() as pool:
        from_file = _outcome(lambda: reader.read_archive(str(path), options, pool=pool))
    as_stream = _outcome(lambda: reader.read_stream(io.BytesIO(data), str(path), options))
    return from_file, as_stream


def _image(layers: list[int]) -> Img:
    """An image whose layer i holds ``layers[i]`` files (of a few KiB: each layer is read as a blob)."""
    tars = [layer_tar({f"l{i}/f{j}": bytes([i, j % 256]) * (1000 + j) for j in range(count)}) for i, count in enumerate(layers)]
    return Img(layers=tars, tags=["local/pool:1"])


def _uses_the_pool(path: Path) -> bool:
    with LayerPool() as pool:
        archive = reader.read_archive(str(path), ReadOptions(), pool=pool)
    return all(layer is not None and layer.location is not None for image in archive.images for layer in image.layers)


def test_an_archive_file_read_on_the_pool_is_the_archive_one_forward_pass_gives(tmp_path: Path) -> None:
    path = tmp_path / "a.tar"
    path.write_bytes(tar_of(legacy([_image([3, 5, 2, 7, 1])])))
    assert _uses_the_pool(path)
    from_file, as_stream = _both(path, ReadOptions())
    assert isinstance(from_file, Archive) and from_file.sha256 is not None
    assert from_file == as_stream
    # Without the archive digest (the text report), the same, with sha256 None.
    assert _both(path, ReadOptions(archive_digest=False))[0] == dataclasses.replace(from_file, sha256=None)


def test_every_read_of_an_archive_file_on_the_pool_gives_the_same_archive(tmp_path: Path) -> None:
    path = tmp_path / "a.tar"
    path.write_bytes(tar_of(oci([_image([4, 1, 6, 2, 3, 5])], compress=True)))
    first = _both(path, ReadOptions())
    assert isinstance(first[0], Archive) and first[0] == first[1]
    assert all(_both(path, ReadOptions())[0] == first[0] for _ in range(5))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layers=st.lists(st.integers(1, 12), min_size=1, max_size=6), total=st.integers(1, 60),
       per_layer=st.integers(1, 14), compress=st.booleans())
def test_the_entry_budget_runs_out_where_one_forward_pass_says(tmp_path: Path, layers: list[int], total: int,
                                                               per_layer: int, compress: bool) -> None:
    """Whichever limit one forward pass meets first (the input's total, or a layer's own) is the error, at the same layer."""
    path = tmp_path / "budget.tar"
    members = oci([_image(layers)], compress=True) if compress else legacy([_image(layers)])
    path.write_bytes(tar_of(members))
    options = ReadOptions(limits=Limits(max_entries_total=total, max_entries_per_layer=per_layer))
    from_file, as_stream = _both(path, options)
    assert from_file == as_stream


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.floats(0.05, 0.999), layers=st.lists(st.integers(1, 8), min_size=2, max_size=5))
def test_a_file_cut_short_fails_as_one_forward_pass_fails(tmp_path: Path, cut: float, layers: list[int]) -> None:
    """Truncated anywhere (inside a layer, between members, inside a header): the same first error, word for word."""
    data = tar_of(legacy([_image(layers)]))
    path = tmp_path / "cut.tar"
    path.write_bytes(data[: int(len(data) * cut)])
    from_file, as_stream = _both(path, ReadOptions())
    assert from_file == as_stream


def test_a_blob_whose_budget_runs_out_before_its_own_error_reports_the_budget(tmp_path: Path) -> None:
    """Layer 2 would exceed its own entry limit at its 9th entry, the input's budget runs out at its 3rd: the budget wins."""
    path = tmp_path / "a.tar"
    path.write_bytes(tar_of(legacy([_image([6, 12])])))
    options = ReadOptions(limits=Limits(max_entries_total=9, max_entries_per_layer=8))
    from_file, as_stream = _both(path, options)
    assert from_file == as_stream
    assert isinstance(from_file, tuple) and "more than 9 entries" in from_file[1] and "--max-total-entries" in from_file[1]


def test_a_file_range_reads_its_bytes_alone_and_stops_at_its_end(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(bytes(range(256)) * 10)
    seen: list[int] = []
    with open(path, "rb") as f:
        part = FileRange(f.fileno(), 300, 1000, seen.append)
        got = b"".join(iter(lambda: part.read(333), b""))
    assert got == (bytes(range(256)) * 10)[300:1300]
    assert sum(seen) == 1000 and part.read() == b""


def test_a_unit_of_a_closed_pool_is_refused() -> None:
    pool = LayerPool()
    assert pool.submit(lambda: 41 + 1).result() == 42
    pool.close()
    with pytest.raises(RuntimeError):
        pool.submit(lambda: 0)


class _Tally(Progress):
    """A progress line that only adds up the bytes each input reports."""

    def __init__(self) -> None:
        super().__init__(io.StringIO(), columns=80)
        self.bytes: dict[str, int] = {}

    def advance(self, label: str, nbytes: int) -> None:
        self.bytes[label] = self.bytes.get(label, 0) + nbytes


@pytest.mark.parametrize("layers", [[3, 5, 2], [400, 1, 900]])
def test_the_progress_line_counts_each_byte_of_the_file_once(tmp_path: Path, layers: list[int]) -> None:
    """Blobs read on the pool count their bytes, but for what the walk read (and counted) of them already."""
    path = tmp_path / "a.tar"
    path.write_bytes(tar_of(legacy([_image(layers)])))
    tally = _Tally()
    archive = read_input(str(path), ReadOptions(), progress=tally)
    assert all(layer is not None and layer.location is not None for layer in archive.images[0].layers)
    assert tally.bytes == {"a.tar": path.stat().st_size}


def test_a_blob_error_comes_before_an_error_the_walk_meets_after_it(tmp_path: Path) -> None:
    """Layer 1 holds a name over the limit, and so does a later member of the outer tar: the layer's error is the one."""
    long_entry = layer_tar({"x" * 250: b"data" * 500})
    image = _image([3, 2])
    image.layers.insert(1, long_entry)
    members = legacy([image])
    members.append(("y" * 250, b"after the layers"))
    path = tmp_path / "a.tar"
    path.write_bytes(tar_of(members))
    from_file, as_stream = _both(path, ReadOptions(limits=Limits(max_path_bytes=200)))
    assert from_file == as_stream
    assert isinstance(from_file, tuple) and from_file[0] == "LimitError" and "entry 1 has a name of 250 bytes" in from_file[1]
