"""Member lists for every archive layout in FORMATS.md, written the way each real tool writes them.

Each ``<layout>_members`` function turns prepared images into the tar
members that layout holds, in the order the tool writes them, and records
per image what a reader must find (``ImageTruth``). Nothing here touches a
file: the caller streams the members.
"""

from __future__ import annotations

import calendar
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Iterable

from tools.synthspec import (
    Blob, ImageSpec, PreparedLayer, RawJSON, container_config_object, go_bytes, go_json, go_time,
    prepare_layer, render_config, sorted_map,
)
from tools.synthtar import DIR, SYM, TarMember

LAYOUT_NAMES = ("docker-legacy", "docker-containers-image", "docker-crane", "docker-oci-graphdriver",
                "docker-oci-containerd", "oci-archive", "oci-dir")
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = {"none": "application/vnd.oci.image.layer.v1.tar",
            "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
            "zstd": "application/vnd.oci.image.layer.v1.tar+zstd"}
OCI_LAYOUT_SPACED = b'{"imageLayoutVersion": "1.0.0"}'
OCI_LAYOUT_COMPACT = b'{"imageLayoutVersion":"1.0.0"}'


@dataclass(frozen=True)
class ArchiveSpec:
    """Images in one archive plus the layout knobs real tools vary.

    ``nested_index``: containerd store puts each image behind an image index;
    oci layouts put all images in one index (a multi-platform BuildKit export).
    ``attestations``: add BuildKit attestation-manifest descriptors, with their
    blobs only if ``attestation_blobs``. ``absent_platforms``: descriptors for
    other platforms whose blobs are not in the archive (``os/arch[/variant]``).
    ``oci_ref_names``: ``as-given``, ``tag`` or ``none`` for oci layouts.
    ``index_null_when_untagged``: Docker 25.0.0-25.0.2's ``"manifests":null``.
    """

    images: tuple[ImageSpec, ...]
    nested_index: bool = False
    attestations: bool = False
    attestation_blobs: bool = False
    absent_platforms: tuple[str, ...] = ()
    oci_ref_names: str = "as-given"
    index_null_when_untagged: bool = False


@dataclass(frozen=True)
class PreparedImage:
    """An image spec with its layers hashed and its config rendered."""

    spec: ImageSpec
    layers: tuple[PreparedLayer, ...]
    config: bytes

    @property
    def image_id(self) -> str:
        """sha256 of the config bytes."""
        return "sha256:" + hashlib.sha256(self.config).hexdigest()

    @property
    def diff_ids(self) -> tuple[str, ...]:
        """The layers' diff_ids, bottom first."""
        return tuple(pl.diff_id for pl in self.layers)


@dataclass(frozen=True)
class ImageTruth:
    """What a reader must find for one image in one layout."""

    image_id: str
    config: bytes
    diff_ids: tuple[str, ...]
    blob_digests: tuple[str, ...]
    layer_members: tuple[str, ...]
    references: tuple[str, ...]
    manifest_digest: str | None
    platform: str


def prepare_image(spec: ImageSpec) -> PreparedImage:
    """Hash the layers and render the config of one image."""
    layers = tuple(prepare_layer(layer) for layer in spec.layers)
    return PreparedImage(spec, layers, render_config(spec, (pl.diff_id for pl in layers)))


def _hex(digest: str) -> str:
    return digest.split(":", 1)[1]


def split_reference(ref: str) -> tuple[str, str]:
    """``name:tag`` split at the tag colon (a registry port is not a tag)."""
    slash, colon = ref.rfind("/"), ref.rfind(":")
    return (ref[:colon], ref[colon + 1:]) if colon > slash else (ref, "latest")


def full_name(name: str) -> str:
    """The normalised repository name (docker.io/library/ for official images)."""
    first = name.split("/", 1)[0]
    if "/" in name and ("." in first or ":" in first or first == "localhost"):
        return name
    return f"docker.io/library/{name}" if "/" not in name else f"docker.io/{name}"


def epoch_seconds(raw: str | None) -> int:
    """Whole seconds of an RFC 3339 time (for tar mtimes), 0 when absent or unparsable."""
    if not raw or len(raw) < 20:
        return 0
    try:
        seconds = calendar.timegm((int(raw[0:4]), int(raw[5:7]), int(raw[8:10]), int(raw[11:13]),
                                   int(raw[14:16]), int(raw[17:19]), 0, 0, 0))
    except ValueError:
        return 0
    zone = raw[-6:]
    if zone[0] in "+-" and zone[3] == ":":
        seconds -= (1 if zone[0] == "+" else -1) * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return max(seconds, 0)


def blob_member(name: str, blob: Blob, **kw: Any) -> TarMember:
    """A regular member streaming a blob."""
    return TarMember(name=name, size=blob.size, source=blob.chunks, **kw)


def bytes_member(name: str, data: bytes, **kw: Any) -> TarMember:
    """A regular member holding bytes."""
    return TarMember(name=name, size=len(data), source=lambda: (data,), **kw)


def walk_order(members: Iterable[TarMember]) -> list[TarMember]:
    """The order Go's filepath.Walk visits a directory tree (lexical per directory)."""
    return sorted(members, key=lambda m: [p.encode() for p in m.name.rstrip("/").split("/")])


def chain_ids(diff_ids: tuple[str, ...]) -> tuple[str, ...]:
    """ChainID(L0)=DiffID(L0); ChainID(..Ln)=sha256(ChainID(..Ln-1) + " " + DiffID(Ln))."""
    out: list[str] = []
    for d in diff_ids:
        out.append(d if not out else "sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return tuple(out)


# --------------------------------------------------------------------------- moby legacy


def _v1_image(img: PreparedImage, top: bool) -> dict[str, Any]:
    """moby's image.V1Image (without id/parent) as json.Marshal writes it."""
    if not top:
        return {"created": "1970-01-01T00:00:00Z", "container_config": container_config_object(None)}
    c = img.spec.config
    obj: dict[str, Any] = {"created": go_time(c.created), "container_config": container_config_object(None)}
    if c.docker_version and c.flavor == "classic":
        obj["docker_version"] = c.docker_version
    if c.author:
        obj["author"] = c.author
    obj["config"] = container_config_object(c)
    for key, value in (("architecture", c.architecture), ("variant", c.variant), ("os", c.os)):
        if value:
            obj[key] = value
    return obj


def moby_v1_layers(img: PreparedImage) -> list[tuple[str, bytes]]:
    """(v1 id hex, ``json`` bytes) per layer, as moby's save computes them (v1.CreateID)."""
    out: list[tuple[str, bytes]] = []
    parent = ""
    chains = chain_ids(img.diff_ids)
    for i, chain in enumerate(chains):
        top = i == len(chains) - 1
        v1 = _v1_image(img, top)
        ident = {k: RawJSON(go_json(v)) for k, v in v1.items()}
        ident["layer_id"] = RawJSON(go_json(chain))
        if parent:
            ident["parent"] = RawJSON(go_json("sha256:" + parent))
        v1id = hashlib.sha256(go_bytes(sorted_map(ident))).hexdigest()
        body: dict[str, Any] = {"id": v1id}
        if parent:
            body["parent"] = parent
        body.update(v1)
        if not top:
            body["os"] = img.spec.config.os
        order = ("id", "parent", "comment", "created", "container", "container_config", "docker_version",
                 "author", "config", "architecture", "variant", "os")
        out.append((v1id, go_bytes({k: body[k] for k in order if k in body})))
        parent = v1id
    return out


def legacy_members(images: list[PreparedImage], spec: ArchiveSpec) -> tuple[list[TarMember], list[ImageTruth]]:
    """moby <= 24 ``docker save``: v1 layer dirs, symlinked repeats, Parent, repositories."""
    members: dict[str, TarMember] = {}
    diff_paths: dict[str, str] = {}
    manifest: list[dict[str, Any]] = []
    repos: dict[str, dict[str, str]] = {}
    truths = []
    for img in images:
        created = epoch_seconds(img.spec.config.created)
        paths = []
        v1 = moby_v1_layers(img)
        for (v1id, v1json), pl in zip(v1, img.layers):
            path = f"{v1id}/layer.tar"
            paths.append(path)
            if f"{v1id}/" in members:
                continue
            members[f"{v1id}/"] = TarMember(name=f"{v1id}/", typeflag=DIR, mode=0o40755, mtime=created)
            members[f"{v1id}/VERSION"] = bytes_member(f"{v1id}/VERSION", b"1.0", mode=0o100644, mtime=created)
            members[f"{v1id}/json"] = bytes_member(f"{v1id}/json", v1json, mode=0o100644, mtime=created)
            if pl.diff_id in diff_paths:
                # save.go saveLayer: os.Symlink(relPath, layerPath) for a diffID already written.
                members[path] = TarMember(name=path, typeflag=SYM, mode=0o120777, mtime=created,
                                          linkname=f"../{diff_paths[pl.diff_id]}")
            else:
                diff_paths[pl.diff_id] = path
                members[path] = blob_member(path, pl.tar, mode=0o100644, mtime=created)
        cfg = f"{_hex(img.image_id)}.json"
        members[cfg] = bytes_member(cfg, img.config, mode=0o100644, mtime=created)
        item: dict[str, Any] = {"Config": cfg, "RepoTags": list(img.spec.references) or None, "Layers": paths}
        if img.spec.parent is not None:
            item["Parent"] = images[img.spec.parent].image_id
        manifest.append(item)
        for ref in img.spec.references:
            name, tag = split_reference(ref)
            repos.setdefault(name, {})[tag] = v1[-1][0] if v1 else ""
        truths.append(ImageTruth(img.image_id, img.config, img.diff_ids, img.diff_ids, tuple(paths),
                                 img.spec.references, None, _platform(img)))
    out = list(members.values())
    out.append(bytes_member("manifest.json", go_bytes(manifest) + b"\n", mode=0o100644))
    if repos:
        data = go_bytes(sorted_map({k: sorted_map(v) for k, v in repos.items()})) + b"\n"
        out.append(bytes_member("repositories", data, mode=0o100644))
    return walk_order(out), truths


def _platform(img: PreparedImage) -> str:
    c = img.spec.config
    return "/".join(p for p in (c.os, c.architecture, c.variant) if p)


# --------------------------------------------------------------------------- containers/image


def _cimage_layer_configs(img: PreparedImage) -> list[tuple[str, bytes]]:
    """writer.go writeLegacyMetadataLocked: layer IDs are digests of a synthetic JSON."""
    try:
        config = json.loads(img.config)
    except ValueError:
        config = {}
    out: list[tuple[str, bytes]] = []
    last = ""
    chains = chain_ids(img.diff_ids)
    for i, chain in enumerate(chains):
        layer: dict[str, Any] = {}
        if last:
            layer["parent"] = last
        if i == len(chains) - 1:
            for attr in ("architecture", "config", "container", "container_config", "created",
                         "docker_version", "os"):
                layer[attr] = RawJSON(go_json(config.get(attr))) if isinstance(config, dict) else None
        layer["layer_id"] = chain
        layer_id = hashlib.sha256(go_bytes(sorted_map(layer))).hexdigest()
        del layer["layer_id"]
        layer["id"] = layer_id
        out.append((layer_id, go_bytes(sorted_map(layer))))
        last = layer_id
    return out


def cimage_members(images: list[PreparedImage], spec: ArchiveSpec) -> tuple[list[TarMember], list[ImageTruth]]:
    """podman/skopeo ``docker-archive:``: ``<diffid>.tar``, symlinked ``<id>/layer.tar``, mode 0444, mtime 0."""
    members: list[TarMember] = []
    sent: set[str] = set()
    manifest: list[dict[str, Any]] = []
    repos: dict[str, dict[str, str]] = {}
    truths = []
    for img in images:
        paths = []
        for pl in img.layers:
            path = f"{_hex(pl.diff_id)}.tar"
            paths.append(path)
            if path not in sent:
                sent.add(path)
                members.append(blob_member(path, pl.tar, mode=0o444))
        cfg = f"{_hex(img.image_id)}.json"
        if cfg not in sent:
            sent.add(cfg)
            members.append(bytes_member(cfg, img.config, mode=0o444))
        legacy = _cimage_layer_configs(img)
        for (layer_id, body), pl in zip(legacy, img.layers):
            if layer_id in sent:
                continue
            sent.add(layer_id)
            members.append(TarMember(name=f"{layer_id}/layer.tar", typeflag=SYM, mode=0,
                                     linkname=f"../{_hex(pl.diff_id)}.tar"))
            members.append(bytes_member(f"{layer_id}/VERSION", b"1.0", mode=0o444))
            members.append(bytes_member(f"{layer_id}/json", body, mode=0o444))
        refs = []
        for ref in img.spec.references:
            name, tag = split_reference(ref)
            refs.append(f"{full_name(name)}:{tag}")
            if legacy:
                repos.setdefault(full_name(name), {})[tag] = legacy[-1][0]
        manifest.append({"Config": cfg, "RepoTags": refs, "Layers": paths})
        truths.append(ImageTruth(img.image_id, img.config, img.diff_ids, img.diff_ids, tuple(paths),
                                 tuple(refs), None, _platform(img)))
    members.append(bytes_member("manifest.json", go_bytes(manifest), mode=0o444))
    members.append(bytes_member("repositories", go_bytes(sorted_map({k: sorted_map(v) for k, v in repos.items()})),
                                mode=0o444))
    return members, truths


# --------------------------------------------------------------------------- crane


def crane_members(images: list[PreparedImage], spec: ArchiveSpec) -> tuple[list[TarMember], list[ImageTruth]]:
    """go-containerregistry tarball.MultiRefWrite: config ``sha256:<hex>``, blobs ``<hex>.tar.gz``."""
    members: list[TarMember] = []
    seen: set[str] = set()
    manifest: list[dict[str, Any]] = []
    truths = []
    ext = {"gzip": ".tar.gz", "zstd": ".tar.zst", "none": ".tar"}
    for img in sorted(images, key=lambda i: ",".join(i.spec.references)):
        cfg = img.image_id
        if cfg not in seen:
            seen.add(cfg)
            members.append(bytes_member(cfg, img.config))
        paths = []
        for pl in img.layers:
            path = _hex(pl.blob.digest) + ext[pl.compression]
            paths.append(path)
            if path not in seen:
                seen.add(path)
                members.append(blob_member(path, pl.blob))
        manifest.append({"Config": cfg, "RepoTags": list(img.spec.references), "Layers": paths})
        truths.append(ImageTruth(img.image_id, img.config, img.diff_ids,
                                 tuple(pl.blob.digest for pl in img.layers), tuple(paths),
                                 img.spec.references, None, _platform(img)))
    members.append(bytes_member("manifest.json", go_bytes(manifest)))
    return members, truths
