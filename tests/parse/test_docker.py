"""The docker family (parse/_docker): manifest.json items, the configs they name, repositories, and their findings."""

from __future__ import annotations

import calendar
import io

import pytest

from tests.archivekit import (
    OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, Img, containerd, gz, graphdriver, hexof, js, legacy, sha, simple_image, tar_of,
)
from imageforensics.errors import InputError
from imageforensics.audit import image_findings
from imageforensics.model import Archive
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
    assert surplus.evidence_value("surplus") == 2
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
    assert "inline-cache-undecodable" in codes(image_findings(image))  # "abc" is not base64


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
