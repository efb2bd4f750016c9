"""Archive-level findings: what the parser observes while it resolves references.

Pure constructors (values in, a Finding out), called by ``parse``,
``parse_docker``, ``parse_oci`` and ``parse_config``: member names and links,
blob digests against names and descriptors, manifest.json against index.json
and repositories, absent and unreferenced blobs. The single-image audit is in
``audit``. Every code is registered in ``catalogue``.
"""

from __future__ import annotations

from collections.abc import Iterable

from imageforensics.catalogue import EvidenceValue, code_spec
from imageforensics.findings import Finding, Severity, evidence
from imageforensics.model import ARCHIVE_ANOMALIES, Digest
from imageforensics.untrusted import show

INFO, WARNING, ERROR = Severity.INFO, Severity.WARNING, Severity.ERROR


def _f(code: str, severity: Severity, summary: str, *, path: str = "", **ev: EvidenceValue | None) -> Finding:
    return Finding(code=code, severity=severity, summary=summary, path=path, evidence=evidence(**ev))


# ---- archive members and links -------------------------------------------------


def member_duplicate(name: str) -> Finding:
    """The outer archive holds two members with one name (tar semantics: the last wins)."""
    return _f("member-duplicate", WARNING, f"member {show(name)} appears more than once; the last copy is used", path=name)


def member_special(name: str) -> Finding:
    """A device node or FIFO in the outer archive (never opened)."""
    return _f("member-special", WARNING, f"member {show(name)} is a device or FIFO, which no image writer produces", path=name)


def archive_anomalies(anomalies: Iterable[tuple[str, str]]) -> list[Finding]:
    """One finding per kind of odd structure in the outer tar or its compression, with a count and examples.

    ERROR for a negative size (Go's archive/tar, and so docker load, refuses
    the archive); WARNING for the rest, which the runtime skips and another
    reader may not.
    """
    grouped: dict[str, list[str]] = {}
    for code, detail in anomalies:
        grouped.setdefault(code, []).append(detail)
    out = []
    for code, details in grouped.items():
        meaning = ARCHIVE_ANOMALIES.get(code, code).split(";")[0]
        examples = ", ".join(show(d, 160) for d in details[:3]) + (f" and {len(details) - 3} more" if len(details) > 3 else "")
        severity = ERROR if code == "negative-size" else WARNING
        out.append(_f("archive-anomaly", severity, f"outer archive: {len(details)} × {meaning}: {examples}", anomaly=code, count=len(details), first=details[0]))
    return out


def link_problem(code: str, link: str, target: str) -> Finding:
    """A symlink/hardlink member that escapes the archive, loops, dangles or points at a directory."""
    what = {
        "member-link-escapes": "points outside the archive (never followed)",
        "member-link-loop": "is part of a link loop",
        "member-link-dangling": "points at a member that is absent",
        "member-link-to-dir": "points at a directory, not a file",
        "member-link-forward": "names a member that comes later in the archive (docker load extracts in order and fails on it; containerd skips hardlinks)",
    }[code]
    return _f(code, code_spec(code).severity, f"link {show(link)} → {show(target)} {what}", path=link, target=target)


def json_duplicate_keys(member: str, keys: list[str]) -> Finding:
    """A JSON member repeats a key: Go's encoding/json and Python both keep the last, other readers may not."""
    return _f("json-duplicate-key", WARNING, f"{show(member)} repeats the key(s) {', '.join(show(k, 60) for k in keys)}; the last value is used", path=member, keys=",".join(keys))


def blob_digest_mismatch(name: str, claimed: Digest, actual: Digest) -> Finding:
    """A member's name claims a digest its bytes do not have."""
    return _f("blob-digest-mismatch", ERROR, f"{show(name)} is named {claimed.short}… but its bytes hash to {actual.short}…", path=name, claimed=claimed, actual=actual)


def unreferenced_blobs(members: Iterable[tuple[str, str, str]], referenced: set[str], *, layout: str) -> list[Finding]:
    """Blobs (under ``blobs/``, or layer-like members) that nothing references.

    ``members`` are (name, kind, what) with ``what`` one of manifest, index,
    config, v1-json, layer or "" (what the JSON or blob looks like).
    """
    out = []
    for name, kind, what in members:
        if name in referenced or kind not in ("json", "other", "blob"):
            continue
        if name.startswith("blobs/"):
            if what == "v1-json":
                why = "a legacy v1 layer json, which Docker 25+ graphdriver saves write for every layer and nothing references"
            elif what == "manifest" and layout == "docker-oci-graphdriver":
                why = "an image manifest that index.json does not list (untagged images: Docker 25.0.0-25.0.2 wrote manifests null)"
            else:
                why = f"{'a ' + what if what else 'a blob'} that no manifest or index refers to (image-layout.md: blobs MAY be unreferenced)"
            out.append(_f("blob-unreferenced", INFO, f"{show(name)} is not referenced: {why}", path=name, what=what or None))
        elif kind == "blob":
            out.append(_f("blob-unreferenced", INFO, f"{show(name)} looks like a layer but no manifest names it", path=name, what="layer"))
    return out


# ---- images, manifests, indexes ------------------------------------------------


def image_id_mismatch(where: str, claimed: Digest, actual: Digest) -> Finding:
    """The config bytes do not hash to the digest its name or descriptor gives (the image ID is the sha256 of the config)."""
    return _f("image-id-mismatch", ERROR, f"config {show(where)} is named {claimed.short}… but its bytes hash to {actual.short}… (edited after it was written?)", path=where, claimed=claimed, actual=actual)


def image_parent(parent: str, *, present: bool) -> Finding:
    """manifest.json Parent: moby writes it only when the parent image is in the same archive."""
    if present:
        return _f("image-parent", INFO, f"built on image {show(parent, 80)}, which is in this archive (manifest.json Parent)", parent=parent)
    return _f("parent-absent", WARNING, f"manifest.json names Parent {show(parent, 80)}, which is not in this archive (moby writes Parent only when it is)", parent=parent)


def layer_absent(index: int, ref: str, reason: str, *, foreign: bool = False) -> Finding:
    """A layer the manifest names cannot be read from the archive."""
    if foreign:
        return _f("layer-foreign", INFO, f"layer {index} ({show(ref, 80)}) is a foreign layer not included in the archive", ref=ref, layer=index)
    return _f("layer-absent", ERROR, f"layer {index} ({show(ref, 80)}) is absent from the archive: {reason}", ref=ref, layer=index, reason=reason)


def layer_sources(count: int, *, every_layer: bool) -> Finding:
    """manifest.json LayerSources (foreign or non-distributable layer descriptors)."""
    if every_layer:
        return _f("layer-sources", INFO, f"LayerSources lists {count} layer(s): Docker 25+ writes it for every layer", count=count)
    return _f("layer-sources", INFO, f"LayerSources lists {count} foreign/non-distributable layer(s)", count=count)


def manifest_index_mismatch(image_id: str, reason: str) -> Finding:
    """manifest.json and index.json disagree about an image."""
    return _f("manifest-index-mismatch", WARNING, f"image {image_id[:19]}…: manifest.json and index.json disagree: {reason}", image=image_id)


def repositories_mismatch(reason: str) -> Finding:
    """The ``repositories`` file disagrees with manifest.json."""
    return _f("repositories-mismatch", WARNING, f"repositories {reason}", path="repositories")


def image_only_in_index(image_id: str) -> Finding:
    """An image reachable from index.json that manifest.json does not list."""
    return _f("image-only-in-index", INFO, f"image {image_id[:19]}… is in index.json but not in manifest.json (docker load would not see it)", image=image_id)


def index_manifests_null() -> Finding:
    """index.json has ``"manifests": null`` (Docker 25.0.0-25.0.2 saving an untagged image)."""
    return _f("index-manifests-null", INFO, 'index.json has "manifests": null, as Docker 25.0.0-25.0.2 wrote for untagged images (fixed in 25.0.3); manifest.json is used')


def oci_layout_problem(reason: str) -> Finding:
    """The oci-layout file is absent or odd."""
    return _f("oci-layout-invalid", WARNING, f"oci-layout {reason}", path="oci-layout")


def descriptor_invalid(where: str, reason: str) -> Finding:
    """A descriptor or the document it points at cannot be used (``reason``: our words, names in it shown)."""
    return _f("descriptor-invalid", ERROR, f"{show(where)}: {reason}", where=where)


def media_type_mismatch(where: str, descriptor_type: str, blob_type: str) -> Finding:
    """The descriptor's mediaType differs from the one inside the blob (seen in ggcr fixtures)."""
    return _f("media-type-mismatch", INFO, f"{show(where)}: descriptor says {show(descriptor_type, 80)}, the blob says {show(blob_type, 80)}", descriptor=descriptor_type, blob=blob_type)


def unknown_media_type(where: str, media_type: str) -> Finding:
    """A descriptor of an unknown kind: skipped ("unknown mediaTypes MUST NOT cause errors")."""
    return _f("unknown-media-type", INFO, f"{show(where)}: mediaType {show(media_type, 80)} is neither an index nor a manifest; skipped", media_type=media_type)


def attestation_skipped(where: str, digest: Digest, reference_type: str) -> Finding:
    """A manifest marked vnd.docker.reference.type (BuildKit attestation, builder info): about an image, not one."""
    return _f("attestation-skipped", INFO, f"{show(where)}: {show(reference_type, 60)} manifest {digest.short} (vnd.docker.reference.type) is not an image; skipped", digest=digest, reference_type=reference_type)


def blob_absent(where: str, digest: Digest, what: str) -> Finding:
    """A config or other blob a manifest refers to is not in the archive."""
    return _f("blob-absent", ERROR, f"{show(where)}: {show(what, 60)} blob {digest.short} is not in the archive", digest=digest)


def manifests_absent(parent: str, absent: list[tuple[Digest, str, bool]], total: int) -> Finding:
    """Manifests an index lists but the archive lacks: ``absent`` holds (digest, platform, is_attestation)."""
    platforms = [p or "no platform" for _, p, att in absent if not att]
    attestations = sum(1 for _, _, att in absent if att)
    parts = []
    if platforms:
        parts.append(f"{len(platforms)} platform manifest(s) ({', '.join(show(p, 40) for p in platforms[:12])}{', …' if len(platforms) > 12 else ''})")
    if attestations:
        parts.append(f"{attestations} attestation/reference manifest(s)")
    why = "normal for Docker 25+ containerd-store and BuildKit exports, which save only the chosen platform (WithSkipMissing)"
    return _f(
        "blob-absent", INFO,
        f"{show(parent)}: {len(absent)} of {total} listed manifests are not in the archive: {' and '.join(parts)}; {why}",
        absent=len(absent), listed=total, platforms=",".join(platforms) or None, attestations=attestations,
        digests=tuple(d for d, _, _ in absent),
    )


def blob_elsewhere(where: str, digest: Digest, member: str) -> Finding:
    """A blob found outside ``blobs/<alg>/<hex>`` by its content digest (c/image shared blob dirs)."""
    return _f("blob-elsewhere", INFO, f"{show(where)}: blob {digest.short} found as {show(member)} (matched by content digest), not under blobs/", path=member, digest=digest)


def descriptor_size_mismatch(where: str, digest: Digest, declared: int, actual: int) -> Finding:
    """A descriptor's size differs from its blob's size."""
    return _f("descriptor-size-mismatch", ERROR, f"{show(where)}: descriptor of {digest.short} says {declared} bytes, the blob has {actual}", digest=digest, declared=declared, actual=actual)


def artifact_skipped(where: str, config_type: str, artifact_type: str) -> Finding:
    """A manifest whose config is not an image config (Helm chart, signature, SBOM, empty config)."""
    kind = f" (artifactType {show(artifact_type, 80)})" if artifact_type else ""
    return _f("artifact-skipped", INFO, f"{show(where)}: artifact with config {show(config_type, 80)}{kind} is not an image; skipped", config_type=config_type, artifact_type=artifact_type or None)


def layer_compression_mismatch(index: int, media_type: str, actual: str) -> Finding:
    """A layer descriptor's mediaType names another compression than the blob has."""
    if actual == "none" and media_type.endswith("gzip"):
        # podman save --uncompressed (c/image) keeps the +gzip media type on decompressed blobs.
        return _f("layer-media-type-mismatch", INFO, f"layer {index}: descriptor says {show(media_type, 80)} but the blob is uncompressed (podman save --uncompressed writes this)", layer=index, media_type=media_type, actual=actual)
    return _f("layer-media-type-mismatch", WARNING, f"layer {index}: descriptor says {show(media_type, 80)} but the blob is {actual}", layer=index, media_type=media_type, actual=actual)


def config_field_invalid(member: str, field: str, what: str) -> Finding:
    """An optional config field has the wrong type (read as absent)."""
    return _f("config-field-invalid", WARNING, f"config {show(member, 80)}: {field} is {what}", path=member, field=field)


def value_not_string(member: str, field: str, value: object) -> Finding:
    """A JSON value the spec types as a string is something else (``1e999999`` as a label value)."""
    found = "a number" if isinstance(value, (int, float)) and not isinstance(value, bool) else _json_kind(value)
    return _f("json-value-not-string", WARNING, f"{show(member, 80)}: {show(field, 120)} is {found}, expected a string "
              f"(Go's json refuses it)", path=member, field=field, found=found)


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    return "an object" if isinstance(value, dict) else "an array" if isinstance(value, list) else "a string"


def platform_mismatch(member: str, config: str, descriptor: str) -> Finding:
    """The config's os/architecture differs from the index descriptor's platform."""
    return _f("platform-mismatch", WARNING, f"config says {show(config, 60)} but the index descriptor says {show(descriptor, 60)}", config=config, descriptor=descriptor)
