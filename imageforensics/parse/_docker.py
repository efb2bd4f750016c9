"""docker-archive layouts: ``manifest.json`` items → Images (FORMATS.md A1, A2).

Covers moby's legacy writer, the containers/image writer (podman, skopeo),
crane/kaniko tarballs, Docker 25+ saves (graphdriver and containerd stores,
cross-checked against their ``index.json``) and extracted saves (directories).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from imageforensics.parse import _archive_findings as archive_audit
from imageforensics.parse import _oci as parse_oci
from imageforensics.errors import InputError, LimitError
from imageforensics.findings import Finding, sort_findings
from imageforensics.model import Image, Layer
from imageforensics.parse._members import Store, named_digest, normalise_member_name
from imageforensics.parse._config import build_image
from imageforensics.untrusted import show

_CRANE_CONFIG = re.compile(r"sha256:[0-9a-f]{64}")
_CIMAGE_LAYER = re.compile(r"[0-9a-f]{64}\.tar")


def parse(store: Store, *, layout: str, notes: list[str]) -> tuple[str, list[Image]]:
    """The refined layout name and the images that ``manifest.json`` lists."""
    member = store.use("manifest.json")
    if member is None:
        raise InputError(store.source, "manifest.json", "is a link that does not resolve inside the archive")
    value = store.load_json(member, "manifest.json")
    if isinstance(value, dict) and "config" in value and "layers" in value:
        # containers/image `dir:` transport (podman save --format docker-dir):
        # manifest.json is one registry manifest, blobs are files named by hex digest.
        return "docker-dir", parse_oci.image_from_manifest(store, member, value)
    items = _manifest_items(store, value)
    layout = _refine_layout(store, layout, items)
    images: list[Image] = []
    parents: list[str | None] = []
    for i, item in enumerate(items):
        image, parent = _item_image(store, i, item, layout)
        images.append(image)
        parents.append(parent)
    ids = {str(image.image_id) for image in images}
    for k, parent in enumerate(parents):
        if parent is not None:
            images[k] = _add(images[k], [archive_audit.image_parent(parent, present=parent in ids)])
    store.findings.extend(_check_repositories(store, items, images, layout))
    if store.has("index.json") and store.has("oci-layout"):
        images = _cross_check_index(store, images)
    elif store.has("index.json") or store.has("oci-layout"):
        notes.append("index.json or oci-layout present without the other: read as a plain docker-archive")
    return layout, images


def _manifest_items(store: Store, value: Any) -> list[Any]:
    if value is None:
        raise InputError(store.source, "manifest.json", "expected a JSON array of images, found null")
    if not isinstance(value, list):
        raise InputError(store.source, "manifest.json", f"expected a JSON array of images, found {_json_type(value)}")
    if not value:
        raise InputError(store.source, "manifest.json", "lists no images (an empty array)")
    return value


def _refine_layout(store: Store, layout: str, items: list[Any]) -> str:
    if layout == "docker-dir":
        return layout
    dicts = [item for item in items if isinstance(item, dict)]
    if layout == "docker-oci":
        # Graphdriver saves write LayerSources for every layer and a
        # `repositories` file when tagged; the containerd store writes neither.
        if store.has("repositories") or any(isinstance(item.get("LayerSources"), dict) for item in dicts):
            return "docker-oci-graphdriver"
        return "docker-oci-containerd"
    if any(isinstance(item.get("Config"), str) and _CRANE_CONFIG.fullmatch(item["Config"]) for item in dicts):
        return "docker-crane"
    layer_names = [name for item in dicts if isinstance(item.get("Layers"), list) for name in item["Layers"] if isinstance(name, str)]
    if layer_names and all(_CIMAGE_LAYER.fullmatch(normalise_member_name(n)) for n in layer_names):
        return "docker-containers-image"
    return "docker-legacy"


def _item_image(store: Store, i: int, item: Any, layout: str) -> tuple[Image, str | None]:
    where = f"manifest.json[{i}]"
    if not isinstance(item, dict):
        raise InputError(store.source, "manifest.json", f"item {i}: expected an object with Config and Layers, found {_json_type(item)}")
    config_ref = item.get("Config")
    if not isinstance(config_ref, str) or not config_ref:
        raise InputError(store.source, "manifest.json", f"item {i}: expected Config to name the config member, found {_json_type(config_ref)}")
    layer_refs = _string_list(store, item.get("Layers"), f"item {i}: Layers")
    tags = _string_list(store, item.get("RepoTags"), f"item {i}: RepoTags")
    if len(layer_refs) > store.limits.max_layers:
        raise LimitError(store.source, "manifest.json", f"item {i} has {len(layer_refs)} layers, over the {store.limits.max_layers}-layer limit (--max-layers)")
    findings: list[Finding] = []
    config_name = normalise_member_name(config_ref)
    config_member = store.use(config_name)
    if config_member is None:
        problem = store.link_problem(config_name)
        why = f" ({problem})" if problem else ""
        raise InputError(store.source, show(config_ref), f"absent{why}: {where} names it as the image config")
    config = store.load_json(config_member, "image config")
    assert config_member.digest is not None
    claimed = named_digest(config_name)
    if claimed is not None and claimed != config_member.digest:
        findings.append(archive_audit.image_id_mismatch(config_name, claimed, config_member.digest))
    layers: list[Layer | None] = []
    for j, ref in enumerate(layer_refs):
        name = normalise_member_name(ref)
        member = store.use(name)
        if member is None or member.kind in ("dir", "special"):
            reason = store.link_problem(name) or ("not a regular file" if member is not None else "no such member")
            findings.append(archive_audit.layer_absent(j, ref, reason))
            layers.append(None)
            continue
        layers.append(store.layer_of(member))
    sources = item.get("LayerSources")
    if isinstance(sources, dict) and sources:
        findings.append(archive_audit.layer_sources(len(sources), every_layer=layout == "docker-oci-graphdriver"))
    parent = item.get("Parent")
    image = build_image(
        config,
        config_bytes_digest=config_member.digest,
        config_member=config_name,
        source=store.source,
        manifest_digest=None,
        references=tuple(tags),
        descriptor_platform=None,
        layers=tuple(layers),
        layer_refs=tuple(layer_refs),
        findings=findings,
        limits=store.limits,
    )
    return image, parent if isinstance(parent, str) and parent else None


def _check_repositories(store: Store, items: list[Any], images: list[Image], layout: str) -> list[Finding]:
    """``repositories`` must name the tags manifest.json gives, pointing at each image's top layer (FORMATS.md A1, A2)."""
    member = store.use("repositories") if store.has("repositories") else None
    if member is None:
        return []
    try:
        value = store.load_json(member, "repositories")
    except LimitError:
        raise
    except InputError as e:
        return [archive_audit.repositories_mismatch(f"cannot be read: {e.expected}")]
    if not isinstance(value, dict):
        return [archive_audit.repositories_mismatch(f"is {_json_type(value)}, expected an object of names")]
    # Legacy saves point at the top layer's v1 ID (its directory); Docker 25+ at the top diffID.
    tops: dict[str, str] = {}
    for item, image in zip(items, images):
        layers = item.get("Layers") or []
        if not layers:
            continue
        top = normalise_member_name(layers[-1])
        expected = top.rsplit("/", 1)[0] if layout in ("docker-legacy", "docker-dir") and top.endswith("/layer.tar") else (
            image.diff_ids[-1].hex if layout == "docker-oci-graphdriver" and image.diff_ids else "")
        for ref in image.references:
            tops[_with_tag(ref)] = expected
    out = []
    for name, tags in value.items():
        if not isinstance(tags, dict):
            out.append(archive_audit.repositories_mismatch(f"entry {show(name, 80)} is {_json_type(tags)}, expected an object of tags"))
            continue
        for tag, top in tags.items():
            ref = _with_tag(f"{name}:{tag}")
            if ref not in tops:
                out.append(archive_audit.repositories_mismatch(f"names {show(ref, 100)}, which no manifest.json item lists in RepoTags"))
            elif tops[ref] and top != tops[ref]:
                out.append(archive_audit.repositories_mismatch(f"points {show(ref, 100)} at {show(str(top), 70)}, not at the image's top layer {tops[ref]}"))
    return out


def _with_tag(reference: str) -> str:
    """``name`` means ``name:latest`` (docker's default tag)."""
    return reference if ":" in reference.rsplit("/", 1)[-1] or "@" in reference else f"{reference}:latest"


def _string_list(store: Store, value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(store.source, "manifest.json", f"{what}: expected an array of strings, found {_json_type(value)}")
    return list(value)


def _cross_check_index(store: Store, images: list[Image]) -> list[Image]:
    """Docker 25+: merge index.json names and manifest digests; report disagreements (FORMATS.md A2)."""
    found = parse_oci.walk(store, docker_side=True)
    by_config: dict[str, Image] = {}
    for listed in found.images:
        by_config.setdefault(str(listed.image_id), listed)
    matched: set[str] = set()
    out = []
    for image in images:
        oci_image = by_config.get(str(image.image_id))
        if oci_image is None:
            if found.listed:
                image = _add(image, [archive_audit.manifest_index_mismatch(str(image.image_id), "no manifest in index.json has this config")])
            out.append(image)
            continue
        matched.add(str(image.image_id))
        extra: list[Finding] = []
        ours = [layer.blob_digest if layer is not None else None for layer in image.layers]
        theirs = [layer.blob_digest if layer is not None else None for layer in oci_image.layers]
        if ours != theirs:
            same_set = sorted(map(str, filter(None, ours))) == sorted(map(str, filter(None, theirs)))
            extra.append(archive_audit.manifest_index_mismatch(
                str(image.image_id),
                "the OCI manifest lists the layers in another order (Docker 25.0.0 wrote them in map order; manifest.json is trusted)"
                if same_set else "the OCI manifest and manifest.json list different layers",
            ))
        image = dataclasses.replace(
            image,
            manifest_digest=oci_image.manifest_digest,
            references=tuple(dict.fromkeys(image.references + oci_image.references)),
            platform=image.platform if (image.platform.os or image.platform.architecture) else oci_image.platform,
        )
        out.append(_add(image, extra))
    for oci_image in found.images:
        key = str(oci_image.image_id)
        if key not in matched:
            matched.add(key)
            out.append(_add(oci_image, [archive_audit.image_only_in_index(key)]))
    return out


def _add(image: Image, findings: list[Finding]) -> Image:
    if not findings:
        return image
    return dataclasses.replace(image, findings=sort_findings(list(dict.fromkeys(image.findings + tuple(findings)))))


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array", dict: "an object"}.get(type(value), type(value).__name__)
