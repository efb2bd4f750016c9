"""Synthetic images with BuildKit inline caches, built by BuildKit's rules (issue 13; inline-cache notes §2, §3)."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, replace
from typing import Any

from imageforensics.inline_cache import InlineCache, decode_cache
from imageforensics.model import EMPTY_TAR_1024, Digest, FileEntry, HistoryStep, Image, Layer, Platform, RunConfig
from imageforensics.parse._config import reconcile
from imageforensics.timestamp import Timestamp

EMPTY_TAR = Digest("sha256", EMPTY_TAR_1024)


@dataclass(frozen=True)
class Step:
    """One Dockerfile step: its created_by, whether the image has a layer for it, whether that layer is empty."""

    created_by: str
    layer: bool = True
    empty: bool = False
    entries: tuple[str, ...] = ("f",)


def _d(seed: str) -> Digest:
    return Digest.sha256(hashlib.sha256(seed.encode()).hexdigest())


def _time(i: int) -> str:
    return f"2026-12-03T09:53:{10 + i:02d}.000000001Z"


def build(steps: list[Step], *, base_layers: int = 1, metadata_after: tuple[int, ...] = ()) -> tuple[Image, list[dict[str, Any]]]:
    """An image (base layers, then the steps; ENV after the positions given) and its healthy inline cache records.

    A step with ``layer=False`` has a record but no layer (standalone BuildKit dropped its empty layer):
    its record repeats its parent's index, its history entry is empty_layer.
    """
    history: list[HistoryStep] = []
    layers: list[Layer] = []
    for b in range(base_layers):
        history.append(HistoryStep(index=len(history), created=Timestamp.parse("2026-01-01T00:00:00Z"), created_by="", comment="base"))
        layers.append(_layer(f"base{b}", ("bin", f"bin/b{b}")))
    records: list[dict[str, Any]] = [{"digest": "sha256:" + "0" * 64}]  # the base image's source record
    parent, index = 0, base_layers - 1
    for i, s in enumerate(steps):
        rec: dict[str, Any] = {"digest": _d(f"op{i}{s.created_by}").__str__(), "inputs": [[{"link": parent}]]}
        if s.layer:
            index += 1
            layers.append(_layer(f"step{i}", () if s.empty else s.entries, empty=s.empty))
        if index >= 0:
            rec["layers"] = [{"layer": index, "createdAt": _time(i)}]
        records.append(rec)
        parent = len(records) - 1
        history.append(HistoryStep(index=len(history), created=Timestamp.parse(_time(i)), created_by=s.created_by,
                                   comment="buildkit.dockerfile.v0", empty_layer=not s.layer))
        if i in metadata_after:
            history.append(HistoryStep(index=len(history), created=Timestamp.parse(_time(i)), created_by="ENV A=b",
                                       comment="buildkit.dockerfile.v0", empty_layer=True))
    diff_ids = tuple(l.diff_id for l in layers if l.diff_id is not None)
    image = Image(
        image_id=_d("config" + json.dumps(records)), config_member="config.json", manifest_digest=None, references=(),
        platform=Platform(os="linux", architecture="amd64"), created=history[-1].created, author="",
        history=reconcile(tuple(history), len(diff_ids)), diff_ids=diff_ids, layers=tuple(layers),
        layer_refs=tuple(f"l{i}" for i in range(len(layers))), run_config=RunConfig(), has_inline_cache=True)
    return with_cache(image, records), records


def _layer(seed: str, paths: tuple[str, ...], *, empty: bool = False) -> Layer:
    return Layer(member=f"{seed}/layer.tar", blob_digest=EMPTY_TAR if empty else _d(seed),
                 diff_id=EMPTY_TAR if empty else _d(seed), compression="none", size=1024, uncompressed_size=1024,
                 entries=tuple(FileEntry(path=p, kind="file") for p in paths), empty_kind="1024-byte empty tar" if empty else "")


def with_cache(image: Image, records: list[dict[str, Any]]) -> Image:
    """The image with these records as its decoded inline cache."""
    return replace(image, inline_cache=decode_cache(records))


def v080_shift(image: Image, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records as BuildKit v0.8.0/0.8.1 wrote them after a registry import: empty layers skipped in every chain.

    N' = (number of non-empty layers in diff_ids[0..N]) - 1; no "layers" when that is -1
    (tools/poisoned_cache.py ``v080_index``).
    """
    out = []
    for rec in records:
        rec = json.loads(json.dumps(rec))
        for res in rec.get("layers", []):
            n = res["layer"]
            shifted = sum(1 for d in image.diff_ids[: n + 1] if d != EMPTY_TAR) - 1
            res["layer"] = shifted
        rec["layers"] = [r for r in rec.get("layers", []) if r["layer"] >= 0]
        if not rec["layers"]:
            del rec["layers"]
        out.append(rec)
    return out


def encoded(value: Any) -> str:
    """The config value Docker writes: base64 of the JSON."""
    return base64.b64encode(json.dumps(value).encode()).decode()


def cache_of(image: Image) -> InlineCache:
    assert image.inline_cache is not None
    return image.inline_cache
