"""The integrity audit: findings on every read (pure functions over model values).

``audit_image`` checks one Image on its own (layers vs diff_ids, history vs
layers, empty and unreadable layers) and adds ``history_signals``, the
single-image forensic signals that the diff engine reuses. The other public
functions build the archive-level findings that ``parse`` observes while it
resolves references. Codes are stable kebab-case names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from imageforensics.findings import Finding, Severity, evidence
from imageforensics.model import EMPTY_GZIP_BUILDKIT, EMPTY_GZIP_SCHEMA1, LAYER_ANOMALIES, WELL_KNOWN_EMPTY, Digest, HistoryStep, Image
from imageforensics.timestamp import format_duration
from imageforensics.untrusted import show

INFO, WARNING, ERROR = Severity.INFO, Severity.WARNING, Severity.ERROR
DOCKERFILE_INSTRUCTIONS = frozenset(
    "FROM RUN CMD LABEL MAINTAINER EXPOSE ENV ADD COPY ENTRYPOINT VOLUME USER WORKDIR ARG ONBUILD STOPSIGNAL HEALTHCHECK SHELL".split()
)
FILESYSTEM_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD"})
# moby image_squash.go: the appended entry's comment.
_SQUASH = re.compile(r"(merge sha256:[0-9a-f]+ to sha256:[0-9a-f]+|create new from sha256:[0-9a-f]+)")
BUILDKIT_REPAIR_COMMENT = "buildkit.exporter.image.v0"


def _f(code: str, severity: Severity, summary: str, *, step: int | None = None, created_by: str = "", path: str = "", **ev: object) -> Finding:
    return Finding(code=code, severity=severity, summary=summary, step_a=step, created_by=created_by, path=path, evidence=evidence(**ev))


# ---- archive members and links -------------------------------------------------


def member_duplicate(name: str) -> Finding:
    """The outer archive holds two members with one name (tar semantics: the last wins)."""
    return _f("member-duplicate", WARNING, f"member {show(name)} appears more than once; the last copy is used", path=name)


def member_special(name: str) -> Finding:
    """A device node or FIFO in the outer archive (never opened)."""
    return _f("member-special", WARNING, f"member {show(name)} is a device or FIFO, which no image writer produces", path=name)


def link_problem(code: str, link: str, target: str) -> Finding:
    """A symlink/hardlink member that escapes the archive, loops, dangles or points at a directory."""
    what = {
        "member-link-escapes": "points outside the archive (never followed)",
        "member-link-loop": "is part of a link loop",
        "member-link-dangling": "points at a member that is absent",
        "member-link-to-dir": "points at a directory, not a file",
    }[code]
    severity = ERROR if code in ("member-link-escapes", "member-link-loop") else WARNING
    return _f(code, severity, f"link {show(link)} → {show(target)} {what}", path=link, target=target)


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
    """A descriptor or the document it points at cannot be used."""
    return _f("descriptor-invalid", ERROR, f"{show(where)}: {show(reason)}", where=where)


def media_type_mismatch(where: str, descriptor_type: str, blob_type: str) -> Finding:
    """The descriptor's mediaType differs from the one inside the blob (seen in ggcr fixtures)."""
    return _f("media-type-mismatch", INFO, f"{show(where)}: descriptor says {show(descriptor_type, 80)}, the blob says {show(blob_type, 80)}", descriptor=descriptor_type, blob=blob_type)


def unknown_media_type(where: str, media_type: str) -> Finding:
    """A descriptor of an unknown kind: skipped ("unknown mediaTypes MUST NOT cause errors")."""
    return _f("unknown-media-type", INFO, f"{show(where)}: mediaType {show(media_type, 80)} is neither an index nor a manifest; skipped", media_type=media_type)


def attestation_skipped(where: str, digest: Digest, reference_type: str) -> Finding:
    """A manifest marked vnd.docker.reference.type (BuildKit attestation, builder info): about an image, not one."""
    return _f("attestation-skipped", INFO, f"{show(where)}: {show(reference_type, 60)} manifest {digest.short} (vnd.docker.reference.type) is not an image; skipped", digest=digest, reference_type=reference_type)


MANIFEST_MEDIA_TYPES = frozenset({
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
})


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
        digests=",".join(str(d) for d, _, _ in absent),
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


def platform_mismatch(member: str, config: str, descriptor: str) -> Finding:
    """The config's os/architecture differs from the index descriptor's platform."""
    return _f("platform-mismatch", WARNING, f"config says {show(config, 60)} but the index descriptor says {show(descriptor, 60)}", config=config, descriptor=descriptor)


# ---- one image -----------------------------------------------------------------


def audit_image(image: Image) -> tuple[Finding, ...]:
    """Every single-image check: layers vs diff_ids, history vs layers, then ``history_signals``."""
    return tuple(_layer_checks(image) + _history_checks(image)) + history_signals(image)


def _step_for_layer(image: Image) -> dict[int, HistoryStep]:
    return {s.layer_index: s for s in image.history if s.layer_index is not None}


def _layer_checks(image: Image) -> list[Finding]:
    out: list[Finding] = []
    if len(image.layers) != len(image.diff_ids):
        out.append(_f("layer-count-mismatch", ERROR, f"the manifest lists {len(image.layers)} layers but rootfs.diff_ids has {len(image.diff_ids)}", layers=len(image.layers), diff_ids=len(image.diff_ids)))
    steps = _step_for_layer(image)
    for i, layer in enumerate(image.layers):
        if layer is None:
            continue
        step = steps.get(i)
        at = {"step": step.index if step else None, "created_by": step.created_by if step else ""}
        if not layer.readable:
            out.append(_f("layer-unreadable", ERROR, f"layer {i} ({show(layer.member, 80)}) is not a readable tar: {show(layer.problem, 120)}", layer=i, member=layer.member, problem=layer.problem, **at))
            continue
        declared = image.diff_ids[i] if i < len(image.diff_ids) else None
        if layer.diff_id is None:
            out.append(_f("layer-unverifiable", WARNING, f"layer {i}: its diff_id could not be computed ({show(layer.problem, 120)})", layer=i, **at))
        elif declared is not None and layer.diff_id != declared:
            out.append(_f("diff-id-mismatch", ERROR, f"layer {i} hashes to {layer.diff_id.short}… but rootfs.diff_ids[{i}] is {declared.short}…", layer=i, declared=declared, actual=layer.diff_id, **at))
        if layer.empty_kind:
            out.append(_f("layer-empty", INFO, f"layer {i} is an empty layer: {layer.empty_kind}", layer=i, empty_kind=layer.empty_kind, blob=layer.blob_digest, **at))
        out.extend(_anomalies(i, layer.anomalies, at))
    seen: dict[Digest, list[int]] = {}
    for i, d in enumerate(image.diff_ids):
        seen.setdefault(d, []).append(i)
    for d, where in seen.items():
        if len(where) > 1:
            known = f" ({WELL_KNOWN_EMPTY[d.hex]})" if d.hex in WELL_KNOWN_EMPTY else ""
            out.append(_f("layer-repeated", INFO, f"diff_id {d.short}…{known} appears {len(where)} times (layers {', '.join(map(str, where))})", diff_id=d, layers=",".join(map(str, where))))
    return out


def _anomalies(index: int, anomalies: tuple[tuple[str, str], ...], at: dict[str, object]) -> list[Finding]:
    """One finding per kind of odd entry in a layer (Layer.anomalies), with a count and the first examples."""
    grouped: dict[str, list[str]] = {}
    for code, detail in anomalies:
        grouped.setdefault(code, []).append(detail)
    out = []
    for code, details in grouped.items():
        meaning = LAYER_ANOMALIES.get(code, code).split(";")[0]
        examples = ", ".join(show(d, 80) for d in details[:3]) + (f" and {len(details) - 3} more" if len(details) > 3 else "")
        out.append(_f("layer-anomaly", WARNING, f"layer {index}: {len(details)} × {meaning}: {examples}", layer=index, anomaly=code, count=len(details), first=details[0], **at))  # type: ignore[arg-type]
    return out


def _history_checks(image: Image) -> list[Finding]:
    if not image.history:
        return [_f("history-absent", INFO, "the config has no history: steps cannot be matched to layers")]
    non_empty = [s for s in image.history if not s.empty_layer]
    n, layers = len(non_empty), len(image.diff_ids)
    if n > layers:
        surplus = non_empty[layers:]
        first = surplus[0]
        return [_f(
            "history-surplus", WARNING,
            f"history has {n} non-empty steps for {layers} diff_ids: {n - layers} surplus step(s) have no layer, from step {first.index}",
            step=first.index, created_by=first.created_by, non_empty=n, diff_ids=layers, surplus=n - layers,
            steps=",".join(str(s.index) for s in surplus),
        )]
    if n < layers:
        return [_f(
            "history-shortfall", WARNING,
            f"history has {n} non-empty steps for {layers} diff_ids: {layers - n} layer(s) (from layer {n}) have no step",
            non_empty=n, diff_ids=layers, shortfall=layers - n, layers=",".join(str(i) for i in range(n, layers)),
        )]
    return []


def step_instruction(created_by: str) -> str:
    """The Dockerfile instruction a history step records (RUN, COPY, ENV…), or ""."""
    text = created_by.strip()
    if text.startswith("/bin/sh -c #(nop)"):
        word = text[len("/bin/sh -c #(nop)"):].split(None, 1)
        return word[0].upper() if word and word[0].upper() in DOCKERFILE_INSTRUCTIONS else ""
    if text.startswith(("/bin/sh -c ", "cmd /S /C ")) or re.match(r"\|\d+ ", text):
        # The classic builder records RUN as the shell command itself (with "|N args" first when ARGs are set).
        return "RUN"
    word = text.split(None, 1)
    return word[0].upper() if word and word[0].upper() in DOCKERFILE_INSTRUCTIONS else ""


def is_squashed(image: Image) -> bool:
    """``docker build --squash`` signature: the last step's comment is "merge sha256:X to sha256:Y" (image_squash.go)."""
    return bool(image.history) and bool(_SQUASH.fullmatch(image.history[-1].comment.strip()))


def history_signals(image: Image) -> tuple[Finding, ...]:
    """Single-image forensic signals (FORMATS.md A4): wrongly-empty steps, shared/odd times, inline cache, squash."""
    out: list[Finding] = []
    squashed = is_squashed(image)
    steps = _step_for_layer(image)
    for step in image.history:
        instruction = step_instruction(step.created_by)
        if step.empty_layer and instruction in FILESYSTEM_INSTRUCTIONS:
            if squashed:
                out.append(_f("fs-step-marked-empty", INFO, f"step {step.index} {instruction} is marked empty_layer, as docker build --squash marks every step", step=step.index, created_by=step.created_by, instruction=instruction, squashed="true"))
            else:
                out.append(_f("fs-step-marked-empty", WARNING, f"step {step.index} {instruction} is marked empty_layer: a filesystem step without a layer (BuildKit < 0.10 dropped empty-gzip layers this way)", step=step.index, created_by=step.created_by, instruction=instruction))
        if step.comment == BUILDKIT_REPAIR_COMMENT:
            out.append(_f("history-repaired", INFO, f"step {step.index} was appended by BuildKit to pair a layer that had no history entry (comment {BUILDKIT_REPAIR_COMMENT})", step=step.index))
    for i, layer in enumerate(image.layers):
        step = steps.get(i)
        if layer is None or step is None:
            continue
        if step_instruction(step.created_by) in ("COPY", "ADD") and layer.blob_digest.hex in (EMPTY_GZIP_BUILDKIT, EMPTY_GZIP_SCHEMA1):
            out.append(_f("empty-gzip-on-copy", WARNING, f"step {step.index} {step_instruction(step.created_by)} has the 32-byte empty gzip layer {layer.blob_digest.short}: it copied nothing (the cache-import corruption pulls this blob)", step=step.index, created_by=step.created_by, blob=layer.blob_digest))
    out.extend(_time_signals(image))
    if image.has_inline_cache:
        out.append(_f("inline-cache", INFO, "the config carries BuildKit inline cache (moby.buildkit.cache.v0); its layer indexes desync when empty layers were dropped"))
    if squashed:
        last = image.history[-1]
        out.append(_f("squash-signature", INFO, f"squashed image (docker build --squash): {show(last.comment, 120)}", step=last.index, comment=last.comment))
    return tuple(out)


def _writes_filesystem(step: HistoryStep) -> bool:
    return not step.empty_layer or step_instruction(step.created_by) in FILESYSTEM_INSTRUCTIONS | {"WORKDIR"}


def _shared_times(image: Image, usable: list[HistoryStep]) -> list[Finding]:
    """Runs of consecutive steps with one created time (BuildKit gives empty steps the previous time; a cache import shows it)."""
    runs: list[list[HistoryStep]] = []
    for s in usable:
        if runs and s.index == runs[-1][-1].index + 1 and s.created == runs[-1][-1].created:
            runs[-1].append(s)
        else:
            runs.append([s])
    # BuildKit gives metadata steps (ENV, CMD…) the previous step's time: normal.
    # Two steps that each wrote the filesystem sharing one time is not.
    shared = [run for run in runs if sum(1 for s in run if _writes_filesystem(s)) > 1]
    # One time for the whole history is a SOURCE_DATE_EPOCH build, not a signal.
    if not shared or (len(shared) == 1 and len(shared[0]) == len(image.history)):
        return []
    spans = ", ".join(f"{run[0].index}–{run[-1].index}" for run in shared)
    first = shared[0][0]
    return [_f("timestamps-shared", INFO, f"steps {spans} share one created time per run although several of them wrote the filesystem (a cache-import signature)", step=first.index, runs=spans)]


def _time_signals(image: Image) -> list[Finding]:
    out: list[Finding] = []
    zero = [s.index for s in image.history if s.created is not None and s.created.is_zero]
    epoch = [s.index for s in image.history if s.created is not None and s.created.is_epoch]
    bad = [s for s in image.history if s.created is not None and s.created.ns is None]
    if zero:
        out.append(_f("time-zero", INFO, f"{len(zero)} step(s) have Go's zero time 0001-01-01T00:00:00Z (kaniko writes it)", steps=",".join(map(str, zero))))
    if epoch:
        out.append(_f("time-epoch", INFO, f"{len(epoch)} step(s) have the Unix epoch as created time (Bazel, ggcr and reproducible builds write it)", steps=",".join(map(str, epoch))))
    for s in bad:
        out.append(_f("time-unparseable", WARNING, f"step {s.index} created {show(s.created.raw if s.created else '', 60)} is not an RFC 3339 time", step=s.index, created_by=s.created_by))
    usable = [s for s in image.history if s.created is not None and s.created.ns is not None and not s.created.is_zero and not s.created.is_epoch]
    out.extend(_shared_times(image, usable))
    for prev, cur in zip(usable, usable[1:]):
        assert prev.created is not None and cur.created is not None and prev.created.ns is not None and cur.created.ns is not None
        if cur.created.ns < prev.created.ns:
            out.append(_f("time-backwards", WARNING, f"step {cur.index} was created {format_duration(cur.created.ns - prev.created.ns)} before step {prev.index}", step=cur.index, created_by=cur.created_by, previous=prev.created.raw, created=cur.created.raw))
    last = image.history[-1].created if image.history else None
    if image.created is not None and last is not None and image.created.ns is not None and last.ns is not None and image.created.ns != last.ns:
        out.append(_f("image-created-mismatch", INFO, f"image created {image.created.raw} differs from the last step's {last.raw} by {format_duration(image.created.ns - last.ns)}", created=image.created.raw, last_step=last.raw))
    return out
