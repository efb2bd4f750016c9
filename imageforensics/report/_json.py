"""The JSON report: the whole Report, versioned, with stable sorted keys, and its loader.

The document is described by ``imageforensics/report_schema.json``; the
finding codes and the evidence each carries by ``imageforensics/findings.json``.
Keys are sorted and every field of the report, its inputs, steps and findings
is always present, so two runs give byte-identical output. Output is pure
ASCII (``\\u`` escapes), so hostile names cannot reach a terminal that
``cat``s it, and surrogate-escaped bytes from non-UTF-8 names survive the
round trip.

Format 2 (written): a finding's ``evidence`` is an object of typed values
(``"empty_layer_b": true``, ``"blob_size_a": 17920``; absent facts absent),
and integers beyond 2^53 (epoch nanoseconds) are decimal text, which jq 1.6
and JavaScript would otherwise round (``evidence_json``). Format 1 (still
read): evidence as ``[name, text]`` pairs, nanoseconds as numbers, a path's
changes as text (read by ``_format1``). Either loads into the same Report.

The document is whole unless ``max_paths`` is given (``--max-paths N``): then
every list is cut as the other formats cut it — a finding's ``paths`` (the
same sample), its numbered details (those of the paths kept) and its evidence
lists keep ``N`` items — and the document says ``"max_paths": N``; the
findings' counts (``count``, ``changed_entries``) still say how many there are.
"""

from __future__ import annotations

import json
from typing import Any

from imageforensics.catalogue import REGISTRY, EvidenceValue, code_spec
from imageforensics.errors import InputError
from imageforensics.evidence_json import evidence_json, json_int, load_evidence_json, load_json_int, load_timestamp2, timestamp_json2
from imageforensics.findings import Finding
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
from imageforensics.model_json import SEVERITY_NAMES, load_finding, load_timestamp
from imageforensics.report._common import sample_paths
from imageforensics.report._format1 import read_details
from imageforensics.report._values import FORMAT_VERSION, VERDICT_KINDS, InputSide, LayerSide, Report, StepRow

FORMAT_NAME = "imageforensics-report"
# The formats the loader reads: the one written and the one before it.
READABLE_VERSIONS = (1, FORMAT_VERSION)


def _side_json(s: InputSide) -> dict[str, Any]:
    out = {
        "source": s.source, "layout": s.layout, "compression": s.compression,
        "image_id": s.image_id,
        "references": list(s.references), "platform": s.platform,
        "layer_count": s.layer_count, "history_count": s.history_count,
        "created": s.created, "size": s.size, "notes": list(s.notes),
    }
    # Taken only with --archive-digest: absent otherwise, not "".
    if s.archive_sha256:
        out["archive_sha256"] = s.archive_sha256
    return out


def _layer_json(layer: LayerSide | None) -> dict[str, Any] | None:
    if layer is None:
        return None
    return {"diff_id": layer.diff_id, "size": layer.size, "entries": layer.entries,
            "empty_kind": layer.empty_kind, "present": layer.present}


def _step_json(r: StepRow) -> dict[str, Any]:
    return {
        "index_a": r.index_a, "index_b": r.index_b,
        "created_by_a": r.created_by_a, "created_by_b": r.created_by_b,
        "created_a": None if r.created_a is None else timestamp_json2(r.created_a),
        "created_b": None if r.created_b is None else timestamp_json2(r.created_b),
        "drift_ns": None if r.drift_ns is None else json_int(r.drift_ns),
        "empty_layer_a": r.empty_layer_a, "empty_layer_b": r.empty_layer_b,
        "layer_a": _layer_json(r.layer_a), "layer_b": _layer_json(r.layer_b),
        "match": r.match, "marks": list(r.marks),
    }


def _finding_json(f: Finding) -> dict[str, Any]:
    return {
        "code": f.code, "severity": SEVERITY_NAMES[f.severity], "summary": f.summary, "side": f.side,
        "step_a": f.step_a, "step_b": f.step_b, "created_by": f.created_by, "path": f.path,
        "paths": list(f.paths), "evidence": evidence_json(f.code, f.evidence),
    }


def _capped(f: Finding, limit: int) -> Finding:
    """The finding with every list cut at ``limit``: its paths (sampled as every format samples them), details, lists."""
    spec = code_spec(f.code)
    paths = sample_paths(f.paths, limit)
    kept = frozenset(paths)
    families: dict[str, int] = {}
    evidence: list[tuple[str, EvidenceValue]] = []
    for name, value in f.evidence:
        declared = spec.key(name)
        assert declared is not None
        if declared.numbered:
            if declared.path_changes and value[0].path not in kept:  # type: ignore[index,union-attr]
                continue
            families[declared.name] = families.get(declared.name, 0) + 1
            if families[declared.name] > limit:
                continue
        elif declared.separator is not None and isinstance(value, tuple):
            value = value[:limit]  # type: ignore[assignment]
        evidence.append((name, value))
    return Finding(code=f.code, severity=f.severity, summary=f.summary, side=f.side, step_a=f.step_a,
                   step_b=f.step_b, created_by=f.created_by, path=f.path, paths=paths, evidence=tuple(evidence))


def report_to_json(report: Report, max_paths: int | None = None) -> dict[str, Any]:
    """The report as JSON-ready values (every list cut at ``max_paths`` when it is given)."""
    findings = report.findings if max_paths is None else tuple(_capped(f, max(max_paths, 0)) for f in report.findings)
    capped = {} if max_paths is None else {"max_paths": max(max_paths, 0)}
    return {
        **capped,
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "tool_version": report.tool_version,
        "a": _side_json(report.a),
        "b": _side_json(report.b),
        "verdict_kind": report.verdict_kind,
        "verdict": report.verdict,
        "findings": [_finding_json(f) for f in findings],
        "steps": [_step_json(r) for r in report.steps],
        "options": pairs_json(report.options),
    }


def render_json(report: Report, *, max_paths: int | None = None) -> str:
    """The JSON report: sorted keys, two-space indent, ASCII only, ending in a newline.

    Whole unless ``max_paths``: then every list keeps that many items and the document says so.
    """
    return json.dumps(report_to_json(report, max_paths), sort_keys=True, indent=2, ensure_ascii=True) + "\n"


def _load_side(value: object, where: str) -> InputSide:
    o = as_object(value, where)
    return InputSide(
        source=get_str(o, "source", where), layout=get_str(o, "layout", where),
        compression=get_str(o, "compression", where),
        archive_sha256=get_str(o, "archive_sha256", where) if "archive_sha256" in o else "",
        image_id=get_str(o, "image_id", where),
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


def _load_finding2(value: object, where: str) -> Finding:
    o = as_object(value, where)
    # The shape of everything but the evidence is format 1's: check it there, then type the evidence.
    plain = load_finding({**o, "evidence": []}, where)
    try:
        typed = load_evidence_json(plain.code, o.get("evidence"), f"{where}.evidence")
        return Finding(code=plain.code, severity=plain.severity, summary=plain.summary, side=plain.side,
                       step_a=plain.step_a, step_b=plain.step_b, created_by=plain.created_by, path=plain.path,
                       paths=plain.paths, evidence=typed)
    except JsonShapeError:
        raise
    except ValueError as e:
        raise JsonShapeError(f"{where}.evidence", f"expected the evidence {plain.code} carries: {e}") from None


def _load_finding1(value: object, where: str) -> Finding:
    """A format 1 finding: its evidence text typed as its code declares, a path's changes by ``_format1``."""
    o = as_object(value, where)
    code = o.get("code")
    spec = REGISTRY.get(code) if isinstance(code, str) else None
    pairs = o.get("evidence")
    if spec is None or not isinstance(pairs, list):
        return load_finding(o, where, any_severity=True)
    details: list[tuple[str, str]] = []
    rest: list[object] = []
    for pair in pairs:
        declared = spec.key(pair[0]) if isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str) \
            else None
        if declared is not None and declared.path_changes and isinstance(pair[1], str):
            details.append((pair[0], pair[1]))
        else:
            rest.append(pair)
    plain = load_finding({**o, "evidence": rest}, where, any_severity=True)
    if not details:
        return plain
    read = read_details(plain.code, plain.paths, [text for _, text in sorted(details)])
    typed = tuple((name, changes) for (name, _), changes in zip(sorted(details), read) if changes is not None)
    try:
        return Finding(code=plain.code, severity=plain.severity, summary=plain.summary, side=plain.side,
                       step_a=plain.step_a, step_b=plain.step_b, created_by=plain.created_by, path=plain.path,
                       paths=plain.paths, evidence=tuple(sorted(plain.evidence + typed, key=lambda kv: kv[0])))
    except ValueError as e:
        raise JsonShapeError(f"{where}.evidence", f"expected the evidence {plain.code} carries: {e}") from None


def _load_opt_ns(o: dict[str, Any], key: str, where: str, version: int) -> int | None:
    if version == 1 or o.get(key) is None:
        return get_opt_int(o, key, where)
    return load_json_int(o[key], f"{where}.{key}")


def _load_step(value: object, where: str, version: int) -> StepRow:
    o = as_object(value, where)
    load_ts = load_timestamp if version == 1 else load_timestamp2
    return StepRow(
        index_a=get_opt_int(o, "index_a", where), index_b=get_opt_int(o, "index_b", where),
        created_by_a=get_str(o, "created_by_a", where), created_by_b=get_str(o, "created_by_b", where),
        created_a=get_opt(o, "created_a", where, load_ts),
        created_b=get_opt(o, "created_b", where, load_ts),
        drift_ns=_load_opt_ns(o, "drift_ns", where, version),
        empty_layer_a=get_opt_bool(o, "empty_layer_a", where),
        empty_layer_b=get_opt_bool(o, "empty_layer_b", where),
        layer_a=get_opt(o, "layer_a", where, _load_layer),
        layer_b=get_opt(o, "layer_b", where, _load_layer),
        match=get_str(o, "match", where), marks=get_strs(o, "marks", where),
    )


def report_from_json(value: object) -> Report:
    """A Report from ``report_to_json`` values (format 2, or format 1); JsonShapeError when the shape is wrong.

    The Report is the same whichever format it was read from, and says the
    format this tool writes.
    """
    o = as_object(value, "report")
    where = "report"
    if o.get("format") != FORMAT_NAME:
        raise JsonShapeError(f"{where}.format", f"expected {FORMAT_NAME!r}")
    version = get_int(o, "format_version", where)
    if version not in READABLE_VERSIONS:
        raise JsonShapeError(f"{where}.format_version",
                             f"expected {' or '.join(map(str, READABLE_VERSIONS))}, this tool cannot read {version}")
    if "max_paths" in o:
        # A document cut by --max-paths: its lists are what was kept (it loads as such).
        get_int(o, "max_paths", where, minimum=0)
    verdict_kind = get_str(o, "verdict_kind", where)
    if verdict_kind not in VERDICT_KINDS:
        raise JsonShapeError(f"{where}.verdict_kind", f"expected one of {', '.join(VERDICT_KINDS)}")
    return Report(
        tool_version=get_str(o, "tool_version", where),
        a=_load_side(o.get("a"), f"{where}.a"),
        b=_load_side(o.get("b"), f"{where}.b"),
        verdict_kind=verdict_kind,
        verdict=get_str(o, "verdict", where),
        findings=get_each(o, "findings", where, _load_finding1 if version == 1 else _load_finding2),
        steps=get_each(o, "steps", where, lambda v, w: _load_step(v, w, version)),
        options=get_pairs(o, "options", where),
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
