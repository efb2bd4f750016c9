"""The reader on synthetic archives of every layout, written in memory with tarfile (see archivekit)."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.archivekit import BUILDERS, Dir, Img, Link, cimage, containerd, crane, gz, graphdriver, hexof, js, layer_tar, legacy, oci, oci_manifest, sha, simple_image, tar_of, write_dir
from imageforensics.audit import image_findings
from imageforensics.errors import InputError, LimitError
from imageforensics.options import Limits, ReadOptions
from imageforensics.model import Archive, Digest, Image
from imageforensics.read._archive import read_archive, read_stream

ROOT = Path(__file__).resolve().parents[2]


def read_bytes(data: bytes, source: str = "t.tar", **kw: object) -> Archive:
    return read_stream(io.BytesIO(data), source, **kw)  # type: ignore[arg-type]


def codes(findings: object) -> list[str]:
    return sorted(f.code for f in findings)  # type: ignore[attr-defined]


def check_image(image: Image, img: Img) -> None:
    """The image read back is the image written: ID, diff_ids, each layer's recomputed diff_id, history."""
    assert str(image.image_id) == img.image_id()
    assert [str(d) for d in image.diff_ids] == img.diff_ids()
    assert [str(layer.diff_id) for layer in image.layers if layer is not None] == img.diff_ids()
    assert len(image.history) == len(img.history)
    assert str(image.platform) == f"{img.os}/{img.architecture}" + (f"/{img.variant}" if img.variant else "")
    non_empty = [s for s in image.history if not s.empty_layer]
    assert [s.layer_index for s in non_empty] == list(range(len(non_empty)))
    assert all(s.layer_index is None for s in image.history if s.empty_layer)
    assert not [f for f in image_findings(image) if f.severity.name == "ERROR"]


@pytest.mark.parametrize("layout", sorted(BUILDERS))
def test_each_layout_reads_back_what_was_written(layout):
    img = simple_image("local/app:1")
    archive = read_bytes(tar_of(BUILDERS[layout]([img])))
    assert archive.layout == layout
    assert archive.compression == "none"
    assert len(archive.images) == 1
    check_image(archive.images[0], img)
    assert "local/app:1" in archive.images[0].references or "1" in archive.images[0].references


def test_legacy_two_images_with_parent_and_a_symlinked_repeated_layer():
    first = simple_image("local/app:1", "a")
    second = Img(layers=[first.layers[0], layer_tar({"x": b"x"})], history=[{"created_by": "ADD a /"}, {"created_by": "RUN x"}], tags=["local/app:2"])
    archive = read_bytes(tar_of(legacy([first, second], parent_links=True)))
    assert archive.layout == "docker-legacy"
    a, b = archive.images
    check_image(a, first)
    check_image(b, second)
    # The repeated layer is read once, through the symlink: the very same Layer value.
    assert b.layers[0] == a.layers[0]
    assert b.layer_refs[0] != a.layer_refs[0]
    parent = [f for f in b.findings if f.code == "image-parent"]
    assert parent and parent[0].evidence_value("parent") == first.image_id()


def test_containers_image_layers_are_read_through_the_physical_diffid_tar():
    imgs = [simple_image("local/a:1", "a"), simple_image("local/b:2", "b")]
    archive = read_bytes(tar_of(cimage(imgs), mode=0o444))
    assert archive.layout == "docker-containers-image"
    for image, img in zip(archive.images, imgs):
        check_image(image, img)
        assert image.references == tuple(img.tags)
        assert [ref for ref in image.layer_refs] == [f"{hexof(t)}.tar" for t in img.layers]


def test_crane_layers_are_compressed_blobs_named_by_their_blob_digest():
    img = simple_image()
    archive = read_bytes(tar_of(crane([img])))
    layer = archive.images[0].layers[1]
    assert layer is not None and layer.compression == "gzip"
    assert str(layer.blob_digest) == sha(gz(img.layers[1]))
    assert str(layer.diff_id) == sha(img.layers[1])
    assert archive.images[0].config_member == sha(img.config())


def test_containerd_save_merges_index_names_and_manifest_digest():
    img = simple_image("library/app:1")
    archive = read_bytes(tar_of(containerd([img])))
    image = archive.images[0]
    assert archive.layout == "docker-oci-containerd"
    assert image.references == ("library/app:1", "docker.io/library/app:1", "1")
    assert image.manifest_digest is not None
    assert not [f for f in image.findings if f.code == "manifest-index-mismatch"]


def test_graphdriver_untagged_save_with_null_manifests():
    img = simple_image()
    img.tags = []
    members = [(n, c) for n, c in graphdriver([img]) if n != "index.json"]
    members.append(("index.json", js({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": None})))
    archive = read_bytes(tar_of(members))
    assert archive.layout == "docker-oci-graphdriver"
    assert archive.images[0].references == ()
    assert "index-manifests-null" in codes(archive.findings)
    # The OCI manifest blob is then referenced by nothing.
    assert "blob-unreferenced" in codes(archive.findings)


@pytest.mark.parametrize("kind,compress", [("gzip", gzip.compress), ("bzip2", bz2.compress), ("xz", lzma.compress)])
def test_outer_compression(kind, compress):
    img = simple_image()
    plain = tar_of(legacy([img]))
    data = compress(plain)
    archive = read_bytes(data)
    assert archive.compression == kind
    assert archive.sha256 == Digest.sha256(hexof(data))
    assert archive.size == len(data)
    check_image(archive.images[0], img)


@pytest.mark.skipif(shutil.which("zstd") is None and sys.version_info < (3, 14), reason="no zstd decoder here")
def test_outer_zstd():
    plain = tar_of(legacy([simple_image()]))
    data = subprocess.run(["zstd", "-q", "-c"], input=plain, stdout=subprocess.PIPE, check=True).stdout
    archive = read_bytes(data)
    assert archive.compression == "zstd"
    assert archive.images[0].layers[0] is not None


def test_sha256_and_size_cover_the_whole_input_including_trailing_padding():
    data = tar_of(legacy([simple_image()])) + bytes(10240)
    archive = read_bytes(data)
    assert archive.size == len(data)
    assert archive.sha256 == Digest.sha256(hexof(data))


def test_dot_slash_member_names_are_normalised():
    img = simple_image()
    members = [(f"./{n}", c) for n, c in legacy([img])]
    archive = read_bytes(tar_of(members))
    check_image(archive.images[0], img)


def test_reading_from_a_path_and_from_a_directory(tmp_path):
    img = simple_image()
    members = legacy([img])
    path = tmp_path / "a.tar"
    path.write_bytes(tar_of(members))
    assert read_archive(str(path)).images[0].image_id == read_bytes(path.read_bytes()).images[0].image_id
    folder = tmp_path / "extracted"
    write_dir(folder, members)
    archive = read_archive(str(folder))
    assert archive.layout == "docker-dir"
    assert archive.sha256 is None
    check_image(archive.images[0], img)


def test_oci_directory(tmp_path):
    img = simple_image()
    for name, content in oci([img]):
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        assert isinstance(content, bytes)
        target.write_bytes(content)
    archive = read_archive(str(tmp_path))
    assert archive.layout == "oci-dir"
    check_image(archive.images[0], img)


def test_directory_symlink_out_of_the_directory_is_not_followed(tmp_path):
    img = simple_image()
    outside = tmp_path / "outside.tar"
    outside.write_bytes(img.layers[1])
    folder = tmp_path / "d"
    for name, content in oci([img]):
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        assert isinstance(content, bytes)
        if name == f"blobs/sha256/{hexof(gz(img.layers[1]))}":
            os.symlink("../../../outside.tar", target)
        else:
            target.write_bytes(content)
    archive = read_archive(str(folder))
    image = archive.images[0]
    assert image.layers[1] is None
    assert "member-link-escapes" in codes(archive.findings)
    assert "layer-absent" in codes(image.findings)


def test_directory_fifo_is_never_opened(tmp_path):
    img = simple_image()
    for name, content in oci([img]):
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        assert isinstance(content, bytes)
        target.write_bytes(content)
    os.mkfifo(tmp_path / "blobs" / "fifo")
    archive = read_archive(str(tmp_path))  # would hang if the FIFO were opened
    assert "member-special" in codes(archive.findings)


def test_stdin_dash_reads_a_piped_archive():
    data = gzip.compress(tar_of(crane([simple_image("local/piped:1")])))
    code = (
        "from imageforensics.read._archive import read_archive\n"
        "a = read_archive('-')\n"
        "print(a.layout, a.compression, a.images[0].references[0], a.size, a.sha256)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, check=True)
    assert out.stdout.decode().split() == ["docker-crane", "gzip", "local/piped:1", str(len(data)), sha(data)]


# ---- links inside the archive -----------------------------------------------------


def _with_layer_link(target: str) -> bytes:
    img = simple_image()
    members = legacy([img])
    second = [n for n, _ in members if n.endswith("/layer.tar")][1]
    return tar_of([(n, Link(target) if n == second else c) for n, c in members])


@pytest.mark.parametrize("target,code", [
    ("../../etc/passwd", "member-link-escapes"),
    ("/etc/passwd", "member-link-escapes"),
    ("layer.tar", "member-link-loop"),
    ("../nowhere/layer.tar", "member-link-dangling"),
])
def test_layer_symlink_problems_become_findings_and_an_absent_layer(target, code):
    archive = read_bytes(_with_layer_link(target))
    image = archive.images[0]
    assert image.layers[0] is not None and image.layers[1] is None
    assert code in codes(archive.findings)
    absent = [f for f in image.findings if f.code == "layer-absent"]
    assert len(absent) == 1 and absent[0].evidence_value("layer") == 1


def test_layer_symlink_to_a_directory():
    img = simple_image()
    members = legacy([img])
    first_dir = [n for n, c in members if isinstance(c, Dir)][0].rstrip("/")
    second = [n for n, _ in members if n.endswith("/layer.tar")][1]
    archive = read_bytes(tar_of([(n, Link(f"../{first_dir}") if n == second else c) for n, c in members]))
    assert "member-link-to-dir" in codes(archive.findings)
    assert archive.images[0].layers[1] is None


def test_hardlinked_layer_resolves_within_the_archive():
    img = simple_image()
    members = legacy([img])
    names = [n for n, _ in members if n.endswith("/layer.tar")]
    extra = [("copy/layer.tar", Link(names[1], hard=True))]
    manifest = [{"Config": f"{hexof(img.config())}.json", "RepoTags": img.tags, "Layers": [names[0], "copy/layer.tar"]}]
    archive = read_bytes(tar_of([(n, c) for n, c in members if n != "manifest.json"] + extra + [("manifest.json", js(manifest))]))
    check_image(archive.images[0], img)


# ---- bad input: one-line errors -----------------------------------------------------


def _error(data: bytes, **kw: object) -> str:
    with pytest.raises(InputError) as info:
        read_bytes(data, **kw)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_empty_input():
    assert _error(b"") == "t.tar: empty input: expected a tar archive"


def test_random_bytes_are_not_a_tar():
    assert _error(bytes(range(7, 250)) * 20).startswith("t.tar: not a tar archive (")


def test_a_tar_that_is_not_an_image_lists_its_members():
    msg = _error(tar_of([("README.md", b"# hi\n")]))
    assert msg == "t.tar: not an image archive: expected manifest.json (docker save) or index.json (OCI layout), found README.md"


def test_manifest_null():
    assert _error(tar_of([("manifest.json", b"null")])) == "t.tar: manifest.json: expected a JSON array of images, found null"


def test_manifest_config_absent_names_the_member():
    msg = _error(tar_of([("manifest.json", js([{"Config": "abc.json", "Layers": []}]))]))
    assert msg == "t.tar: abc.json: absent: manifest.json[0] names it as the image config"


def test_pre_1_10_save_is_recognised():
    v1 = "a" * 64
    msg = _error(tar_of([(f"{v1}/json", js({"id": v1})), (f"{v1}/VERSION", b"1.0"), (f"{v1}/layer.tar", b""), ("repositories", js({"x": {"latest": v1}}))]))
    assert msg.startswith("t.tar: manifest.json: absent: this is a pre-1.10 docker save")


def test_truncation_at_a_member_boundary_is_detected():
    data = tar_of(legacy([simple_image()]))
    # Drop the manifest.json member and the end-of-archive marker: every remaining member is whole.
    cut = tar_of(legacy([simple_image()])[:-1], end_marker=False)
    assert data.startswith(cut[:512])
    msg = _error(cut)
    assert "archive is truncated after member repositories: no end-of-archive marker" in msg


def _cut_points(data: bytes) -> list[tuple[str, int]]:
    points = []
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for m in tf.getmembers():
            points.append((f"header of {m.name}", m.offset + 100))
            if m.size > 1:
                points.append((f"data of {m.name}", m.offset_data + m.size // 2))
    return points


def test_truncation_inside_member_data_or_headers_names_where():
    data = tar_of(crane([simple_image()]))
    points = _cut_points(data)
    assert len(points) == 8
    for where, cut in points:
        with pytest.raises(InputError) as info:
            read_bytes(data[:cut])
        message = str(info.value)
        assert "\n" not in message
        assert "truncated" in message or "ends in the middle" in message or "expected a tar header" in message, (where, message)


def test_json_nesting_limit():
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(LimitError) as info:
        read_bytes(tar_of([("manifest.json", deep)]))
    assert "nests 100000 levels deep, over the 200-level limit" in str(info.value)


def test_json_size_limit_for_a_referenced_config():
    img = simple_image()
    members = crane([img])
    with pytest.raises(LimitError) as info:
        read_bytes(tar_of(members), options=ReadOptions(limits=Limits(max_json_bytes=len(img.config()) - 1)))
    assert "over the" in str(info.value) and sha(img.config()) in str(info.value)


def test_non_utf8_manifest():
    assert _error(tar_of([("manifest.json", b'[{"Config": "\xff"}]')])) == "t.tar: manifest.json: manifest.json is not UTF-8 (byte 13)"


def test_duplicate_json_keys_are_a_finding():
    img = simple_image()
    members = legacy([img])
    manifest = members[-1][1]
    assert isinstance(manifest, bytes)
    doubled = manifest.replace(b'"RepoTags"', b'"RepoTags":["evil:1"],"RepoTags"', 1)
    archive = read_bytes(tar_of(members[:-1] + [("manifest.json", doubled)]))
    dup = [f for f in archive.findings if f.code == "json-duplicate-key"]
    assert dup and dup[0].evidence_value("keys") == "RepoTags"
    assert archive.images[0].references == tuple(img.tags)  # the last value wins, as in Go


def test_containers_image_dir_transport(tmp_path):
    """podman save --format docker-dir: one registry manifest, blobs named by hex digest, a version file."""
    img = simple_image()
    manifest, blobs = oci_manifest(img, compress=True)
    (tmp_path / "manifest.json").write_bytes(manifest)
    (tmp_path / "version").write_bytes(b"Directory Transport Version: 1.1\n")
    for name, data in blobs:
        (tmp_path / name.rsplit("/", 1)[1]).write_bytes(data)
    archive = read_archive(str(tmp_path))
    assert archive.layout == "docker-dir"
    check_image(archive.images[0], img)
    assert archive.images[0].manifest_digest == Digest.sha256(hexof(manifest))
    assert archive.findings == ()


def test_extracted_docker_25_save_directory_is_cross_checked_with_its_index(tmp_path):
    img = simple_image("local/app:1")
    for name, content in graphdriver([img]):
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        assert isinstance(content, bytes)
        target.write_bytes(content)
    archive = read_archive(str(tmp_path))
    assert archive.layout == "docker-dir"
    (image,) = archive.images
    check_image(image, img)
    assert image.manifest_digest is not None
    assert image.references == ("local/app:1", "docker.io/local/app:1", "1")
