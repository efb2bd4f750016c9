"""OCI image layouts: ``index.json`` → (nested) indexes → manifests → Images (FORMATS.md A2, A3).

Used on its own for oci-archive tars and OCI layout directories, and by
``parse_docker`` to cross-check Docker 25+ saves. "Blobs MAY be missing or
unreferenced. Unknown files and unknown mediaTypes MUST NOT cause errors"
(image-layout.md): absent blobs, artifacts and attestations become findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from imageforensics.parse import _archive_findings as archive_audit
from imageforensics.errors import InputError, LimitError
from imageforensics.findings import Finding
from imageforensics.model import Digest, Image, Layer, Platform
from imageforensics.parse._members import Member, Store
from imageforensics.parse._config import build_image, descriptor_platform, is_image_config
from imageforensics.untrusted import show

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
IMAGE_CONFIG_TYPES = frozenset({"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"})
NAME_ANNOTATIONS = ("io.containerd.image.name", "org.opencontainers.image.ref.name")


@dataclass(slots=True)
class Walk:
    """What walking ``index.json`` found (a per-call working value)."""

    images: list[Image] = field(default_factory=list)
    listed: bool = False
    artifacts: int = 0
    problems: list[str] = field(default_factory=list)
    # parent index → [(digest, platform, is_attestation)] of absent manifests, and how many it lists
    absent: dict[str, list[tuple[Digest, str, bool]]] = field(default_factory=dict)
    listed_by: dict[str, int] = field(default_factory=dict)
    # manifests some descriptor marks as attestations/references: not images wherever else they appear
    reference_manifests: set[Digest] = field(default_factory=set)
    # indexes already walked, with the names and platform they were reached with
    expanded: set[tuple[Digest, tuple[str, ...], Platform | None]] = field(default_factory=set)
    visits: int = 0


@dataclass(slots=True)
class _Manifest:
    digest: Digest
    member: Member
    value: dict[str, Any]
    references: list[str]
    platform: Platform | None
    where: str


def parse(store: Store, *, layout: str, notes: list[str]) -> list[Image]:
    """The images of an oci-archive or OCI layout directory; InputError when none can be read."""
    found = walk(store, docker_side=False)
    if not found.images and not found.artifacts:
        reason = found.problems[0] if found.problems else "it lists no image manifests"
        raise InputError(store.source, "index.json", f"no image could be read: {reason}")
    if not found.images:
        notes.append(f"no image, only {found.artifacts} artifact(s): see the findings")
    return found.images


def walk(store: Store, *, docker_side: bool) -> Walk:
    """Follow ``index.json`` through nested indexes to every manifest, and build its image."""
    found = Walk()
    _check_oci_layout(store)
    member = store.use("index.json")
    if member is None:
        what = "is a directory" if "index.json" in store.dirs else "is a link that does not resolve inside the archive"
        raise InputError(store.source, "index.json", f"{what}, expected the image index (JSON)")
    index = store.load_json(member, "image index")
    if not isinstance(index, dict):
        raise InputError(store.source, "index.json", f"expected the image index to be a JSON object, found {_json_type(index)}")
    if "manifests" not in index and not docker_side:
        raise InputError(store.source, "index.json", "expected a manifests array in the image index, found none")
    descriptors = index.get("manifests")
    if descriptors is None:
        # Docker 25.0.0-25.0.2 wrote `"manifests": null` for untagged images (moby 78174d2e74).
        store.findings.append(archive_audit.index_manifests_null())
        return found
    if not isinstance(descriptors, list):
        raise InputError(store.source, "index.json", f"expected manifests to be an array, found {_json_type(descriptors)}")
    if not descriptors and not docker_side:
        raise InputError(store.source, "index.json", "lists no manifests (an empty array)")
    found.listed = bool(descriptors)
    collected: dict[Digest, _Manifest] = {}
    found.listed_by["index.json"] = len(descriptors)
    for k, desc in enumerate(descriptors):
        _visit(store, found, collected, desc, f"index.json manifests[{k}]", [], None, ())
    for parent, absent in found.absent.items():
        store.findings.append(archive_audit.manifests_absent(parent, absent, found.listed_by.get(parent, len(absent))))
    for entry in collected.values():
        if entry.digest in found.reference_manifests:
            continue
        image = _image(store, found, entry)
        if image is not None:
            found.images.append(image)
    return found


def image_from_manifest(store: Store, member: Member, value: dict[str, Any]) -> list[Image]:
    """The image of a lone registry manifest (containers/image ``dir:`` layout); InputError when it cannot be read."""
    assert member.digest is not None
    found = Walk()
    image = _image(store, found, _Manifest(member.digest, member, value, [], None, member.name))
    if image is None:
        reason = found.problems[0] if found.problems else "it is not an image manifest"
        raise InputError(store.source, show(member.name), f"no image could be read: {reason}")
    return [image]


def _check_oci_layout(store: Store) -> None:
    member = store.use("oci-layout")
    if member is None:
        store.findings.append(archive_audit.oci_layout_problem("absent (image-layout.md: it MUST exist)"))
        return
    try:
        value = store.load_json(member, "oci-layout")
    except LimitError:
        raise
    except InputError as e:
        store.findings.append(archive_audit.oci_layout_problem(e.expected))
        return
    version = value.get("imageLayoutVersion") if isinstance(value, dict) else None
    if not isinstance(version, str):
        store.findings.append(archive_audit.oci_layout_problem("has no imageLayoutVersion"))
    elif version != "1.0.0":
        store.findings.append(archive_audit.oci_layout_problem(f"imageLayoutVersion is {show(version, 40)}, expected 1.0.0"))


def _visit(
    store: Store,
    found: Walk,
    collected: dict[Digest, _Manifest],
    desc: Any,
    where: str,
    references: list[str],
    platform: Platform | None,
    chain: tuple[Digest, ...],
) -> None:
    # Nested indexes may name the same child many times; each (child, names, platform)
    # is walked once, and all the walking together visits a bounded number of descriptors.
    found.visits += 1
    if found.visits > store.limits.max_descriptors:
        raise LimitError(store.source, "index.json", f"image indexes list more than {store.limits.max_descriptors} descriptors in all (nested indexes fan out)")
    if not isinstance(desc, dict):
        _problem(store, found, archive_audit.descriptor_invalid(where, f"{_json_type(desc)}, expected a descriptor object"))
        return
    media_type = _string(desc.get("mediaType"))
    try:
        digest = Digest.parse(desc.get("digest"))
    except ValueError:
        _problem(store, found, archive_audit.descriptor_invalid(where, f"has no valid digest (mediaType {show(media_type, 80) or 'absent'})"))
        return
    annotations = desc.get("annotations")
    if not isinstance(annotations, dict):
        annotations = {}
    # Descriptor mediaType and annotation values are strings (map[string]string): Go's json refuses anything else.
    if "mediaType" in desc and not isinstance(desc["mediaType"], str):
        store.findings.append(archive_audit.value_not_string(where, "mediaType", desc["mediaType"]))
    for key in sorted(k for k, v in annotations.items() if not isinstance(v, str)):
        store.findings.append(archive_audit.value_not_string(where, f"annotations.{key}", annotations[key]))
    names = [annotations[key] for key in NAME_ANNOTATIONS if isinstance(annotations.get(key), str) and annotations[key]]
    refs = references + [n for n in names if n not in references]
    plat = descriptor_platform(desc.get("platform")) or platform
    # BuildKit attaches attestation (and regctl "builder") manifests as index
    # siblings marked vnd.docker.reference.type; they describe an image, they are not one.
    reference_type = _string(annotations.get("vnd.docker.reference.type"))
    attestation = bool(reference_type)
    name = store.blob_name(digest)
    if name is None or store.resolve(name) is None:
        parent = where.rsplit(" manifests[", 1)[0]
        found.absent.setdefault(parent, []).append((digest, str(plat) if plat else "", attestation))
        found.problems.append(f"{where} ({digest.short}) is absent")
        return
    member = _blob(store, found, digest, desc, where, what=media_type or "blob")
    if member is None:
        return
    try:
        value = store.load_json(member, "manifest or index")
    except LimitError:
        raise
    except InputError as e:
        _problem(store, found, archive_audit.descriptor_invalid(where, f"points at {digest.short}, which {e.expected}"))
        return
    blob_type = value.get("mediaType") if isinstance(value, dict) and isinstance(value.get("mediaType"), str) else ""
    if media_type and blob_type and media_type != blob_type:
        store.findings.append(archive_audit.media_type_mismatch(where, media_type, blob_type))
    kind_type = media_type if media_type in INDEX_TYPES | MANIFEST_TYPES else blob_type
    is_index = kind_type in INDEX_TYPES or (not kind_type and isinstance(value, dict) and "manifests" in value)
    is_manifest = kind_type in MANIFEST_TYPES or (not kind_type and isinstance(value, dict) and "config" in value)
    if not isinstance(value, dict):
        _problem(store, found, archive_audit.descriptor_invalid(where, f"points at {digest.short}, which is {_json_type(value)}, not a manifest or index object"))
        return
    if not (is_index or is_manifest):
        store.findings.append(archive_audit.unknown_media_type(where, media_type or blob_type or "absent"))
        found.problems.append(f"{where} has mediaType {show(media_type or 'absent', 80)}, neither an index nor a manifest")
        return
    if is_index:
        if digest in chain:
            _problem(store, found, archive_audit.descriptor_invalid(where, f"index {digest.short} contains itself (a loop)"))
            return
        if len(chain) >= store.limits.max_index_depth:
            raise LimitError(store.source, where, f"image indexes nest more than {store.limits.max_index_depth} levels")
        seen = (digest, tuple(refs), plat)
        if seen in found.expanded:
            return  # already walked with the same names and platform: its children add nothing
        found.expanded.add(seen)
        children = value.get("manifests")
        if not isinstance(children, list):
            _problem(store, found, archive_audit.descriptor_invalid(where, f"index {digest.short} has no manifests array"))
            return
        found.listed_by[f"{where} → {digest.short}"] = len(children)
        for k, child in enumerate(children):
            _visit(store, found, collected, child, f"{where} → {digest.short} manifests[{k}]", refs, plat, chain + (digest,))
        return
    if attestation:
        store.findings.append(archive_audit.attestation_skipped(where, digest, reference_type))
        found.reference_manifests.add(digest)
        _mark_blobs(store, value)
        return
    if digest in collected:
        entry = collected[digest]
        entry.references.extend(r for r in refs if r not in entry.references)
        return
    collected[digest] = _Manifest(digest, member, value, list(refs), plat, where)


def _blob(store: Store, found: Walk, digest: Digest, desc: dict[str, Any], where: str, *, what: str) -> Member | None:
    """The member holding a descriptor's blob, with its digest and size checked; None (and a finding) if absent."""
    name = store.blob_name(digest)
    member = store.use(name) if name is not None else None
    if member is None:
        store.findings.append(archive_audit.blob_absent(where, digest, what))
        found.problems.append(f"{where} ({digest.short}) is absent")
        return None
    expected = f"blobs/{digest.algorithm}/{digest.hex}"
    if member.name not in (expected, digest.hex) and name not in (expected, digest.hex):
        store.findings.append(archive_audit.blob_elsewhere(where, digest, member.name))
    size = desc.get("size")
    if isinstance(size, int) and not isinstance(size, bool) and member.kind in ("json", "other", "blob") and size != member.size:
        store.findings.append(archive_audit.descriptor_size_mismatch(where, digest, size, member.size))
    return member


def _image(store: Store, found: Walk, entry: _Manifest) -> Image | None:
    manifest, where = entry.value, f"{entry.where} ({entry.digest.short})"
    config_desc = manifest.get("config")
    if not isinstance(config_desc, dict):
        _problem(store, found, archive_audit.descriptor_invalid(where, "manifest has no config descriptor"))
        return None
    config_type = _string(config_desc.get("mediaType"))
    layer_descs = manifest.get("layers")
    if layer_descs is None:
        layer_descs = []
    if not isinstance(layer_descs, list):
        _problem(store, found, archive_audit.descriptor_invalid(where, f"manifest layers is {_json_type(layer_descs)}, expected an array"))
        return None
    if config_type and config_type not in IMAGE_CONFIG_TYPES:
        found.artifacts += 1
        artifact_type = _string(manifest.get("artifactType"))
        store.findings.append(archive_audit.artifact_skipped(where, config_type, artifact_type))
        _mark_blobs(store, manifest)
        return None
    try:
        config_digest = Digest.parse(config_desc.get("digest"))
    except ValueError:
        _problem(store, found, archive_audit.descriptor_invalid(f"{where} config", "has no valid digest"))
        return None
    config_member = _blob(store, found, config_digest, config_desc, f"{where} config", what="config")
    if config_member is None:
        return None
    try:
        config = store.load_json(config_member, "image config")
    except LimitError:
        raise
    except InputError as e:
        _problem(store, found, archive_audit.descriptor_invalid(f"{where} config", e.expected))
        return None
    if not is_image_config(config):
        if config_type:
            _problem(store, found, archive_audit.descriptor_invalid(f"{where} config", "is not an image config (no rootfs)"))
        else:
            found.artifacts += 1
            store.findings.append(archive_audit.artifact_skipped(where, "absent", ""))
        _mark_blobs(store, manifest)
        return None
    if len(layer_descs) > store.limits.max_layers:
        raise LimitError(store.source, show(entry.member.name), f"manifest has {len(layer_descs)} layers, over the {store.limits.max_layers}-layer limit (--max-layers)")
    findings: list[Finding] = []
    assert config_member.digest is not None
    if config_digest.algorithm == "sha256" and config_digest != config_member.digest:
        findings.append(archive_audit.image_id_mismatch(config_member.name, config_digest, config_member.digest))
    layers: list[Layer | None] = []
    refs: list[str] = []
    for j, desc in enumerate(layer_descs):
        layer, ref = _layer(store, found, desc, f"{where} layers[{j}]", j, findings)
        layers.append(layer)
        refs.append(ref)
    return build_image(
        config,
        config_bytes_digest=config_member.digest,
        config_member=config_member.name,
        source=store.source,
        manifest_digest=entry.digest,
        references=tuple(entry.references),
        descriptor_platform=entry.platform,
        layers=tuple(layers),
        layer_refs=tuple(refs),
        findings=findings,
        limits=store.limits,
    )


def _layer(store: Store, found: Walk, desc: Any, where: str, j: int, findings: list[Finding]) -> tuple[Layer | None, str]:
    if not isinstance(desc, dict):
        findings.append(archive_audit.layer_absent(j, where, f"descriptor is {_json_type(desc)}, not an object"))
        return None, ""
    try:
        digest = Digest.parse(desc.get("digest"))
    except ValueError:
        findings.append(archive_audit.layer_absent(j, where, "descriptor has no valid digest"))
        return None, ""
    name = store.blob_name(digest)
    member = store.use(name) if name is not None else None
    if member is None or member.kind not in ("json", "other", "blob"):
        foreign = isinstance(desc.get("urls"), list) and bool(desc.get("urls"))
        findings.append(archive_audit.layer_absent(j, str(digest), "foreign layer (descriptor has urls)" if foreign else "blob absent", foreign=foreign))
        return None, str(digest)
    size = desc.get("size")
    if isinstance(size, int) and not isinstance(size, bool) and size != member.size:
        findings.append(archive_audit.descriptor_size_mismatch(where, digest, size, member.size))
    layer = store.layer_of(member)
    media_type = _string(desc.get("mediaType"))
    declared = "gzip" if media_type.endswith("gzip") else "zstd" if media_type.endswith("zstd") else "none" if media_type.endswith(".tar") else ""
    if declared and layer.readable and layer.compression != declared:
        findings.append(archive_audit.layer_compression_mismatch(j, media_type, layer.compression))
    return layer, str(digest)


def _mark_blobs(store: Store, manifest: dict[str, Any]) -> None:
    """Blobs of skipped manifests (artifacts, attestations) count as referenced."""
    layers = manifest.get("layers")
    descs = [manifest.get("config")] + (layers if isinstance(layers, list) else [])
    for desc in descs:
        if isinstance(desc, dict):
            try:
                name = store.blob_name(Digest.parse(desc.get("digest")))
            except ValueError:
                continue
            if name is not None:
                store.use(name)


def _problem(store: Store, found: Walk, finding: Finding) -> None:
    store.findings.append(finding)
    found.problems.append(finding.summary)


def _string(value: object) -> str:
    """A JSON string field's value; "" when it is absent or not a string."""
    return value if isinstance(value, str) else ""


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array", dict: "an object"}.get(type(value), type(value).__name__)
