"""Small, independent builders of image archives in memory, for the reader's tests.

Written with the standard library only (tarfile, gzip, json, hashlib), and on
purpose separate from the reader and from tools/synth.py, so that a test
compares the reader against a second implementation of the formats.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

EPOCH = 0


def sha(data: bytes) -> str:
    """``sha256:<hex>`` of bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def hexof(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def gz(data: bytes) -> bytes:
    """gzip with a fixed header mtime, so the same input gives the same bytes."""
    return gzip.compress(data, mtime=0)


def layer_tar(files: dict[str, bytes], *, dirs: tuple[str, ...] = ()) -> bytes:
    """An uncompressed layer tar: directories first, then files, mtime 0."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tf.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(data))
    return out.getvalue()


# A member of the outer archive: bytes for a file, or a Link / Dir marker.
@dataclass(frozen=True)
class Link:
    target: str
    hard: bool = False


@dataclass(frozen=True)
class Dir:
    pass


Members = list[tuple[str, "bytes | Link | Dir"]]


def tar_of(members: Members, *, mode: int = 0o644, end_marker: bool = True) -> bytes:
    """The outer tar of ``members`` in the given order."""
    out = io.BytesIO()
    tf = tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT)
    for name, content in members:
        info = tarfile.TarInfo(name)
        info.mtime = EPOCH
        if isinstance(content, Link):
            info.type = tarfile.LNKTYPE if content.hard else tarfile.SYMTYPE
            info.linkname = content.target
            tf.addfile(info)
        elif isinstance(content, Dir):
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tf.addfile(info)
        else:
            info.size = len(content)
            info.mode = mode
            tf.addfile(info, io.BytesIO(content))
    if end_marker:
        tf.close()
        return out.getvalue()
    tf.fileobj.flush()
    data = out.getvalue()
    return data


def js(value: object) -> bytes:
    """JSON as Go's encoder writes it: compact, with a newline for manifest.json-like files."""
    return json.dumps(value, separators=(",", ":")).encode()


@dataclass
class Img:
    """An image to write: layer tars (uncompressed), history, tags."""

    layers: list[bytes]
    history: list[dict[str, object]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    created: str = "2021-03-11T15:19:27.9352723Z"
    os: str = "linux"
    architecture: str = "amd64"
    variant: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    def diff_ids(self) -> list[str]:
        return [sha(t) for t in self.layers]

    def config(self) -> bytes:
        value: dict[str, object] = {
            "architecture": self.architecture,
            "created": self.created,
            "os": self.os,
            "rootfs": {"type": "layers", "diff_ids": self.diff_ids()},
            "config": {"Env": ["PATH=/usr/bin"], "Cmd": ["sh"], "ExposedPorts": {"8080": {}}, "Labels": {"b": "2", "a": "1"}},
        }
        if self.variant:
            value["variant"] = self.variant
        if self.history:
            value["history"] = self.history
        value.update(self.extra)
        return js(value)

    def image_id(self) -> str:
        return sha(self.config())


def simple_image(tag: str = "local/app:1", seed: str = "a") -> Img:
    """Two layers, three history steps (one empty), one tag."""
    base = layer_tar({f"etc/{seed}-base": b"base\n"}, dirs=("etc",))
    top = layer_tar({f"app/{seed}.txt": b"hello " + seed.encode()})
    return Img(
        layers=[base, top],
        history=[
            {"created": "2021-03-11T15:19:20Z", "created_by": "/bin/sh -c #(nop) ADD file:abc in / "},
            {"created": "2021-03-11T15:19:21Z", "created_by": '/bin/sh -c #(nop)  CMD ["sh"]', "empty_layer": True},
            {"created": "2021-03-11T15:19:27.9352723Z", "created_by": "COPY app /app # buildkit", "comment": "buildkit.dockerfile.v0"},
        ],
        tags=[tag],
    )


def legacy(images: list[Img], *, parent_links: bool = False) -> Members:
    """moby <= 24 docker save: <v1id>/{VERSION,json,layer.tar}, <id>.json, manifest.json, repositories."""
    members: Members = []
    manifest = []
    repositories: dict[str, dict[str, str]] = {}
    written: dict[str, str] = {}
    for k, img in enumerate(images):
        config = img.config()
        cid = hexof(config)
        members.append((f"{cid}.json", config))
        layer_names = []
        parent = ""
        for i, tar in enumerate(img.layers):
            v1 = hexof(f"{cid}-{i}-{parent}".encode())
            members.append((f"{v1}/", Dir()))
            members.append((f"{v1}/VERSION", b"1.0"))
            members.append((f"{v1}/json", js({"id": v1, "parent": parent, "created": "1970-01-01T00:00:00Z"})))
            diff = sha(tar)
            if diff in written:
                # Repeated layer: a symlink to the first copy (moby saveLayer).
                members.append((f"{v1}/layer.tar", Link(f"../{written[diff]}/layer.tar")))
            else:
                written[diff] = v1
                members.append((f"{v1}/layer.tar", tar))
            layer_names.append(f"{v1}/layer.tar")
            parent = v1
        item: dict[str, object] = {"Config": f"{cid}.json", "RepoTags": img.tags or None, "Layers": layer_names}
        if parent_links and k > 0:
            item["Parent"] = images[k - 1].image_id()
        manifest.append(item)
        for tag in img.tags:
            name, _, t = tag.rpartition(":")
            repositories.setdefault(name, {})[t] = parent
    members.append(("repositories", js(repositories)))
    members.append(("manifest.json", js(manifest) + b"\n"))
    return members


def cimage(images: list[Img]) -> Members:
    """containers/image docker-archive: <diffid>.tar, <hex>.json, every <id>/layer.tar a symlink."""
    members: Members = []
    manifest = []
    seen: set[str] = set()
    for img in images:
        config = img.config()
        members.append((f"{hexof(config)}.json", config))
        names = []
        for i, tar in enumerate(img.layers):
            h = hexof(tar)
            if h not in seen:
                seen.add(h)
                members.append((f"{h}.tar", tar))
                layer_id = hexof(f"{h}-{i}".encode())
                members.append((f"{layer_id}/layer.tar", Link(f"../{h}.tar")))
            names.append(f"{h}.tar")
        manifest.append({"Config": f"{hexof(config)}.json", "RepoTags": img.tags, "Layers": names})
    members.append(("manifest.json", js(manifest)))
    return members


def crane(images: list[Img]) -> Members:
    """crane/kaniko tarball: config member named sha256:<hex>, layers <blobhex>.tar.gz."""
    members: Members = []
    manifest = []
    for img in images:
        config = img.config()
        members.append((sha(config), config))
        names = []
        for tar in img.layers:
            blob = gz(tar)
            members.append((f"{hexof(blob)}.tar.gz", blob))
            names.append(f"{hexof(blob)}.tar.gz")
        manifest.append({"Config": sha(config), "RepoTags": img.tags, "Layers": names})
    members.append(("manifest.json", js(manifest)))
    return members


def _descriptor(media_type: str, data: bytes, **extra: object) -> dict[str, object]:
    d: dict[str, object] = {"mediaType": media_type, "digest": sha(data), "size": len(data)}
    d.update(extra)
    return d


OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"


def oci_manifest(img: Img, *, compress: bool) -> tuple[bytes, list[tuple[str, bytes]]]:
    """An OCI manifest and the blobs it needs: (manifest bytes, [(blob name, bytes)])."""
    config = img.config()
    blobs = [(f"blobs/sha256/{hexof(config)}", config)]
    layers = []
    for tar in img.layers:
        blob = gz(tar) if compress else tar
        blobs.append((f"blobs/sha256/{hexof(blob)}", blob))
        layers.append(_descriptor(OCI_LAYER_GZ if compress else OCI_LAYER, blob))
    manifest = js({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": _descriptor(OCI_CONFIG, config), "layers": layers})
    return manifest, blobs


def oci(images: list[Img], *, compress: bool = True, nested: bool = False) -> Members:
    """An oci-archive: oci-layout, index.json (optionally through a nested index), blobs/sha256/*."""
    blobs: dict[str, bytes] = {}
    descriptors = []
    for img in images:
        manifest, needed = oci_manifest(img, compress=compress)
        blobs.update(needed)
        blobs[f"blobs/sha256/{hexof(manifest)}"] = manifest
        platform = {"architecture": img.architecture, "os": img.os}
        if nested:
            inner = js({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [_descriptor(OCI_MANIFEST, manifest, platform=platform)]})
            blobs[f"blobs/sha256/{hexof(inner)}"] = inner
            descriptors.append(_descriptor(OCI_INDEX, inner, annotations=_names(img)))
        else:
            descriptors.append(_descriptor(OCI_MANIFEST, manifest, annotations=_names(img), platform=platform))
    index = js({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors})
    members: Members = [("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'), ("index.json", index)]
    members += sorted(blobs.items())
    return members


def _names(img: Img) -> dict[str, str]:
    if not img.tags:
        return {}
    tag = img.tags[0]
    return {"io.containerd.image.name": f"docker.io/{tag}", "org.opencontainers.image.ref.name": tag.rpartition(":")[2]}


def containerd(images: list[Img]) -> Members:
    """Docker 25+ containerd-store save: OCI layout with gzip blobs plus manifest.json naming them."""
    members = oci(images, compress=True, nested=True)
    manifest = []
    for img in images:
        config = img.config()
        manifest.append({
            "Config": f"blobs/sha256/{hexof(config)}",
            "RepoTags": img.tags,
            "Layers": [f"blobs/sha256/{hexof(gz(t))}" for t in img.layers],
        })
    members.append(("manifest.json", js(manifest)))
    return members


def graphdriver(images: list[Img]) -> Members:
    """Docker 25+ graphdriver save: uncompressed layers named by diffID, LayerSources for every layer."""
    members = oci(images, compress=False, nested=False)
    manifest = []
    repositories: dict[str, dict[str, str]] = {}
    for img in images:
        config = img.config()
        manifest.append({
            "Config": f"blobs/sha256/{hexof(config)}",
            "RepoTags": img.tags or None,
            "Layers": [f"blobs/sha256/{hexof(t)}" for t in img.layers],
            "LayerSources": {sha(t): _descriptor(OCI_LAYER, t) for t in img.layers},
        })
        for tag in img.tags:
            name, _, t = tag.rpartition(":")
            repositories.setdefault(name, {})[t] = hexof(img.layers[-1])
    members.append(("manifest.json", js(manifest) + b"\n"))
    if repositories:
        members.append(("repositories", js(repositories)))
    return members


class Chunked(io.RawIOBase):
    """A pipe-like reader that returns at most the next chunk size on each read (cycling ``sizes``)."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self._data = data
        self._pos = 0
        self._sizes = [max(1, s) for s in sizes] or [1]
        self._k = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        if self._pos >= len(self._data):
            return b""
        limit = self._sizes[self._k % len(self._sizes)]
        self._k += 1
        if n is not None and n >= 0:
            limit = min(limit, n)
        chunk = self._data[self._pos:self._pos + limit]
        self._pos += len(chunk)
        return chunk

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        chunk = self.read(len(b))
        b[: len(chunk)] = chunk
        return len(chunk)


def write_dir(top: Path, members: Members) -> None:
    """The members as files, directories and symlinks under ``top`` (an extracted archive)."""
    for name, content in members:
        path = top / name
        if isinstance(content, Dir):
            path.mkdir(parents=True, exist_ok=True)
        elif isinstance(content, Link):
            path.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(content.target, path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)


# The writer of each tar layout, by its layout name.
BUILDERS = {
    "docker-legacy": legacy,
    "docker-containers-image": cimage,
    "docker-crane": crane,
    "docker-oci-graphdriver": graphdriver,
    "docker-oci-containerd": containerd,
    "oci-archive": oci,
}
