"""The diff engine: two images in, a Report out (findings, verdict, aligned history).

Identity rule: two images are identical when they hold the same config
(image ID) and the same layers (diff_ids), whatever their packaging; packaging
differences are INFO notes. Equal diff_ids prove equal content, so entries are
compared only for aligned layers whose diff_ids differ, and the merged
filesystems only when the layer sequences differ.

Ignores, precisely: ``ignore_timestamps`` drops history ``created`` values,
the config ``created`` and file mtimes from the comparison (no findings for
them, no marks); ``ignore`` globs (see ``fsmerge.path_matcher``) drop paths
from the layer and filesystem comparisons; the other filters of ``DiffOptions``
(history text, config keys, file mode and owner, ``semantic``) are applied as
``_filters`` says. When nothing but ignored things differs, the verdict is kind "identical" with the sentence "identical after
ignores (…)", exit status 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from imageforensics.collector import paused_collector
from imageforensics._version import __version__
from imageforensics.diff._align import Pair, Unit, align_images
from imageforensics.diff._config import compare_config
from imageforensics.audit import image_findings
from imageforensics.diff._filters import drop_filtered
from imageforensics.diff._packages import package_findings
from imageforensics.diff._paths import LOST, filesystem_findings, layer_entries
from imageforensics.builders import run_builder_name
from imageforensics.catalogue import EvidenceValue, code_spec
from imageforensics.findings import Finding, Severity, evidence, sort_findings
from imageforensics.diff._merged_fs import path_matcher
from imageforensics.model import Archive, HistoryStep, Image
from imageforensics.redact import history_as_redacted_as
from imageforensics.options import DiffOptions
from imageforensics.report._values import InputSide, LayerSide, Report, StepRow
from imageforensics.diff._steps import (LayerState, LayerStates, created_of, drift_ns, layer_content,
                                     only_one_side, step_label, step_text, timestamp_drift,
                                     times_differ, wrongly_empty)
from imageforensics.diff._audit_findings import side_findings
from imageforensics.diff._squash import SquashedSides, squash_findings
from imageforensics.timestamp import format_duration
from imageforensics.diff._verdict import decide_verdict
from imageforensics.untrusted import escape


def _run_builder(image: Image, step: HistoryStep | None) -> str:
    """Whose RUN wrote the step's layer (``builders.run_builder_name``), "" for a layer no history step names."""
    return run_builder_name(image, step) if step is not None else ""


def diff_images(a: Archive, image_a: Image, b: Archive, image_b: Image,
                options: DiffOptions = DiffOptions()) -> Report:
    """Compare image_a (from archive a, the reference) with image_b (from archive b)."""
    with paused_collector():
        return _diff_images(a, image_a, b, image_b, options)


def _diff_images(a: Archive, image_a: Image, b: Archive, image_b: Image, options: DiffOptions) -> Report:
    # A redacted snapshot's history holds ENV/ARG/LABEL values as digests: the other
    # side's are compared in the same form, so equal steps stay equal and aligned.
    image_a, image_b = history_as_redacted_as(image_a, image_b), history_as_redacted_as(image_b, image_a)
    pairs = align_images(image_a, image_b, options.limits)
    states = LayerStates(image_a, image_b)
    findings: list[Finding] = []
    findings += packaging_findings(a, image_a, b, image_b)
    findings += pair_findings(pairs, image_a, image_b, options, states)
    if not options.ignore_timestamps:
        drift = timestamp_drift(pairs)
        if drift is not None:
            findings.append(drift)
        findings += _image_created(image_a, image_b)
    findings += side_findings(a, image_a, b, image_b, pairs, ignore_timestamps=options.ignore_timestamps)
    findings += compare_config(image_a, image_b, options.ignore_config)
    findings += package_findings(image_a, image_b, options)
    filesystem = filesystem_findings(pairs, image_a, image_b, options)
    findings += filesystem.findings
    findings = drop_filtered(settle_wrongly_empty(mtimes_once(findings)), options)
    ordered = sort_findings(findings)
    kind, sentence = decide_verdict(image_a, image_b, pairs, ordered, options.active, states,
                                    changes=filesystem.changes, integrity=integrity_failures(a, image_a, b, image_b))
    opts = list(options.described())
    return Report(tool_version=__version__, a=input_side(a, image_a), b=input_side(b, image_b),
                  verdict_kind=kind, verdict=sentence, findings=ordered,
                  steps=step_rows(pairs, options, states), options=tuple(opts))


def settle_wrongly_empty(findings: list[Finding]) -> list[Finding]:
    """Keep ERROR for a wrongly-empty step only when content is really lost.

    When the merged filesystems were compared and no path the step wrote is
    missing from the empty side (``docker build --squash`` moves every step's
    files into one final layer), the step is a WARNING: its content lives on,
    written by other steps.
    """
    if any(f.code == "filesystem-not-compared" for f in findings):
        return findings
    lost_a = {f.step_a for f in findings if f.code == "paths-missing" and f.evidence_value("cause") == LOST}
    lost_b = {f.step_b for f in findings if f.code == "paths-added" and f.evidence_value("cause") == LOST}
    out = []
    for f in findings:
        if f.code == "step-wrongly-empty" and f.step_a not in lost_a if f.side == "B" else \
                f.code == "step-wrongly-empty" and f.step_b not in lost_b:
            f = replace(f, severity=Severity.WARNING,
                        summary=f.summary + f"; no path it wrote is missing from {f.side} (other steps wrote them)")
        out.append(f)
    return out


def mtimes_once(findings: list[Finding]) -> list[Finding]:
    """mtimes said once per step: a layer finding of mtimes alone goes when the paths' findings name them all.

    Its mtimes are named by ``paths-mtime-differ`` (grouped by the writing
    steps); a layer whose changed mtimes are not all visible in the merged
    filesystem (a later step rewrote them) keeps its own note, as INFO.
    """
    named = {p for f in findings if f.code == "paths-mtime-differ" for p in f.paths}
    out = []
    for f in findings:
        if f.code == "layer-content-differs" and f.evidence_value("mtime_only") is True:
            if set(f.paths) <= named:
                continue
            f = replace(f, severity=Severity.INFO)
        out.append(f)
    return out


def integrity_failures(a: Archive, image_a: Image, b: Archive, image_b: Image) -> tuple[tuple[str, str], ...]:
    """(side, code) of each ERROR audit finding that says an archive fails its own digests or references."""
    out: list[tuple[str, str]] = []
    for side, archive, image in (("A", a, image_a), ("B", b, image_b)):
        for f in (*archive.findings, *image_findings(image)):
            if f.severity >= Severity.ERROR and code_spec(f.code).breaks_integrity and (side, f.code) not in out:
                out.append((side, f.code))
    return tuple(out)


def input_side(archive: Archive, image: Image) -> InputSide:
    """The report header for one input."""
    return InputSide(source=archive.source, layout=archive.layout, compression=archive.compression,
                     archive_sha256=str(archive.sha256) if archive.sha256 else "",
                     image_id=str(image.image_id), references=image.references,
                     platform=str(image.platform), layer_count=max(len(image.diff_ids), len(image.layers)),
                     history_count=len(image.history), created=image.created.raw if image.created else "",
                     size=archive.size, notes=archive.notes)


def pair_findings(pairs: Sequence[Pair], image_a: Image, image_b: Image, options: DiffOptions,
                  states: LayerStates) -> list[Finding]:
    """Step-level findings for every row of the alignment."""
    out: list[Finding] = []
    spellings: list[tuple[Finding, str]] = []
    sources: list[Finding] = []
    ignored = path_matcher(options.ignore)
    squashed = SquashedSides(image_a, image_b)
    for pair in pairs:
        # A squash explains the row (a merged step, the merged layer, a step the squash added or
        # dropped): said once by squash_findings, the files compared by the merged filesystems.
        absorbed = squashed.absorbs(pair)
        if pair.a is None or pair.b is None:
            unit = pair.a if pair.a is not None else pair.b
            assert unit is not None
            # A step without content on one side only is a difference of history text alone.
            history_only = options.ignore_history and not (states.a(unit) if pair.a is not None else states.b(unit)).has_content
            if not absorbed and not history_only:
                out.append(only_one_side(pair, states))
            continue
        text = step_text(pair)
        if text is not None and text.code == "created-by-spelling":
            spellings.append((text, pair.reason))
        elif text is not None and text.code == "copy-source-differs":
            sources.append(text)
        elif text is not None and text.code == "step-metadata-differs" and absorbed:
            pass  # a squash leaves its merged steps uncommented: said by squash_findings
        elif text is not None:
            out.append(text)
        empty = None if absorbed else wrongly_empty(pair, image_a, image_b, states)
        if empty is not None:
            out.append(empty)
            continue
        sa, sb = states.a(pair.a), states.b(pair.b)
        if sa.has_content and sb.has_content and pair.a.diff_id != pair.b.diff_id and not absorbed:
            out.append(layer_content(pair, layer_entries(image_a, image_b, pair.a),
                                     layer_entries(image_b, image_a, pair.b),
                                     ignore_mtime=options.ignore_timestamps, ignored=ignored,
                                     ignore_fields=options.ignored_entry_fields,
                                     builders=(_run_builder(image_a, pair.a.step), _run_builder(image_b, pair.b.step))))
        elif not sa.has_content and not sb.has_content and (pair.a.diff_id != pair.b.diff_id):
            out.append(Finding(
                code="empty-layer-spelling", severity=Severity.INFO,
                summary=f"{step_label(pair)} is empty in both images, recorded differently: "
                        f"A {sa.how}, B {sb.how}",
                step_a=pair.a.index, step_b=pair.b.index, created_by=pair.a.created_by,
                evidence=evidence(a=sa.how, b=sb.how, diff_id_a=pair.a.diff_id, diff_id_b=pair.b.diff_id)))
    if spellings:
        out.append(_spellings(spellings))
    if sources:
        out.append(_sources(sources))
    out += squash_findings(pairs, squashed)
    return out


def _spellings(found: list[tuple[Finding, str]]) -> Finding:
    """One note for every step written in another builder's spelling (classic vs BuildKit), with why each was paired."""
    first = found[0][0]
    if len(found) == 1:
        return first
    reasons = sorted({r for _, reason in found for r in _reason_notes(reason)})
    # A spelling is found only between two history steps: both indexes are there.
    return replace(first, summary=f"{len(found)} aligned steps are written differently by the two builders, "
                                  f"from step {first.step_a} ({'; '.join(reasons)})",
                   evidence=evidence(steps_a=tuple(f.step_a for f, _ in found if f.step_a is not None),
                                     steps_b=tuple(f.step_b for f, _ in found if f.step_b is not None),
                                     count=len(found)))


def _sources(found: list[Finding]) -> Finding:
    """One note for every COPY/ADD step that is the same instruction with other source content."""
    first = found[0]
    if len(found) == 1:
        return first
    steps = ", ".join(str(f.step_a) for f in found)
    return replace(first, summary=f"{len(found)} aligned COPY/ADD steps ({steps}) are the same instructions with "
                                  "other source content (the classic builder names the sources by a hash of their "
                                  "content)",
                   evidence=evidence(steps_a=tuple(f.step_a for f in found if f.step_a is not None),
                                     steps_b=tuple(f.step_b for f in found if f.step_b is not None),
                                     count=len(found)))


def _reason_notes(reason: str) -> list[str]:
    # "normalised created_by (a; b)" lists what normalisation removed; other reasons stand alone.
    if reason.startswith("normalised created_by (") and reason.endswith(")"):
        return reason[len("normalised created_by ("):-1].split("; ")
    return [reason]


def _image_created(image_a: Image, image_b: Image) -> list[Finding]:
    if not times_differ(image_a.created, image_b.created):
        return []
    ta, tb = image_a.created, image_b.created
    d = drift_ns(ta, tb)
    return [Finding(code="image-created-differs", severity=Severity.WARNING,
                    summary=f"image created differs: A {escape(ta.raw) if ta else 'none'}, B {escape(tb.raw) if tb else 'none'}"
                            + (f" ({format_duration(d)} in B)" if d is not None else ""),
                    evidence=evidence(created_a=ta, created_b=tb, drift_ns=d))]


def packaging_findings(a: Archive, image_a: Image, b: Archive, image_b: Image) -> list[Finding]:
    """INFO notes on how the same content is packaged differently (never a difference)."""
    values: dict[str, EvidenceValue | None] = {}
    if a.layout != b.layout:
        values.update(layout_a=a.layout, layout_b=b.layout)
    if a.compression != b.compression:
        values.update(compression_a=a.compression, compression_b=b.compression)
    if (image_a.manifest_digest != image_b.manifest_digest and image_a.manifest_digest is not None
            and image_b.manifest_digest is not None):
        values.update(manifest_a=image_a.manifest_digest, manifest_b=image_b.manifest_digest)
    blobs_a = {l.diff_id: l for l in image_a.layers if l is not None and l.diff_id is not None}
    restored = 0
    for layer in image_b.layers:
        other = blobs_a.get(layer.diff_id) if layer is not None and layer.diff_id is not None else None
        if other is not None and layer is not None and other.blob_digest != layer.blob_digest:
            restored += 1
    if restored:
        values.update(layers_stored_differently=restored)
    if not values:
        return []
    parts = []
    if "layout_a" in values:
        parts.append(f"layout {a.layout} vs {b.layout}")
    if "compression_a" in values:
        parts.append(f"archive compression {a.compression} vs {b.compression}")
    if restored:
        parts.append(f"{restored} layer(s) with the same diff_id stored as different blobs")
    if "manifest_a" in values:
        parts.append("different manifest digests")
    return [Finding(code="packaging-differs", severity=Severity.INFO,
                    summary="packaging differs (not a content difference): " + "; ".join(parts),
                    evidence=evidence(**values))]


def _layer_side(unit: Unit, state: LayerState) -> LayerSide | None:
    if unit.layer_index is None:
        return None
    layer = state.layer
    return LayerSide(diff_id=str(unit.diff_id) if unit.diff_id else "",
                     size=state.size or 0,
                     entries=layer.entry_count if layer is not None else 0,
                     empty_kind=(layer.empty_kind if layer is not None else "")
                     or ("" if state.has_content else state.how),
                     present=layer is not None)


def step_rows(pairs: Sequence[Pair], options: DiffOptions, states: LayerStates) -> tuple[StepRow, ...]:
    """The side-by-side history, with the differing cells marked."""
    rows = []
    for pair in pairs:
        a, b = pair.a, pair.b
        sa, sb = (a.step if a else None), (b.step if b else None)
        ta, tb = created_of(a), created_of(b)
        marks: list[str] = []
        match = "only-a" if b is None else "only-b" if a is None else "same"
        if a is not None and b is not None:
            if times_differ(ta, tb) and not options.ignore_timestamps:
                marks.append("created")
            if (sa.empty_layer if sa else None) != (sb.empty_layer if sb else None):
                marks.append("empty_layer")
            content_a, content_b = states.a(a).has_content, states.b(b).has_content
            if a.diff_id != b.diff_id or content_a != content_b:
                marks.append("layer")
            if a.created_by != b.created_by and not options.ignore_history:
                marks.append("created_by")
            if sa is not None and sb is not None and not options.ignore_history:
                if sa.comment != sb.comment:
                    marks.append("comment")
                if sa.author != sb.author:
                    marks.append("author")
            if "layer" in marks or (a.created_by != b.created_by and pair.reason.startswith("same instruction")
                                    and not options.ignore_history):
                match = "content"
            elif marks:
                match = "metadata"
        rows.append(StepRow(
            index_a=a.index if a else None, index_b=b.index if b else None,
            created_by_a=a.created_by if a else "", created_by_b=b.created_by if b else "",
            created_a=ta, created_b=tb, drift_ns=drift_ns(ta, tb),
            empty_layer_a=sa.empty_layer if sa else None, empty_layer_b=sb.empty_layer if sb else None,
            layer_a=_layer_side(a, states.a(a)) if a else None, layer_b=_layer_side(b, states.b(b)) if b else None,
            match=match, marks=tuple(marks)))
    return tuple(rows)


__all__ = ["diff_images"]
