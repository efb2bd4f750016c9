"""Properties of the reader: member order and read chunking never change the model; the model hashes."""

from __future__ import annotations

import gzip
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.archivekit import BUILDERS, Chunked, Img, layer_tar, simple_image, tar_of
from imageforensics.model import Archive
from imageforensics.read._archive import read_stream



def _images() -> list[Img]:
    first = simple_image("local/a:1", "a")
    # The second image repeats the first's base layer: symlinks, shared blobs, repeated diff_ids.
    second = Img(
        layers=[first.layers[0], layer_tar({"srv/b": b"b" * 700}), first.layers[0]],
        history=[{"created_by": "ADD x /"}, {"created_by": "RUN make"}, {"created_by": "RUN true"}],
        tags=["local/b:2"],
    )
    return [first, second]


MEMBERS = {layout: build(_images()) for layout, build in BUILDERS.items()}


def _essence(archive: Archive) -> tuple[object, ...]:
    """Everything that must not depend on how the bytes were ordered or delivered."""
    return (archive.layout, archive.compression, archive.images, archive.findings, archive.notes)


REFERENCE = {layout: _essence(read_stream(io.BytesIO(tar_of(members)), "x.tar")) for layout, members in MEMBERS.items()}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layout=st.sampled_from(sorted(BUILDERS)), data=st.data())
def test_member_order_does_not_change_the_model(layout, data):
    members = data.draw(st.permutations(MEMBERS[layout]))
    archive = read_stream(io.BytesIO(tar_of(members)), "x.tar")
    assert _essence(archive) == REFERENCE[layout]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    layout=st.sampled_from(sorted(BUILDERS)),
    sizes=st.lists(st.integers(min_value=1, max_value=5000), min_size=1, max_size=8),
    compressed=st.booleans(),
)
def test_chunking_does_not_change_the_model(layout, sizes, compressed):
    data = tar_of(MEMBERS[layout])
    if compressed:
        data = gzip.compress(data, mtime=0)
    whole = read_stream(io.BytesIO(data), "x.tar")
    chunked = read_stream(Chunked(data, sizes), "x.tar")  # type: ignore[arg-type]
    assert chunked == whole
    assert chunked.size == len(data)


def test_byte_by_byte_reading_gives_the_same_model():
    for layout, members in MEMBERS.items():
        data = tar_of(members)
        assert read_stream(Chunked(data, [1]), "x.tar") == read_stream(io.BytesIO(data), "x.tar"), layout  # type: ignore[arg-type]


def test_every_model_value_hashes():
    for members in MEMBERS.values():
        archive = read_stream(io.BytesIO(tar_of(members)), "x.tar")
        assert hash(archive) == hash(read_stream(io.BytesIO(tar_of(members)), "x.tar"))
        for image in archive.images:
            hash(image)
            for layer in image.layers:
                hash(layer)
