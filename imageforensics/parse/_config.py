"""An image config (``image-spec:config.md``; moby ``image/spec/v1.2.md``) → Image fields.

Pure: JSON values in, model values out. Unknown keys are ignored ("Unknown
keys MUST be ignored", config.md); optional fields of the wrong type become
findings, not errors. History steps are reconciled with ``rootfs.diff_ids``
here (``history.reconcile``, FORMATS.md A4).
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any

from imageforensics.parse import _archive_findings as archive_audit
from imageforensics.config_shape import config_shape
from imageforensics.errors import InputError
from imageforensics.findings import Finding, sort_findings
from imageforensics.history import reconcile
from imageforensics.model import Digest, HistoryStep, Image, Layer, Platform, RunConfig
from imageforensics.options import Limits
from imageforensics.timestamp import Timestamp
from imageforensics.untrusted import show
from imageforensics.errors import ImageForensicsError
from imageforensics.inline_cache import INLINE_CACHE_KEY, InlineCache, decode_cache, undecodable
from imageforensics.parse._json import load_json_bytes


def is_image_config(config: Any) -> bool:
    """True for a JSON object that has the REQUIRED ``rootfs`` of an image config."""
    return isinstance(config, dict) and isinstance(config.get("rootfs"), dict)


def build_image(
    config: Any,
    *,
    config_bytes_digest: Digest,
    config_member: str,
    source: str,
    manifest_digest: Digest | None,
    references: tuple[str, ...],
    descriptor_platform: Platform | None,
    layers: tuple[Layer | None, ...],
    layer_refs: tuple[str, ...],
    findings: list[Finding],
    limits: Limits,
) -> Image:
    """The Image for one config, its history reconciled; its findings are what parsing observed (``findings`` and the config's).

    The audit is not attached: it is computed from the image where it is used (``audit.image_findings``).
    """
    where = show(config_member)
    if not isinstance(config, dict):
        raise InputError(source, where, f"expected the image config to be a JSON object, found {_json_type(config)}")
    notes: list[Finding] = list(findings)
    diff_ids = _diff_ids(config, source, where, notes, config_member)
    history = reconcile(_history(config, notes, config_member), len(diff_ids))
    platform = _platform(config, descriptor_platform, notes, config_member)
    created = _timestamp(config.get("created"), "created", notes, config_member)
    image = Image(
        image_id=config_bytes_digest,
        config_member=config_member,
        manifest_digest=manifest_digest,
        references=_unique(references),
        platform=platform,
        created=created,
        author=_string(config.get("author"), "author", notes, config_member),
        history=history,
        diff_ids=diff_ids,
        layers=layers,
        layer_refs=layer_refs,
        run_config=_run_config(config.get("config"), notes, config_member),
        docker_version=_string(config.get("docker_version"), "docker_version", notes, config_member),
        has_inline_cache=INLINE_CACHE_KEY in config,
        inline_cache=inline_cache(config.get(INLINE_CACHE_KEY), source=source, member=config_member, limits=limits)
        if INLINE_CACHE_KEY in config else None,
        config_shape=config_shape(config, limits),
    )
    # Every field is read by now, so ``notes`` holds all the config's findings.
    return replace(image, findings=sort_findings(_dedupe(notes)))


def inline_cache(value: Any, *, source: str, member: str, limits: Limits) -> InlineCache:
    """The config's ``moby.buildkit.cache.v0`` decoded: base64 of JSON, read with the JSON limits; a problem, never an error."""
    if not isinstance(value, str):
        return undecodable(f"{INLINE_CACHE_KEY} is {_json_type(value)}, expected a base64 string")
    try:
        data = base64.b64decode(value.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        return undecodable(f"{INLINE_CACHE_KEY} is not base64", len(value))
    try:
        parsed, _ = load_json_bytes(data, source=source, member=show(member), what=f"the inline cache {INLINE_CACHE_KEY}", limits=limits)
    except ImageForensicsError as e:
        return undecodable(str(e), len(value))
    return decode_cache(parsed, len(value))


def _diff_ids(config: dict[str, Any], source: str, where: str, notes: list[Finding], member: str) -> tuple[Digest, ...]:
    rootfs = config.get("rootfs")
    if not isinstance(rootfs, dict):
        raise InputError(source, where, "expected rootfs.diff_ids in the image config (it is REQUIRED), found no rootfs object")
    if rootfs.get("type", "layers") != "layers":
        notes.append(archive_audit.config_field_invalid(member, "rootfs.type", f"{rootfs.get('type')!r}, expected 'layers'"))
    raw = rootfs.get("diff_ids")
    if raw is None:
        notes.append(archive_audit.config_field_invalid(member, "rootfs.diff_ids", "null or absent, read as no layers"))
        return ()
    if not isinstance(raw, list):
        raise InputError(source, where, f"expected rootfs.diff_ids to be an array of digests, found {_json_type(raw)}")
    out = []
    for i, value in enumerate(raw):
        try:
            out.append(Digest.parse(value))
        except ValueError as e:
            raise InputError(source, where, f"rootfs.diff_ids[{i}] is not a digest ({show(str(e), 100)})") from None
    return tuple(out)


def _history(config: dict[str, Any], notes: list[Finding], member: str) -> tuple[HistoryStep, ...]:
    raw = config.get("history")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        notes.append(archive_audit.config_field_invalid(member, "history", f"{_json_type(raw)}, expected an array; read as no history"))
        return ()
    steps = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict):
            notes.append(archive_audit.config_field_invalid(member, f"history[{i}]", f"{_json_type(entry)}, expected an object"))
            steps.append(HistoryStep(index=i, created=None))
            continue
        empty = entry.get("empty_layer", False)
        if not isinstance(empty, bool) and empty is not None:
            notes.append(archive_audit.config_field_invalid(member, f"history[{i}].empty_layer", f"{_json_type(empty)}, expected a boolean; read as false"))
            empty = False
        steps.append(HistoryStep(
            index=i,
            created=_timestamp(entry.get("created"), f"history[{i}].created", notes, member),
            created_by=_string(entry.get("created_by"), f"history[{i}].created_by", notes, member),
            author=_string(entry.get("author"), f"history[{i}].author", notes, member),
            comment=_string(entry.get("comment"), f"history[{i}].comment", notes, member),
            empty_layer=empty is True,
        ))
    return tuple(steps)


def _timestamp(value: Any, field: str, notes: list[Finding], member: str) -> Timestamp | None:
    if value is None:
        return None
    if not isinstance(value, str):
        notes.append(archive_audit.config_field_invalid(member, field, f"{_json_type(value)}, expected an RFC 3339 string"))
        return None
    return Timestamp.parse(value)


def _string(value: Any, field: str, notes: list[Finding], member: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        notes.append(archive_audit.config_field_invalid(member, field, f"{_json_type(value)}, expected a string"))
        return ""
    return value


def _strings(value: Any, field: str, notes: list[Finding], member: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        # Docker accepts a bare string for Cmd/Entrypoint/Shell (strslice).
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        notes.append(archive_audit.config_field_invalid(member, field, f"{_json_type(value)}, expected an array of strings"))
        return None
    return tuple(value)


def _keys(value: Any, field: str, notes: list[Finding], member: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        notes.append(archive_audit.config_field_invalid(member, field, f"{_json_type(value)}, expected an object"))
        return ()
    return tuple(sorted(value))


def _platform(config: dict[str, Any], descriptor: Platform | None, notes: list[Finding], member: str) -> Platform:
    features = config.get("os.features")
    own = Platform(
        os=_string(config.get("os"), "os", notes, member),
        architecture=_string(config.get("architecture"), "architecture", notes, member),
        variant=_string(config.get("variant"), "variant", notes, member),
        os_version=_string(config.get("os.version"), "os.version", notes, member),
        os_features=tuple(f for f in features if isinstance(f, str)) if isinstance(features, list) else (),
    )
    if descriptor is None:
        return own
    if (own.os and descriptor.os and own.os != descriptor.os) or (
        own.architecture and descriptor.architecture and own.architecture != descriptor.architecture
    ) or (own.variant and descriptor.variant and own.variant != descriptor.variant):
        notes.append(archive_audit.platform_mismatch(member, str(own), str(descriptor)))
    if not (own.os or own.architecture):
        return descriptor
    if (own.os, own.architecture) == (descriptor.os, descriptor.architecture):
        # The index descriptor may say what the config leaves out (variant, os.version).
        return Platform(
            os=own.os,
            architecture=own.architecture,
            variant=own.variant or descriptor.variant,
            os_version=own.os_version or descriptor.os_version,
            os_features=own.os_features or descriptor.os_features,
        )
    return own


def _run_config(value: Any, notes: list[Finding], member: str) -> RunConfig:
    if value is None:
        return RunConfig()
    if not isinstance(value, dict):
        notes.append(archive_audit.config_field_invalid(member, "config", f"{_json_type(value)}, expected an object"))
        return RunConfig()
    labels = value.get("Labels")
    label_pairs: tuple[tuple[str, str], ...] = ()
    if isinstance(labels, dict):
        label_pairs = tuple(sorted((k, v if isinstance(v, str) else json.dumps(v, sort_keys=True)) for k, v in labels.items()))
        # map[string]string in the spec: a number (1e999999 reads as infinity here) is refused by Go's json.
        notes.extend(archive_audit.value_not_string(member, f"config.Labels.{k}", v)
                     for k, v in sorted(labels.items()) if not isinstance(v, str))
    elif labels is not None:
        notes.append(archive_audit.config_field_invalid(member, "config.Labels", f"{_json_type(labels)}, expected an object"))
    health = value.get("Healthcheck")
    return RunConfig(
        env=_strings(value.get("Env"), "config.Env", notes, member),
        cmd=_strings(value.get("Cmd"), "config.Cmd", notes, member),
        entrypoint=_strings(value.get("Entrypoint"), "config.Entrypoint", notes, member),
        working_dir=_string(value.get("WorkingDir"), "config.WorkingDir", notes, member),
        user=_string(value.get("User"), "config.User", notes, member),
        exposed_ports=tuple(sorted(p if "/" in p else f"{p}/tcp" for p in _keys(value.get("ExposedPorts"), "config.ExposedPorts", notes, member))),
        volumes=_keys(value.get("Volumes"), "config.Volumes", notes, member),
        labels=label_pairs,
        stop_signal=_string(value.get("StopSignal"), "config.StopSignal", notes, member),
        healthcheck=json.dumps(health, sort_keys=True, separators=(",", ":")) if health is not None else "",
        shell=_strings(value.get("Shell"), "config.Shell", notes, member),
        on_build=_strings(value.get("OnBuild"), "config.OnBuild", notes, member),
    )


def descriptor_platform(value: Any) -> Platform | None:
    """An index descriptor's ``platform`` object as a Platform, or None."""
    if not isinstance(value, dict):
        return None

    def text(key: str) -> str:
        v = value.get(key)
        return v if isinstance(v, str) else ""

    features = value.get("os.features")
    return Platform(
        os=text("os"),
        architecture=text("architecture"),
        variant=text("variant"),
        os_version=text("os.version"),
        os_features=tuple(f for f in features if isinstance(f, str)) if isinstance(features, list) else (),
    )


def _unique(values: tuple[str, ...]) -> tuple[str, ...]:
    seen: list[str] = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return tuple(seen)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array", dict: "an object"}.get(type(value), type(value).__name__)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    return list(dict.fromkeys(findings))

