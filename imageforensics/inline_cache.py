"""BuildKit's inline cache (``moby.buildkit.cache.v0``) as frozen values, and its decoding.

In an image config the key holds base64 of a JSON **array** of cache records
(BuildKit ``cache/remotecache/inline/inline.go`` ``ExportForLayers``:
``json.Marshal(cfg.Records)``; moby ``builder-next/exporter/writer.go``
``patchImageConfig``)::

    [{"digest": …, "inputs": [[{"link": i, "selector"?: …}], …],
      "layers": [{"layer": N, "createdAt": …}], "chains"?: [{"layers": [i, …], "createdAt": …}]}, …]

``layer: N`` indexes the image's own ``rootfs.diff_ids``: the record's result is
``diff_ids[0..N]``. ``link`` indexes the array. The registry-cache export writes
the CacheConfig object (``{"layers": [{"blob", "parent"}], "records": […]}``),
where ``layer`` indexes the object's own ``layers``; it is accepted too and mapped
to the same values (an index becomes the depth of its layer chain, as
``getSortedLayerIndex`` numbers it).

Pure: the caller parses the base64 and the JSON (with the read limits) and hands
the value in; anything malformed becomes ``InlineCache.problem``, never an exception.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from imageforensics.timestamp import Timestamp

INLINE_CACHE_KEY = "moby.buildkit.cache.v0"
SHAPE_RECORDS = "records"
SHAPE_CACHE_CONFIG = "cache-config"


@dataclass(frozen=True, slots=True)
class CacheLink:
    """One alternative for a record's input: the record it links to, and the selector, if any."""

    link: int
    selector: str = ""


@dataclass(frozen=True, slots=True)
class CacheResult:
    """A record's result: the image's layers ``diff_ids[0..layer]``, and when BuildKit made it."""

    layer: int
    created_at: Timestamp | None = None


@dataclass(frozen=True, slots=True)
class CacheChain:
    """A chained result (BuildKit v0.10+ ``chains``): layers that need not be a prefix of the image."""

    layers: tuple[int, ...]
    created_at: Timestamp | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheRecord:
    """One cache record: the op's cache key, its inputs (alternatives per input) and its results."""

    digest: str = ""
    results: tuple[CacheResult, ...] = ()
    inputs: tuple[tuple[CacheLink, ...], ...] = ()
    chains: tuple[CacheChain, ...] = ()

    @property
    def claim(self) -> int | None:
        """The layer index the record's (first) result claims, or None for a record without layers."""
        return self.results[0].layer if self.results else None

    @property
    def parent(self) -> int | None:
        """The record the op ran on (``inputs[0][0].link``), or None for a source record."""
        return self.inputs[0][0].link if self.inputs and self.inputs[0] else None


@dataclass(frozen=True, slots=True, kw_only=True)
class InlineCache:
    """The decoded cache: its records in the written order, the shape it had, or why it could not be read."""

    records: tuple[CacheRecord, ...] = ()
    shape: str = SHAPE_RECORDS
    problem: str = ""
    encoded_bytes: int = 0


class _Bad(ValueError):
    pass


def _type(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            int: "a number", float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad(f"{where} is {_type(value)}, expected an integer")
    return value


def _opt_str(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Bad(f"{where} is {_type(value)}, expected a string")
    return value


def _time(value: Any, where: str) -> Timestamp | None:
    text = _opt_str(value, where)
    return Timestamp.parse(text) if text else None


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Bad(f"{where} is {_type(value)}, expected an array")
    return value


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Bad(f"{where} is {_type(value)}, expected an object")
    return value


def _record(value: Any, where: str, count: int, layer_map: list[int] | None) -> CacheRecord:
    o = _obj(value, where)
    results = []
    for j, r in enumerate(_list(o.get("layers"), f"{where}.layers")):
        ro = _obj(r, f"{where}.layers[{j}]")
        index = _int(ro.get("layer"), f"{where}.layers[{j}].layer")
        if layer_map is not None:
            if not 0 <= index < len(layer_map):
                raise _Bad(f"{where}.layers[{j}].layer {index} is out of range ({len(layer_map)} cache layers)")
            index = layer_map[index]
        results.append(CacheResult(index, _time(ro.get("createdAt"), f"{where}.layers[{j}].createdAt")))
    chains = []
    for j, c in enumerate(_list(o.get("chains"), f"{where}.chains")):
        co = _obj(c, f"{where}.chains[{j}]")
        layers = tuple(_int(x, f"{where}.chains[{j}].layers[{k}]")
                       for k, x in enumerate(_list(co.get("layers"), f"{where}.chains[{j}].layers")))
        chains.append(CacheChain(layers, _time(co.get("createdAt"), f"{where}.chains[{j}].createdAt")))
    inputs = []
    for j, alternatives in enumerate(_list(o.get("inputs"), f"{where}.inputs")):
        links = []
        for k, a in enumerate(_list(alternatives, f"{where}.inputs[{j}]")):
            ao = _obj(a, f"{where}.inputs[{j}][{k}]")
            link = _int(ao.get("link", 0), f"{where}.inputs[{j}][{k}].link")
            if not 0 <= link < count:
                raise _Bad(f"{where}.inputs[{j}][{k}].link {link} is out of range ({count} records)")
            links.append(CacheLink(link, _opt_str(ao.get("selector"), f"{where}.inputs[{j}][{k}].selector")))
        inputs.append(tuple(links))
    return CacheRecord(digest=_opt_str(o.get("digest"), f"{where}.digest"), results=tuple(results),
                       inputs=tuple(inputs), chains=tuple(chains))


def _layer_depths(layers: list[Any]) -> list[int]:
    """CacheConfig ``layers`` (each with a ``parent`` index) → the depth of each in its chain, from 0."""
    parents = []
    for i, value in enumerate(layers):
        o = _obj(value, f"layers[{i}]")
        parent = _int(o.get("parent", -1), f"layers[{i}].parent")
        if not -1 <= parent < len(layers):
            raise _Bad(f"layers[{i}].parent {parent} is out of range ({len(layers)} layers)")
        parents.append(parent)
    depths: list[int] = []
    for i in range(len(layers)):
        depth, at, seen = 0, parents[i], {i}
        while at != -1:
            if at in seen:
                raise _Bad(f"layers[{i}]: its parent chain loops")
            seen.add(at)
            depth += 1
            at = parents[at]
        depths.append(depth)
    return depths


def decode_cache(value: Any, encoded_bytes: int = 0) -> InlineCache:
    """The parsed JSON of the cache (array of records, or the CacheConfig object) as an InlineCache."""
    try:
        if isinstance(value, list):
            records = tuple(_record(r, f"records[{i}]", len(value), None) for i, r in enumerate(value))
            return InlineCache(records=records, encoded_bytes=encoded_bytes)
        if isinstance(value, dict) and ("records" in value or "layers" in value):
            raw = _list(value.get("records"), "records")
            depths = _layer_depths(_list(value.get("layers"), "layers"))
            records = tuple(_record(r, f"records[{i}]", len(raw), depths) for i, r in enumerate(raw))
            return InlineCache(records=records, shape=SHAPE_CACHE_CONFIG, encoded_bytes=encoded_bytes)
        raise _Bad(f"the cache is {_type(value)}, expected an array of records (or a CacheConfig object)")
    except _Bad as e:
        return InlineCache(problem=str(e), encoded_bytes=encoded_bytes)


def undecodable(problem: str, encoded_bytes: int = 0) -> InlineCache:
    """A cache that could not be read at all (not base64, not JSON, over a limit)."""
    return InlineCache(problem=problem, encoded_bytes=encoded_bytes)


def records_json(cache: InlineCache) -> list[dict[str, Any]]:
    """The records in the array shape Docker writes (indices as decoded); ``decode_cache`` reads it back."""
    out: list[dict[str, Any]] = []
    for r in cache.records:
        o: dict[str, Any] = {}
        if r.results:
            o["layers"] = [{"layer": x.layer, **({"createdAt": x.created_at.raw} if x.created_at else {})}
                           for x in r.results]
        if r.chains:
            o["chains"] = [{"layers": list(c.layers), **({"createdAt": c.created_at.raw} if c.created_at else {})}
                           for c in r.chains]
        if r.digest:
            o["digest"] = r.digest
        if r.inputs:
            o["inputs"] = [[{**({"selector": a.selector} if a.selector else {}), "link": a.link} for a in alts]
                           for alts in r.inputs]
        out.append(o)
    return out


def encode_records(cache: InlineCache) -> str:
    """Compact JSON text of ``records_json`` (what a sample generator base64-encodes)."""
    return json.dumps(records_json(cache), separators=(",", ":"))
