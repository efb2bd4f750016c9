"""The JSON report: the whole Report, versioned, with stable sorted keys, and its loader.

The document is described by ``imageforensics/report_schema.json``. Keys are
sorted and every field is always present, so two runs give byte-identical
output and consumers never meet a missing key. Output is pure ASCII
(``\\u`` escapes), so hostile names cannot reach a terminal that ``cat``s it,
and surrogate-escaped bytes from non-UTF-8 names survive the round trip.
"""

from __future__ import annotations

import json
from typing import Any

from imageforensics.errors import InputError
from imageforensics.untrusted_json import (
    JsonShapeError,
    as_object,
    get_bool,
    get_each,
    get_int,
    get_opt,
    get_opt_bool,
    get_opt_int,
    get_pairs,
    get_str,
    get_strs,
    pairs_json,
)
from imageforensics.model_json import finding_json, load_finding, load_timestamp, timestamp_json
from imageforensics.report._values import FORMAT_VERSION, VERDICT_KINDS, InputSide, LayerSide, Report, StepRow

FORMAT_NAME = "imageforensics-report"


def _side_json(s: InputSide) -> dict[str, Any]:
    return {
        "source": s.source, "layout": s.layout, "compression": s.compression,
        "archive_sha256": s.archive_sha256, "image_id": s.image_id,
        "references": list(s.references), "platform": s.platform,
        "layer_count": s.layer_count, "history_count": s.history_count,
        "created": s.created, "size": s.size, "notes": list(s.notes),
    }


def _layer_json(layer: LayerSide | None) -> dict[str, Any] | None:
    if layer is None:
        return None
    return {"diff_id": layer.diff_id, "size": layer.size, "entries": layer.entries,
            "empty_kind": layer.empty_kind, "present": layer.present}


def _step_json(r: StepRow) -> dict[str, Any]:
    return {
        "index_a": r.index_a, "index_b": r.index_b,
        "created_by_a": r.created_by_a, "created_by_b": r.created_by_b,
        "created_a": timestamp_json(r.created_a), "created_b": timestamp_json(r.created_b),
        "drift_ns": r.drift_ns,
        "empty_layer_a": r.empty_layer_a, "empty_layer_b": r.empty_layer_b,
        "layer_a": _layer_json(r.layer_a), "layer_b": _layer_json(r.layer_b),
        "match": r.match, "marks": list(r.marks),
    }


def report_to_json(report: Report) -> dict[str, Any]:
    """The report as JSON-ready values."""
    return {
        "format": FORMAT_NAME,
        "format_version": report.format_version,
        "tool_version": report.tool_version,
        "a": _side_json(report.a),
        "b": _side_json(report.b),
        "verdict_kind": report.verdict_kind,
        "verdict": report.verdict,
        "findings": [finding_json(f) for f in report.findings],
        "steps": [_step_json(r) for r in report.steps],
        "options": pairs_json(report.options),
    }


def render_json(report: Report) -> str:
    """The JSON report: sorted keys, two-space indent, ASCII only, ending in a newline."""
    return json.dumps(report_to_json(report), sort_keys=True, indent=2, ensure_ascii=True) + "\n"


def _load_side(value: object, where: str) -> InputSide:
    o = as_object(value, where)
    return InputSide(
        source=get_str(o, "source", where), layout=get_str(o, "layout", where),
        compression=get_str(o, "compression", where),
        archive_sha256=get_str(o, "archive_sha256", where), image_id=get_str(o, "image_id", where),
        references=get_strs(o, "references", where), platform=get_str(o, "platform", where),
        layer_count=get_int(o, "layer_count", where), history_count=get_int(o, "history_count", where),
        created=get_str(o, "created", where), size=get_int(o, "size", where),
        notes=get_strs(o, "notes", where),
    )


def _load_layer(value: object, where: str) -> LayerSide:
    o = as_object(value, where)
    return LayerSide(diff_id=get_str(o, "diff_id", where), size=get_int(o, "size", where),
                     entries=get_int(o, "entries", where), empty_kind=get_str(o, "empty_kind", where),
                     present=get_bool(o, "present", where))


def _load_step(value: object, where: str) -> StepRow:
    o = as_object(value, where)
    return StepRow(
        index_a=get_opt_int(o, "index_a", where), index_b=get_opt_int(o, "index_b", where),
        created_by_a=get_str(o, "created_by_a", where), created_by_b=get_str(o, "created_by_b", where),
        created_a=get_opt(o, "created_a", where, load_timestamp),
        created_b=get_opt(o, "created_b", where, load_timestamp),
        drift_ns=get_opt_int(o, "drift_ns", where),
        empty_layer_a=get_opt_bool(o, "empty_layer_a", where),
        empty_layer_b=get_opt_bool(o, "empty_layer_b", where),
        layer_a=get_opt(o, "layer_a", where, _load_layer),
        layer_b=get_opt(o, "layer_b", where, _load_layer),
        match=get_str(o, "match", where), marks=get_strs(o, "marks", where),
    )


def report_from_json(value: object) -> Report:
    """A Report from ``report_to_json`` values; JsonShapeError when the shape is wrong."""
    o = as_object(value, "report")
    where = "report"
    if o.get("format") != FORMAT_NAME:
        raise JsonShapeError(f"{where}.format", f"expected {FORMAT_NAME!r}")
    version = get_int(o, "format_version", where)
    if version != FORMAT_VERSION:
        raise JsonShapeError(f"{where}.format_version", f"expected {FORMAT_VERSION}, this tool cannot read {version}")
    verdict_kind = get_str(o, "verdict_kind", where)
    if verdict_kind not in VERDICT_KINDS:
        raise JsonShapeError(f"{where}.verdict_kind", f"expected one of {', '.join(VERDICT_KINDS)}")
    return Report(
        tool_version=get_str(o, "tool_version", where),
        a=_load_side(o.get("a"), f"{where}.a"),
        b=_load_side(o.get("b"), f"{where}.b"),
        verdict_kind=verdict_kind,
        verdict=get_str(o, "verdict", where),
        findings=get_each(o, "findings", where, load_finding),
        steps=get_each(o, "steps", where, _load_step),
        options=get_pairs(o, "options", where),
        format_version=version,
    )


def load_report(text: str) -> Report:
    """Read a JSON report back into an equal Report; InputError naming the bad field."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise InputError("report", None, f"not a JSON document ({e})") from None
    try:
        return report_from_json(value)
    except JsonShapeError as e:
        raise InputError("report", e.where, e.expected) from None
