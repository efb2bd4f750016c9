"""Config comparison: what a container runs with, the platform, the names.

Equivalent spellings are not differences: ``8080`` and ``8080/tcp`` are the
same exposed port (Docker defaults the protocol to tcp); an env list is
compared as the mapping Docker builds from it (a later ``KEY=`` wins); an
absent list and an empty one both mean "none"; volumes, ports and labels are
sets. Each remaining difference is one ``config-differs`` finding per field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from imageforensics.config_shape import runtime_equivalent, shape_changes
from imageforensics.diff._filters import ignored_config_path, without_config_keys
from imageforensics.findings import Finding, Severity, evidence
from imageforensics.inline_cache import CacheRecord
from imageforensics.model import Image, RunConfig
from imageforensics.options import ConfigKey
from imageforensics.redact import as_redacted_as
from imageforensics.untrusted import escape

CONFIG_FIELDS = ("env", "cmd", "entrypoint", "working_dir", "user", "exposed_ports", "volumes",
                 "labels", "stop_signal", "healthcheck", "shell", "on_build")


DOCKER_ONLY_FIELDS = ("healthcheck", "shell", "on_build")


def normalise_port(port: str) -> str:
    """``8080`` → ``8080/tcp``; protocols lower-cased."""
    number, _, proto = port.strip().partition("/")
    return f"{number}/{(proto or 'tcp').lower()}"


def env_mapping(env: Iterable[str] | None) -> tuple[tuple[str, str], ...]:
    """The env list as Docker applies it: KEY=VALUE pairs, the last one for a key winning."""
    out: dict[str, str] = {}
    for item in env or ():
        key, _, value = item.partition("=")
        out[key] = value
    return tuple(sorted(out.items()))


def _canonical(config: RunConfig, name: str) -> object:
    value = getattr(config, name)
    if name == "env":
        return env_mapping(value)
    if name in ("cmd", "entrypoint", "shell", "on_build"):
        return tuple(value or ())
    if name == "exposed_ports":
        return tuple(sorted({normalise_port(p) for p in value}))
    if name == "volumes":
        return tuple(sorted(set(value)))
    if name == "labels":
        return tuple(sorted(dict(value).items()))
    if name == "healthcheck" and value:
        try:
            return json.dumps(json.loads(value), sort_keys=True, separators=(",", ":"))
        except ValueError:
            return value
    return value


def _show(value: object) -> str:
    """Exact, stable text of a canonical value for evidence."""
    if isinstance(value, tuple):
        if value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
            return json.dumps({str(k): v for k, v in value}, sort_keys=True, ensure_ascii=False)
        return json.dumps(list(value), ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False)


def _mapping_detail(a: tuple[tuple[str, str], ...], b: tuple[tuple[str, str], ...]) -> dict[str, str]:
    da, db = dict(a), dict(b)
    return {
        "only_in_a": " ".join(sorted(da.keys() - db.keys())),
        "only_in_b": " ".join(sorted(db.keys() - da.keys())),
        "changed": " ".join(sorted(k for k in da.keys() & db.keys() if da[k] != db[k])),
    }


def compare_config(image_a: Image, image_b: Image, ignore: tuple[ConfigKey, ...] = ()) -> list[Finding]:
    """Findings for every run-config field, platform and reference difference (the ``ignore`` keys removed first)."""
    out: list[Finding] = []
    # A snapshot may hold env/label values redacted to their digest: compare
    # the other side's values in the same form (equal values stay equal).
    config_a = as_redacted_as(image_a.run_config, image_b.run_config)
    config_b = as_redacted_as(image_b.run_config, image_a.run_config)
    if ignore:
        config_a, config_b = without_config_keys(config_a, ignore), without_config_keys(config_b, ignore)
    for name in CONFIG_FIELDS:
        va = _canonical(config_a, name)
        vb = _canonical(config_b, name)
        if va == vb:
            continue
        extra: dict[str, str] = {}
        if name in ("env", "labels") and isinstance(va, tuple) and isinstance(vb, tuple):
            extra = _mapping_detail(va, vb)
        hint = ""
        if name in DOCKER_ONLY_FIELDS and (not va or not vb):
            # image-spec config.md has no Healthcheck, Shell or OnBuild: skopeo's and
            # podman's Docker -> OCI conversion re-marshals the config without them.
            hint = " (a Docker-only field: converting the config to OCI drops it)"
        # The values are quoted as JSON, itself a lossless spelling (backslashes
        # doubled); renderers' show_prose escapes what JSON leaves (U+200B, DEL, C1).
        out.append(Finding(
            code="config-differs", severity=Severity.WARNING,
            summary=f"config {name} differs: A {_show(va)}, B {_show(vb)}{hint}",
            path=name, evidence=evidence(field=name, a=_show(va), b=_show(vb), **extra)))
    pa, pb = image_a.platform, image_b.platform
    fields = [f for f in ("os", "architecture", "variant", "os_version", "os_features")
              if getattr(pa, f) != getattr(pb, f)]
    if fields:
        out.append(Finding(
            code="platform-differs", severity=Severity.WARNING,
            summary=f"platform differs: A {escape(str(pa))}, B {escape(str(pb))}",
            evidence=evidence(a=str(pa), b=str(pb), fields=tuple(fields),
                              os_version_a=pa.os_version or None, os_version_b=pb.os_version or None)))
    if image_a.references != image_b.references:
        out.append(Finding(
            code="references-differ", severity=Severity.INFO,
            summary="the images carry different names (names are packaging, not content)",
            evidence=evidence(a=" ".join(image_a.references) or "(none)",
                              b=" ".join(image_b.references) or "(none)")))
    for name in ("author", "docker_version"):
        va, vb = getattr(image_a, name), getattr(image_b, name)
        if va != vb:
            out.append(Finding(
                code="build-metadata-differs", severity=Severity.INFO,
                summary=f"{name} differs: A {va!r}, B {vb!r}", path=name,
                evidence=evidence(field=name, a=va, b=vb)))
    out += _config_json(image_a, image_b, ignore)
    if image_a.has_inline_cache != image_b.has_inline_cache:
        side = "A" if image_a.has_inline_cache else "B"
        out.append(Finding(
            code="inline-cache-differs", severity=Severity.INFO,
            summary=f"only {side}'s config carries a BuildKit inline cache (moby.buildkit.cache.v0)",
            evidence=evidence(a=image_a.has_inline_cache, b=image_b.has_inline_cache)))
    records = _inline_cache_records(image_a, image_b)
    if records is not None:
        out.append(records)
    return out


def _record_words(r: CacheRecord) -> str:
    claim = f"layer {r.claim}" if r.claim is not None else "no layer"
    links = " ".join("[" + ",".join(str(a.link) for a in alts) + "]" for alts in r.inputs)
    return f"{claim}" + (f", inputs {links}" if links else "")


def _inline_cache_records(image_a: Image, image_b: Image) -> Finding | None:
    """Both images carry an inline cache: what differs, record by record (records keyed by digest; the array is sorted by it)."""
    ca, cb = image_a.inline_cache, image_b.inline_cache
    if ca is None or cb is None or ca.records == cb.records and ca.problem == cb.problem:
        return None
    changes: list[str] = []
    if ca.problem or cb.problem:
        changes.append(f"A {'undecodable' if ca.problem else 'decoded'}, B {'undecodable' if cb.problem else 'decoded'}")
    by_a = {r.digest: r for r in ca.records}
    by_b = {r.digest: r for r in cb.records}
    for digest in sorted(set(by_a) | set(by_b)):
        ra, rb = by_a.get(digest), by_b.get(digest)
        name = digest.split(":")[-1][:12] or "(no digest)"
        if ra is None and rb is not None:
            changes.append(f"record {name} only in B ({_record_words(rb)})")
        elif rb is None and ra is not None:
            changes.append(f"record {name} only in A ({_record_words(ra)})")
        elif ra is not None and rb is not None and (ra.claim, ra.inputs) != (rb.claim, rb.inputs):
            if ra.inputs == rb.inputs:
                changes.append(f"record {name}: A layer {ra.claim}, B layer {rb.claim}")
            else:
                changes.append(f"record {name}: A {_record_words(ra)}, B {_record_words(rb)}")
        elif ra is not None and rb is not None and ra != rb:
            changes.append(f"record {name}: createdAt or chains differ")
    if not changes:
        return None
    shown = "; ".join(changes[:4]) + (f"; and {len(changes) - 4} more" if len(changes) > 4 else "")
    return Finding(
        code="inline-cache-records-differ", severity=Severity.INFO,
        summary=f"the BuildKit inline caches differ ({len(ca.records)} records in A, {len(cb.records)} in B): {shown}",
        evidence=evidence(records_a=len(ca.records), records_b=len(cb.records), count=len(changes),
                          **{f"change_{i:03d}": c for i, c in enumerate(changes[:20], 1)}))


def _config_json(image_a: Image, image_b: Image, ignore: tuple[ConfigKey, ...] = ()) -> list[Finding]:
    """Where the config JSON differs beyond the compared fields: what else makes the image IDs differ.

    A key absent in one config and null, empty or a zero value in the other
    (skopeo drops ``"OnBuild": null``; BuildKit leaves out the classic
    builder's ``"AttachStdin": false``) means the same to every runtime: said
    apart, as a note, never as a difference.
    """
    if image_a.image_id == image_b.image_id or not image_a.config_shape or not image_b.config_shape:
        return []
    changes = [(path, how) for path, how in shape_changes(image_a.config_shape, image_b.config_shape)
               if not ignored_config_path(path, ignore)]
    equivalent = runtime_equivalent(image_a.config_shape, image_b.config_shape)
    out: list[Finding] = []
    for same in (False, True):
        found = [c for c in changes if (c[0] in equivalent) == same]
        if not found:
            continue
        code = "config-json-equivalent" if same else "config-json-differs"
        shown = "; ".join(f"{escape(path)} {how}" for path, how in found[:5])
        more = f"; and {len(found) - 5} more" if len(found) > 5 else ""
        summary = (f"the config JSON also differs where no field is compared: {shown}{more}"
                   if code == "config-json-differs" else
                   f"{len(found)} config key{'s are' if len(found) != 1 else ' is'} absent in one image and null, "
                   f"empty or a zero value in the other, which every runtime reads the same: {shown}{more}")
        out.append(Finding(
            code=code, severity=Severity.INFO, summary=summary, paths=tuple(path for path, _ in found),
            evidence=evidence(count=len(found), **{f"path_{i:03d}": (path, how)
                                                   for i, (path, how) in enumerate(found[:20], 1)})))
    return out
