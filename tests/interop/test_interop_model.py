"""imageforensics' model of each real archive agrees with what the tools themselves report.

Truth, in order of exactness: the config bytes skopeo read from the archive
(`skopeo inspect --raw --config`), the manifest skopeo read (its own for OCI
layouts; synthesised, with uncompressed layers, for docker-archive), then the
daemons' views (`docker image inspect`, `docker history`, `podman history`,
`podman image inspect`, `umoci stat`), which describe the image in the tool's
store, so they apply field by field only where the archive holds that same
config (same image ID).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.interop.interop_truth import (
    ConfigTruth,
    canonical_run_config,
    config_truth,
    docker_history_seconds,
    blob_compression,
    layer_compression,
    member_is_symlink,
    model_run_config,
    read_bytes,
    read_report,
    rfc3339_ns,
    sha256,
)

from imageforensics.model import Archive, Image
from imageforensics.read._selection import select_image

NS = 1_000_000_000
EMPTY_TAR = sha256(b"\0" * 1024)


def _truth(image: dict[str, Any]) -> ConfigTruth:
    rel = image["reports"].get("skopeo_config_raw")
    if rel is None:
        pytest.fail(f"{image['name']}: skopeo could not read this image's config (see .state/log.txt); no exact truth")
    return config_truth(rel)


def _model_image(arc: Archive, truth: ConfigTruth) -> Image:
    """The model's image whose config is the one skopeo read."""
    found = [img for img in arc.images if str(img.image_id) == truth.image_id]
    assert found, (f"{arc.source}: no image with ID {truth.image_id} (skopeo's config); "
                   f"imageforensics read {[str(i.image_id) for i in arc.images]}")
    return found[0]


# MANIFEST.json names layouts as the tools do; imageforensics files containers/image's
# `dir:` transport (podman save --format docker-dir: one manifest object, blobs named
# by hex, a `version` file) under its docker-dir layout name.
MODEL_LAYOUT = {"containers-dir": "docker-dir"}


def test_archive_layout_and_image_count(real_archive: dict[str, Any], read: Any) -> None:
    """The layout and compression the script's tool wrote, and one model image per image the tool put in."""
    arc = read(real_archive["path"])
    want = MODEL_LAYOUT.get(real_archive["layout"], real_archive["layout"])
    assert arc.layout == want, f"{real_archive['path']}: written by {real_archive['tool']}"
    assert arc.compression == real_archive["compression"]
    ids = {config_truth(i["reports"]["skopeo_config_raw"]).image_id
           for i in real_archive["images"] if "skopeo_config_raw" in i["reports"]}
    assert {str(i.image_id) for i in arc.images} == ids
    assert len(arc.images) == len(ids)


def test_config_fields_match_skopeo(real_image: tuple[dict[str, Any], dict[str, Any], int], read: Any) -> None:
    """Image ID, diff_ids, created, author, platform, run config and inline cache, exactly as in the config bytes."""
    entry, image, _ = real_image
    truth = _truth(image)
    model = _model_image(read(entry["path"]), truth)
    doc = truth.doc
    assert [str(d) for d in model.diff_ids] == truth.diff_ids
    created = doc.get("created")
    if created is None:
        assert model.created is None
    else:
        assert model.created is not None and model.created.raw == created
        assert model.created.ns == rfc3339_ns(created)
    assert model.author == (doc.get("author") or "")
    assert model.platform.os == doc.get("os", "")
    assert model.platform.architecture == doc.get("architecture", "")
    assert model.platform.variant == (doc.get("variant") or "")
    assert model.platform.os_version == (doc.get("os.version") or "")
    assert tuple(model.platform.os_features) == tuple(doc.get("os.features") or ())
    assert model_run_config(model.run_config) == truth.run_config
    assert model.has_inline_cache == ("moby.buildkit.cache.v0" in doc)
    assert model.docker_version == (doc.get("docker_version") or "")


def test_history_matches_skopeo_to_the_nanosecond(real_image: tuple[dict[str, Any], dict[str, Any], int], read: Any) -> None:
    """Every history entry: created (raw string and exact ns), created_by, author, comment, empty_layer; layers 1:1."""
    entry, image, _ = real_image
    truth = _truth(image)
    model = _model_image(read(entry["path"]), truth)
    assert len(model.history) == len(truth.history)
    for i, (step, want) in enumerate(zip(model.history, truth.history)):
        where = f"history[{i}] {want.get('created_by', '')[:60]!r}"
        assert step.index == i
        if want.get("created") is None:
            assert step.created is None, where
        else:
            assert step.created is not None, where
            assert step.created.raw == want["created"], where
            assert step.created.ns == rfc3339_ns(want["created"]), where
        assert step.created_by == want.get("created_by", ""), where
        assert step.author == want.get("author", ""), where
        assert step.comment == want.get("comment", ""), where
        assert step.empty_layer == bool(want.get("empty_layer", False)), where
    # Entries with empty_layer != true map 1:1, in order, onto diff_ids (the
    # real tools' configs here always satisfy it, so each must get its layer).
    layered = [i for i, h in enumerate(truth.history) if not h.get("empty_layer")]
    if truth.history:
        assert len(layered) == len(truth.diff_ids)
        assert [model.history[i].layer_index for i in layered] == list(range(len(layered)))
        assert all(s.layer_index is None for s in model.history if s.empty_layer)


def test_layers_hash_to_the_diff_ids(real_image: tuple[dict[str, Any], dict[str, Any], int], read: Any) -> None:
    """Every layer is present and readable, and its decompressed bytes hash to the config's diff_id."""
    entry, image, _ = real_image
    truth = _truth(image)
    model = _model_image(read(entry["path"]), truth)
    assert len(model.layers) == len(truth.diff_ids)
    for i, (layer, diff_id) in enumerate(zip(model.layers, truth.diff_ids)):
        assert layer is not None, f"layer {i} ({diff_id}) missing"
        assert layer.readable, f"layer {i}: {layer.problem}"
        assert layer.diff_id is not None and str(layer.diff_id) == diff_id, f"layer {i}"
        if diff_id == EMPTY_TAR:
            # docker's empty layer (1024 zero bytes), stored raw or, after ctr
            # --compress-blobs, as the 32-byte gzip BuildKit calls EmptyGZLayer.
            assert layer.entry_count == 0 and layer.empty_kind != "", f"layer {i}"


def test_layers_match_the_manifest_skopeo_read(real_image: tuple[dict[str, Any], dict[str, Any], int], read: Any) -> None:
    """OCI layouts: the manifest's digest, blob digests, sizes and compression. docker-archive (skopeo
    synthesises the manifest from uncompressed layers): uncompressed digests and sizes."""
    entry, image, _ = real_image
    truth = _truth(image)
    model = _model_image(read(entry["path"]), truth)
    rel = image["reports"].get("skopeo_manifest_raw")
    assert rel is not None, "skopeo could not read the manifest"
    raw = read_bytes(rel)
    manifest = read_report("manifest", rel)
    descriptors = manifest["layers"]
    assert len(descriptors) == len(model.layers)
    assert manifest["config"]["digest"] == truth.image_id
    transport = image["skopeo_spec"].split(":", 1)[0]
    for i, (layer, d) in enumerate(zip(model.layers, descriptors)):
        assert layer is not None
        if transport == "docker-archive":
            assert layer.diff_id is not None and str(layer.diff_id) == d["digest"], f"layer {i}"
            if d["size"] == 0 and layer.uncompressed_size != 0:
                # c/image reports the tar header size of the member manifest.json names;
                # docker save writes a repeated layer as a symlink to the first copy.
                assert member_is_symlink(entry["path"], model.layer_refs[i]), f"layer {i}"
            else:
                assert layer.uncompressed_size == d["size"], f"layer {i}"
        else:
            assert str(layer.blob_digest) == d["digest"], f"layer {i}"
            assert layer.size == d["size"], f"layer {i}"
            actual = blob_compression(entry["path"], d["digest"])
            assert layer.compression == actual, f"layer {i}"
            if actual != layer_compression(d["mediaType"]):
                # The tool labelled the blob wrongly (podman 4.3 save --uncompressed
                # keeps +gzip on raw tars): the audit must say so for this layer.
                assert any(f.code == "layer-media-type-mismatch" and f.evidence_value("layer") == i
                           for f in model.findings), f"layer {i}: {d['mediaType']} on a {actual} blob, no finding"
    if transport in ("oci", "oci-archive"):
        # skopeo's raw manifest for an OCI layout is the blob itself.
        assert model.manifest_digest is not None and str(model.manifest_digest) == sha256(raw)


def test_references_and_selection(real_image: tuple[dict[str, Any], dict[str, Any], int], read: Any) -> None:
    """The names the tool wrote are the image's references, and each selects exactly this image."""
    entry, image, position = real_image
    truth = _truth(image)
    arc = read(entry["path"])
    model = _model_image(arc, truth)
    for ref in image["refs"]:
        assert ref in model.references, f"{ref!r} not in {model.references}"
    if entry["layout"] in ("docker-legacy", "docker-containers-image", "docker-dir") and not image["refs"]:
        assert model.references == ()  # saved by ID: RepoTags null
    spec = image["skopeo_spec"]
    if "@" in spec.rsplit(":", 1)[-1]:
        # docker-archive:path:@N -- skopeo's source index is the manifest.json position.
        n = int(spec.rsplit("@", 1)[1])
        assert str(select_image(arc, reference=None, index=n, platform=None).image_id) == truth.image_id
    for ref in image["refs"]:
        others = [i for i in arc.images if ref in i.references and str(i.image_id) != truth.image_id]
        if others:
            continue  # the same name on two images (e.g. the ref.name "1" in a ctr export) cannot select
        assert str(select_image(arc, reference=ref, index=None, platform=None).image_id) == truth.image_id
    if len(arc.images) == 1:
        assert str(select_image(arc, reference=None, index=None, platform=None).image_id) == truth.image_id
    platform = f"{model.platform.os}/{model.platform.architecture}"
    if sum(1 for i in arc.images if i.platform == model.platform) == 1:
        assert select_image(arc, reference=None, index=None, platform=platform) is model


def _same_config(report_id: str, model: Image) -> bool:
    return report_id.removeprefix("sha256:") == model.image_id.hex


def test_docker_image_inspect(real_image_docker: tuple[dict[str, Any], dict[str, Any], int], read: Any) -> None:
    """`docker image inspect`: RootFS.Layers and platform always; Id, Created, Config, RepoTags when the config is the daemon's."""
    entry, image, _ = real_image_docker
    rel = image["reports"]["docker_inspect"]
    inspect = read_report("docker inspect", rel)[0]
    truth = _truth(image)
    model = _model_image(read(entry["path"]), truth)
    assert [str(d) for d in model.diff_ids] == inspect["RootFS"]["Layers"]
    assert model.platform.os == inspect["Os"]
    assert model.platform.architecture == inspect["Architecture"]
    assert model.platform.variant == inspect.get("Variant", "")
    if not _same_config(inspect["Id"], model):
        # A conversion rewrote the config (e.g. Docker -> OCI drops container_config,
        # Healthcheck, Shell): the ID must differ because the bytes do.
        assert truth.raw != b"" and truth.image_id != inspect["Id"]
        return
    assert str(model.image_id) == inspect["Id"]
    assert model.created is not None and model.created.ns == rfc3339_ns(inspect["Created"])
    assert model.author == inspect.get("Author", "")
    assert model.docker_version == inspect.get("DockerVersion", "")
    assert model_run_config(model.run_config) == canonical_run_config(inspect["Config"] or {})
    if entry["layout"] in ("docker-legacy", "docker-dir"):
        assert set(model.references) == set(image["refs"])  # manifest.json RepoTags, as saved
    # containerd names images in full (docker.io/rt/x:1); the daemon's RepoTags are familiar.
    assert {r.removeprefix("docker.io/") for r in image["refs"]} <= set(inspect.get("RepoTags") or [])


def test_docker_history(real_image_docker: tuple[dict[str, Any], dict[str, Any], int], read: Any) -> None:
    """`docker history --no-trunc`: one row per step, newest first: CreatedBy, Comment, CreatedAt (seconds), 0B for empty steps."""
    entry, image, _ = real_image_docker
    rel = image["reports"]["docker_history"]
    rows = list(reversed(read_report("docker history", rel)))
    truth = _truth(image)
    model = _model_image(read(entry["path"]), truth)
    inspect = read_report("docker inspect", image["reports"]["docker_inspect"])[0]
    if not _same_config(inspect["Id"], model):
        pytest.skip("the archive holds a rewritten config; docker history describes the daemon's")
    assert len(rows) == len(model.history)
    for i, (row, step) in enumerate(zip(rows, model.history)):
        # The docker CLI prints tabs in CreatedBy as spaces (formatter/history.go:
        # strings.Replace(c.h.CreatedBy, "\t", " ", -1)); everything else is verbatim.
        assert row["CreatedBy"] == step.created_by.replace("\t", " "), f"step {i}"
        assert row["Comment"] == step.comment, f"step {i}"
        assert step.created is not None and step.created.ns is not None
        # docker history prints whole seconds: the exact time floors to them.
        assert docker_history_seconds(row["CreatedAt"]) == step.created.ns // NS, f"step {i}"
        if step.empty_layer:
            assert row["Size"] == "0B", f"step {i}"
    assert rows[-1]["ID"] == str(model.image_id)


def test_podman_reports(real_image_podman: tuple[dict[str, Any], dict[str, Any], int], read: Any) -> None:
    """`podman history --format json` (exact created times) and `podman image inspect`."""
    entry, image, _ = real_image_podman
    rel = image["reports"]["podman_history"]
    truth = _truth(image)
    model = _model_image(read(entry["path"]), truth)
    inspect = read_report("podman inspect", image["reports"]["podman_inspect"])[0]
    assert [str(d) for d in model.diff_ids] == inspect["RootFS"]["Layers"]
    assert model.platform.os == inspect["Os"] and model.platform.architecture == inspect["Architecture"]
    rows = list(reversed(read_report("podman history", rel)))
    assert len(rows) == len(model.history)
    for i, (row, step) in enumerate(zip(rows, model.history)):
        assert step.created is not None
        # podman re-marshals the parsed time (RFC3339Nano): the instant is exact.
        assert rfc3339_ns(row["created"]) == step.created.ns, f"step {i}"
        assert row.get("CreatedBy", "") == step.created_by, f"step {i}"
        assert row.get("comment", "") == step.comment, f"step {i}"
        if step.empty_layer:
            assert row["size"] == 0, f"step {i}"
    # (The top row's "id" is any stored image whose top layer this is: with
    # buildah --layers that can be an intermediate image, so it proves nothing.)
    if _same_config(inspect["Id"], model):
        assert model.created is not None and model.created.ns == rfc3339_ns(inspect["Created"])


def test_umoci_stat(real_image_umoci: tuple[dict[str, Any], dict[str, Any], int], read: Any) -> None:
    """`umoci stat --json`: each history entry (exact created, created_by, author, comment, empty_layer) and its layer."""
    entry, image, _ = real_image_umoci
    rel = image["reports"]["umoci_stat"]
    truth = _truth(image)
    model = _model_image(read(entry["path"]), truth)
    stat = read_report("umoci stat", rel)
    rows = stat["history"]
    assert len(rows) == len(model.history)
    for i, (row, step) in enumerate(zip(rows, model.history)):
        assert step.created is not None and rfc3339_ns(row["created"]) == step.created.ns, f"step {i}"
        assert row.get("created_by", "") == step.created_by, f"step {i}"
        assert row.get("author", "") == step.author, f"step {i}"
        assert row.get("comment", "") == step.comment, f"step {i}"
        assert bool(row.get("empty_layer", False)) == step.empty_layer, f"step {i}"
        layer = row.get("layer")
        if layer is not None:
            assert step.layer_index is not None
            got = model.layers[step.layer_index]
            assert got is not None and str(got.blob_digest) == layer["digest"], f"step {i}"
            assert str(model.diff_ids[step.layer_index]) == row["diff_id"], f"step {i}"
