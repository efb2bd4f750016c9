"""Snapshots: everything the diff needs from an archive, as JSON, without file contents.

A snapshot holds the whole model (``modeljson``): manifests' facts, config,
history, layer digests and sizes, every file entry with its metadata and
content digest. It is small enough to attach where the archive never could
be, and it is accepted wherever an archive is. ``--redact env,labels``
replaces config environment and label values with the sha256 of the value
(keys stay, equal values stay equal, so two redacted snapshots still diff),
and the snapshot says what was redacted.

A snapshot holds what parsing observed (``Image.findings``, ``Archive.findings``)
but not the audit, which is computed from the model where it is used; the
audit that earlier versions stored in each image is dropped on load and so
recomputed by this version's checks.

The loader treats a snapshot as hostile input: gzip is detected by its magic
bytes and decompressed with a size cap, JSON objects with duplicate keys are
refused, and every field is type-checked (SnapshotError naming the field).
"""

from __future__ import annotations

import dataclasses
import json
import zlib
from typing import Any

from imageforensics._version import __version__
from imageforensics.errors import SnapshotError
from imageforensics.options import Limits
from imageforensics.model import Archive, Image, RunConfig
from imageforensics.untrusted_json import JsonShapeError
from imageforensics.model_json import archive_from_json, archive_to_json
from imageforensics.redact import redact_env, redact_history, redact_value

FORMAT_NAME = "imageforensics-snapshot"
# Version 2 added each layer's package databases; a version 1 snapshot loads with them unknown (None).
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
REDACTABLE = frozenset({"env", "labels"})
GZIP_MAGIC = b"\x1f\x8b"
# Earlier versions stored each image's audit in its findings, next to what
# parsing observed. Kept, an old check would stand beside (or in place of)
# this version's, and a snapshot from a version without a check would diff
# against its own archive with a spurious finding; dropped, the audit is
# recomputed and an old snapshot diffs exactly like its archive. These are the
# codes the audit had while it was stored: a check added since was never
# stored, so this set never grows.
STORED_AUDIT_CODES = frozenset({
    "layer-count-mismatch", "layer-unreadable", "layer-unverifiable", "diff-id-mismatch", "layer-empty",
    "layer-anomaly", "layer-repeated", "history-absent", "history-surplus", "history-shortfall",
    "fs-step-marked-empty", "history-repaired", "empty-gzip-on-copy", "inline-cache", "squash-signature",
    "time-zero", "time-epoch", "time-unparseable", "timestamps-shared", "time-backwards", "image-created-mismatch",
})


def _redact_config(config: RunConfig, redact: frozenset[str]) -> RunConfig:
    env = config.env
    if "env" in redact and env is not None:
        # Docker's Env is a list of "KEY=value"; an entry without "=" is a
        # bare name and holds no value to hide.
        env = redact_env(env)
    labels = config.labels
    if "labels" in redact:
        labels = tuple((k, redact_value(v)) for k, v in labels)
    return dataclasses.replace(config, env=env, labels=labels)


def redact_archive(archive: Archive, redact: frozenset[str]) -> Archive:
    """The archive with the chosen config values replaced by their digests."""
    unknown = set(redact) - REDACTABLE
    if unknown:
        raise ValueError(f"cannot redact {', '.join(sorted(unknown))}: only env and labels")
    if not redact:
        return archive
    images: tuple[Image, ...] = tuple(
        # The history repeats ENV, ARG and LABEL values in created_by: redacted there too.
        redact_history(dataclasses.replace(image, run_config=_redact_config(image.run_config, redact)), redact)
        for image in archive.images)
    return dataclasses.replace(archive, images=images)


def write_snapshot(archive: Archive, *, redact: frozenset[str] = frozenset()) -> bytes:
    """The snapshot as UTF-8 JSON bytes (deterministic: sorted keys, no clock)."""
    doc: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "tool_version": __version__,
        "redacted": sorted(redact),
        "archive": archive_to_json(redact_archive(archive, frozenset(redact))),
    }
    # ASCII only: surrogate-escaped bytes from non-UTF-8 names survive as \\udcXX.
    return (json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True) + "\n").encode("ascii")


def _inflate(data: bytes, source: str, limit: int) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as e:
        raise SnapshotError(source, None, f"gzip data is corrupt ({e})") from None
    if len(out) > limit:
        raise SnapshotError(source, None, f"snapshot inflates to more than {limit} bytes")
    if not inflater.eof:
        raise SnapshotError(source, None, "gzip data is truncated")
    if inflater.unused_data:
        raise SnapshotError(source, None, "unexpected data after the gzip stream")
    return out


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise JsonShapeError(f"key {key[:80]!r}", "expected each key once in an object")
        out[key] = value
    return out


def load_snapshot(data: bytes, *, source: str, limits: Limits = Limits()) -> Archive:
    """Read snapshot bytes (plain or gzip'ed JSON) back into the Archive; SnapshotError if it is not one."""
    limit = limits.max_snapshot_bytes
    if data[:2] == GZIP_MAGIC:
        data = _inflate(data, source, limit)
    elif len(data) > limit:
        raise SnapshotError(source, None, f"snapshot is more than {limit} bytes")
    try:
        doc = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except UnicodeDecodeError as e:
        raise SnapshotError(source, None, f"snapshot is not UTF-8 (byte {e.start})") from None
    except JsonShapeError as e:
        raise SnapshotError(source, e.where, e.expected) from None
    except RecursionError:
        raise SnapshotError(source, None, "snapshot JSON is nested too deeply") from None
    except ValueError as e:
        raise SnapshotError(source, None, f"snapshot is not JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise SnapshotError(source, None, f"not an imageforensics snapshot (no \"format\": \"{FORMAT_NAME}\")")
    version = doc.get("format_version")
    if version not in READABLE_VERSIONS or isinstance(version, bool):
        raise SnapshotError(source, "format_version", f"expected {' or '.join(map(str, READABLE_VERSIONS))}, "
                                                      f"this tool cannot read {version!r}")
    redacted = doc.get("redacted")
    if not isinstance(redacted, list) or not all(isinstance(r, str) and r in REDACTABLE for r in redacted):
        raise SnapshotError(source, "redacted", "expected a list of env/labels")
    try:
        archive = archive_from_json(doc.get("archive"), source=source)
    except JsonShapeError as e:
        raise SnapshotError(source, e.where, e.expected) from None
    except RecursionError:
        raise SnapshotError(source, None, "snapshot JSON is nested too deeply") from None
    # An image's audit is computed where it is used: drop what earlier versions stored of it.
    images = tuple(dataclasses.replace(image, findings=tuple(f for f in image.findings
                                                             if f.code not in STORED_AUDIT_CODES))
                   for image in archive.images)
    # The layout, compression and sha256 stay those of the archive the
    # snapshot was taken from, so that it diffs exactly like that archive
    # (packaging findings included); a note says where the model came from.
    original = doc["archive"].get("source", "")
    notes = [f"read from a snapshot of {original}" if isinstance(original, str) and original
             else "read from a snapshot"]
    if redacted:
        notes.append(f"redacted: {', '.join(sorted(redacted))} (values replaced by their sha256)")
    return dataclasses.replace(archive, images=images, notes=archive.notes + tuple(notes))
