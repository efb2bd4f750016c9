"""Typed evidence as a JSON object, and back: the JSON report's form (format 2) of a finding's evidence.

Each evidence key becomes a member of one object, its value typed as the code
declares it (``catalogue``): a bool as ``true``, an int as a number, a digest
as its ``alg:hex`` text, a timestamp as ``{"raw": RFC 3339 text, "ns": …}``,
a pair as a two-item array (``null`` for an absent side) and a tuple as an
array. A fact the finding does not hold is absent from the object, never
``""`` or ``[]``. A value shown from another key (a drift's duration) is not
written: it is derived.

JSON numbers are exact only up to 2^53 in JavaScript and in jq 1.6, and
epoch nanoseconds are far beyond it (2021 is 1.6 × 10^18), so an integer whose
magnitude reaches 2^53 is written as its decimal text (``json_int``); the
loader takes either form (``load_json_int``).

A path's change (``PathChange``) is an object ``{"path", "field", "a", "b"}``
with its values typed by the field: sizes, owners and modes as numbers, a
mode's octal text beside it (``"a_octal": "0644"``), an mtime's nanoseconds
(as text beyond 2^53) with its RFC 3339 text beside them (``"a_time"``), a
content digest whole (``null`` where an entry has none), a device as
``[major, minor]``, xattrs as ``[name, value]`` pairs, the other names of a
file as an array.
"""

from __future__ import annotations

import re
from typing import Any

from imageforensics.catalogue import EvidenceItem, EvidenceScalar, EvidenceValue, Key, code_spec
from imageforensics.digest import Digest
from imageforensics.path_change import CHANGE_FIELDS, ChangeValue, PathChange
from imageforensics.timestamp import Timestamp, format_instant
from imageforensics.untrusted_json import JsonShapeError

# 2^53: the first integer a double cannot tell from its neighbour.
JSON_EXACT = 1 << 53
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)")


def json_int(n: int) -> int | str:
    """``n`` as a JSON number when every reader holds it exactly, else as its decimal text."""
    return n if -JSON_EXACT < n < JSON_EXACT else str(n)


def load_json_int(value: object, where: str) -> int:
    """An integer written by ``json_int`` (a number, or the decimal text of one beyond 2^53)."""
    if type(value) is int:
        return value
    if isinstance(value, str) and len(value) <= 4300 and _DECIMAL.fullmatch(value):
        n = int(value)
        if not -JSON_EXACT < n < JSON_EXACT:
            return n
    raise JsonShapeError(where, "expected an integer (as decimal text when beyond 2^53)")


def timestamp_json2(ts: Timestamp) -> dict[str, Any]:
    """``{"raw": RFC 3339 text as written, "ns": exact epoch nanoseconds (text beyond 2^53) or null}``."""
    return {"raw": ts.raw, "ns": None if ts.ns is None else json_int(ts.ns)}


def load_timestamp2(value: object, where: str) -> Timestamp:
    """A timestamp written by ``timestamp_json2``."""
    if not isinstance(value, dict) or set(value) != {"raw", "ns"}:
        raise JsonShapeError(where, "expected an object with raw and ns")
    raw = value["raw"]
    if not isinstance(raw, str):
        raise JsonShapeError(f"{where}.raw", "expected a string")
    ns = None if value["ns"] is None else load_json_int(value["ns"], f"{where}.ns")
    return Timestamp(raw, ns)


# The text written beside a field's exact value, under ``a_<suffix>`` and ``b_<suffix>``.
_BESIDE: dict[str, tuple[str, Any]] = {"mode": ("octal", lambda v: f"{v:04o}"), "mtime": ("time", format_instant)}


def _change_value_json(field: str, v: ChangeValue) -> Any:
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        return json_int(v)
    if isinstance(v, Digest):
        return str(v)
    return [list(p) if isinstance(p, tuple) else p for p in v]


def path_change_json(c: PathChange) -> dict[str, Any]:
    """``{"path", "field", "a", "b"}`` (and the text beside a mode or an mtime), values typed by the field."""
    out: dict[str, Any] = {"path": c.path, "field": c.field,
                           "a": _change_value_json(c.field, c.a), "b": _change_value_json(c.field, c.b)}
    beside = _BESIDE.get(c.field)
    if beside is not None:
        suffix, text = beside
        out[f"a_{suffix}"], out[f"b_{suffix}"] = text(c.a), text(c.b)
    return out


def _load_change_value(field: str, v: object, where: str) -> ChangeValue:
    if field in ("size", "mode", "uid", "gid", "mtime"):
        return load_json_int(v, where)
    if field == "content":
        if v is None:
            return None
        if not isinstance(v, str):
            raise JsonShapeError(where, "expected a digest such as sha256:<64 hex>, or null")
        try:
            return Digest.parse(v)
        except ValueError:
            return v  # a snapshot's content digest that is none, kept as text
    if field == "device":
        if not isinstance(v, list) or len(v) != 2:
            raise JsonShapeError(where, "expected [major, minor]")
        return (load_json_int(v[0], f"{where}[0]"), load_json_int(v[1], f"{where}[1]"))
    if field == "xattrs":
        if not isinstance(v, list) or not all(isinstance(p, list) and len(p) == 2
                                              and all(isinstance(s, str) for s in p) for p in v):
            raise JsonShapeError(where, "expected an array of [name, value] strings")
        return tuple((p[0], p[1]) for p in v)
    if field == "hardlinks":
        if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
            raise JsonShapeError(where, "expected an array of paths")
        return tuple(v)
    if field == "presence":
        if type(v) is not bool:
            raise JsonShapeError(where, "expected true or false")
        return v
    if not isinstance(v, str):
        raise JsonShapeError(where, "expected a string")
    return v


def load_path_change(value: object, where: str) -> PathChange:
    """A path change written by ``path_change_json``; JsonShapeError naming what is wrong."""
    if not isinstance(value, dict):
        raise JsonShapeError(where, "expected a path change {path, field, a, b}")
    field = value.get("field")
    if field not in CHANGE_FIELDS:
        raise JsonShapeError(f"{where}.field", f"expected one of {', '.join(CHANGE_FIELDS)}")
    beside = _BESIDE.get(str(field))
    names = {"path", "field", "a", "b"} | ({f"a_{beside[0]}", f"b_{beside[0]}"} if beside else set())
    if set(value) != names:
        raise JsonShapeError(where, f"expected exactly {', '.join(sorted(names))}")
    path = value["path"]
    if not isinstance(path, str):
        raise JsonShapeError(f"{where}.path", "expected a string")
    a = _load_change_value(str(field), value["a"], f"{where}.a")
    b = _load_change_value(str(field), value["b"], f"{where}.b")
    if beside is not None:
        suffix, text = beside
        for side, v in (("a", a), ("b", b)):
            if value[f"{side}_{suffix}"] != text(v):
                raise JsonShapeError(f"{where}.{side}_{suffix}", f"expected {text(v)!r}, the {suffix} of {side}")
    try:
        return PathChange(path, field, a, b)
    except ValueError as e:
        raise JsonShapeError(where, f"expected a path change: {e}") from None


def _scalar_json(value: EvidenceScalar | None) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return json_int(value)
    if isinstance(value, Digest):
        return str(value)
    if isinstance(value, PathChange):
        return path_change_json(value)
    return timestamp_json2(value)


def _item_json(k: Key, item: EvidenceItem) -> Any:
    if len(k.parts) == 1:
        return _scalar_json(item)  # type: ignore[arg-type]
    assert isinstance(item, tuple)
    return [_scalar_json(p) for p in item]


def value_json(k: Key, value: EvidenceValue) -> Any:
    """One typed evidence value as JSON, as its key declares it."""
    if k.separator is None:
        return _item_json(k, value)  # type: ignore[arg-type]
    assert isinstance(value, tuple)
    return [_item_json(k, item) for item in value]  # type: ignore[arg-type]


def evidence_json(code: str, evidence: tuple[tuple[str, EvidenceValue], ...]) -> dict[str, Any]:
    """A finding's evidence as one JSON object of typed values."""
    spec = code_spec(code)
    out: dict[str, Any] = {}
    for name, value in evidence:
        declared = spec.key(name)
        assert declared is not None
        out[name] = value_json(declared, value)
    return out


def _load_scalar(kind: type, value: object, nullable: bool, where: str) -> EvidenceScalar | None:
    if value is None and nullable:
        return None
    if kind is bool and type(value) is bool:
        return value
    if kind is int:
        return load_json_int(value, where)
    if kind is str and isinstance(value, str):
        return value
    if kind is Digest and isinstance(value, str):
        try:
            return Digest.parse(value)
        except ValueError:
            raise JsonShapeError(where, "expected a digest such as sha256:<64 hex>") from None
    if kind is Timestamp:
        return load_timestamp2(value, where)
    if kind is PathChange:
        return load_path_change(value, where)
    raise JsonShapeError(where, f"expected {'null or ' if nullable else ''}{kind.__name__}")


def _load_item(k: Key, value: object, where: str) -> EvidenceItem:
    if len(k.parts) == 1:
        item = _load_scalar(k.parts[0], value, False, where)
        assert item is not None
        return item
    if not isinstance(value, list) or len(value) != len(k.parts):
        raise JsonShapeError(where, f"expected an array of {len(k.parts)} values")
    return tuple(_load_scalar(t, v, k.nullable, f"{where}[{i}]")  # type: ignore[return-value]
                 for i, (t, v) in enumerate(zip(k.parts, value)))


def load_evidence_json(code: str, value: object, where: str) -> tuple[tuple[str, EvidenceValue], ...]:
    """Typed evidence from ``evidence_json``'s object; JsonShapeError naming the bad key."""
    if not isinstance(value, dict):
        raise JsonShapeError(where, "expected an object of evidence values")
    spec = code_spec(code)
    typed: list[tuple[str, EvidenceValue]] = []
    for name in sorted(value):
        declared = spec.key(name)
        at = f"{where}.{name[:80]}"
        if declared is None or declared.duration_of:
            raise JsonShapeError(at, f"expected only the evidence {code} declares")
        raw = value[name]
        if declared.separator is None:
            typed.append((name, _load_item(declared, raw, at)))
        elif isinstance(raw, list):
            items = tuple(_load_item(declared, v, f"{at}[{i}]") for i, v in enumerate(raw))
            if declared.path_changes and not declared.accepts(items):
                raise JsonShapeError(at, "expected one path's changes: at least one, all of one path")
            typed.append((name, items))
        else:
            raise JsonShapeError(at, "expected an array")
    return tuple(typed)
