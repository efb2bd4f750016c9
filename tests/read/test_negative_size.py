"""A negative base-256 size in a tar header is rejected, in a layer and in the outer archive.

tarfile moves its offset by the size it reads: a negative one sends it back to
headers it has read already, for ever (a campaign of tools/fuzz.py found the
hang in a layer). Go's archive/tar, which dockerd and containerd read with,
rejects such a header (ErrHeader); so does the reader: the layer is unreadable.
In the outer archive the same header is a finding (negative-size, ERROR:
docker load refuses the archive), see tests/hostile/outer-negative-size.tar.
"""

from __future__ import annotations

import io
from pathlib import Path

from imageforensics.read import read_stream
from tools.fuzz import guarded
from tools.mutators import RawTar, base256, checksum, layers, replace_layer

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "platform-a.tar"


def _negative(header: bytearray) -> None:
    header[124:136] = base256(-512, 12)
    checksum(header)


def test_a_layer_entry_of_negative_size_makes_the_layer_unreadable_not_a_loop() -> None:
    outer = RawTar.parse(SAMPLE.read_bytes())
    assert outer is not None
    layer = layers(outer)[0]
    inner = RawTar.parse(layer.tar)
    assert inner is not None and len(inner.entries) > 1
    _negative(inner.entries[1].main.header)
    replace_layer(outer, layer, inner.dump())
    archive = guarded(lambda: read_stream(io.BytesIO(outer.dump()), "neg.tar"), cpu_seconds=20)
    unreadable = [layer for image in archive.images for layer in image.layers if layer is not None and not layer.readable]
    assert len(unreadable) == 1 and "corrupt" in unreadable[0].problem
