"""The synthetic archive writer checked against FORMATS.md facts with stdlib tarfile/json/hashlib only.

These tests never use the package's reader: they are the independent check
that tools/synth writes each layout the way the real tools do.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import lzma
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from tools.synth import (
    ORDERS, ArchiveSpec, Config, Entry, ImageSpec, Layer, PseudoRandom, Step, archive_truth, build_archive,
    chain_ids, expected_diff_ids, expected_image_id, layer_tar_bytes, write_archive, write_oci_dir, zstd_available,
)
from tools.synthspec import go_json, go_time

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
EMPTY_TAR_1024 = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def members(data: bytes) -> dict[str, tuple[tarfile.TarInfo, bytes]]:
    """Every member of a tar by name, with its data (regular files)."""
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        for m in t.getmembers():
            body = t.extractfile(m).read() if m.isfile() else b""  # type: ignore[union-attr]
            out[m.name] = (m, body)
    return out


def order(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        return t.getnames()


T0 = "2021-02-04T15:19:27.9352723Z"
BASE = Layer(entries=(Entry("etc", kind="dir"), Entry("etc/os-release", data=b"ID=synth\n"),
                      Entry("bin/sh", kind="symlink", linkname="busybox"), Entry("bin/busybox", data=b"\x7fELF", mode=0o755)))
TOP = Layer(entries=(Entry("srv/app", data=b"app " * 100, uid=1000, gid=1000), Entry("etc/os-release", kind="whiteout")))


def image(layers: tuple[Layer, ...] = (BASE, TOP), refs: tuple[str, ...] = ("local/app:1",), **cfg: object) -> ImageSpec:
    history = tuple(Step(created=T0, created_by=f"RUN step {i} # buildkit", comment="buildkit.dockerfile.v0")
                    for i in range(len(layers)))
    return ImageSpec(layers=layers, history=history + (Step(created=T0, created_by="CMD [\"/bin/sh\"]", empty_layer=True),),
                     config=Config(created=T0, cmd=("/bin/sh",), **cfg), references=refs)  # type: ignore[arg-type]


def one(img: ImageSpec, **kw: object) -> ArchiveSpec:
    return ArchiveSpec(images=(img,), **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- tar and JSON encoding


def test_empty_layer_is_dockers_1024_zero_bytes() -> None:
    data = layer_tar_bytes(Layer())
    assert data == b"\0" * 1024 and sha(data) == EMPTY_TAR_1024


def test_layer_entries_round_trip_through_stdlib_tarfile() -> None:
    layer = Layer(entries=(
        Entry("d", kind="dir", mode=0o1777, mtime_ns=5 * 10**9),
        Entry("d/f", data=b"x" * 700, mode=0o4755, uid=7, gid=8, mtime_ns=1_612_451_967_935_272_300),
        Entry("d/h", kind="hardlink", linkname="d/f"),
        Entry("dev/null", kind="char", devmajor=1, devminor=3),
        Entry("dev/sda", kind="block", devmajor=8, devminor=0),
        Entry("run/fifo", kind="fifo"),
        Entry("d/gone", kind="whiteout"),
        Entry("var/cache", kind="opaque"),
        Entry("caps", data=b"", xattrs=(("security.capability", b"\x01\x00\x00\x02"),)),
        Entry("long/" + "n" * 120 + "/file", data=b"L"),
        Entry("ünïcode ☃", data=b"u"),
    ), type_bits=True)
    got = members(layer_tar_bytes(layer))
    assert got["d"][0].isdir() and got["d"][0].mode == 0o40000 | 0o1777
    f = got["d/f"][0]
    assert (f.mode, f.uid, f.gid, f.size) == (0o100000 | 0o4755, 7, 8, 700)
    assert f.pax_headers["mtime"] == "1612451967.9352723"
    assert got["d/h"][0].islnk() and got["d/h"][0].linkname == "d/f"
    assert got["dev/null"][0].ischr() and (got["dev/null"][0].devmajor, got["dev/null"][0].devminor) == (1, 3)
    assert got["dev/sda"][0].isblk() and got["run/fifo"][0].isfifo()
    assert got["d/.wh.gone"][0].isfile() and got["d/.wh.gone"][0].size == 0
    assert "var/cache/.wh..wh..opq" in got
    assert got["caps"][0].pax_headers["SCHILY.xattr.security.capability"].encode("utf-8", "surrogateescape") == b"\x01\x00\x00\x02"
    assert "long/" + "n" * 120 + "/file" in got and "ünïcode ☃" in got


def test_without_type_bits_modes_are_plain_permissions() -> None:
    got = members(layer_tar_bytes(Layer(entries=(Entry("a", mode=0o640), Entry("d", kind="dir")), type_bits=False)))
    assert got["a"][0].mode == 0o640 and got["d"][0].mode == 0o755


def test_bazel_style_name_prefix() -> None:
    assert "./a" in members(layer_tar_bytes(Layer(entries=(Entry("a"),), name_prefix="./")))


def test_go_json_escapes_html_and_keeps_field_order() -> None:
    assert go_json({"b": "<a&b>", "a": [1, None, True]}) == '{"b":"\\u003ca\\u0026b\\u003e","a":[1,null,true]}'
    assert go_json("\u2028\x08\n") == '"\\u2028\\u0008\\n"'


def test_go_time_trims_trailing_fraction_zeros() -> None:
    assert go_time("2021-02-04T15:19:27.935272300Z") == "2021-02-04T15:19:27.9352723Z"
    assert go_time("2021-02-04T15:19:27.000+01:00") == "2021-02-04T15:19:27+01:00"
    assert go_time(None) == "0001-01-01T00:00:00Z"


def test_buildkit_config_json_layout() -> None:
    spec = image(exposed_ports=("8080",), labels=(("z", "1"), ("a", "2")),
                 extra=(("moby.buildkit.cache.v0", '"c2VjcmV0"'),))
    data = build_archive(one(spec))
    got = members(data)
    manifest = json.loads(got["manifest.json"][1])
    config_bytes = got[manifest[0]["Config"]][1]
    config = json.loads(config_bytes)
    # moby and BuildKit marshal the config as a map: top-level keys sorted.
    assert list(config) == sorted(config)
    assert list(config["config"]) == ["ExposedPorts", "Env", "Cmd", "Labels", "OnBuild"]
    assert config["config"]["ExposedPorts"] == {"8080/tcp": {}}
    assert list(config["config"]["Labels"]) == ["a", "z"]
    assert list(config["history"][0]) == ["created", "created_by", "comment"]
    assert config["history"][-1]["empty_layer"] is True
    assert config["moby.buildkit.cache.v0"] == "c2VjcmV0"
    assert config_bytes == json.dumps(config, separators=(",", ":")).encode()
    assert sha(config_bytes) == expected_image_id(spec)
    assert config["rootfs"]["diff_ids"] == list(expected_diff_ids(spec))


def test_classic_config_has_full_container_config_and_moby_history_order() -> None:
    spec = replace(image(), config=Config(created=T0, flavor="classic", docker_version="20.10.2"),
                   history=(Step(created=T0, author="me", created_by="/bin/sh -c #(nop) ADD x in /"),
                            Step(created=T0, created_by="/bin/sh -c true")))
    config = json.loads(members(build_archive(one(spec), "docker-crane"))[expected_image_id(spec)][1])
    assert config["config"]["Hostname"] == "" and "container_config" in config and config["docker_version"] == "20.10.2"
    assert list(config["history"][0]) == ["created", "author", "created_by"]


@pytest.mark.skipif(not (CORPUS / "google__osv-scalibr").is_dir(), reason="../shared corpus not present")
def test_reproduces_a_real_docker_20_10_save_byte_for_byte() -> None:
    path = CORPUS / "google__osv-scalibr/artifact/image/layerscanning/image/testdata/basic.tar"
    real = path.read_bytes()
    got = members(real)
    layers = tuple(Layer(raw=got[f"{v1}/layer.tar"][1]) for v1 in (
        "78456431566b0011be16440eb27977eee735effbc1e5865dcc11e7c04b349aac",
        "d3203e89c698bede63c3397e073a234b39bd370a299d6c0e945076506c0dbeae"))
    spec = ImageSpec(
        layers=layers,
        history=(Step(created="2024-11-10T20:30:32.752639888Z", created_by="COPY sample.txt / # buildkit",
                      comment="buildkit.dockerfile.v0"),
                 Step(created="2024-11-10T20:30:32.797419312Z", created_by="COPY larger-sample.txt / # buildkit",
                      comment="buildkit.dockerfile.v0")),
        config=Config(working_dir="/", created="2024-11-10T20:30:32.797419312Z"), references=("basic:latest",))
    assert build_archive(one(spec), "docker-legacy") == real


# --------------------------------------------------------------------------- docker-legacy


def test_legacy_layout() -> None:
    base = image((BASE,), refs=("local/base:1",))
    child = replace(image((BASE, TOP, BASE), refs=("local/app:1", "local/app:2")), parent=0)
    data = build_archive(ArchiveSpec(images=(base, child)), "docker-legacy")
    got = members(data)
    manifest = json.loads(got["manifest.json"][1])
    assert got["manifest.json"][1].endswith(b"\n")
    assert "Parent" not in manifest[0] and manifest[1]["Parent"] == expected_image_id(base)
    assert manifest[1]["RepoTags"] == ["local/app:1", "local/app:2"]
    layer_paths = manifest[1]["Layers"]
    every = manifest[0]["Layers"] + layer_paths
    physical = [p for p in every if got[p][0].isfile()]
    links = [p for p in every if got[p][0].issym()]
    # Each diff_id is written once (BASE by the first image, TOP by the second); repeats are symlinks.
    assert physical == [manifest[0]["Layers"][0], layer_paths[1]] and links == [layer_paths[0], layer_paths[2]]
    for p in links:
        target = got[p][0].linkname
        assert target.startswith("../") and target.endswith("/layer.tar") and got[target[3:]][0].isfile()
    for p in layer_paths:
        v1 = p.split("/")[0]
        assert got[f"{v1}/VERSION"][1] == b"1.0" and got[v1][0].isdir() and got[v1][0].mode == 0o40755
    top_v1 = layer_paths[-1].split("/")[0]
    v1json = json.loads(got[f"{top_v1}/json"][1])
    assert v1json["id"] == top_v1 and "config" in v1json
    bottom = json.loads(got[f"{layer_paths[0].split('/')[0]}/json"][1])
    assert bottom["created"] == "1970-01-01T00:00:00Z" and "parent" not in bottom
    repos = json.loads(got["repositories"][1])
    assert repos == {"local/app": {"1": top_v1, "2": top_v1}, "local/base": {"1": manifest[0]["Layers"][-1].split("/")[0]}}
    assert got["manifest.json"][0].mtime == 0 and got[manifest[1]["Config"]][0].mtime == 1612451967
    # The save walks its temp dir: lexical order per directory.
    names = order(data)
    assert names[-2:] == ["manifest.json", "repositories"]
    for path in layer_paths:
        v1 = path.split("/")[0]
        assert names.index(v1) < names.index(f"{v1}/VERSION") < names.index(f"{v1}/json") < names.index(f"{v1}/layer.tar")


def test_diff_ids_in_config_match_the_layer_bytes_in_every_tar_layout() -> None:
    spec = one(image())
    for layout in ("docker-legacy", "docker-containers-image", "docker-oci-graphdriver"):
        got = members(build_archive(spec, layout))
        manifest = json.loads(got["manifest.json"][1])[0]
        config = json.loads(got[manifest["Config"]][1])
        resolved = []
        for p in manifest["Layers"]:
            info, body = got[p]
            if info.issym():
                body = got[str(Path(p).parent.joinpath(info.linkname)).replace("\\", "/").split("/", 1)[1]
                           if info.linkname.startswith("../") else info.linkname][1]
            resolved.append(sha(body))
        assert resolved == config["rootfs"]["diff_ids"], layout


# --------------------------------------------------------------------------- containers/image


def test_containers_image_layout() -> None:
    a, b = image(refs=("busybox:latest",)), image((BASE,), refs=("quay.io/x/y:2",))
    data = build_archive(ArchiveSpec(images=(a, b)), "docker-containers-image")
    got = members(data)
    assert all(not info.isdir() for info, _ in got.values())
    assert all(info.mtime == 0 for info, _ in got.values())
    assert all(info.mode == 0o444 for info, _ in got.values() if info.isfile())
    manifest = json.loads(got["manifest.json"][1])
    assert not got["manifest.json"][1].endswith(b"\n")
    assert [m["RepoTags"] for m in manifest] == [["docker.io/library/busybox:latest"], ["quay.io/x/y:2"]]
    for item in manifest:
        assert "Parent" not in item and "LayerSources" not in item
        for p in item["Layers"]:
            assert p.endswith(".tar") and "/" not in p and sha(got[p][1]) == "sha256:" + p[:-4]
        assert item["Config"] == expected_image_id(a)[7:] + ".json" or item["Config"] == expected_image_id(b)[7:] + ".json"
    links = [(n, info.linkname) for n, (info, _) in got.items() if n.endswith("/layer.tar")]
    assert links and all(got[n][0].issym() and t.startswith("../") and t[3:] in got for n, t in links)
    assert set(json.loads(got["repositories"][1])) == {"docker.io/library/busybox", "quay.io/x/y"}


# --------------------------------------------------------------------------- crane


def test_crane_layout() -> None:
    spec = image(tuple(replace(layer, compression="gzip") for layer in (BASE, TOP)), refs=("localhost:5000/app:latest",))
    got = members(build_archive(one(spec), "docker-crane"))
    manifest = json.loads(got["manifest.json"][1])[0]
    assert manifest["Config"] == expected_image_id(spec) and sha(got[manifest["Config"]][1]) == manifest["Config"]
    assert "repositories" not in got
    config = json.loads(got[manifest["Config"]][1])
    for p, diff_id in zip(manifest["Layers"], config["rootfs"]["diff_ids"]):
        blob = got[p][1]
        assert p.endswith(".tar.gz") and sha(blob) == "sha256:" + p[:-7]
        assert sha(gzip.decompress(blob)) == diff_id and blob[4:8] == b"\0\0\0\0"
    assert all(info.mode == 0o644 and info.mtime == 0 for info, _ in got.values())


# --------------------------------------------------------------------------- Docker 25+


def test_graphdriver_layout() -> None:
    spec = image(refs=("app:1", "app:2"))
    got = members(build_archive(one(spec), "docker-oci-graphdriver"))
    assert got["oci-layout"][1] == b'{"imageLayoutVersion": "1.0.0"}'
    assert "VERSION" not in " ".join(got)
    for name, (info, body) in got.items():
        if name.startswith("blobs/sha256/") and info.isfile():
            assert sha(body) == "sha256:" + name.rsplit("/", 1)[1]
    index = json.loads(got["index.json"][1])
    assert [d["annotations"] for d in index["manifests"]] == [
        {"io.containerd.image.name": "docker.io/library/app:1", "org.opencontainers.image.ref.name": "1"},
        {"io.containerd.image.name": "docker.io/library/app:2", "org.opencontainers.image.ref.name": "2"}]
    assert index["manifests"][0]["digest"] == index["manifests"][1]["digest"]
    manifest = json.loads(got["manifest.json"][1])[0]
    diff_ids = list(expected_diff_ids(spec))
    assert manifest["Layers"] == [f"blobs/sha256/{d[7:]}" for d in diff_ids]
    assert sorted(manifest["LayerSources"]) == sorted(diff_ids)
    assert all(s["mediaType"] == "application/vnd.oci.image.layer.v1.tar" for s in manifest["LayerSources"].values())
    assert json.loads(got["repositories"][1]) == {"app": {"1": diff_ids[-1][7:], "2": diff_ids[-1][7:]}}
    oci = json.loads(got["blobs/sha256/" + index["manifests"][0]["digest"][7:]][1])
    assert oci["config"]["digest"] == expected_image_id(spec)
    referenced = {oci["config"]["digest"], index["manifests"][0]["digest"], *diff_ids}
    v1_blobs = [n for n in got if n.startswith("blobs/sha256/") and got[n][0].isfile() and "sha256:" + n[13:] not in referenced]
    assert len(v1_blobs) == 2 and all("container_config" in json.loads(got[n][1]) for n in v1_blobs)


def test_graphdriver_untagged_index_null_like_docker_25_0_0() -> None:
    spec = ArchiveSpec(images=(image(refs=()),), index_null_when_untagged=True)
    got = members(build_archive(spec, "docker-oci-graphdriver"))
    assert got["index.json"][1] == b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":null}'
    assert json.loads(got["manifest.json"][1])[0]["RepoTags"] is None and "repositories" not in got


def test_containerd_layout_with_nested_index_attestations_and_absent_platforms() -> None:
    spec = image(tuple(replace(layer, compression="gzip") for layer in (BASE, TOP)), refs=("hello-world:latest",),
                 architecture="arm64", variant="v8")
    data = build_archive(one(spec, nested_index=True, attestations=True, absent_platforms=("linux/amd64", "linux/arm/v7")),
                         "docker-oci-containerd")
    got = members(data)
    names = order(data)
    assert names == sorted(names)
    assert got["blobs"][0].isdir() and got["oci-layout"][0].mode == 0o444 and got["index.json"][0].mode == 0o644
    assert all(info.mtime == 0 for info, _ in got.values())
    assert all(got[n][0].mode == 0o444 for n in got if n.startswith("blobs/sha256/"))
    top = json.loads(got["index.json"][1])["manifests"]
    assert len(top) == 1 and top[0]["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert top[0]["annotations"]["io.containerd.image.name"] == "docker.io/library/hello-world:latest"
    nested = json.loads(got["blobs/sha256/" + top[0]["digest"][7:]][1])["manifests"]
    present = [d for d in nested if "blobs/sha256/" + d["digest"][7:] in got]
    absent = [d for d in nested if "blobs/sha256/" + d["digest"][7:] not in got]
    assert [d["platform"] for d in present] == [{"architecture": "arm64", "os": "linux", "variant": "v8"}]
    assert {d["annotations"]["vnd.docker.reference.type"] for d in absent if "annotations" in d} == {"attestation-manifest"}
    assert sorted(d["platform"].get("architecture") for d in absent) == ["amd64", "arm", "unknown"]
    manifest = json.loads(got["manifest.json"][1])[0]
    assert manifest["RepoTags"] == ["hello-world:latest"]
    config = json.loads(got[manifest["Config"]][1])
    for p, diff_id in zip(manifest["Layers"], config["rootfs"]["diff_ids"]):
        blob = got[p][1]
        assert sha(blob) != diff_id and sha(gzip.decompress(blob)) == diff_id


def test_containerd_attestation_blobs_present_when_asked() -> None:
    data = build_archive(one(image(), nested_index=True, attestations=True, attestation_blobs=True), "docker-oci-containerd")
    got = members(data)
    top = json.loads(got["index.json"][1])["manifests"][0]
    nested = json.loads(got["blobs/sha256/" + top["digest"][7:]][1])["manifests"]
    assert all("blobs/sha256/" + d["digest"][7:] in got for d in nested)


# --------------------------------------------------------------------------- OCI


def test_oci_archive_and_dir_hold_the_same_files(tmp_path: Path) -> None:
    spec = one(image(tuple(replace(layer, compression="gzip") for layer in (BASE, TOP)), refs=("example.com/empty:latest",)))
    got = members(build_archive(spec, "oci-archive"))
    assert "manifest.json" not in got and got["oci-layout"][1] == b'{"imageLayoutVersion": "1.0.0"}'
    index = json.loads(got["index.json"][1])
    assert index["manifests"][0]["annotations"] == {"org.opencontainers.image.ref.name": "example.com/empty:latest"}
    truth = write_oci_dir(spec, tmp_path / "layout")
    files = {str(p.relative_to(tmp_path / "layout")): p.read_bytes() for p in (tmp_path / "layout").rglob("*") if p.is_file()}
    assert files == {n: body for n, (info, body) in got.items() if info.isfile()}
    assert truth[0].manifest_digest == index["manifests"][0]["digest"]
    tags = json.loads(members(build_archive(replace(spec, oci_ref_names="tag"), "oci-archive"))["index.json"][1])
    assert tags["manifests"][0]["annotations"] == {"org.opencontainers.image.ref.name": "latest"}


def test_oci_multi_platform_nested_index() -> None:
    amd, arm = image(refs=("multi:1",)), image(refs=("multi:1",), architecture="arm64")
    got = members(build_archive(ArchiveSpec(images=(amd, arm), nested_index=True), "oci-archive"))
    top = json.loads(got["index.json"][1])["manifests"]
    assert len(top) == 1
    nested = json.loads(got["blobs/sha256/" + top[0]["digest"][7:]][1])["manifests"]
    assert [d["platform"]["architecture"] for d in nested] == ["amd64", "arm64"]


# --------------------------------------------------------------------------- truth, order, compression, streaming


@pytest.mark.parametrize("layout", ["docker-legacy", "docker-containers-image", "docker-crane",
                                    "docker-oci-graphdriver", "docker-oci-containerd", "oci-archive"])
def test_truth_matches_the_bytes_and_building_is_deterministic(layout: str) -> None:
    spec = one(image(tuple(replace(layer, compression="gzip") for layer in (BASE, TOP, BASE))))
    data = build_archive(spec, layout)
    assert data == build_archive(spec, layout)
    got = members(data)
    truth = archive_truth(spec, layout)[0]
    assert sha(truth.config) == truth.image_id
    assert truth.diff_ids == expected_diff_ids(spec.images[0])
    assert chain_ids(truth.diff_ids)[0] == truth.diff_ids[0]
    for member, blob_digest in zip(truth.layer_members, truth.blob_digests):
        info, body = got[member]
        if info.issym():
            continue
        assert sha(body) == blob_digest


@pytest.mark.parametrize("how", ORDERS)
def test_member_orders_keep_the_same_members(how: str) -> None:
    spec = one(image())
    plain = build_archive(spec, "docker-legacy")
    other = build_archive(spec, "docker-legacy", order=how, seed=3)
    assert sorted(order(plain)) == sorted(order(other))
    assert {n: b for n, (_, b) in members(plain).items()} == {n: b for n, (_, b) in members(other).items()}
    if how == "reversed":
        assert order(other) == order(plain)[::-1]
    if how == "manifest-first":
        assert order(other)[:2] == ["manifest.json", "repositories"]


@pytest.mark.parametrize("kind,decompress", [("gzip", gzip.decompress), ("bzip2", bz2.decompress), ("xz", lzma.decompress)])
def test_outer_compression(kind: str, decompress: object) -> None:
    spec = one(image())
    assert decompress(build_archive(spec, "docker-legacy", compression=kind)) == build_archive(spec)  # type: ignore[operator]


@pytest.mark.skipif(not zstd_available(), reason="zstd program not installed")
def test_outer_and_layer_zstd(tmp_path: Path) -> None:
    import subprocess

    spec = one(image(tuple(replace(layer, compression="zstd") for layer in (BASE, TOP))))
    write_archive(spec, tmp_path / "a.tar.zst", layout="oci-archive", compression="zstd")
    raw = subprocess.run(["zstd", "-d", "-c", str(tmp_path / "a.tar.zst")], capture_output=True, check=True).stdout
    assert raw == build_archive(spec, "oci-archive")
    manifest_digest = archive_truth(spec, "oci-archive")[0].manifest_digest
    oci = json.loads(members(raw)["blobs/sha256/" + manifest_digest[7:]][1])  # type: ignore[index]
    assert oci["layers"][0]["mediaType"].endswith("+zstd")


def test_large_layers_stream_to_a_file_with_correct_digests(tmp_path: Path) -> None:
    # Above MATERIALISE_LIMIT, so the layer is hashed in one pass and regenerated when written.
    big = Layer(entries=(Entry("data/blob", data=PseudoRandom(17 << 20, seed=7)),))
    spec = one(image((BASE, big)))
    truth = write_archive(spec, tmp_path / "big.tar", layout="docker-legacy")[0]
    with tarfile.open(tmp_path / "big.tar", mode="r|") as t:
        for m in t:
            if m.name == truth.layer_members[1]:
                h = hashlib.sha256()
                f = t.extractfile(m)
                assert f is not None
                while chunk := f.read(1 << 20):
                    h.update(chunk)
                assert "sha256:" + h.hexdigest() == truth.diff_ids[1]
                break
        else:
            pytest.fail("layer member not found")
    assert PseudoRandom(10, 7) == PseudoRandom(10, 7) and b"".join(PseudoRandom(3 << 20, 1).chunks())[:64] == \
        b"".join(PseudoRandom(1 << 20, 1).chunks())[:64]


def test_large_gzip_layer_digests_from_one_streaming_pass(tmp_path: Path) -> None:
    big = Layer(entries=(Entry("data/blob", data=PseudoRandom(17 << 20, seed=3)),), compression="gzip", gzip_level=1)
    spec = one(image((big,)))
    truth = write_archive(spec, tmp_path / "big.tar", layout="docker-oci-containerd")[0]
    with tarfile.open(tmp_path / "big.tar", mode="r|") as t:
        for m in t:
            if m.name == truth.layer_members[0]:
                f = t.extractfile(m)
                assert f is not None
                tar_hash = hashlib.sha256()
                with gzip.GzipFile(fileobj=f) as g:
                    while chunk := g.read(1 << 20):
                        tar_hash.update(chunk)
                assert "sha256:" + tar_hash.hexdigest() == truth.diff_ids[0]
                break
        else:
            pytest.fail("layer blob not found")
    data = (tmp_path / "big.tar").read_bytes()
    blob = members(data)[truth.layer_members[0]][1]
    assert sha(blob) == truth.blob_digests[0]


def test_bench_workloads_differ_exactly_where_asked() -> None:
    from tools.synth import big_image, many_files_image

    a, b = many_files_image(1000, layers=5, changed=0), many_files_image(1000, layers=5, changed=10)
    data_a = {e.path: e.data for layer in a.layers for e in layer.entries}
    data_b = {e.path: e.data for layer in b.layers for e in layer.entries}
    assert len(data_a) == 1005 and data_a.keys() == data_b.keys()
    assert sum(data_a[p] != data_b[p] for p in data_a) == 10
    big_a = expected_diff_ids(big_image(1 << 16, files=4, layers=2))
    big_b = expected_diff_ids(big_image(1 << 16, files=4, layers=2, variant_layer=1))
    assert big_a[0] == big_b[0] and big_a[1] != big_b[1]


def top_level_sorted(obj: dict) -> bytes:
    """Go marshals a map[string]*json.RawMessage: keys sorted, nested values kept as they were."""
    return json.dumps({k: obj[k] for k in sorted(obj)}, separators=(",", ":"), ensure_ascii=False).encode()


def test_legacy_and_containers_image_layer_ids_follow_their_writers() -> None:
    spec = one(image((BASE, TOP, Layer())))
    diff_ids = expected_diff_ids(spec.images[0])
    chains = chain_ids(diff_ids)

    # moby v1.CreateID: sha256 of the sorted V1Image JSON without id, plus layer_id and parent.
    got = members(build_archive(spec, "docker-legacy"))
    paths = json.loads(got["manifest.json"][1])[0]["Layers"]
    parent = ""
    for i, path in enumerate(paths):
        v1 = json.loads(got[path.replace("layer.tar", "json")][1])
        ident = {k: v for k, v in v1.items() if k not in ("id", "parent")}
        if i < len(paths) - 1:
            del ident["os"]  # save.go sets OS after computing the ID of non-top layers
        ident["layer_id"] = chains[i]
        if parent:
            ident["parent"] = "sha256:" + parent
        assert v1["id"] == path.split("/")[0] == hashlib.sha256(
            top_level_sorted(ident)).hexdigest()
        assert v1.get("parent", "") == parent
        parent = v1["id"]

    # containers/image writeLegacyMetadataLocked: sha256 of the sorted layer config with layer_id, before id.
    got = members(build_archive(spec, "docker-containers-image"))
    links = {info.linkname: name for name, (info, _) in got.items() if info.issym()}
    parent = ""
    for i, diff_id in enumerate(diff_ids):
        layer_dir = links[f"../{diff_id[7:]}.tar"].split("/")[0]
        config = json.loads(got[f"{layer_dir}/json"][1])
        ident = {k: v for k, v in config.items() if k != "id"}
        ident["layer_id"] = chains[i]
        assert config["id"] == layer_dir == hashlib.sha256(
            top_level_sorted(ident)).hexdigest()
        assert config.get("parent", "") == parent
        parent = layer_dir


def test_injected_corruptions_change_exactly_what_they_say() -> None:
    from tests.strategies import (
        add_whiteout, drop_entry, flip_byte, insert_step, layer_steps, mark_empty_and_drop_layer, shift_step_time,
    )
    from tools.make_samples import tomcat_pair

    pulled, bad = tomcat_pair()
    # The seed's corruption applied to the pulled image gives the rebuild's layers.
    broken = mark_empty_and_drop_layer(pulled, 6)
    assert expected_diff_ids(broken) == expected_diff_ids(bad) and broken.history[6].empty_layer
    assert len(layer_steps(broken)) == len(broken.layers)
    base = expected_diff_ids(pulled)
    for changed, layer in ((flip_byte(pulled, 4, "usr/local/bin/install-war-into-tomcat.sh", 7), 4),
                           (drop_entry(pulled, 4, "etc/nginx/conf.d/tomcat.conf"), 4),
                           (add_whiteout(pulled, 2, "etc/motd"), 2)):
        after = expected_diff_ids(changed)
        assert [i for i, (x, y) in enumerate(zip(base, after)) if x != y] == [layer]
    shifted = shift_step_time(pulled, 5, -89_607_600)
    assert shifted.history[5].created == "2021-02-04T15:19:27.8456647Z" and shifted.layers == pulled.layers
    grown = insert_step(pulled, 5, Step(created_by="RUN true # buildkit"), Layer())
    assert len(grown.layers) == 6 and layer_steps(grown) == [0, 2, 3, 4, 5, 7]
    assert expected_diff_ids(grown)[4] == EMPTY_TAR_1024
