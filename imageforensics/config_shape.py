"""How an image config's JSON is written, path by path.

The image ID is the digest of the config's bytes, so two configs whose
compared fields are all equal can still give two IDs: a field null in one and
absent in the other (skopeo's OCI conversion drops ``"OnBuild": null``), keys
no field comparison covers (the classic builder's ``container`` and
``container_config``), or only key order and whitespace. ``config_shape``
records a fingerprint for each path, so that the diff can name them: for the
fields compared one by one (``MODELLED``), only whether the value is null,
empty or set; for every other path, its JSON type and a digest of its value.
Never the value itself: configs hold env values and build commands, and a
snapshot must not carry what ``--redact`` hides.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from imageforensics.options import Limits

# Paths whose values the diff compares field by field (configdiff, history, layers, platform).
MODELLED = frozenset({
    "config.Env", "config.Cmd", "config.Entrypoint", "config.WorkingDir", "config.User", "config.ExposedPorts",
    "config.Volumes", "config.Labels", "config.StopSignal", "config.Healthcheck", "config.Shell", "config.OnBuild",
    "created", "author", "docker_version", "architecture", "os", "variant", "os.version", "os.features",
    "history", "rootfs", "moby.buildkit.cache.v0",
})
# Spellings of "nothing" for a compared field: they compare equal, yet give other bytes.
NOTHING = ("null", "empty")


def config_shape(config: dict[str, Any], limits: Limits = Limits()) -> tuple[tuple[str, str], ...]:
    """(path, fingerprint) for every leaf of ``config``, sorted by path; objects are walked, arrays are leaves.

    A hostile config with a million keys keeps ``limits.max_config_paths``
    entries, the last of them a digest of the rest.
    """
    found: list[tuple[str, str]] = []
    stack: list[tuple[str, dict[str, Any]]] = [("", config)]
    while stack:  # iterative: depth is bounded by the JSON checks, not by recursion
        prefix, obj = stack.pop()
        for key, value in obj.items():
            path = f"{prefix}.{key}" if prefix else key
            if path in MODELLED:
                found.append((path, _presence(value)))
            elif isinstance(value, dict) and value:
                stack.append((path, value))
            else:
                found.append((path, _fingerprint(value)))
    found.sort()
    cap = limits.max_config_paths
    if len(found) > cap:
        rest = found[cap - 1:]
        found = found[:cap - 1] + [("…", f"{len(rest)} more paths {_digest(rest)}")]
    return tuple(found)


def _presence(value: Any) -> str:
    if value is None:
        return "null"
    if value in ("", [], {}):
        return "empty"
    return "set"


def _fingerprint(value: Any) -> str:
    if value is None:
        return "null"
    kind = {dict: "object", list: "array", str: "string", bool: "boolean"}.get(type(value), "number")
    return f"{kind} {_digest(value)}"


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


# An unmodelled key absent on one side and holding one of these on the other
# means the same to every runtime (Go's json decoding leaves a zero value for
# an absent key): ``"AttachStdin": false``, ``"Domainname": ""``, ``"OnBuild": null``.
_ZERO_VALUES: dict[str, str] = {_fingerprint(v): word for v, word in
                                ((None, "null"), ("", "''"), ([], "[]"), ({}, "{}"), (False, "false"), (0, "0"))}


def _nothing(fingerprint: str | None, modelled: bool) -> str | None:
    """How a path says "nothing" (absent, null, empty, a zero value), or None when it holds a value."""
    if fingerprint is None:
        return "absent"
    if modelled:
        return fingerprint if fingerprint in NOTHING else None
    return _ZERO_VALUES.get(fingerprint)


def runtime_equivalent(a: tuple[tuple[str, str], ...], b: tuple[tuple[str, str], ...]) -> frozenset[str]:
    """The paths of ``shape_changes`` where both sides say "nothing": absent in one, null, empty or a zero value in the other."""
    fa, fb = dict(a), dict(b)
    return frozenset(path for path in set(fa) | set(fb) if fa.get(path) != fb.get(path)
                     and _nothing(fa.get(path), path in MODELLED) is not None
                     and _nothing(fb.get(path), path in MODELLED) is not None)


def shape_changes(a: tuple[tuple[str, str], ...], b: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    """(path, how it differs) for each path written differently and not compared field by field."""
    fa, fb = dict(a), dict(b)
    out: list[tuple[str, str]] = []
    for path in sorted(set(fa) | set(fb)):
        va, vb = fa.get(path), fb.get(path)
        if va == vb:
            continue
        na, nb = _nothing(va, path in MODELLED), _nothing(vb, path in MODELLED)
        if path in MODELLED:
            # A value on either side is compared field by field; only "nothing" spelled two ways is left.
            if na is not None and nb is not None:
                out.append((path, f"{na} in A, {nb} in B"))
        elif na is not None and nb is not None:
            out.append((path, f"{na} in A, {nb} in B"))
        elif va is None:
            out.append((path, "only in B"))
        elif vb is None:
            out.append((path, "only in A"))
        elif va.split(" ")[0] != vb.split(" ")[0]:
            out.append((path, f"{va.split(' ')[0]} in A, {vb.split(' ')[0]} in B"))
        else:
            out.append((path, "values differ"))
    return out
