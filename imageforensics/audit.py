"""The integrity audit: findings on every read (pure functions over model values).

``image_findings`` is an image's whole audit, computed where it is shown (never
stored in the model or in snapshots, so it is always this version's): what
parsing observed (``Image.findings``: the archive's bytes and references, built
in ``parse/_archive_findings``) together with ``audit_image``, the checks of
one Image on its own (layers vs diff_ids, history vs layers, empty and
unreadable layers) and the entries a symlink on their parent chain sends elsewhere (``rootfs``), and
``history_signals``, the single-image forensic signals
that the diff engine reuses. Every code is registered in ``catalogue``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from imageforensics.builders import buildkit_may_have_written, squash_kind as squash_kind, squash_of
from imageforensics.created_by import COPY_INSTRUCTIONS, FILESYSTEM_INSTRUCTIONS, display_created_by, step_instruction
from imageforensics.catalogue import EvidenceValue
from imageforensics.findings import Finding, Severity, evidence, sort_findings
from imageforensics.model import EMPTY_GZIP_BUILDKIT, EMPTY_GZIP_SCHEMA1, LAYER_ANOMALIES, WELL_KNOWN_EMPTY, Digest, HistoryStep, Image
from imageforensics.inline_cache import InlineCache
from imageforensics.options import Limits
from imageforensics.rootfs import Redirect, RootLinks
from imageforensics.timestamp import format_duration
from imageforensics.untrusted import show

INFO, WARNING, ERROR = Severity.INFO, Severity.WARNING, Severity.ERROR

BUILDKIT_REPAIR_COMMENT = "buildkit.exporter.image.v0"


class _At(TypedDict):
    """The step a layer finding is about, as ``_f``'s keyword arguments."""

    step: int | None
    created_by: str


def _f(code: str, severity: Severity, summary: str, *, step: int | None = None, created_by: str = "", path: str = "",
       paths: tuple[str, ...] = (), **ev: EvidenceValue | None) -> Finding:
    return Finding(code=code, severity=severity, summary=summary, step_a=step, created_by=created_by, path=path, paths=paths, evidence=evidence(**ev))


# ---- one image -----------------------------------------------------------------


def image_findings(image: Image) -> tuple[Finding, ...]:
    """The image's whole audit, sorted: what parsing observed (``Image.findings``) and every check of ``audit_image``."""
    return sort_findings(list(dict.fromkeys(image.findings + audit_image(image))))


def audit_image(image: Image) -> tuple[Finding, ...]:
    """Every single-image check: layers vs diff_ids, history vs layers, then ``history_signals``."""
    return tuple(_layer_checks(image) + _history_checks(image) + _through_symlinks(image)) + history_signals(image)


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


def _redirect_text(r: Redirect) -> str:
    link = f"the symlink /{show(r.link, 80)} -> {show(r.target, 80)}"
    if r.loops:
        return (f"/{show(r.entry, 120)}: its parent directories loop through {link} (or take more links than a "
                f"runtime follows): the runtime refuses the layer")
    if r.kind == "whiteout":
        return f"the whiteout of /{show(r.entry, 120)} removes /{show(r.written, 120)}, through {link}"
    if r.kind == "opaque":
        return f"the opaque marker of /{show(r.entry, 120)} empties /{show(r.written, 120)}, through {link}"
    return f"{r.kind} /{show(r.entry, 120)} is written to /{show(r.written, 120)}, through {link}"


def _through_symlinks(image: Image) -> list[Finding]:
    """Entries the runtime writes elsewhere than the tar names, because a symlink lies on their parent chain (rootfs)."""
    limits = Limits()
    links = RootLinks(limits)
    steps = _step_for_layer(image)
    out: list[Finding] = []
    for i, layer in enumerate(image.layers):
        if layer is None or not layer.readable:
            continue
        redirects = links.apply_layer(layer.entries, i)
        if not redirects:
            continue
        step = steps.get(i)
        at: _At = {"step": step.index if step else None, "created_by": step.created_by if step else ""}
        listed = redirects[: limits.max_anomalies_per_layer]
        for r in listed:
            out.append(_f("layer-write-through-symlink", ERROR if r.loops else WARNING, f"layer {i}: {_redirect_text(r)}",
                          path="/" + (r.written or r.entry), layer=i, entry=r.entry, kind=r.kind, written=r.written,
                          link=r.link, target=r.target, loops=r.loops, **at))
        if len(redirects) > len(listed):
            rest = redirects[len(listed):]
            loops = any(r.loops for r in rest)
            out.append(_f("layer-write-through-symlink", ERROR if loops else WARNING,
                          f"layer {i}: {len(rest)} more entries go through symlinks (not listed)", layer=i,
                          unlisted=len(rest), loops=loops, **at))
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


def is_squashed(image: Image) -> bool:
    """True when the history carries a squash/single-layer signature (``builders.squash_of``)."""
    return squash_of(image) is not None


def history_signals(image: Image) -> tuple[Finding, ...]:
    """Single-image forensic signals (FORMATS.md A4): wrongly-empty steps, shared/odd times, inline cache, squash."""
    out: list[Finding] = []
    squash = squash_of(image)
    squashed = squash.kind if squash is not None else ""
    steps = _step_for_layer(image)
    for step in image.history:
        instruction = step_instruction(step.created_by)
        if step.empty_layer and instruction in FILESYSTEM_INSTRUCTIONS:
            if squash is not None and squash.merges(step):
                out.append(_f("fs-step-marked-empty", INFO, f"step {step.index} {instruction} is marked empty_layer, as a {squashed} marks every merged step (its files are in step {squash.carrier}'s layer)", step=step.index, created_by=step.created_by, instruction=instruction, squashed=squashed))
            elif instruction == "RUN":
                # BuildKit and buildah mark a RUN that changed nothing as empty_layer.
                out.append(_f("fs-step-marked-empty", INFO, f"step {step.index} RUN is marked empty_layer: it changed nothing, or its layer was dropped", step=step.index, created_by=step.created_by, instruction=instruction))
            else:
                # Only BuildKit's steps carry BuildKit's loss signature; the classic builder, buildah and podman never drop a layer so.
                why = " (BuildKit < 0.10 dropped empty-gzip layers this way)" if buildkit_may_have_written(image, step) else ""
                out.append(_f("fs-step-marked-empty", WARNING, f"step {step.index} {instruction} is marked empty_layer: a filesystem step without a layer{why}", step=step.index, created_by=step.created_by, instruction=instruction))
        if step.comment == BUILDKIT_REPAIR_COMMENT:
            out.append(_f("history-repaired", INFO, f"step {step.index} was appended by BuildKit to pair a layer that had no history entry (comment {BUILDKIT_REPAIR_COMMENT})", step=step.index))
    for i, layer in enumerate(image.layers):
        layer_step = steps.get(i)
        if layer is None or layer_step is None:
            continue
        if step_instruction(layer_step.created_by) in COPY_INSTRUCTIONS and layer.blob_digest.hex in (EMPTY_GZIP_BUILDKIT, EMPTY_GZIP_SCHEMA1):
            out.append(_f("empty-gzip-on-copy", WARNING, f"step {layer_step.index} {step_instruction(layer_step.created_by)} has the 32-byte empty gzip layer {layer.blob_digest.short}: it copied nothing (the cache-import corruption pulls this blob)", step=layer_step.index, created_by=layer_step.created_by, blob=layer.blob_digest))
    out.extend(_time_signals(image))
    out.extend(inline_cache_findings(image))
    if squash is not None:
        carrier = image.history[squash.carrier]
        merged = f"steps {squash.merged[0]}–{squash.merged[-1]}" if len(squash.merged) > 1 else f"step {squash.merged[0]}" if squash.merged else "no step"
        out.append(_f("squash-signature", INFO, f"squashed image ({squashed}): {merged} in step {squash.carrier}'s layer{' with the base image' if squash.whole_image else ''}, commented {show(carrier.comment, 120)}", step=carrier.index, comment=carrier.comment, kind=squashed))
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
    # Only layers with entries wrote the filesystem: an entry-less or well-known empty layer did not.
    # A filesystem step marked empty_layer lost its layer, if it had one: the time it shares is the signature.
    wrote = any(sum(1 for s in run if _wrote_content(image, s)) > 1 for run in shared)
    dropped = [s for run in shared for s in run if s.empty_layer and step_instruction(s.created_by) in FILESYSTEM_INSTRUCTIONS]
    if wrote:
        why = " although several of them wrote the filesystem (a cache-import signature)"
    elif dropped:
        named = ", ".join(f"{s.index} ({step_instruction(s.created_by)})" for s in dropped)
        why = (f", and step{'s' if len(dropped) != 1 else ''} {named} among them {'are' if len(dropped) != 1 else 'is'} "
               "marked empty_layer (a cache-import signature: a step whose layer was dropped takes the previous "
               "step's time); the others did not write the filesystem")
    else:
        why = ", but at most one step of each run wrote the filesystem (empty layers did not)"
    return [_f("timestamps-shared", INFO, f"steps {spans} share one created time per run{why}", step=first.index, runs=tuple((run[0].index, run[-1].index) for run in shared))]


def _wrote_content(image: Image, step: HistoryStep) -> bool:
    """The step's layer holds entries (a layer absent from the archive may have: it counts)."""
    if step.layer_index is None:
        return False
    layer = image.layers[step.layer_index] if step.layer_index < len(image.layers) else None
    if layer is None:
        return True
    if layer.blob_digest.hex in WELL_KNOWN_EMPTY or (layer.diff_id is not None and layer.diff_id.hex in WELL_KNOWN_EMPTY):
        return False
    return not layer.readable or bool(layer.entries) and not layer.empty_kind


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


# ---- BuildKit's inline cache (moby.buildkit.cache.v0) ---------------------------

# The instructions the Dockerfile frontend gives a cache record (an op): RUN and
# WORKDIR are ExecOp/FileOp, COPY and ADD FileOps; ENV, EXPOSE, LABEL… change
# only the config and have neither record nor layer.
_RECORD_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD", "WORKDIR"})


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheClaim:
    """One step of the final stage's record chain: the record, its step, what it claims, what it should."""

    record: int
    step: HistoryStep | None
    claim: int | None
    should: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheCheck:
    """The inline cache checked against the image's layers and history (FORMATS.md A4; issue 13).

    ``kind``: "healthy", "poisoned" (the top record claims less than the last
    layer: a ``--cache-from`` build from the image loses ``lost_steps``),
    "carried" (the top claims the last layer but a record claims another step's
    layer: the image is a rebuild from a poisoned cache and carries it on),
    "inconsistent" (other broken rules) or "undecodable".
    """

    kind: str
    records: int = 0
    chain: tuple[CacheClaim, ...] = ()
    top: CacheClaim | None = None
    points_at: int | None = None
    should: int | None = None
    lost_steps: tuple[HistoryStep, ...] = ()
    lost_paths: tuple[str, ...] = ()
    wrong: tuple[CacheClaim, ...] = ()
    problems: tuple[str, ...] = ()


def _flipped(owners: dict[int, HistoryStep], step: HistoryStep, claimed: int) -> bool:
    """A filesystem step marked empty_layer that carries the created time of the step owning the layer it claims."""
    owner = owners.get(claimed)
    return (owner is not None and step.created is not None and owner.created is not None
            and step.created.ns is not None and step.created.ns == owner.created.ns)


def _final_chain(cache: InlineCache) -> list[int]:
    """The record chain of the final stage, bottom first: from the top layered record down its ``inputs[0]`` links."""
    records = cache.records
    layered = [i for i, r in enumerate(records) if r.claim is not None]
    if not layered:
        return []
    # Linear: a walk stops where an earlier one passed (hostile caches may hold long chains).
    below: set[int] = set()
    for i in layered:
        at = records[i].parent
        while at is not None and at not in below:
            below.add(at)
            at = records[at].parent
    tops = [i for i in layered if i not in below] or layered
    top = max(tops, key=lambda i: (records[i].claim or 0, -i))
    chain, seen = [top], {top}
    at = records[top].parent
    while at is not None and at not in seen and records[at].inputs:
        chain.append(at)
        seen.add(at)
        at = records[at].parent
    return chain[::-1]


def check_inline_cache(image: Image) -> CacheCheck | None:
    """Check the inline cache against the image: None without a cache (pure, recomputed where it is used).

    BuildKit's rules (healthy on dockerd 20.10, which keeps empty layers): every
    index is below the layer count; along the final stage's chain each record
    claims the layer of its own step, so the first claims the number of base
    layers and each the next one; a step the image has no layer for (standalone
    BuildKit < 0.10 drops empty layers from image and cache) repeats its parent's
    index; the top record claims the last layer. v0.8.0/0.8.1 skipped the empty
    gzip layer when it marshalled chains after a registry import
    (``cache/remotecache/v1/utils.go`` ``marshalRemote``), so every index after
    an empty layer is one too low per empty layer below it.
    """
    cache = image.inline_cache
    if cache is None:
        return None
    if cache.problem:
        return CacheCheck(kind="undecodable", problems=(cache.problem,))
    n_layers = len(image.diff_ids)
    problems: list[str] = []
    for i, r in enumerate(cache.records):
        for res in r.results:
            if not 0 <= res.layer < n_layers:
                problems.append(f"record {i} claims layer {res.layer}, but the image has {n_layers} layers "
                                "(BuildKit: invalid layer index)")
    chain_ids = _final_chain(cache)
    if not chain_ids:
        return CacheCheck(kind="inconsistent" if problems else "healthy", records=len(cache.records), problems=tuple(problems))
    owners = _step_for_layer(image)
    fs_steps = [s for s in image.history if step_instruction(s.created_by) in _RECORD_INSTRUCTIONS]
    matched = len(fs_steps) >= len(chain_ids)
    chain: list[CacheClaim] = []
    previous: int | None = None
    for pos, rid in enumerate(chain_ids):
        claim = cache.records[rid].claim
        step = fs_steps[len(fs_steps) - len(chain_ids) + pos] if matched else None
        if step is not None and step.layer_index is None and previous is not None and _flipped(owners, step, previous):
            # Marked empty_layer with the created time of the layer it claims: what the
            # exporter's normalisation leaves when a poisoned chain ends short
            # (normalizeLayersAndHistory), not a step whose empty layer was dropped.
            should = None
        elif step is not None:
            should = step.layer_index if step.layer_index is not None else previous
        else:
            should = claim if claim is not None else previous
        chain.append(CacheClaim(record=rid, step=step, claim=claim, should=should))
        previous = should if should is not None else previous
    top = chain[-1]
    wrong = tuple(c for c in chain if c.claim != c.should)
    if not matched:
        # Without steps to match, the index rules alone: steps by one, the top at the end.
        claims = [c.claim for c in chain if c.claim is not None]
        steps_ok = all(b - a in (0, 1) for a, b in zip(claims, claims[1:]))
        if not steps_ok or (claims and claims[-1] != n_layers - 1):
            problems.append("the record chain does not step by one to the last layer")
    points_at = top.claim
    should_top = n_layers - 1
    if not wrong and not problems and (points_at is None or points_at == should_top or not matched):
        return CacheCheck(kind="healthy", records=len(cache.records), chain=tuple(chain), top=top)
    if points_at is not None and points_at < should_top:
        lost = tuple(owners[i] for i in range(points_at + 1, n_layers) if i in owners)
        paths: list[str] = []
        for st in lost:
            layer = image.layers[st.layer_index] if st.layer_index is not None and st.layer_index < len(image.layers) else None
            if layer is not None:
                paths.extend("/" + e.path.lstrip("/") for e in layer.entries)
        return CacheCheck(kind="poisoned", records=len(cache.records), chain=tuple(chain), top=top,
                          points_at=points_at, should=should_top, lost_steps=lost, lost_paths=tuple(paths),
                          wrong=wrong, problems=tuple(problems))
    if wrong:
        return CacheCheck(kind="carried", records=len(cache.records), chain=tuple(chain), top=top,
                          points_at=points_at, should=top.should, wrong=wrong, problems=tuple(problems))
    return CacheCheck(kind="inconsistent", records=len(cache.records), chain=tuple(chain), top=top,
                      points_at=points_at, should=should_top, problems=tuple(problems))


def _named(step: HistoryStep | None) -> str:
    if step is None:
        return "an unmatched step"
    return f"step {step.index} `{display_created_by(step.created_by, 'summary')}`"


def _owner_text(image: Image, index: int | None) -> str:
    if index is None:
        return "no layer"
    owner = _step_for_layer(image).get(index)
    return f"layer {index}" + (f" ({_named(owner)}'s)" if owner is not None else "")


def inline_cache_findings(image: Image) -> list[Finding]:
    """The inline cache check as findings: a neutral INFO when healthy, an ERROR when poisoned or carried on."""
    check = check_inline_cache(image)
    if check is None:
        return []
    if check.kind == "undecodable":
        return [_f("inline-cache-undecodable", WARNING, f"the BuildKit inline cache (moby.buildkit.cache.v0) cannot be decoded: {show(check.problems[0], 200)}",
                   problem=check.problems[0])]
    if check.kind == "healthy":
        return [_f("inline-cache", INFO, f"carries a BuildKit inline cache (moby.buildkit.cache.v0) of {check.records} records, consistent with its layers",
                   records=check.records)]
    top = check.top
    assert top is not None
    if check.kind == "poisoned":
        assert check.points_at is not None and check.should is not None
        lost = check.lost_steps
        first = lost[0] if lost else top.step
        count = len(check.lost_paths)
        if len(lost) == 1:
            damage = f"will mark {_named(lost[0])} empty_layer and lose its {count} entr{'y' if count == 1 else 'ies'}"
        else:
            damage = (f"will mark {len(lost)} steps empty_layer ({', '.join(_named(s) for s in lost)}; one per empty layer below them) "
                      f"and lose their {count} entr{'y' if count == 1 else 'ies'}")
        # One example: the finding's paths list them all, cut as --max-paths cuts every list.
        shown = f"e.g. {check.lost_paths[0]}" if check.lost_paths else ""
        unclaimed = ", ".join(_named(s) for s in lost) or "the last layer"
        summary = (f"poisoned BuildKit inline cache (the v0.8.0/0.8.1 empty-layer index shift, Docker 20.10.0–20.10.3): "
                   f"no record claims the layer of {unclaimed}; the top record ({_named(top.step)}) points at "
                   f"{_owner_text(image, check.points_at)} where it should point at {check.should}. "
                   f"A `--cache-from` build from this image {damage}" + (f": {shown}" if shown else ""))
        return [_f("inline-cache-poisoned", ERROR, summary, step=first.index if first else None,
                   created_by=first.created_by if first else "", paths=check.lost_paths,
                   points_at=check.points_at, should=check.should, records=check.records,
                   lost_steps=tuple(s.index for s in lost), lost_entries=count)]
    if check.kind == "carried":
        w = next((c for c in check.wrong if c.step is not None and c.step.empty_layer), check.wrong[-1])
        assert w.claim is not None or w.should is not None
        summary = (f"carries a poisoned BuildKit inline cache on: the record of {_named(w.step)} claims "
                   f"{_owner_text(image, w.claim)}"
                   + (f" where it should claim layer {w.should}" if w.should is not None else ", not a layer of its own")
                   + (f"; the step is marked empty_layer, as a `--cache-from` build from a poisoned cache leaves it" if w.step is not None and w.step.empty_layer else "")
                   + ". A `--cache-from` build from this image reproduces it")
        return [_f("inline-cache-poison-carried", ERROR, summary, step=w.step.index if w.step else None,
                   created_by=w.step.created_by if w.step else "", points_at=w.claim, should=w.should,
                   records=check.records)]
    return [_f("inline-cache-inconsistent", WARNING, "the BuildKit inline cache does not match the image's layers: "
               + "; ".join(show(p, 120) for p in check.problems[:3]), records=check.records)]
