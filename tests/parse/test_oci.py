"""The OCI family (parse/_oci): index.json and nested indexes, descriptors, manifests, blobs named by digest, and their findings.

Hostile indexes (loops, fan-out, 100,000-level manifests) are in hostile/test_json.py.
"""

from __future__ import annotations

import io

import pytest

from tests.archivekit import (
    OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_LAYER_GZ, OCI_MANIFEST, Img, gz, hexof, js, oci, oci_manifest, sha, simple_image, tar_of,
)
from imageforensics.errors import InputError, LimitError
from imageforensics.model import Archive, Digest
from imageforensics.read._archive import read_stream


def read(members: list) -> Archive:
    return read_stream(io.BytesIO(tar_of(members)), "x.tar")


def error(members: list) -> str:
    with pytest.raises(InputError) as info:
        read(members)
    assert "\n" not in str(info.value)
    return str(info.value)


def codes(findings: tuple) -> list[str]:
    return sorted(f.code for f in findings)


def desc(media_type: str, data: bytes, **extra: object) -> dict:
    d = {"mediaType": media_type, "digest": sha(data), "size": len(data)}
    d.update(extra)
    return d


def layout(index_descriptors: list, blobs: list[bytes], *, with_layout: bool = True) -> list:
    members = [("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')] if with_layout else []
    members.append(("index.json", js({"schemaVersion": 2, "manifests": index_descriptors})))
    members += [(f"blobs/sha256/{hexof(b)}", b) for b in blobs]
    return members


def image_blobs(img: Img) -> tuple[bytes, list[bytes]]:
    manifest, named = oci_manifest(img, compress=True)
    return manifest, [manifest] + [b for _, b in named]


def test_attestation_manifests_are_skipped_not_images():
    img = simple_image("local/a:1")
    manifest, blobs = image_blobs(img)
    statement = b'{"_type": "https://in-toto.io/Statement/v0.1"}'
    empty_config = b"{}"
    attestation = js({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": desc(OCI_CONFIG, empty_config), "layers": [desc("application/vnd.in-toto+json", statement)]})
    inner = js({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        desc(OCI_MANIFEST, manifest, platform={"os": "linux", "architecture": "amd64"}),
        desc(OCI_MANIFEST, attestation, platform={"os": "unknown", "architecture": "unknown"},
             annotations={"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": sha(manifest)}),
    ]})
    archive = read(layout([desc(OCI_INDEX, inner, annotations={"org.opencontainers.image.ref.name": "1"})], blobs + [attestation, statement, empty_config, inner]))
    assert len(archive.images) == 1
    assert archive.images[0].references == ("1",)
    assert "attestation-skipped" in codes(archive.findings)
    assert "blob-unreferenced" not in codes(archive.findings)


def test_artifact_only_layout_is_an_archive_without_images():
    chart = b"chart-bytes"
    config = b'{"name": "chart"}'
    manifest = js({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": desc("application/vnd.cncf.helm.config.v1+json", config), "layers": [desc("application/tar+gzip", chart)]})
    archive = read(layout([desc(OCI_MANIFEST, manifest)], [manifest, config, chart]))
    assert archive.images == ()
    (f,) = [f for f in archive.findings if f.code == "artifact-skipped"]
    assert f.evidence_value("config_type") == "application/vnd.cncf.helm.config.v1+json"


def test_descriptor_and_blob_media_types_may_disagree():
    img = simple_image()
    manifest, blobs = image_blobs(img)
    archive = read(layout([desc("application/vnd.docker.distribution.manifest.v2+json", manifest)], blobs))
    assert len(archive.images) == 1
    assert "media-type-mismatch" in codes(archive.findings)


def test_descriptor_size_and_blob_digest_mismatches():
    img = simple_image()
    manifest, blobs = image_blobs(img)
    config = img.config()
    members = layout([desc(OCI_MANIFEST, manifest, size=len(manifest) + 1)], blobs)
    # Tamper with the config bytes but keep its name: the name no longer matches the content.
    members = [(n, config.replace(b'"amd64"', b'"arm64"') if n == f"blobs/sha256/{hexof(config)}" else c) for n, c in members]
    archive = read(members)
    assert "descriptor-size-mismatch" in codes(archive.findings)
    image = archive.images[0]
    (f,) = [f for f in image.findings if f.code == "image-id-mismatch"]
    assert f.evidence_value("claimed") == Digest.parse(sha(config))
    assert str(image.platform) == "linux/arm64"
    # The archive-level finding is not repeated for the config it already concerns.
    assert not [g for g in archive.findings if g.code == "blob-digest-mismatch" and g.path == f.path]


def test_missing_oci_layout_is_a_warning():
    img = simple_image()
    manifest, blobs = image_blobs(img)
    archive = read(layout([desc(OCI_MANIFEST, manifest)], blobs, with_layout=False))
    assert codes(archive.findings) == ["oci-layout-invalid"]


def test_an_index_that_contains_itself():
    # A blob cannot contain its own digest, so the loop is two indexes naming each other via a third name:
    # index A lists index B, and B lists A's digest. We build B first with a placeholder, then A.
    img = simple_image()
    manifest, blobs = image_blobs(img)
    inner_a = js({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [desc(OCI_MANIFEST, manifest)]})
    loop = js({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [desc(OCI_INDEX, inner_a)]})
    # Replace inner_a's content under its name by an index pointing at `loop`: a cycle of two.
    cyclic_a = js({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [desc(OCI_INDEX, loop)]})
    members = layout([desc(OCI_INDEX, loop)], blobs + [loop])
    members.append((f"blobs/sha256/{hexof(inner_a)}", cyclic_a))
    msg = error(members)
    assert "contains itself (a loop)" in msg


def test_index_nesting_limit():
    img = simple_image()
    manifest, blobs = image_blobs(img)
    current = desc(OCI_MANIFEST, manifest)
    for _ in range(20):
        index = js({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [current]})
        blobs.append(index)
        current = desc(OCI_INDEX, index)
    with pytest.raises(LimitError, match="image indexes nest more than 16 levels"):
        read(layout([current], blobs))


def test_layer_descriptor_compression_mismatch_and_platform_mismatch():
    img = simple_image()
    config = img.config()
    raw = img.layers[0]
    manifest = js({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": desc(OCI_CONFIG, config), "layers": [desc(OCI_LAYER_GZ, raw), desc(OCI_LAYER, img.layers[1])]})
    archive = read(layout([desc(OCI_MANIFEST, manifest, platform={"os": "linux", "architecture": "s390x"})], [manifest, config, raw, img.layers[1]]))
    image = archive.images[0]
    assert "layer-media-type-mismatch" in codes(image.findings)
    assert "platform-mismatch" in codes(image.findings)
    assert str(image.platform) == "linux/amd64"  # the config wins


def test_absent_layer_blob_and_foreign_layer():
    img = simple_image()
    config = img.config()
    blob = gz(img.layers[1])
    manifest = js({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": desc(OCI_CONFIG, config), "layers": [
        desc("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", gz(img.layers[0]), urls=["https://example.com/base"]),
        desc(OCI_LAYER_GZ, blob),
    ]})
    archive = read(layout([desc(OCI_MANIFEST, manifest)], [manifest, config]))
    image = archive.images[0]
    assert image.layers == (None, None)
    assert codes(image.findings) == ["layer-absent", "layer-foreign"]


def test_oci_nested_index_gives_each_platform_its_image_and_references():
    amd = simple_image("local/m:1", "a")
    arm = Img(layers=amd.layers[:1], history=amd.history[:2], tags=["local/m:1"], architecture="arm64", variant="v8")
    archive = read(oci([amd, arm], nested=True))
    assert archive.layout == "oci-archive"
    assert [str(i.platform) for i in archive.images] == ["linux/amd64", "linux/arm64/v8"]
    for image in archive.images:
        assert image.references == ("docker.io/local/m:1", "1")


def test_a_blob_whose_bytes_do_not_match_its_name():
    img = simple_image()
    members = oci([img]) + [("blobs/sha256/" + "0" * 64, b"not what the name says")]
    archive = read(members)
    (f,) = [f for f in archive.findings if f.code == "blob-digest-mismatch"]
    assert f.path == "blobs/sha256/" + "0" * 64
    assert f.evidence_value("actual") == Digest.parse(sha(b"not what the name says"))


def test_descriptor_platform_fills_in_the_variant_the_config_leaves_out():
    img = simple_image()
    img.architecture = "arm64"
    manifest, blobs = image_blobs(img)
    archive = read(layout([desc(OCI_MANIFEST, manifest, platform={"os": "linux", "architecture": "arm64", "variant": "v8"})], blobs))
    assert str(archive.images[0].platform) == "linux/arm64/v8"
    assert "platform-mismatch" not in codes(archive.images[0].findings)
