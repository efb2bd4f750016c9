"""Deferred content digests (read/_sources): reading without them and re-reading only the layers the diff
compares gives exactly the report of a full read (``choose_pair(needed_layers=layers_needing_content)``;
which layers those are is tested in diff/test_content_need.py)."""

from __future__ import annotations

import io
import tarfile
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from imageforensics.read import _file_state as filestate
from imageforensics.read import _sources as inputs
from imageforensics.read import _layer_blob as layer_module
from imageforensics.read import _archive as reader
from imageforensics.diff._content_need import layers_needing_content
from imageforensics.diff._engine import diff_images
from imageforensics.errors import InputError
from imageforensics.options import ReadOptions
from imageforensics.report._values import Report
from tests import strategies as strat
from tools.synth import ArchiveSpec, Entry, ImageSpec, Layer, Step, write_archive, write_extracted, write_oci_dir

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
SAMPLE_PAIRS = [
    ("tomcat-pulled.tar", "tomcat-cache-from.tar"), ("same-legacy.tar", "same-oci.tar"),
    ("timestamps-a.tar", "timestamps-b.tar"), ("whiteout-a.tar", "whiteout-b.tar"),
    ("opaque-a.tar", "opaque-b.tar"), ("mode-a.tar", "mode-b.tar"), ("platform-a.tar", "platform-b.tar"),
]


def report_of(a: str, b: str, options: ReadOptions = ReadOptions(), **kwargs: Any) -> Report:
    ca, cb = inputs.choose_pair(a, b, options, **kwargs)
    return diff_images(ca.archive, ca.image, cb.archive, cb.image)


def without_archive_digest(report: Report, kept: tuple[bool, bool]) -> Report:
    a = report.a if kept[0] else replace(report.a, archive_sha256="")
    b = report.b if kept[1] else replace(report.b, archive_sha256="")
    return replace(report, a=a, b=b)


def assert_deferred_matches(a: str, b: str, kept: tuple[bool, bool] = (False, False),
                            below: int = ReadOptions().digest_below) -> None:
    """``kept``: a snapshot carries the archive digest it was made with, whatever is asked.

    Both ways of re-reading: hashing the blob again (the files were just
    written, too recently for their state to prove anything) and trusting
    the files' state (as if written long ago).
    """
    full = report_of(a, b)
    options = ReadOptions(digest_below=below)
    for grain in (filestate.GRAIN_NS, 0):
        with patch.object(filestate, "GRAIN_NS", grain):
            assert report_of(a, b, options, needed_layers=layers_needing_content) == full
            deferred = report_of(a, b, replace(options, archive_digest=False), needed_layers=layers_needing_content)
            assert (deferred.a.archive_sha256 != "", deferred.b.archive_sha256 != "") == kept
            assert deferred == without_archive_digest(full, kept)


@pytest.mark.parametrize("a, b", SAMPLE_PAIRS + [(b, a) for a, b in SAMPLE_PAIRS])
@pytest.mark.parametrize("below", [0, ReadOptions().digest_below])
def test_samples_deferred_report_equals_full_report(a: str, b: str, below: int) -> None:
    # below=0: no file is hashed on the first read, every compared layer is read again.
    assert_deferred_matches(str(SAMPLES / a), str(SAMPLES / b), below=below)


# --------------------------------------------------------------------------- generated pairs


def _files(image: ImageSpec) -> list[tuple[int, Entry]]:
    return [(i, e) for i, l in enumerate(image.layers) for e in l.entries if e.kind == "file"]


@st.composite
def image_pairs(draw: st.DrawFn) -> tuple[ImageSpec, ImageSpec]:
    """An image and a copy with one corruption (or none): the shapes the diff must explain."""
    base = draw(strat.image_specs(0))
    # Layers that write the same paths, so that later layers overwrite earlier ones.
    paths = [e.path for l in base.layers for e in l.entries if e.kind == "file"]
    if paths and draw(st.booleans()):
        again = Layer(entries=tuple(Entry(p, data=draw(st.binary(max_size=40))) for p in
                                    draw(st.lists(st.sampled_from(paths), min_size=1, max_size=3, unique=True))),
                      compression=draw(st.sampled_from(strat.LAYER_COMPRESSIONS)))
        base = strat.insert_step(base, len(base.history), Step(created_by="COPY again /"), again)
    files = _files(base)
    kinds = ["same", "reorder", "overwrite", "overwrite"] + (["drop", "flip", "whiteout"] if files else [])
    kind = draw(st.sampled_from(kinds))
    other = base
    if kind in ("drop", "flip", "whiteout"):
        at, entry = draw(st.sampled_from(files))
        if kind == "drop":
            other = strat.drop_entry(base, at, entry.path)
        elif kind == "flip" and isinstance(entry.data, bytes) and entry.data:
            other = strat.flip_byte(base, at, entry.path, draw(st.integers(0, 600)))
        elif kind == "whiteout" and at + 1 < len(base.layers):
            other = strat.add_whiteout(base, at + 1, entry.path)
        else:
            other = strat.add_whiteout(base, at, entry.path + "-gone")
    elif kind == "reorder" and len(base.layers) > 1:
        other = replace(base, layers=tuple(reversed(base.layers)))
    elif kind == "overwrite":
        # A path of a layer both share, overwritten in a later layer on one side only.
        target = draw(st.sampled_from(paths)) if paths else "etc/new"
        later = Layer(entries=(Entry(target, data=b"overwritten"),))
        other = strat.insert_step(base, len(base.history), Step(created_by="COPY over /"), later)
    return (base, other) if draw(st.booleans()) else (other, base)


def _write(image: ImageSpec, folder: Path, name: str, how: str) -> str:
    archive_spec = ArchiveSpec(images=(image,))
    if how == "oci-dir":
        write_oci_dir(archive_spec, folder / name)
        return str(folder / name)
    if how == "extracted":
        write_extracted(archive_spec, folder / name)
        return str(folder / name)
    layout, _, compression = how.partition("+")
    write_archive(archive_spec, folder / name, layout, compression=compression or "none")
    return str(folder / name)


WAYS = ("docker-legacy", "docker-crane", "oci-archive", "docker-oci-containerd", "docker-legacy+gzip",
        "extracted", "oci-dir")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pair=image_pairs(), ways=st.tuples(st.sampled_from(WAYS), st.sampled_from(WAYS)),
       below=st.sampled_from([0, 0, 0, 64, 300]))
def test_generated_pairs_deferred_report_equals_full_report(pair: tuple[ImageSpec, ImageSpec],
                                                            ways: tuple[str, str], below: int) -> None:
    # Files of up to 600 bytes: ``below`` leaves none, some or most of them to be hashed when read again.
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        a = _write(pair[0], folder, "a", ways[0])
        b = _write(pair[1], folder, "b", ways[1])
        assert_deferred_matches(a, b, below=below)


# --------------------------------------------------------------------------- what is read again


def _count_rereads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    original = layer_module.read_layer

    def counting(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        if kwargs.get("options", ReadOptions()).content_digests:  # type: ignore[attr-defined]
            calls.append(str(kwargs["member"]))
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(layer_module, "read_layer", counting)
    return calls


def _three_layers(last: bytes) -> ImageSpec:
    # Files over ReadOptions.digest_below, so that the first read leaves their content digests out.
    big = ReadOptions().digest_below
    layers = (Layer(entries=(Entry("etc/base", data=b"base" * big), Entry("etc/small", data=b"s"))),
              Layer(entries=(Entry("usr/lib/lib.so", data=b"lib" * big),)),
              Layer(entries=(Entry("app/run", data=last * big),)))
    history = tuple(Step(created="2021-02-04T15:19:27Z", created_by=f"COPY {i} /") for i in range(3))
    return ImageSpec(layers=layers, history=history)


def test_only_the_differing_layers_are_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = _write(_three_layers(b"one"), tmp_path, "a.tar", "docker-legacy")
    b = _write(_three_layers(b"two"), tmp_path, "b.tar", "docker-legacy")
    full = report_of(a, b)
    calls = _count_rereads(monkeypatch)
    ca, cb = inputs.choose_pair(a, b, needed_layers=layers_needing_content)
    assert len(calls) == 2
    assert sorted(calls) == sorted([ca.image.layers[2].member, cb.image.layers[2].member])
    # The shared layers' large files keep no content digests (small ones have them); the read-again ones have them.
    digests = {e.path: e.content_digest for l in ca.image.layers if l for e in l.entries if e.kind == "file"}
    assert digests["etc/base"] == digests["usr/lib/lib.so"] == ""
    assert digests["etc/small"].startswith("sha256:") and digests["app/run"].startswith("sha256:")
    assert diff_images(ca.archive, ca.image, cb.archive, cb.image) == full


def test_a_link_broken_above_a_shared_layer_needs_no_second_read_of_it(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # B rewrites one name of a file its shared layer links: the other name keeps the shared
    # layer's bytes on both sides, so B's shared layer is not read again (A's is: its /hl/b is
    # compared with B's new file), and the link-structure finding must not see its missing content digests.
    big = ReadOptions().digest_below
    history = (Step(created_by="RUN ln"), Step(created_by="RUN cp"))
    shared = Layer(entries=(Entry("hl/a", data=b"v1" * big), Entry("hl/b", kind="hardlink", linkname="hl/a")))
    a = _write(ImageSpec(layers=(shared,), history=history[:1]), tmp_path, "a.tar", "docker-legacy")
    b = _write(ImageSpec(layers=(shared, Layer(entries=(Entry("hl/b", data=b"v2" * big),))), history=history),
               tmp_path, "b.tar", "docker-legacy")
    calls = _count_rereads(monkeypatch)
    ca, cb = inputs.choose_pair(a, b, needed_layers=layers_needing_content)
    assert sorted(calls) == sorted([ca.image.layers[0].member, cb.image.layers[1].member])
    monkeypatch.undo()
    for x, y in ((a, b), (b, a)):
        assert_deferred_matches(x, y, below=0)


def test_equal_images_are_never_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = _write(_three_layers(b"one"), tmp_path, "a.tar", "docker-legacy")
    b = _write(_three_layers(b"one"), tmp_path, "b", "extracted")
    calls = _count_rereads(monkeypatch)
    inputs.choose_pair(a, b, needed_layers=layers_needing_content)
    assert calls == []


def test_a_compressed_input_is_read_whole_with_content_digests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = _write(_three_layers(b"one"), tmp_path, "a.tar.gz", "docker-legacy+gzip")
    b = _write(_three_layers(b"two"), tmp_path, "b.tar", "docker-legacy")
    assert not inputs.can_read_again(a) and inputs.can_read_again(b)
    calls = _count_rereads(monkeypatch)
    ca, cb = inputs.choose_pair(a, b, needed_layers=layers_needing_content)
    # A: three layers read once, with content digests; B: only its differing layer read again.
    assert sorted(calls) == sorted([*(l.member for l in ca.image.layers if l), cb.image.layers[2].member])
    assert all(l is not None and l.location is None for l in ca.image.layers)


def test_locations_point_at_the_blob_bytes(tmp_path: Path) -> None:
    path = _write(_three_layers(b"one"), tmp_path, "a.tar", "docker-legacy")
    archive = reader.read_archive(path, ReadOptions(content_digests=False))
    data = Path(path).read_bytes()
    for lay in archive.images[0].layers:
        assert lay is not None and lay.location is not None
        where = lay.location
        assert where.path == path and where.length == lay.size
        assert where.state is not None and where.state.size == len(data)
        import hashlib
        assert "sha256:" + hashlib.sha256(data[where.offset:where.offset + where.length]).hexdigest() == str(lay.blob_digest)
        for e in lay.entries:
            if e.kind == "file":
                assert (e.content_digest == "") == (e.size >= ReadOptions().digest_below), e.path


@pytest.mark.parametrize("grain", [filestate.GRAIN_NS, 0], ids=["blob-hashed-again", "state-trusted"])
def test_a_file_changed_between_reads_is_an_input_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        grain: int) -> None:
    monkeypatch.setattr(filestate, "GRAIN_NS", grain)
    a = _write(_three_layers(b"one"), tmp_path, "a.tar", "docker-legacy")
    b = _write(_three_layers(b"two"), tmp_path, "b.tar", "docker-legacy")
    original = layers_needing_content

    def then_change(image_a, image_b):  # type: ignore[no-untyped-def]
        # The bytes of B's last layer change after the first read (same size).
        location = image_b.layers[2].location
        data = bytearray(Path(location.path).read_bytes())
        data[location.offset + 600] ^= 0xFF
        Path(location.path).write_bytes(bytes(data))
        return original(image_a, image_b)

    with pytest.raises(InputError, match="changed while being read"):
        inputs.choose_pair(a, b, needed_layers=then_change)


def _spy_rereads(monkeypatch: pytest.MonkeyPatch, during=None, of: str = "") -> list[bool]:  # type: ignore[no-untyped-def]
    """Record, for each read with content digests, whether it trusted the first read's digests
    (and call ``during`` in each trusted read of the archive ``of``)."""
    trusted: list[bool] = []
    original = layer_module.read_layer

    def spying(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        if kwargs.get("options", ReadOptions()).content_digests:  # type: ignore[attr-defined]
            trusted.append(kwargs.get("unchanged_from") is not None)
            if during is not None and trusted[-1] and kwargs["archive"] == of:
                during()
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(layer_module, "read_layer", spying)
    return trusted


def test_a_settled_file_is_read_again_without_hashing_its_blob(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = _write(_three_layers(b"one"), tmp_path, "a.tar", "docker-legacy")
    b = _write(_three_layers(b"two"), tmp_path, "b.tar", "oci-dir")
    full = report_of(a, b)
    # Just written: the files' ctime is too recent to prove anything, the blobs are hashed again.
    trusted = _spy_rereads(monkeypatch)
    assert report_of(a, b, needed_layers=layers_needing_content) == full
    assert trusted == [False, False]
    # As if written long ago: their state proves them unchanged, and the report is the same.
    monkeypatch.setattr(filestate, "GRAIN_NS", 0)
    trusted = _spy_rereads(monkeypatch)
    assert report_of(a, b, needed_layers=layers_needing_content) == full
    assert trusted == [True, True]


def test_a_settled_file_written_during_the_second_read_is_an_input_error(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(filestate, "GRAIN_NS", 0)
    a = _write(_three_layers(b"one"), tmp_path, "a.tar", "docker-legacy")
    b = _write(_three_layers(b"two"), tmp_path, "b.tar", "docker-legacy")

    def append() -> None:
        with open(b, "ab") as f:
            f.write(bytes(512))

    _spy_rereads(monkeypatch, during=append, of=b)
    with pytest.raises(InputError, match="changed while being read: its size, mtime or ctime differ"):
        inputs.choose_pair(a, b, needed_layers=layers_needing_content)


def test_file_state_proves_unchanged_only_when_equal_and_settled() -> None:
    second = 1_000_000_000
    first = filestate.FileState(1, 2, 3, 10 * second, 10 * second, taken_ns=20 * second)
    assert filestate.unchanged_since(first, replace(first, taken_ns=30 * second))
    assert not filestate.unchanged_since(None, first)
    for changed in (replace(first, size=4), replace(first, mtime_ns=11 * second), replace(first, ctime_ns=11 * second),
                    replace(first, inode=9), replace(first, device=9)):
        assert not filestate.unchanged_since(first, changed)
    # Changed within the grain before the first read: another change could leave the same ctime.
    recent = replace(first, taken_ns=first.ctime_ns + filestate.GRAIN_NS - 1)
    assert not filestate.unchanged_since(recent, recent)
    assert filestate.unchanged_since(replace(recent, taken_ns=first.ctime_ns + filestate.GRAIN_NS), recent)


def test_archive_digest_is_left_out_only_when_asked(tmp_path: Path) -> None:
    path = _write(_three_layers(b"one"), tmp_path, "a.tar", "docker-legacy")
    assert reader.read_archive(path, ReadOptions(archive_digest=False)).sha256 is None
    assert reader.read_archive(path).sha256 is not None


def test_with_progress_the_deferred_report_equals_the_full_report(tmp_path: Path) -> None:
    import io

    from imageforensics.read._progress import Progress

    a = _write(_three_layers(b"one"), tmp_path, "a.tar", "docker-legacy")
    b = _write(_three_layers(b"two"), tmp_path, "b.tar", "oci-archive")
    ca, cb = inputs.choose_pair(a, b, progress=Progress(io.StringIO()), needed_layers=layers_needing_content)
    assert ca.image.layers[2] is not None and ca.image.layers[2].location is not None
    assert diff_images(ca.archive, ca.image, cb.archive, cb.image) == report_of(a, b)


def _with_sparse_layers(path: str) -> None:
    """Rewrite the archive at ``path`` with each layer.tar a sparse member (GNU sparse 0.1, no holes):
    tarfile hands its bytes over, but they have no place in the file to be read from again."""
    with tarfile.open(path) as tar:
        members = [(info, tar.extractfile(info).read() if info.isreg() else None) for info in tar]  # type: ignore[union-attr]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if info.name.endswith("layer.tar"):
                assert data is not None
                info.pax_headers = {"GNU.sparse.map": f"0,{len(data)}", "GNU.sparse.realsize": str(len(data)),
                                    "GNU.sparse.name": info.name, "GNU.sparse.numblocks": "1"}
                info.name = "GNUSparseFile.0/layer.tar"
            tar.addfile(info, None if data is None else io.BytesIO(data))
    Path(path).write_bytes(out.getvalue())


def test_a_needed_layer_without_location_reads_the_whole_input_again(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    a = _write(_three_layers(b"one"), tmp_path, "a.tar", "docker-legacy")
    b = _write(_three_layers(b"two"), tmp_path, "b.tar", "docker-legacy")
    _with_sparse_layers(b)
    assert inputs.can_read_again(b)
    assert all(l is not None and l.location is None for l in reader.read_archive(b, ReadOptions(content_digests=False)).images[0].layers)
    calls = _count_rereads(monkeypatch)
    ca, cb = inputs.choose_pair(a, b, needed_layers=layers_needing_content)
    # A: its differing layer read again; B: read whole again with content digests.
    assert sorted(calls) == sorted([ca.image.layers[2].member, *(l.member for l in cb.image.layers if l)])
    assert diff_images(ca.archive, ca.image, cb.archive, cb.image) == report_of(a, b)


def test_a_snapshot_against_an_archive_deferred_equals_full(tmp_path: Path) -> None:
    from imageforensics.snapshot import write_snapshot

    a = _write(_three_layers(b"one"), tmp_path, "a.tar", "docker-legacy")
    b = _write(_three_layers(b"two"), tmp_path, "b.tar", "docker-legacy")
    snap = tmp_path / "a.json"
    snap.write_bytes(write_snapshot(reader.read_archive(a)))
    assert not inputs.can_read_again(str(snap))
    assert_deferred_matches(str(snap), b, kept=(True, False))
    assert_deferred_matches(b, str(snap), kept=(False, True))


def test_a_needed_layer_of_small_files_is_not_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def image(last: bytes) -> ImageSpec:
        layers = (Layer(entries=(Entry("etc/base", data=b"base"),)), Layer(entries=(Entry("app/run", data=last),)))
        return ImageSpec(layers=layers, history=tuple(Step(created_by=f"COPY {i} /") for i in range(2)))

    a = _write(image(b"one"), tmp_path, "a.tar", "docker-legacy")
    b = _write(image(b"two"), tmp_path, "b.tar", "docker-legacy")
    full = report_of(a, b)
    calls = _count_rereads(monkeypatch)
    ca, cb = inputs.choose_pair(a, b, needed_layers=layers_needing_content)
    assert calls == []
    assert ca.image.layers[1] is not None and ca.image.layers[1].entries[-1].content_digest.startswith("sha256:")
    assert diff_images(ca.archive, ca.image, cb.archive, cb.image) == full
