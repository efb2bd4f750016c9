"""The whole model as plain JSON values, and back: an exact round trip.

``archive_to_json`` gives a dict of str/int/bool/None/list/dict only (ready for
``json.dumps``); ``archive_from_json`` rebuilds an equal ``Archive`` from it,
checking every type on the way, because snapshots come from strangers too.
Used by ``inspect --format json`` and by snapshots.

Choices that keep the round trip exact: tuples of pairs (labels, xattrs,
evidence) stay lists of ``[key, value]`` pairs, in order, rather than objects
that would re-sort or merge duplicates; evidence values are written as their
text (``findings.evidence_texts``) and typed again at load as their code
declares (``catalogue``), the one place where evidence text becomes values; a timestamp keeps its raw text and its
exact epoch nanoseconds; a file entry omits only fields at their default.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from dataclasses import replace

from imageforensics.catalogue import REGISTRY
from imageforensics.evidence_json import json_int
from imageforensics.timestamp import format_instant
from imageforensics.findings import Finding, Severity, evidence_from_texts, evidence_texts
from imageforensics.untrusted_json import (
    INT64_MAX,
    JsonShapeError,
    as_object,
    get_bool,
    get_each,
    get_int,
    get_opt,
    get_opt_int,
    get_opt_strs,
    get_pairs,
    get_str,
    get_strs,
    pairs_json,
)
from imageforensics.model import (
    Archive,
    Digest,
    FileEntry,
    HistoryStep,
    Image,
    Layer,
    Package,
    PackageDatabase,
    Platform,
    RunConfig,
)
from imageforensics.timestamp import Timestamp
from imageforensics.inline_cache import InlineCache, decode_cache, records_json

# --- timestamps, digests, findings ------------------------------------------


def timestamp_json(ts: Timestamp | None) -> dict[str, Any] | None:
    """``{"raw": …, "ns": …}`` or None."""
    return None if ts is None else {"raw": ts.raw, "ns": ts.ns}


def load_timestamp(value: object, where: str) -> Timestamp:
    """A timestamp object back into a Timestamp."""
    o = as_object(value, where)
    return Timestamp(get_str(o, "raw", where), get_opt_int(o, "ns", where))


def load_digest(value: object, where: str) -> Digest:
    """An ``alg:hex`` string back into a Digest, validated."""
    if not isinstance(value, str):
        raise JsonShapeError(where, "expected a digest string")
    try:
        return Digest.parse(value)
    except ValueError:
        raise JsonShapeError(where, f"expected a digest such as sha256:<64 hex>, not {value[:80]!r}") from None


SEVERITY_NAMES = {s: s.name.lower() for s in Severity}


def finding_json(f: Finding) -> dict[str, Any]:
    """A finding with every field present (stable keys)."""
    return {
        "code": f.code,
        "severity": SEVERITY_NAMES[f.severity],
        "summary": f.summary,
        "side": f.side,
        "step_a": f.step_a,
        "step_b": f.step_b,
        "created_by": f.created_by,
        "path": f.path,
        "paths": list(f.paths),
        "evidence": [[t.name, t.text] for t in evidence_texts(f)],
    }


def load_finding(value: object, where: str, *, any_severity: bool = False) -> Finding:
    """A finding object back into a Finding: its code registered, its evidence typed as the code declares.

    ``any_severity``: the severity need not be one the code takes now (format 1
    reports were written when some codes had others: paths-mtime-differ was a
    warning); such a finding is read with the code's severity of today, the
    tool's judgement of the same fact.
    """
    o = as_object(value, where)
    severity_name = get_str(o, "severity", where)
    by_name = {name: s for s, name in SEVERITY_NAMES.items()}
    if severity_name not in by_name:
        raise JsonShapeError(f"{where}.severity", "expected error, warning or info")
    code = get_str(o, "code", where)
    if code not in REGISTRY:
        raise JsonShapeError(f"{where}.code", f"expected a finding code this tool knows, not {code[:80]!r}")
    severity = by_name[severity_name]
    allowed = REGISTRY[code].severities
    if severity not in allowed and any_severity:
        severity = REGISTRY[code].severity
    elif severity not in allowed:
        raise JsonShapeError(f"{where}.severity", f"expected {' or '.join(SEVERITY_NAMES[s] for s in allowed)} for {code}")
    try:
        typed = evidence_from_texts(code, get_pairs(o, "evidence", where))
    except ValueError as e:
        if isinstance(e, JsonShapeError):
            raise
        raise JsonShapeError(f"{where}.evidence", f"expected the evidence {code} carries: {e}") from None
    return Finding(
        code=code,
        severity=severity,
        summary=get_str(o, "summary", where),
        side=get_str(o, "side", where),
        step_a=get_opt_int(o, "step_a", where),
        step_b=get_opt_int(o, "step_b", where),
        created_by=get_str(o, "created_by", where),
        path=get_str(o, "path", where),
        paths=get_strs(o, "paths", where),
        evidence=typed,
    )


# --- the model ----------------------------------------------------------------

# FileEntry fields and their defaults; an entry omits those at their default,
# which keeps a snapshot of a 100,000-file image small.
_ENTRY_DEFAULTS: dict[str, object] = {
    "size": 0, "mode": 0, "uid": 0, "gid": 0, "mtime_ns": 0, "linkname": "",
    "devmajor": 0, "devminor": 0, "xattrs": (), "content_digest": "",
}


def entry_json(e: FileEntry) -> dict[str, Any]:
    """A file entry, fields at their default left out."""
    out: dict[str, Any] = {"path": e.path, "kind": e.kind}
    for name, default in _ENTRY_DEFAULTS.items():
        value = getattr(e, name)
        if value != default:
            out[name] = pairs_json(value) if name == "xattrs" else value
    return out


def readers_path(path: str) -> str:
    """A model path (``etc/nginx``, as layers spell it) as every report spells it: ``/etc/nginx``."""
    return path if path.startswith("/") else "/" + path


def entry_for_readers(e: FileEntry) -> dict[str, Any]:
    """A file entry as the reports and listings write it for jq and JavaScript.

    The path from the root as the diff spells it, the mode in octal text beside
    its number, integers beyond 2^53 (an mtime in nanoseconds) as decimal
    text, which jq 1.6 and JavaScript would otherwise round, and the mtime as
    RFC 3339 text (``"mtime"``) beside its nanoseconds. Snapshots keep
    ``entry_json``, which loads back exactly.
    """
    out = entry_json(e)
    out["path"] = readers_path(e.path)
    out["mode_octal"] = _octal(e.mode)
    for name, value in out.items():
        if type(value) is int:
            out[name] = json_int(value)
    if e.mtime_ns:
        out["mtime"] = _instant(e.mtime_ns)
    return out


# A listing's entries share a few hundred modes and mtimes among a million entries.
@functools.lru_cache(maxsize=256)
def _octal(mode: int) -> str:
    return f"{mode:04o}"


_instant = functools.lru_cache(maxsize=256)(format_instant)


_ENTRY_KEYS = frozenset(_ENTRY_DEFAULTS) | {"path", "kind"}


def load_entry(value: object, where: str) -> FileEntry:
    """A file entry object back into a FileEntry."""
    o = as_object(value, where)
    if not o.keys() <= _ENTRY_KEYS:
        unknown = sorted(set(o) - _ENTRY_KEYS)[0]
        raise JsonShapeError(f"{where}.{unknown}", "unknown file entry field")
    fields: dict[str, Any] = {"path": get_str(o, "path", where), "kind": get_str(o, "kind", where)}
    for name in o.keys() - {"path", "kind"}:
        if name == "xattrs":
            fields[name] = get_pairs(o, name, where)
        elif isinstance(_ENTRY_DEFAULTS[name], str):
            fields[name] = get_str(o, name, where)
        else:
            # Only a time may be negative: sizes, modes, ids and device numbers count from 0.
            fields[name] = get_int(o, name, where) if name == "mtime_ns" else get_int(o, name, where, minimum=0,
                                                                                       maximum=INT64_MAX)
    return FileEntry(**fields)


def layer_json(layer: Layer) -> dict[str, Any]:
    """A layer with all its entries."""
    return {
        "member": layer.member,
        "blob_digest": str(layer.blob_digest),
        "diff_id": None if layer.diff_id is None else str(layer.diff_id),
        "compression": layer.compression,
        "size": layer.size,
        "uncompressed_size": layer.uncompressed_size,
        "readable": layer.readable,
        "problem": layer.problem,
        "empty_kind": layer.empty_kind,
        "anomalies": pairs_json(layer.anomalies),
        "entries": [entry_json(e) for e in layer.entries],
        "package_databases": None if layer.package_databases is None else [
            package_database_json(d) for d in layer.package_databases],
    }


def package_database_json(d: PackageDatabase) -> dict[str, Any]:
    """A package database file with its packages (arch left out where there is none)."""
    return {"path": d.path, "manager": d.manager, "problem": d.problem,
            "packages": [{"name": p.name, "version": p.version, **({"arch": p.arch} if p.arch else {})}
                         for p in d.packages]}


def load_package_database(value: object, where: str) -> PackageDatabase:
    """A package database object back into a PackageDatabase."""
    o = as_object(value, where)
    manager = get_str(o, "manager", where)

    def package(item: object, at: str) -> Package:
        p = as_object(item, at)
        return Package(manager=manager, name=get_str(p, "name", at), version=get_str(p, "version", at),
                       arch=get_str(p, "arch", at) if "arch" in p else "")

    return PackageDatabase(path=get_str(o, "path", where), manager=manager,
                           packages=get_each(o, "packages", where, package), problem=get_str(o, "problem", where))


def load_layer(value: object, where: str) -> Layer:
    """A layer object back into a Layer."""
    o = as_object(value, where)
    return Layer(
        member=get_str(o, "member", where),
        blob_digest=load_digest(o.get("blob_digest"), f"{where}.blob_digest"),
        diff_id=get_opt(o, "diff_id", where, load_digest),
        compression=get_str(o, "compression", where),
        size=get_int(o, "size", where, minimum=0, maximum=INT64_MAX),
        uncompressed_size=get_int(o, "uncompressed_size", where, minimum=0, maximum=INT64_MAX),
        entries=get_each(o, "entries", where, load_entry),
        readable=get_bool(o, "readable", where),
        problem=get_str(o, "problem", where),
        empty_kind=get_str(o, "empty_kind", where),
        anomalies=get_pairs(o, "anomalies", where),
        # Absent from the model of a version that read no package databases: unknown, not none.
        package_databases=get_opt(o, "package_databases", where, _load_package_databases)
        if "package_databases" in o else None,
    )


def _load_package_databases(value: object, where: str) -> tuple[PackageDatabase, ...]:
    if not isinstance(value, list):
        raise JsonShapeError(where, "expected a list")
    return tuple(load_package_database(item, f"{where}[{i}]") for i, item in enumerate(value))


def step_json(s: HistoryStep) -> dict[str, Any]:
    """A history step."""
    return {
        "index": s.index,
        "created": timestamp_json(s.created),
        "created_by": s.created_by,
        "author": s.author,
        "comment": s.comment,
        "empty_layer": s.empty_layer,
        "layer_index": s.layer_index,
    }


def load_step(value: object, where: str) -> HistoryStep:
    """A history step object back into a HistoryStep."""
    o = as_object(value, where)
    return HistoryStep(
        index=get_int(o, "index", where, minimum=0, maximum=INT64_MAX),
        created=get_opt(o, "created", where, load_timestamp),
        created_by=get_str(o, "created_by", where),
        author=get_str(o, "author", where),
        comment=get_str(o, "comment", where),
        empty_layer=get_bool(o, "empty_layer", where),
        layer_index=get_opt_int(o, "layer_index", where, minimum=0, maximum=INT64_MAX),
    )


def platform_json(p: Platform) -> dict[str, Any]:
    """A platform."""
    return {"os": p.os, "architecture": p.architecture, "variant": p.variant,
            "os_version": p.os_version, "os_features": list(p.os_features)}


def load_platform(value: object, where: str) -> Platform:
    """A platform object back into a Platform."""
    o = as_object(value, where)
    return Platform(os=get_str(o, "os", where), architecture=get_str(o, "architecture", where),
                    variant=get_str(o, "variant", where), os_version=get_str(o, "os_version", where),
                    os_features=get_strs(o, "os_features", where))


def _opt_list(value: tuple[str, ...] | None) -> list[str] | None:
    return None if value is None else list(value)


def run_config_json(c: RunConfig) -> dict[str, Any]:
    """A run config; null keeps "absent" apart from "empty"."""
    return {
        "env": _opt_list(c.env), "cmd": _opt_list(c.cmd), "entrypoint": _opt_list(c.entrypoint),
        "working_dir": c.working_dir, "user": c.user, "exposed_ports": list(c.exposed_ports),
        "volumes": list(c.volumes), "labels": pairs_json(c.labels), "stop_signal": c.stop_signal,
        "healthcheck": c.healthcheck, "shell": _opt_list(c.shell), "on_build": _opt_list(c.on_build),
    }


def load_run_config(value: object, where: str) -> RunConfig:
    """A run config object back into a RunConfig."""
    o = as_object(value, where)
    return RunConfig(
        env=get_opt_strs(o, "env", where), cmd=get_opt_strs(o, "cmd", where),
        entrypoint=get_opt_strs(o, "entrypoint", where), working_dir=get_str(o, "working_dir", where),
        user=get_str(o, "user", where), exposed_ports=get_strs(o, "exposed_ports", where),
        volumes=get_strs(o, "volumes", where), labels=get_pairs(o, "labels", where),
        stop_signal=get_str(o, "stop_signal", where), healthcheck=get_str(o, "healthcheck", where),
        shell=get_opt_strs(o, "shell", where), on_build=get_opt_strs(o, "on_build", where),
    )


def image_json(image: Image, findings: tuple[Finding, ...]) -> dict[str, Any]:
    """An image: config, history, layers with entries, and the ``findings`` given for it."""
    return {
        "image_id": str(image.image_id),
        "config_member": image.config_member,
        "manifest_digest": None if image.manifest_digest is None else str(image.manifest_digest),
        "references": list(image.references),
        "platform": platform_json(image.platform),
        "created": timestamp_json(image.created),
        "author": image.author,
        "history": [step_json(s) for s in image.history],
        "diff_ids": [str(d) for d in image.diff_ids],
        "layers": [None if layer is None else layer_json(layer) for layer in image.layers],
        "layer_refs": list(image.layer_refs),
        "run_config": run_config_json(image.run_config),
        "docker_version": image.docker_version,
        "has_inline_cache": image.has_inline_cache,
        "inline_cache": inline_cache_json(image.inline_cache),
        "findings": [finding_json(f) for f in findings],
        "config_shape": pairs_json(image.config_shape),
    }


def _load_opt_layer(value: object, where: str) -> Layer | None:
    return None if value is None else load_layer(value, where)


def _load_digest_item(value: object, where: str) -> Digest:
    return load_digest(value, where)


def inline_cache_json(cache: InlineCache | None) -> dict[str, Any] | None:
    """The decoded inline cache: its records in the array shape (as decoded), its shape and problem."""
    if cache is None:
        return None
    return {"records": records_json(cache), "shape": cache.shape, "problem": cache.problem,
            "encoded_bytes": cache.encoded_bytes}


def load_inline_cache(value: object, where: str) -> InlineCache | None:
    """An inline cache object back into an InlineCache (None for null or absent)."""
    if value is None:
        return None
    o = as_object(value, where)
    decoded = decode_cache(o.get("records"))
    if decoded.problem:
        raise JsonShapeError(f"{where}.records", decoded.problem)
    encoded = o.get("encoded_bytes", 0)
    return replace(decoded, shape=get_str(o, "shape", where), problem=get_str(o, "problem", where),
                   encoded_bytes=encoded if isinstance(encoded, int) and not isinstance(encoded, bool) else 0)


def load_image(value: object, where: str) -> Image:
    """An image object back into an Image."""
    o = as_object(value, where)
    return Image(
        image_id=load_digest(o.get("image_id"), f"{where}.image_id"),
        config_member=get_str(o, "config_member", where),
        manifest_digest=get_opt(o, "manifest_digest", where, load_digest),
        references=get_strs(o, "references", where),
        platform=load_platform(o.get("platform"), f"{where}.platform"),
        created=get_opt(o, "created", where, load_timestamp),
        author=get_str(o, "author", where),
        history=get_each(o, "history", where, load_step),
        diff_ids=get_each(o, "diff_ids", where, _load_digest_item),
        layers=get_each(o, "layers", where, _load_opt_layer),
        layer_refs=get_strs(o, "layer_refs", where),
        run_config=load_run_config(o.get("run_config"), f"{where}.run_config"),
        docker_version=get_str(o, "docker_version", where),
        has_inline_cache=get_bool(o, "has_inline_cache", where),
        # Snapshots written before the cache was decoded lack it: read as none.
        inline_cache=load_inline_cache(o.get("inline_cache"), f"{where}.inline_cache"),
        findings=get_each(o, "findings", where, load_finding),
        # Snapshots written before the shape was recorded lack it: unknown, not empty.
        config_shape=get_pairs(o, "config_shape", where) if "config_shape" in o else (),
    )


def archive_to_json(archive: Archive, *, image_findings: Callable[[Image], tuple[Finding, ...]] | None = None) -> dict[str, Any]:
    """The whole archive model as JSON-ready values (an exact round trip with ``archive_from_json``).

    ``image_findings`` gives the findings written for each image: by default
    those it holds (a snapshot's); ``inspect --format json`` passes the whole
    audit (``audit.image_findings``), which is computed, not held.
    """
    findings_of = image_findings if image_findings is not None else _held_findings
    return {
        "source": archive.source,
        "layout": archive.layout,
        "compression": archive.compression,
        "sha256": None if archive.sha256 is None else str(archive.sha256),
        "size": archive.size,
        "notes": list(archive.notes),
        "findings": [finding_json(f) for f in archive.findings],
        "images": [image_json(i, findings_of(i)) for i in archive.images],
    }


def _held_findings(image: Image) -> tuple[Finding, ...]:
    return image.findings


def archive_from_json(obj: object, source: str) -> Archive:
    """Rebuild the Archive from ``archive_to_json`` output; ``source`` names it (JsonShapeError on bad shape)."""
    o = as_object(obj, "archive")
    where = "archive"
    return Archive(
        source=source,
        layout=get_str(o, "layout", where),
        compression=get_str(o, "compression", where),
        sha256=get_opt(o, "sha256", where, load_digest),
        images=get_each(o, "images", where, load_image),
        findings=get_each(o, "findings", where, load_finding),
        size=get_int(o, "size", where, minimum=0, maximum=INT64_MAX),
        notes=get_strs(o, "notes", where),
    )
