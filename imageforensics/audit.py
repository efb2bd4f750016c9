"""The integrity audit: findings on every read (pure functions over model values).

``image_findings`` is an image's whole audit, computed where it is shown (never
stored in the model or in snapshots, so it is always this version's): what
parsing observed (``Image.findings``: the archive's bytes and references, built
in ``parse/_archive_findings``) together with ``audit_image``, the checks of
one Image on its own (layers vs diff_ids, history vs layers, empty and
unreadable layers) and ``history_signals``, the single-image forensic signals
that the diff engine reuses. Every code is registered in ``catalogue``.
"""

from __future__ import annotations

import re
from typing import TypedDict

from imageforensics.created_by import COPY_INSTRUCTIONS, FILESYSTEM_INSTRUCTIONS, step_instruction
from imageforensics.catalogue import EvidenceValue
from imageforensics.findings import Finding, Severity, evidence, sort_findings
from imageforensics.model import EMPTY_GZIP_BUILDKIT, EMPTY_GZIP_SCHEMA1, LAYER_ANOMALIES, WELL_KNOWN_EMPTY, Digest, HistoryStep, Image
from imageforensics.timestamp import format_duration
from imageforensics.untrusted import show

INFO, WARNING, ERROR = Severity.INFO, Severity.WARNING, Severity.ERROR

# moby image_squash.go: the appended entry's comment.
_SQUASH = re.compile(r"(merge sha256:[0-9a-f]+ to sha256:[0-9a-f]+|create new from sha256:[0-9a-f]+)")
BUILDKIT_REPAIR_COMMENT = "buildkit.exporter.image.v0"


class _At(TypedDict):
    """The step a layer finding is about, as ``_f``'s keyword arguments."""

    step: int | None
    created_by: str


def _f(code: str, severity: Severity, summary: str, *, step: int | None = None, created_by: str = "", path: str = "", **ev: EvidenceValue | None) -> Finding:
    return Finding(code=code, severity=severity, summary=summary, step_a=step, created_by=created_by, path=path, evidence=evidence(**ev))


# ---- one image -----------------------------------------------------------------


def image_findings(image: Image) -> tuple[Finding, ...]:
    """The image's whole audit, sorted: what parsing observed (``Image.findings``) and every check of ``audit_image``."""
    return sort_findings(list(dict.fromkeys(image.findings + audit_image(image))))


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
        at: _At = {"step": step.index if step else None, "created_by": step.created_by if step else ""}
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
            out.append(_f("layer-repeated", INFO, f"diff_id {d.short}…{known} appears {len(where)} times (layers {', '.join(map(str, where))})", diff_id=d, layers=tuple(where)))
    return out


def _anomalies(index: int, anomalies: tuple[tuple[str, str], ...], at: _At) -> list[Finding]:
    """One finding per kind of odd entry in a layer (Layer.anomalies), with a count and the first examples."""
    grouped: dict[str, list[str]] = {}
    for code, detail in anomalies:
        grouped.setdefault(code, []).append(detail)
    out = []
    for code, details in grouped.items():
        meaning = LAYER_ANOMALIES.get(code, code).split(";")[0]
        examples = ", ".join(show(d, 80) for d in details[:3]) + (f" and {len(details) - 3} more" if len(details) > 3 else "")
        out.append(_f("layer-anomaly", WARNING, f"layer {index}: {len(details)} × {meaning}: {examples}", layer=index, anomaly=code, count=len(details), first=details[0], **at))
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
            steps=tuple(s.index for s in surplus),
        )]
    if n < layers:
        return [_f(
            "history-shortfall", WARNING,
            f"history has {n} non-empty steps for {layers} diff_ids: {layers - n} layer(s) (from layer {n}) have no step",
            non_empty=n, diff_ids=layers, shortfall=layers - n, layers=tuple(range(n, layers)),
        )]
    return []


def squash_kind(image: Image) -> str:
    """Which tool merged the image's steps into fewer layers, or "".

    ``docker build --squash`` appends an entry commented "merge sha256:X to
    sha256:Y" (image_squash.go); buildah without --layers commits one layer
    on the last entry, commented "FROM <base>", and marks the others empty.
    """
    if not image.history:
        return ""
    last = image.history[-1]
    if _SQUASH.fullmatch(last.comment.strip()):
        return "docker build --squash"
    if not last.empty_layer and last.comment.startswith("FROM ") and step_instruction(last.created_by) not in FILESYSTEM_INSTRUCTIONS:
        return "buildah single-layer commit"
    return ""


def is_squashed(image: Image) -> bool:
    """True when the history carries a squash/single-layer signature (see ``squash_kind``)."""
    return bool(squash_kind(image))


def history_signals(image: Image) -> tuple[Finding, ...]:
    """Single-image forensic signals (FORMATS.md A4): wrongly-empty steps, shared/odd times, inline cache, squash."""
    out: list[Finding] = []
    squashed = squash_kind(image)
    steps = _step_for_layer(image)
    for step in image.history:
        instruction = step_instruction(step.created_by)
        if step.empty_layer and instruction in FILESYSTEM_INSTRUCTIONS:
            if squashed:
                out.append(_f("fs-step-marked-empty", INFO, f"step {step.index} {instruction} is marked empty_layer, as a {squashed} marks every merged step", step=step.index, created_by=step.created_by, instruction=instruction, squashed=squashed))
            elif instruction == "RUN":
                # BuildKit and buildah mark a RUN that changed nothing as empty_layer.
                out.append(_f("fs-step-marked-empty", INFO, f"step {step.index} RUN is marked empty_layer: it changed nothing, or its layer was dropped", step=step.index, created_by=step.created_by, instruction=instruction))
            else:
                out.append(_f("fs-step-marked-empty", WARNING, f"step {step.index} {instruction} is marked empty_layer: a filesystem step without a layer (BuildKit < 0.10 dropped empty-gzip layers this way)", step=step.index, created_by=step.created_by, instruction=instruction))
        if step.comment == BUILDKIT_REPAIR_COMMENT:
            out.append(_f("history-repaired", INFO, f"step {step.index} was appended by BuildKit to pair a layer that had no history entry (comment {BUILDKIT_REPAIR_COMMENT})", step=step.index))
    for i, layer in enumerate(image.layers):
        layer_step = steps.get(i)
        if layer is None or layer_step is None:
            continue
        if step_instruction(layer_step.created_by) in COPY_INSTRUCTIONS and layer.blob_digest.hex in (EMPTY_GZIP_BUILDKIT, EMPTY_GZIP_SCHEMA1):
            out.append(_f("empty-gzip-on-copy", WARNING, f"step {layer_step.index} {step_instruction(layer_step.created_by)} has the 32-byte empty gzip layer {layer.blob_digest.short}: it copied nothing (the cache-import corruption pulls this blob)", step=layer_step.index, created_by=layer_step.created_by, blob=layer.blob_digest))
    out.extend(_time_signals(image))
    if image.has_inline_cache:
        out.append(_f("inline-cache", INFO, "the config carries BuildKit inline cache (moby.buildkit.cache.v0); its layer indexes desync when empty layers were dropped"))
    if squashed:
        last = image.history[-1]
        out.append(_f("squash-signature", INFO, f"squashed image ({squashed}): {show(last.comment, 120)}", step=last.index, comment=last.comment, kind=squashed))
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
    return [_f("timestamps-shared", INFO, f"steps {spans} share one created time per run although several of them wrote the filesystem (a cache-import signature)", step=first.index, runs=tuple((run[0].index, run[-1].index) for run in shared))]


def _time_signals(image: Image) -> list[Finding]:
    out: list[Finding] = []
    zero = [s.index for s in image.history if s.created is not None and s.created.is_zero]
    epoch = [s.index for s in image.history if s.created is not None and s.created.is_epoch]
    bad = [s for s in image.history if s.created is not None and s.created.ns is None]
    if zero:
        out.append(_f("time-zero", INFO, f"{len(zero)} step(s) have Go's zero time 0001-01-01T00:00:00Z (kaniko writes it)", steps=tuple(zero)))
    if epoch:
        out.append(_f("time-epoch", INFO, f"{len(epoch)} step(s) have the Unix epoch as created time (Bazel, ggcr and reproducible builds write it)", steps=tuple(epoch)))
    for s in bad:
        out.append(_f("time-unparseable", WARNING, f"step {s.index} created {show(s.created.raw if s.created else '', 60)} is not an RFC 3339 time", step=s.index, created_by=s.created_by))
    usable = [s for s in image.history if s.created is not None and s.created.ns is not None and not s.created.is_zero and not s.created.is_epoch]
    out.extend(_shared_times(image, usable))
    for prev, cur in zip(usable, usable[1:]):
        assert prev.created is not None and cur.created is not None and prev.created.ns is not None and cur.created.ns is not None
        if cur.created.ns < prev.created.ns:
            out.append(_f("time-backwards", WARNING, f"step {cur.index} was created {format_duration(cur.created.ns - prev.created.ns)} before step {prev.index}", step=cur.index, created_by=cur.created_by, previous=prev.created, created=cur.created))
    last = image.history[-1].created if image.history else None
    if image.created is not None and last is not None and image.created.ns is not None and last.ns is not None and image.created.ns != last.ns:
        out.append(_f("image-created-mismatch", INFO, f"image created {image.created.raw} differs from the last step's {last.raw} by {format_duration(image.created.ns - last.ns)}", created=image.created, last_step=last))
    return out
