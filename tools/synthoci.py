"""OCI-based layouts: Docker 25+ (graphdriver and containerd stores), oci-archive and oci-dir."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from tools.synthlayouts import (
    MT_LAYER, MT_OCI_CONFIG, MT_OCI_INDEX, MT_OCI_MANIFEST, OCI_LAYOUT_COMPACT, OCI_LAYOUT_SPACED,
    ArchiveSpec, ImageTruth, PreparedImage, _hex, _platform, blob_member, bytes_member, epoch_seconds,
    full_name, moby_v1_layers, split_reference, walk_order,
)
from tools.synthspec import Blob, bytes_blob, go_bytes, sorted_map
from tools.synthtar import DIR, TarMember


@dataclass
class _Blobs:
    """Blobs of an OCI store, by digest, in the order first added."""

    items: dict[str, tuple[Blob, int]]

    def add(self, blob: Blob, mtime: int = 0) -> Blob:
        self.items.setdefault(blob.digest, (blob, mtime))
        return blob


def _descriptor(media_type: str, blob: Blob, **extra: Any) -> dict[str, Any]:
    """An OCI descriptor in Go field order (mediaType, digest, size, annotations, platform)."""
    d: dict[str, Any] = {"mediaType": media_type, "digest": blob.digest, "size": blob.size}
    for key in ("annotations", "platform"):
        if extra.get(key):
            d[key] = extra[key]
    return d


def _platform_object(text: str) -> dict[str, str]:
    parts = text.split("/")
    obj = {"architecture": parts[1] if len(parts) > 1 else "", "os": parts[0]}
    if len(parts) > 2:
        obj["variant"] = parts[2]
    return obj


def _manifest(img: PreparedImage, blobs: _Blobs, mtime: int = 0, *, media_type: bool = True,
              layer_mtime: int = 0, uncompressed: bool = False) -> Blob:
    cfg = blobs.add(bytes_blob(img.config), layer_mtime)
    if uncompressed:
        # The graphdriver store regenerates layers as plain tars named by diffID.
        layers = [_descriptor(MT_LAYER["none"], blobs.add(pl.tar, layer_mtime)) for pl in img.layers]
    else:
        layers = [_descriptor(MT_LAYER[pl.compression], blobs.add(pl.blob, layer_mtime)) for pl in img.layers]
    m: dict[str, Any] = {"schemaVersion": 2}
    if media_type:
        m["mediaType"] = MT_OCI_MANIFEST
    m["config"] = _descriptor(MT_OCI_CONFIG, cfg)
    m["layers"] = layers
    return blobs.add(bytes_blob(go_bytes(m)), mtime)


def _attestation(subject: Blob, blobs: _Blobs, present: bool) -> dict[str, Any]:
    """A BuildKit attestation-manifest descriptor (platform unknown/unknown)."""
    statement = bytes_blob(b'{"_type":"https://in-toto.io/Statement/v0.1","subject":[]}')
    config = bytes_blob(go_bytes({"architecture": "unknown", "os": "unknown", "config": {},
                                  "rootfs": {"type": "layers", "diff_ids": [statement.digest]}}))
    manifest = bytes_blob(go_bytes({
        "schemaVersion": 2, "mediaType": MT_OCI_MANIFEST, "config": _descriptor(MT_OCI_CONFIG, config),
        "layers": [_descriptor("application/vnd.in-toto+json", statement,
                               annotations={"in-toto.io/predicate-type": "https://spdx.dev/Document"})]}))
    if present:
        for b in (statement, config, manifest):
            blobs.add(b)
    return _descriptor(MT_OCI_MANIFEST, manifest, annotations={
        "vnd.docker.reference.digest": subject.digest, "vnd.docker.reference.type": "attestation-manifest"},
        platform={"architecture": "unknown", "os": "unknown"})


def _absent(platform: str, img: PreparedImage) -> dict[str, Any]:
    fake = bytes_blob(b"absent manifest " + platform.encode() + b" " + img.config[:64])
    return _descriptor(MT_OCI_MANIFEST, fake, platform=_platform_object(platform))


def _nested_index(entries: list[tuple[PreparedImage, Blob]], spec: ArchiveSpec, blobs: _Blobs) -> Blob:
    manifests = []
    for img, manifest in entries:
        manifests.append(_descriptor(MT_OCI_MANIFEST, manifest, platform=_platform_object(_platform(img))))
        if spec.attestations:
            manifests.append(_attestation(manifest, blobs, spec.attestation_blobs))
    for platform in spec.absent_platforms:
        manifests.append(_absent(platform, entries[0][0]))
    return blobs.add(bytes_blob(go_bytes({"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": manifests})))


def _blob_members(blobs: _Blobs, **kw: Any) -> list[TarMember]:
    return [blob_member(f"blobs/sha256/{_hex(d)}", b, mtime=mtime, **kw) for d, (b, mtime) in blobs.items.items()]


def _truth(img: PreparedImage, refs: tuple[str, ...], manifest: Blob, prefix: str = "blobs/sha256/") -> ImageTruth:
    return ImageTruth(img.image_id, img.config, img.diff_ids, tuple(pl.blob.digest for pl in img.layers),
                      tuple(prefix + _hex(pl.blob.digest) for pl in img.layers), refs, manifest.digest,
                      _platform(img))


def graphdriver_members(images: list[PreparedImage], spec: ArchiveSpec) -> tuple[list[TarMember], list[ImageTruth]]:
    """Docker 25+ graphdriver store: OCI layout + manifest.json + repositories, layers by diffID."""
    blobs = _Blobs({})
    index: list[dict[str, Any]] = []
    manifest: list[dict[str, Any]] = []
    repos: dict[str, dict[str, str]] = {}
    truths = []
    created0 = epoch_seconds(images[0].spec.config.created) if images else 0
    for img in images:
        created = epoch_seconds(img.spec.config.created)
        m = _manifest(img, blobs, 0, layer_mtime=created, uncompressed=True)
        for _, v1json in moby_v1_layers(img):
            # save.go still writes each layer's legacy v1 json as an (unreferenced) blob.
            blobs.add(bytes_blob(v1json), created)
        for ref in img.spec.references:
            name, tag = split_reference(ref)
            index.append(_descriptor(MT_OCI_MANIFEST, m, annotations={
                "io.containerd.image.name": f"{full_name(name)}:{tag}", "org.opencontainers.image.ref.name": tag}))
            if img.layers:
                repos.setdefault(name, {})[tag] = _hex(img.layers[-1].diff_id)
        if not img.spec.references and not spec.index_null_when_untagged:
            index.append(_descriptor(MT_OCI_MANIFEST, m))
        item: dict[str, Any] = {"Config": f"blobs/sha256/{_hex(img.image_id)}",
                                "RepoTags": list(img.spec.references) or None,
                                "Layers": [f"blobs/sha256/{_hex(pl.diff_id)}" for pl in img.layers]}
        item["LayerSources"] = sorted_map({pl.diff_id: {"mediaType": MT_LAYER["none"], "size": pl.tar.size,
                                                        "digest": pl.diff_id} for pl in img.layers})
        manifest.append(item)
        truths.append(ImageTruth(img.image_id, img.config, img.diff_ids, img.diff_ids,
                                 tuple(item["Layers"]), img.spec.references, m.digest, _platform(img)))
    members = [TarMember(name="blobs/", typeflag=DIR, mode=0o755, mtime=created0),
               TarMember(name="blobs/sha256/", typeflag=DIR, mode=0o755, mtime=created0)]
    members += _blob_members(blobs, mode=0o644)
    index_obj = {"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": index or None}
    members.append(bytes_member("index.json", go_bytes(index_obj), mode=0o644, mtime=created0))
    members.append(bytes_member("manifest.json", go_bytes(manifest) + b"\n", mode=0o644))
    members.append(bytes_member("oci-layout", OCI_LAYOUT_SPACED, mode=0o644))
    if repos:
        data = go_bytes(sorted_map({k: sorted_map(v) for k, v in repos.items()})) + b"\n"
        members.append(bytes_member("repositories", data, mode=0o644))
    return walk_order(members), truths


def containerd_members(images: list[PreparedImage], spec: ArchiveSpec) -> tuple[list[TarMember], list[ImageTruth]]:
    """Docker 25+ containerd store / BuildKit type=docker: stored (gzip) blobs, nested index, sorted members."""
    blobs = _Blobs({})
    index: list[dict[str, Any]] = []
    manifest: list[dict[str, Any]] = []
    truths = []
    for img in images:
        m = _manifest(img, blobs)
        target, media_type = m, MT_OCI_MANIFEST
        if spec.nested_index:
            target, media_type = _nested_index([(img, m)], spec, blobs), MT_OCI_INDEX
        for ref in img.spec.references:
            name, tag = split_reference(ref)
            index.append(_descriptor(media_type, target, annotations={
                "io.containerd.image.name": f"{full_name(name)}:{tag}", "org.opencontainers.image.ref.name": tag}))
        if not img.spec.references:
            index.append(_descriptor(media_type, target))
        manifest.append({"Config": f"blobs/sha256/{_hex(img.image_id)}", "RepoTags": list(img.spec.references) or None,
                         "Layers": [f"blobs/sha256/{_hex(pl.blob.digest)}" for pl in img.layers]})
        truths.append(_truth(img, img.spec.references, m))
    members = [TarMember(name="blobs/", typeflag=DIR, mode=0o755), TarMember(name="blobs/sha256/", typeflag=DIR, mode=0o755)]
    members += _blob_members(blobs, mode=0o444)
    members.append(bytes_member("index.json", go_bytes({"schemaVersion": 2, "mediaType": MT_OCI_INDEX,
                                                        "manifests": index}), mode=0o644))
    members.append(bytes_member("manifest.json", go_bytes(manifest), mode=0o644))
    members.append(bytes_member("oci-layout", OCI_LAYOUT_COMPACT, mode=0o444))
    return sorted(members, key=lambda mm: mm.name.encode()), truths


def oci_files(images: list[PreparedImage], spec: ArchiveSpec) -> tuple[list[tuple[str, Blob]], list[ImageTruth]]:
    """The files of an OCI image layout as containers/image writes it (podman save --format oci-archive)."""
    blobs = _Blobs({})
    index: list[dict[str, Any]] = []
    truths = []
    entries = [(img, _manifest(img, blobs)) for img in images]

    def ref_annotations(refs: tuple[str, ...]) -> list[dict[str, str]]:
        if spec.oci_ref_names == "none" or not refs:
            return [{}]
        return [{"org.opencontainers.image.ref.name": split_reference(r)[1] if spec.oci_ref_names == "tag" else r}
                for r in refs]

    if spec.nested_index and entries:
        nested = _nested_index(entries, spec, blobs)
        for ann in ref_annotations(images[0].spec.references):
            index.append(_descriptor(MT_OCI_INDEX, nested, annotations=ann))
    else:
        for img, m in entries:
            for ann in ref_annotations(img.spec.references):
                index.append(_descriptor(MT_OCI_MANIFEST, m, annotations=ann))
    for img, m in entries:
        names = [a["org.opencontainers.image.ref.name"] for a in ref_annotations(img.spec.references) if a]
        if spec.nested_index and img is not images[0]:
            names = []
        truths.append(_truth(img, tuple(names), m))
    files = [(f"blobs/sha256/{_hex(d)}", b) for d, (b, _) in blobs.items.items()]
    files.append(("index.json", bytes_blob(go_bytes({"schemaVersion": 2, "manifests": index}))))
    files.append(("oci-layout", bytes_blob(OCI_LAYOUT_SPACED)))
    return files, truths


def oci_archive_members(images: list[PreparedImage], spec: ArchiveSpec) -> tuple[list[TarMember], list[ImageTruth]]:
    """oci-archive: the OCI layout directory tarred (podman: lexical walk, dirs included)."""
    files, truths = oci_files(images, spec)
    members = [TarMember(name="blobs/", typeflag=DIR, mode=0o40755), TarMember(name="blobs/sha256/", typeflag=DIR, mode=0o40755)]
    members += [blob_member(name, blob, mode=0o100644) for name, blob in files]
    return walk_order(members), truths


def manifest_digest_of(data: bytes) -> str:
    """sha256 of manifest bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()
