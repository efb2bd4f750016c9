"""options: every limit and fixed cap is a field of Limits, and each is read from the Limits a stage is given.

Lowering a cap is passing a smaller ``Limits``: each test here lowers one and
sees it hold, where the default lets the same input through (or keeps more).
"""

from __future__ import annotations

import dataclasses
import io
import json
import tarfile
from pathlib import Path

import pytest

from tests.archivekit import OCI_INDEX, OCI_MANIFEST, Link, hexof, js, layer_tar, legacy, oci, oci_manifest, simple_image, tar_of
from imageforensics.errors import InputError, LimitError, SnapshotError
from imageforensics.model import Archive
from imageforensics.options import DiffOptions, Limits, ReadOptions, fixed_caps, settable_limits
from imageforensics.parse._json import load_json_bytes
from imageforensics.read._archive import read_stream
from imageforensics.read._layer_blob import read_layer
from imageforensics.read._tar_header import FastTarInfo
from imageforensics.snapshot import load_snapshot, write_snapshot

IMG = simple_image()
LEGACY = legacy([IMG])


def read(data: bytes, limits: Limits = Limits()) -> Archive:
    return read_stream(io.BytesIO(data), "t.tar", ReadOptions(limits=limits))  # type: ignore[arg-type]


def desc(media_type: str, data: bytes) -> dict[str, object]:
    return {"mediaType": media_type, "digest": f"sha256:{hexof(data)}", "size": len(data)}


def test_the_defaults_are_those_documented() -> None:
    assert dataclasses.asdict(Limits()) == {
        "max_json_bytes": 64 << 20, "max_json_depth": 200, "max_layers": 4096, "max_entries_per_layer": 2_000_000,
        "max_entries_total": 4_000_000,
        "max_path_bytes": 64 << 10, "max_expansion_ratio": 1000, "expansion_allowance": 64 << 20,
        "members_per_layer": 16, "members_besides_layers": 4096, "extended_header_allowance": 1 << 20,
        "max_bytes_after_end": 64 << 20, "json_held_multiple": 2, "max_small_member_bytes": 64 << 10,
        "max_sparse_runs": 100_000, "max_anomalies_per_layer": 1000, "max_link_hops": 40, "max_symlink_hops": 255,
        "max_symlink_steps": 65_536, "max_index_depth": 16,
        "max_descriptors": 100_000, "max_duplicate_keys": 20, "depth_scan_chars": 4 << 20, "max_config_paths": 4096,
        "snapshot_json_multiple": 16, "max_alignment_cells": 1_000_000, "max_difflib_units": 10_000, "resync_window": 64,
        "max_kept_file_bytes": 64 << 20, "max_kept_layer_bytes": 256 << 20, "max_package_databases_per_layer": 100_000,
        "max_shown_content_bytes": 1 << 20,
    }
    d = Limits()
    assert (d.max_members, d.max_extended_header_bytes, d.max_json_held_bytes, d.max_snapshot_bytes) == (
        16 * 4096 + 4096, 2 * (64 << 10) + (1 << 20), 2 * (64 << 20), 16 * (64 << 20))


def test_every_field_is_either_a_settable_limit_or_a_described_fixed_cap() -> None:
    settable, fixed = set(settable_limits()), set(fixed_caps())
    assert settable | fixed == set(dataclasses.fields(Limits)) and not settable & fixed
    for f in settable:
        assert f.metadata["flag"].startswith("--max-") and f.metadata["metavar"] and f.metadata["help"], f.name
    for f in fixed:
        assert f.metadata["fixed"], f.name


def test_members_of_an_archive() -> None:
    limits = Limits(max_layers=2, members_per_layer=3, members_besides_layers=len(LEGACY) - 6)
    assert len(read(tar_of(LEGACY), limits).images) == 1
    with pytest.raises(LimitError) as info:
        read(tar_of(LEGACY + [("junk", b"")]), limits)
    assert str(info.value) == f"t.tar: junk: more than {len(LEGACY)} members in the archive (3 per layer allowed by --max-layers, plus {len(LEGACY) - 6})"


def test_an_extended_header() -> None:
    info = tarfile.TarInfo("x")
    info.pax_headers = {"comment": "a" * 2000}
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        tf.addfile(info, io.BytesIO(b""))
    data = out.getvalue()[:1024 + 2048] + tar_of(LEGACY)  # the member "x", then the image
    with pytest.raises(LimitError, match=r"^t.tar: tar extended header of 2048 bytes at offset 512 is over the 1200-byte limit"):
        read(data, Limits(max_path_bytes=100, extended_header_allowance=1000))
    assert len(read(data, Limits(max_path_bytes=100, extended_header_allowance=2000)).images) == 1


def test_bytes_after_the_end_of_the_archive() -> None:
    data = tar_of(LEGACY) + bytes(3 << 20)
    with pytest.raises(InputError) as info:
        read(data, Limits(max_bytes_after_end=1 << 20))
    assert str(info.value) == "t.tar: more than 1048576 bytes follow the end-of-archive marker (an endless input such as /dev/zero?)"
    assert len(read(data).images) == 1


def test_json_members_held_together() -> None:
    members = LEGACY + [(f"doc{i}.json", js({"pad": "x" * 900})) for i in range(5)]
    with pytest.raises(LimitError, match=r"JSON members together exceed 4096 bytes"):
        read(tar_of(members), Limits(max_json_bytes=4096, json_held_multiple=1))
    assert len(read(tar_of(members), Limits(max_json_bytes=4096)).images) == 1


def test_runs_of_a_sparse_map() -> None:
    # An old-GNU sparse header with one extension block of 21 runs.
    info = tarfile.TarInfo("sparse")
    info.type = tarfile.GNUTYPE_SPARSE
    header = bytearray(info.tobuf(tarfile.GNU_FORMAT)[:512])
    header[482] = 1  # isextended
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\x00 " % sum(header)
    block = bytearray(512)
    for i in range(21):
        block[i * 24 : i * 24 + 24] = b"%011o\x00%011o\x00" % (i + 1, 1)
    with pytest.raises(InputError) as raised:
        read(bytes(header) + bytes(block) + tar_of(LEGACY), Limits(max_sparse_runs=20))
    assert str(raised.value) == "t.tar: not a tar archive (sparse map has more than 20 runs)"
    assert FastTarInfo.capped(Limits()) is FastTarInfo
    assert FastTarInfo.capped(Limits(max_sparse_runs=20)).max_sparse_runs == 20


def test_anomalies_listed_per_layer() -> None:
    tar = layer_tar({f"/abs{i}": b"" for i in range(5)})
    layer = read_layer(io.BytesIO(tar), archive="a", member="m", options=ReadOptions(limits=Limits(max_anomalies_per_layer=3)))
    assert layer.anomalies == (("absolute-name", "/abs0"), ("absolute-name", "/abs1"), ("absolute-name", "/abs2"),
                               ("more-anomalies", "2 more not listed"))
    assert len(read_layer(io.BytesIO(tar), archive="a", member="m").anomalies) == 5


def test_links_followed_to_resolve_a_member() -> None:
    layer = json.loads(dict(LEGACY)["manifest.json"])[0]["Layers"][1]
    chain = [(n, c) for n, c in LEGACY if n != layer] + [
        (layer, Link("../c0/layer.tar")), ("c0/layer.tar", Link("../c1/layer.tar")), ("c1/layer.tar", dict(LEGACY)[layer])]
    codes = {f.code for f in read(tar_of(chain), Limits(max_link_hops=2)).findings}
    assert "member-link-loop" in codes
    assert all(layer is not None for layer in read(tar_of(chain)).images[0].layers)


def test_nesting_of_image_indexes_and_descriptors_walked() -> None:
    manifest, blobs = oci_manifest(IMG, compress=False)
    current = desc(OCI_MANIFEST, manifest)
    blobs.append((f"blobs/sha256/{hexof(manifest)}", manifest))
    for _ in range(3):  # index.json → three nested indexes → the manifest: four descriptors
        index = js({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [current]})
        blobs.append((f"blobs/sha256/{hexof(index)}", index))
        current = desc(OCI_INDEX, index)
    nested = tar_of([("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'),
                     ("index.json", js({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [current]})), *blobs])
    with pytest.raises(LimitError, match=r"image indexes nest more than 2 levels$"):
        read(nested, Limits(max_index_depth=2))
    with pytest.raises(LimitError, match=r"image indexes list more than 3 descriptors in all"):
        read(nested, Limits(max_descriptors=3))
    assert len(read(nested, Limits(max_index_depth=3, max_descriptors=4)).images) == 1


def test_duplicate_keys_noted_and_the_depth_scan_of_too_deep_json() -> None:
    doc = b'{"a": 1, "a": 2, "a": 3, "a": 4}'
    assert load_json_bytes(doc, source="s", member="m", what="x", limits=Limits(max_duplicate_keys=2))[1] == ["a", "a"]
    assert load_json_bytes(doc, source="s", member="m", what="x", limits=Limits())[1] == ["a", "a", "a"]
    deep = b"[" * 100_000
    with pytest.raises(LimitError, match=r"x nests at least 50 levels deep, deeper than Python's JSON parser reads"):
        load_json_bytes(deep, source="s", member="m", what="x", limits=Limits(depth_scan_chars=50))


def test_size_of_a_snapshot() -> None:
    data = write_snapshot(read(tar_of(LEGACY)))
    with pytest.raises(SnapshotError, match=rf"snapshot is more than {len(data) - 1} bytes"):
        load_snapshot(data, source="s.json", limits=Limits(max_json_bytes=len(data) - 1, snapshot_json_multiple=1))
    assert load_snapshot(data, source="s.json", limits=Limits(max_json_bytes=len(data), snapshot_json_multiple=1)).images


def test_read_options_choose_the_platform_and_the_digests(tmp_path: Path) -> None:
    from dataclasses import replace

    from imageforensics.read._sources import choose, choose_pair

    amd, arm = simple_image(seed="x"), replace(simple_image(seed="y"), architecture="arm64", variant="v8")
    path = tmp_path / "multi.tar"
    path.write_bytes(tar_of(oci([amd, arm])))
    chosen = choose(str(path), ReadOptions(platform="linux/arm64/v8"))
    assert str(chosen.image.platform) == "linux/arm64/v8" and chosen.archive.sha256 is not None
    a, b = choose_pair(str(path), str(path), ReadOptions(platform="linux/amd64", archive_digest=False))
    assert str(a.image.platform) == str(b.image.platform) == "linux/amd64" and a.archive.sha256 is None


def test_diff_options_carry_the_limits_of_the_alignment() -> None:
    from imageforensics.diff._align import align_images
    from imageforensics.diff._engine import diff_images
    from tests.modelfactory import archive, build, spec, step

    # Alternating steps: the exact alignment pairs 39 of 40 steps, the linear pass past the caps fewer.
    a = build(spec(*[step(["RUN x", "RUN y"][i % 2]) for i in range(40)]))
    b = build(spec(*[step(["RUN y", "RUN x"][i % 2]) for i in range(40)]))
    low = DiffOptions(limits=Limits(max_alignment_cells=1, max_difflib_units=1, resync_window=0))

    def rows(options: DiffOptions) -> list[tuple[int | None, int | None]]:
        return [(row.index_a, row.index_b) for row in diff_images(archive(a), a, archive(b), b, options).steps]

    assert rows(low) == [(p.a.index if p.a else None, p.b.index if p.b else None) for p in align_images(a, b, low.limits)]
    assert rows(low) != rows(DiffOptions())


def test_the_package_filters_are_described_like_the_others() -> None:
    assert DiffOptions().described() == ()
    options = DiffOptions(ignore_file_owner=True, ignore_packages=("ngin*", "libc6"), package_types=("apk", "dpkg"))
    assert options.described() == (("ignore_file_owner", "true"), ("ignore_packages", "ngin* libc6"),
                                   ("package_types", "apk dpkg"))
