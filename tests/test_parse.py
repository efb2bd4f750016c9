"""Layout parsing: OCI indexes and descriptors, manifest.json items, configs, and their findings."""

from __future__ import annotations

import calendar
import io

import pytest

from archivekit import (
    OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_LAYER_GZ, OCI_MANIFEST, Img, containerd, gz, graphdriver, hexof, js, layer_tar,
    legacy, oci, oci_manifest, sha, simple_image, tar_of,
)
from imageforensics.errors import InputError, LimitError
from imageforensics.audit import image_findings
from imageforensics.limits import DEFAULT_LIMITS
from imageforensics.model import Archive, Digest
from imageforensics.parse._json import load_json_bytes
from imageforensics.parse._members import named_digest, normalise_member_name
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


# ---- names and JSON ----------------------------------------------------------------


@pytest.mark.parametrize("raw,clean", [("./manifest.json", "manifest.json"), ("a//b/", "a/b"), ("./", ""), ("././x", "x"), ("a/./b/../c", "a/c")])
def test_normalise_member_name(raw, clean):
    assert normalise_member_name(raw) == clean


@pytest.mark.parametrize("name,digest", [
    ("blobs/sha256/" + "a" * 64, "sha256:" + "a" * 64),
    ("sha256:" + "b" * 64, "sha256:" + "b" * 64),
    ("c" * 64 + ".tar.gz", "sha256:" + "c" * 64),
    ("c" * 64 + ".json", "sha256:" + "c" * 64),
    ("c" * 64 + "/layer.tar", None),
    ("blobs/sha256/short", None),
])
def test_named_digest(name, digest):
    assert (str(named_digest(name)) if named_digest(name) else None) == digest


def test_json_depth_counts_brackets_outside_strings_only():
    value, dups = load_json_bytes(b'["[[[[[[", {"a": "}}}\\"[[["}]', source="s", member="m", what="x", limits=DEFAULT_LIMITS)
    assert value == ["[[[[[[", {"a": '}}}"[[['}] and dups == []
    with pytest.raises(LimitError, match="nests 3 levels deep"):
        load_json_bytes(b"[[[1]]]", source="s", member="m", what="x", limits=type(DEFAULT_LIMITS)(max_json_depth=2))


def test_json_rejects_nan_and_reports_position():
    with pytest.raises(InputError, match="NaN is not JSON"):
        load_json_bytes(b"[NaN]", source="s", member="m", what="x", limits=DEFAULT_LIMITS)
    with pytest.raises(InputError, match=r"^s: m: x is not JSON \(Expecting ',' delimiter: line 1, column 4\)$"):
        load_json_bytes(b"[1 2]", source="s", member="m", what="x", limits=DEFAULT_LIMITS)


# ---- OCI layouts -------------------------------------------------------------------


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
    assert f.evidence_value("claimed") == sha(config)
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
    assert codes(image_findings(image)) == ["layer-absent", "layer-foreign"]


# ---- docker manifest.json ------------------------------------------------------------


def test_manifest_item_errors_name_what_was_expected():
    assert error([("manifest.json", b"{}")]) == "x.tar: manifest.json: expected a JSON array of images, found an object"
    assert error([("manifest.json", b"[]")]) == "x.tar: manifest.json: lists no images (an empty array)"
    assert error([("manifest.json", b"[1]")]) == "x.tar: manifest.json: item 0: expected an object with Config and Layers, found a number"
    assert error([("manifest.json", js([{"Config": 5}]))]) == "x.tar: manifest.json: item 0: expected Config to name the config member, found a number"
    assert error([("manifest.json", js([{"Config": "a.json", "Layers": "x"}]))]) == "x.tar: manifest.json: item 0: Layers: expected an array of strings, found a string"


def test_manifest_naming_itself_as_config():
    msg = error([("manifest.json", js([{"Config": "manifest.json", "Layers": []}]))])
    assert msg == "x.tar: manifest.json: expected the image config to be a JSON object, found an array"


def test_config_without_rootfs_and_with_bad_diff_ids():
    bad = js({"architecture": "amd64", "os": "linux"})
    msg = error([("c.json", bad), ("manifest.json", js([{"Config": "c.json", "Layers": []}]))])
    assert msg == "x.tar: c.json: expected rootfs.diff_ids in the image config (it is REQUIRED), found no rootfs object"
    bad = js({"rootfs": {"type": "layers", "diff_ids": ["sha256:nothex"]}})
    msg = error([("c.json", bad), ("manifest.json", js([{"Config": "c.json", "Layers": []}]))])
    assert msg.startswith("x.tar: c.json: rootfs.diff_ids[0] is not a digest")


def test_layer_reference_escaping_the_archive_is_absent():
    img = simple_image()
    members = [(n, c) for n, c in legacy([img]) if n != "manifest.json"]
    layers = [n for n, _ in members if n.endswith("/layer.tar")]
    members.append(("manifest.json", js([{"Config": f"{hexof(img.config())}.json", "RepoTags": None, "Layers": [layers[0], "../../etc/passwd"]}])))
    image = read(members).images[0]
    assert image.layers[1] is None
    (f,) = [f for f in image.findings if f.code == "layer-absent"]
    assert f.evidence_value("ref") == "../../etc/passwd"


def test_layer_count_and_history_mismatches_are_counted():
    img = simple_image()
    img.history = img.history + [{"created_by": "RUN extra"}, {"created_by": "RUN more"}]
    members = [(n, c) for n, c in legacy([img]) if n != "manifest.json"]
    layers = [n for n, _ in members if n.endswith("/layer.tar")]
    members.append(("manifest.json", js([{"Config": f"{hexof(img.config())}.json", "Layers": layers[:1]}])))
    image = read(members).images[0]
    assert "layer-count-mismatch" in codes(image_findings(image))
    (surplus,) = [f for f in image_findings(image) if f.code == "history-surplus"]
    assert surplus.evidence_value("surplus") == "2"
    assert [s.layer_index for s in image.history] == [0, None, 1, None, None]


def test_config_fields_become_the_run_config_and_wrong_types_are_findings():
    img = simple_image()
    img.extra = {"config": {"Env": ["A=1"], "Cmd": "sh -c x", "Entrypoint": None, "ExposedPorts": {"80": {}, "53/udp": {}}, "Labels": {"z": "1", "a": "2"},
                            "WorkingDir": 7, "Healthcheck": {"Test": ["CMD", "true"], "Interval": 5}, "User": "app", "Volumes": {"/data": {}}},
                 "author": ["me"], "moby.buildkit.cache.v0": "abc", "docker_version": "20.10.5"}
    image = read(legacy([img])).images[0]
    rc = image.run_config
    assert rc.env == ("A=1",) and rc.cmd == ("sh -c x",) and rc.entrypoint is None
    assert rc.exposed_ports == ("53/udp", "80/tcp")
    assert rc.labels == (("a", "2"), ("z", "1"))
    assert rc.healthcheck == '{"Interval":5,"Test":["CMD","true"]}'
    assert rc.user == "app" and rc.volumes == ("/data",) and rc.working_dir == ""
    assert image.has_inline_cache and image.docker_version == "20.10.5" and image.author == ""
    fields = sorted(f.evidence_value("field") for f in image.findings if f.code == "config-field-invalid")
    assert fields == ["author", "config.WorkingDir"]
    assert "inline-cache" in codes(image_findings(image))


def test_history_timestamps_keep_the_raw_string_and_exact_nanoseconds():
    img = simple_image()
    img.history[2]["created"] = "2021-03-11T16:19:27.935272301+01:00"
    image = read(legacy([img])).images[0]
    created = image.history[2].created
    assert created is not None and created.raw == "2021-03-11T16:19:27.935272301+01:00"
    # 16:19:27+01:00 is 15:19:27Z; the 9 fraction digits are kept exactly.
    assert created.ns == calendar.timegm((2021, 3, 11, 15, 19, 27, 0, 0, 0)) * 10**9 + 935272301


def test_graphdriver_oci_manifest_in_another_layer_order():
    img = simple_image("local/app:1")
    members = graphdriver([img])
    manifest_name = next(n for n, c in members if n.startswith("blobs/") and b'"layers"' in c)  # type: ignore[operator]
    swapped_manifest = js({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": desc(OCI_CONFIG, img.config()),
                           "layers": [desc(OCI_LAYER, img.layers[1]), desc(OCI_LAYER, img.layers[0])]})
    index = js({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [desc(OCI_MANIFEST, swapped_manifest, annotations={"org.opencontainers.image.ref.name": "1"})]})
    members = [(n, c) for n, c in members if n not in (manifest_name, "index.json")]
    members += [("index.json", index), (f"blobs/sha256/{hexof(swapped_manifest)}", swapped_manifest)]
    archive = read(members)
    (image,) = archive.images
    (f,) = [f for f in image.findings if f.code == "manifest-index-mismatch"]
    assert "another order" in f.summary
    assert [str(l.diff_id) for l in image.layers if l] == img.diff_ids()  # manifest.json is trusted


def test_containerd_save_with_a_second_platform_present_only_in_the_index():
    amd = simple_image("local/app:1", "a")
    arm = Img(layers=amd.layers, history=amd.history, tags=["local/app:1"], architecture="arm64")
    members = containerd([amd, arm])
    manifest = [{"Config": f"blobs/sha256/{hexof(amd.config())}", "RepoTags": ["local/app:1"], "Layers": [f"blobs/sha256/{hexof(gz(t))}" for t in amd.layers]}]
    members = [(n, js(manifest) if n == "manifest.json" else c) for n, c in members]
    archive = read(members)
    assert [str(i.platform) for i in archive.images] == ["linux/amd64", "linux/arm64"]
    assert "image-only-in-index" in codes(archive.images[1].findings)


def test_duplicate_member_names_keep_the_last():
    img = simple_image()
    members = legacy([img])
    members.insert(0, ("manifest.json", b"null"))
    archive = read(members)
    assert "member-duplicate" in codes(archive.findings)
    assert len(archive.images) == 1


def test_pre_1_10_message_is_not_given_to_a_modern_save_without_manifest():
    img = simple_image()
    members = [(n, c) for n, c in legacy([img]) if n != "manifest.json"]
    assert "manifest.json removed" in error(members)


def test_repositories_must_agree_with_manifest_json():
    img = simple_image("local/app:1")
    members = legacy([img])
    good = read(members)
    assert "repositories-mismatch" not in codes(good.findings)
    tops = [n for n, _ in members if n.endswith("/layer.tar")]
    wrong = js({"local/app": {"1": tops[0].split("/")[0]}, "other/app": {"latest": "ab" * 32}})
    archive = read([(n, wrong if n == "repositories" else c) for n, c in members])
    summaries = sorted(f.summary for f in archive.findings if f.code == "repositories-mismatch")
    assert summaries == [
        "repositories names other/app:latest, which no manifest.json item lists in RepoTags",
        f"repositories points local/app:1 at {tops[0].split('/')[0]}, not at the image's top layer {tops[1].split('/')[0]}",
    ]


def test_graphdriver_repositories_point_at_the_top_diff_id():
    img = simple_image("local/app:1")
    assert "repositories-mismatch" not in codes(read(graphdriver([img])).findings)


def test_a_blob_whose_bytes_do_not_match_its_name():
    img = simple_image()
    members = oci([img]) + [("blobs/sha256/" + "0" * 64, b"not what the name says")]
    archive = read(members)
    (f,) = [f for f in archive.findings if f.code == "blob-digest-mismatch"]
    assert f.path == "blobs/sha256/" + "0" * 64
    assert f.evidence_value("actual") == sha(b"not what the name says")


def test_descriptor_platform_fills_in_the_variant_the_config_leaves_out():
    img = simple_image()
    img.architecture = "arm64"
    manifest, blobs = image_blobs(img)
    archive = read(layout([desc(OCI_MANIFEST, manifest, platform={"os": "linux", "architecture": "arm64", "variant": "v8"})], blobs))
    assert str(archive.images[0].platform) == "linux/arm64/v8"
    assert "platform-mismatch" not in codes(archive.images[0].findings)
