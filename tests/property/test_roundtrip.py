"""Properties of the reader on synthetic archives (issue 2): reading back gives the model the archive
was built from, whatever the member order and however the input is chunked; the model hashes."""

from __future__ import annotations

import hashlib
import io
import random
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.strategies import TAR_LAYOUTS, BuiltArchive, archive_specs, archives
from tools.synth import ArchiveSpec, Entry, ImageSpec, Layer, archive_truth, build_archive, full_name, split_reference
from tools.synth import Config, Step, expected_image_id, pre_v110_archive, write_extracted, write_oci_dir

reader = pytest.importorskip("imageforensics.read._archive", reason="imageforensics.read._archive is not written yet")

# Specs carry file data, so a falsifying example is large; its repr is still wanted.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Chunked(io.RawIOBase):
    """A non-seekable stream that returns short reads of random sizes (1 byte at a time when max_chunk=1)."""

    def __init__(self, data: bytes, *, seed: int, max_chunk: int) -> None:
        self._data, self._pos = data, 0
        self._rng = random.Random(seed)
        self._max = max_chunk

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = len(self._data) - self._pos
        n = min(n, self._rng.randint(1, self._max))
        out = self._data[self._pos:self._pos + n]
        self._pos += len(out)
        return out

    def readinto(self, buffer: Any) -> int:
        chunk = self.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def read_bytes(data: bytes, *, seed: int = 0, max_chunk: int | None = None) -> Any:
    stream = io.BytesIO(data) if max_chunk is None else Chunked(data, seed=seed, max_chunk=max_chunk)
    return reader.read_stream(stream, "synthetic.tar")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the model we expect


def escape(value: bytes) -> str:
    """xattr values as the model documents them: printable ASCII as is, backslash doubled, else \\xNN."""
    out = []
    for b in value:
        if b == 0x5C:
            out.append("\\\\")
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append("\\x%02x" % b)
    return "".join(out)


def expected_entry(e: Entry) -> tuple[Any, ...]:
    if e.kind in ("whiteout", "opaque"):
        return (e.path, e.kind)
    data = e.data if e.kind == "file" and isinstance(e.data, bytes) else b""
    return (e.path, e.kind, len(data), e.perm, e.uid, e.gid, e.mtime_ns,
            e.linkname if e.kind in ("symlink", "hardlink") else "",
            (e.devmajor, e.devminor) if e.kind in ("char", "block") else (0, 0),
            tuple(sorted((k, escape(v)) for k, v in e.xattrs)),
            "sha256:" + hashlib.sha256(data).hexdigest() if e.kind == "file" else "")


def read_entry(f: Any) -> tuple[Any, ...]:
    if f.kind in ("whiteout", "opaque"):
        return (f.path, f.kind)
    return (f.path, f.kind, f.size, f.mode & 0o7777, f.uid, f.gid, f.mtime_ns, f.linkname,
            (f.devmajor, f.devminor), f.xattrs, f.content_digest)


def spellings(ref: str) -> set[str]:
    """The ways a layout may spell one reference: as given, fully qualified, or only the tag."""
    name, tag = split_reference(ref)
    return {ref, f"{name}:{tag}", f"{full_name(name)}:{tag}", tag}


def check_image(image: Any, spec: ImageSpec, truth: Any, layout: str) -> None:
    """One read image against its spec and the writer's independent truth."""
    assert str(image.image_id) == truth.image_id
    assert tuple(str(d) for d in image.diff_ids) == truth.diff_ids
    assert len(image.layers) == len(spec.layers)
    for layer, layer_spec, diff_id, blob in zip(image.layers, spec.layers, truth.diff_ids, truth.blob_digests):
        assert layer is not None and layer.readable, layer
        assert str(layer.diff_id) == diff_id and str(layer.blob_digest) == blob
        assert [read_entry(f) for f in layer.entries] == [expected_entry(e) for e in layer_spec.entries]
    assert [(s.index, s.created.raw if s.created else None, s.created_by, s.author, s.comment, s.empty_layer)
            for s in image.history] == [
        (i, s.created, s.created_by or "", s.author or "", s.comment or "", s.empty_layer)
        for i, s in enumerate(spec.history)]
    c = spec.config
    assert (image.platform.os, image.platform.architecture, image.platform.variant) == (c.os, c.architecture, c.variant)
    assert (image.created.raw if image.created else None) == c.created
    rc = image.run_config
    # BuildKit's ImageConfig omits empty lists (omitempty); the classic container.Config writes [] or null.
    lists = (c.env, c.cmd, c.entrypoint) if c.flavor == "classic" else (c.env or None, c.cmd or None, c.entrypoint or None)
    assert (rc.env, rc.cmd, rc.entrypoint) == lists
    assert rc.working_dir == c.working_dir and rc.user == c.user
    assert sorted(rc.exposed_ports) == sorted(p if "/" in p else f"{p}/tcp" for p in c.exposed_ports)
    assert sorted(rc.volumes) == sorted(c.volumes) and dict(rc.labels) == dict(c.labels)
    assert image.has_inline_cache == any(k == "moby.buildkit.cache.v0" for k, _ in c.extra)
    for ref in spec.references:
        assert spellings(ref) & set(image.references), (ref, image.references)
    allowed = set().union(*(spellings(r) for r in spec.references)) if spec.references else set()
    assert set(image.references) <= allowed
    if truth.manifest_digest is not None and image.manifest_digest is not None:
        assert str(image.manifest_digest) == truth.manifest_digest


def check_archive(archive: Any, spec: ArchiveSpec, layout: str, *, truth_layout: str | None = None) -> None:
    """Every image of the archive against its spec; the truth comes from the writer (hashlib on its bytes)."""
    assert archive.layout == layout
    truths = {t.image_id: t for t in archive_truth(spec, truth_layout or layout)}
    by_id = {str(image.image_id): image for image in archive.images}
    assert sorted(by_id) == sorted(truths)
    for image_spec in spec.images:
        truth = truths[expected_image_id(image_spec)]
        check_image(by_id[truth.image_id], image_spec, truth, layout)
    hash(archive)


# --------------------------------------------------------------------------- properties


@SETTINGS
@given(archives())
def test_reading_back_gives_the_model_the_archive_was_built_from(built: BuiltArchive) -> None:
    check_archive(read_bytes(built.data), built.spec, built.layout)


@settings(SETTINGS, max_examples=30)
@given(archive_specs(), st.sampled_from(TAR_LAYOUTS), st.integers(0, 2**16))
def test_member_order_does_not_change_the_model(spec: ArchiveSpec, layout: str, seed: int) -> None:
    if layout == "oci-archive":
        spec = ArchiveSpec(images=spec.images)
    first = read_bytes(build_archive(spec, layout))
    for how in ("reversed", "shuffled", "manifest-first"):
        other = read_bytes(build_archive(spec, layout, order=how, seed=seed))
        assert sorted(other.images, key=lambda i: str(i.image_id)) == sorted(first.images, key=lambda i: str(i.image_id))
        assert other.layout == first.layout


@settings(SETTINGS, max_examples=40)
@given(archives(), st.integers(0, 2**16), st.sampled_from([3, 64, 700, 5000]))
def test_chunking_does_not_change_the_model(built: BuiltArchive, seed: int, max_chunk: int) -> None:
    whole = read_bytes(built.data)
    assert read_bytes(built.data, seed=seed, max_chunk=max_chunk) == whole


@pytest.mark.parametrize("layout", TAR_LAYOUTS)
def test_byte_by_byte(layout: str) -> None:
    layer = Layer(entries=(Entry("etc", kind="dir"), Entry("etc/motd", data=b"hello\n" * 50, mtime_ns=1_612_451_967_935_272_300),
                           Entry("etc/gone", kind="whiteout")), compression="gzip")
    spec = ArchiveSpec(images=(ImageSpec(layers=(layer, Layer()), history=(Step(created="2021-02-04T15:19:27.9352723Z",
                                                                                 created_by="COPY rootfs / # buildkit"),
                                                                            Step(created_by="RUN true")),
                                         config=Config(created="2021-02-04T15:19:27.9352723Z"),
                                         references=("local/tomcat:pulled",)),))
    data = build_archive(spec, layout, compression="gzip")
    whole = read_bytes(data)
    check_archive(whole, spec, layout)
    assert read_bytes(data, max_chunk=1) == whole


@settings(max_examples=15, deadline=None)
@given(archive_specs())
def test_oci_directory_reads_like_the_archive(spec: ArchiveSpec) -> None:
    spec = ArchiveSpec(images=spec.images)
    with tempfile.TemporaryDirectory() as tmp:
        write_oci_dir(spec, Path(tmp) / "layout")
        from_dir = reader.read_archive(str(Path(tmp) / "layout"))
    check_archive(from_dir, spec, "oci-dir", truth_layout="oci-archive")


@settings(max_examples=15, deadline=None)
@given(archive_specs(), st.sampled_from(TAR_LAYOUTS))
def test_extracted_archive_reads_like_the_archive(spec: ArchiveSpec, layout: str) -> None:
    spec = ArchiveSpec(images=spec.images)
    with tempfile.TemporaryDirectory() as tmp:
        write_extracted(spec, Path(tmp) / "x", layout)
        from_dir = reader.read_archive(str(Path(tmp) / "x"))
    check_archive(from_dir, spec, "oci-dir" if layout == "oci-archive" else "docker-dir", truth_layout=layout)


def test_pre_1_10_save_is_recognised_with_a_clear_message() -> None:
    from imageforensics.errors import InputError

    spec = ArchiveSpec(images=(ImageSpec(layers=(Layer(entries=(Entry("a", data=b"x"),)),), references=("old:1",)),))
    with pytest.raises(InputError, match="pre-1.10"):
        read_bytes(pre_v110_archive(spec))
