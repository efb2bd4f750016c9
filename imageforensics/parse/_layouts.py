"""From the members collected in one pass to an Archive (pure: no I/O).

This module finds the layout (FORMATS.md A0) and hands the store of members
to the family that reads it (``FAMILIES``): docker-archive layouts
(``_docker``) or OCI layouts (``_oci``); ``_config`` reads the config and
history they point at.
"""

from __future__ import annotations

import re

from collections.abc import Callable

from imageforensics.errors import InputError
from imageforensics.findings import Finding, sort_findings
from imageforensics.options import Limits
from imageforensics.model import Archive, Digest, Image
from imageforensics.parse import _archive_findings as archive_audit
from imageforensics.parse import _docker, _oci
from imageforensics.parse._json import load_json_bytes
from imageforensics.parse._members import LayerReader, Member, Store, named_digest
from imageforensics.untrusted import show

# FORMATS.md A1: docker save writes "<v1id>/json" per layer; pre-1.10 saves have
# only these (chained by "parent") and no manifest.json.
_V1_JSON = re.compile(r"[0-9a-f]{64}/json")
_TOP_CONFIG = re.compile(r"[0-9a-f]{64}\.json")

def detect_layout(store: Store, *, directory: bool) -> str:
    """The layout name (model.LAYOUTS), or InputError when the input is not an image archive at all."""
    if store.has("manifest.json"):
        if directory:
            return "docker-dir"
        if store.has("index.json") and store.has("oci-layout"):
            return "docker-oci"  # refined by parse_docker (graphdriver vs containerd store)
        return "docker"  # refined by parse_docker (legacy, containers/image, crane)
    if store.has("index.json"):
        return "oci-dir" if directory else "oci-archive"
    names = store.names()
    if store.has("repositories") or any(_V1_JSON.fullmatch(n) for n in names):
        if any(_TOP_CONFIG.fullmatch(n) for n in names):
            raise InputError(store.source, "manifest.json", "absent: this looks like a docker save (repositories, <id>.json config, <id>/layer.tar) with manifest.json removed; without it nothing says which config and layers form an image")
        if any(_V1_JSON.fullmatch(n) for n in names):
            raise InputError(store.source, "manifest.json", "absent: this is a pre-1.10 docker save (repositories + <id>/json chain only), which has no image config and no diff_ids to read; load it into Docker and save it again")
    shown = ", ".join(show(n, 60) for n in names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    raise InputError(store.source, None, f"not an image archive: expected manifest.json (docker save) or index.json (OCI layout), found {shown or 'no members'}")


# A layout family reads the store into images; it may refine the layout name
# (docker-legacy, docker-oci-containerd, …) as it learns what wrote the archive.
Family = Callable[[Store, str, list[str]], tuple[str, list[Image]]]


def _oci_family(store: Store, layout: str, notes: list[str]) -> tuple[str, list[Image]]:
    return layout, _oci.parse(store, layout=layout, notes=notes)


def _docker_family(store: Store, layout: str, notes: list[str]) -> tuple[str, list[Image]]:
    return _docker.parse(store, layout=layout, notes=notes)


# detect_layout's answer -> the family that reads it.
FAMILIES: dict[str, Family] = {
    "docker": _docker_family,
    "docker-oci": _docker_family,
    "docker-dir": _docker_family,
    "oci-archive": _oci_family,
    "oci-dir": _oci_family,
}


def parse_archive(
    members: list[Member] | tuple[Member, ...],
    *,
    source: str,
    compression: str,
    sha256: Digest | None,
    size: int,
    directory: bool,
    limits: Limits,
    read_layer: LayerReader,
    tar_anomalies: tuple[tuple[str, str], ...] = (),
) -> Archive:
    """Resolve the collected members into an Archive with its images and audit findings.

    ``read_layer`` reads a layer blob that the reader kept in memory (a small
    member). ``tar_anomalies`` are what the reader found odd in the outer
    tar and its compression (``model.ARCHIVE_ANOMALIES`` codes, with details).
    """
    store = Store(members, source=source, limits=limits, read_layer=read_layer)
    store.findings.extend(archive_audit.archive_anomalies(tar_anomalies))
    detected = detect_layout(store, directory=directory)
    notes: list[str] = []
    layout, images = FAMILIES[detected](store, detected, notes)
    # A config named by a wrong digest already has its image-id-mismatch finding.
    configs = {f.path for image in images for f in image.findings if f.code == "image-id-mismatch"}
    for name in store.names():
        m = store.by_name[name]
        claimed = named_digest(name)
        if name in configs:
            continue
        if claimed is not None and m.digest is not None and claimed.algorithm == "sha256" and claimed != m.digest:
            store.findings.append(archive_audit.blob_digest_mismatch(name, claimed, m.digest))
    store.findings.extend(archive_audit.unreferenced_blobs(((n, store.by_name[n].kind, _what(store, n)) for n in store.names()), store.referenced, layout=layout))
    return Archive(
        source=source,
        layout=layout,
        compression=compression,
        sha256=sha256,
        images=tuple(images),
        findings=sort_findings(_dedupe(store.findings)),
        size=size,
        notes=tuple(notes),
    )


def _what(store: Store, name: str) -> str:
    """What an unreferenced member looks like (only computed for members nothing referenced)."""
    m = store.by_name[name]
    if name in store.referenced:
        return ""
    if m.kind == "blob":
        return "layer" if m.layer is not None and m.layer.readable else ""
    if m.kind != "json" or m.data is None:
        return ""
    try:
        value, _ = load_json_bytes(m.data, source=store.source, member=name, what="blob", limits=store.limits)
    except InputError:
        return ""
    if not isinstance(value, dict):
        return ""
    if "manifests" in value:
        return "index"
    if "config" in value and "layers" in value:
        return "manifest"
    if isinstance(value.get("rootfs"), dict):
        return "config"
    if "id" in value and ("parent" in value or "created" in value):
        return "v1-json"
    return ""


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[Finding] = set()
    out = []
    for f in findings:
        if f not in seen:
            seen.add(f)
            out.append(f)
    return out
