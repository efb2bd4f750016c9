"""The JSON report: exact round trip, stable sorted keys, and conformance to the shipped schema."""

from __future__ import annotations

import json
from dataclasses import replace
from importlib import resources
from typing import Any

import pytest
from hypothesis import given, settings

from imageforensics.catalogue import REGISTRY
from imageforensics.digest import Digest
from imageforensics.errors import InputError
from imageforensics.findings import Finding, Severity, evidence
from imageforensics.model_json import SEVERITY_NAMES
from imageforensics.report._json import load_report, render_json
from imageforensics.report._values import Report
from tests.reportfactory import hostile_report, hostile_text, reports, tomcat_report


def _schema() -> dict[str, Any]:
    text = resources.files("imageforensics").joinpath("report_schema.json").read_text(encoding="utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


# The keywords the shipped schema may use; the small validator below knows
# exactly these, so a schema change that needs more fails here first.
_KEYWORDS = {"$schema", "$id", "$defs", "$ref", "title", "description", "type", "properties", "required",
             "additionalProperties", "items", "prefixItems", "minItems", "enum", "const", "oneOf"}
_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _is_type(value: object, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, _TYPES[name])


def _errors(value: object, schema: Any, root: dict[str, Any], where: str = "$") -> list[str]:
    """A JSON Schema (2020-12) validator for the keywords in _KEYWORDS."""
    if schema is False:
        return [f"{where}: not allowed"]
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return _errors(value, target, root, where)
    out: list[str] = []
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is_type(value, n) for n in names):
            return [f"{where}: {value!r} is not {names}"]
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{where}: {value!r} not in {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        out.append(f"{where}: {value!r} != {schema['const']!r}")
    if "oneOf" in schema:
        passing = [s for s in schema["oneOf"] if not _errors(value, s, root, where)]
        if len(passing) != 1:
            out.append(f"{where}: matches {len(passing)} of oneOf")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        out += [f"{where}: missing {k}" for k in schema.get("required", []) if k not in value]
        for key, item in value.items():
            if key in props:
                out += _errors(item, props[key], root, f"{where}.{key}")
            elif schema.get("additionalProperties") is False:
                out.append(f"{where}: unexpected {key}")
    if isinstance(value, list):
        prefix = schema.get("prefixItems", [])
        if len(value) < schema.get("minItems", 0):
            out.append(f"{where}: too few items")
        for i, item in enumerate(value):
            sub = prefix[i] if i < len(prefix) else schema.get("items", True)
            if sub is not True:
                out += _errors(item, sub, root, f"{where}[{i}]")
    return out


def _keywords(schema: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(schema, dict):
        for key, value in schema.items():
            found.add(key)
            if key in ("properties", "$defs"):
                for sub in value.values():
                    found |= _keywords(sub)
            elif key in ("items", "oneOf", "prefixItems"):
                for sub in value if isinstance(value, list) else [value]:
                    found |= _keywords(sub)
    return found


def test_schema_ships_in_the_package_and_uses_known_keywords() -> None:
    schema = _schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert _keywords(schema) <= _KEYWORDS


def test_tomcat_report_conforms_to_the_schema() -> None:
    schema = _schema()
    doc = json.loads(render_json(tomcat_report()))
    assert _errors(doc, schema, schema) == []
    assert doc["format"] == "imageforensics-report" and doc["format_version"] == 2
    assert doc["verdict_kind"] == "missing-content"
    assert doc["steps"][6]["drift_ns"] == -89607600
    # `date -u -d 2021-02-04T15:19:27Z +%s` is 1612451967; beyond 2^53, so text (jq 1.6 would round a number).
    assert doc["steps"][6]["created_a"] == {"raw": "2021-02-04T15:19:27.9352723Z", "ns": "1612451967935272300"}


def test_schema_rejects_what_the_report_never_holds() -> None:
    schema = _schema()
    doc = json.loads(render_json(tomcat_report()))
    bad_severity = json.loads(json.dumps(doc))
    bad_severity["findings"][0]["severity"] = "fatal"
    missing = json.loads(json.dumps(doc))
    del missing["steps"][0]["drift_ns"]
    extra = json.loads(json.dumps(doc))
    extra["a"]["colour"] = "red"
    bad_evidence = json.loads(json.dumps(doc))
    bad_evidence["findings"][0]["evidence"] = [["entries_a", "12"]]
    for broken in (bad_severity, missing, extra, bad_evidence):
        assert _errors(broken, schema, schema)


def test_keys_sorted_ascii_and_deterministic() -> None:
    text = render_json(hostile_report("\x1b[31m\u202e<x>\udcff"))
    assert text.isascii()
    assert text == render_json(hostile_report("\x1b[31m\u202e<x>\udcff"))
    doc = json.loads(text)
    assert list(doc) == sorted(doc)
    assert json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=True) + "\n" == text


def test_round_trip_of_the_tomcat_report() -> None:
    report = tomcat_report()
    assert load_report(render_json(report)) == report


@settings(max_examples=50, deadline=None)
@given(reports)
def test_round_trip_of_any_report(report: Report) -> None:
    text = render_json(report)
    assert load_report(text) == report
    schema = _schema()
    assert _errors(json.loads(text), schema, schema) == []


@settings(max_examples=50, deadline=None)
@given(hostile_text)
def test_round_trip_with_hostile_names(text: str) -> None:
    report = hostile_report(text)
    assert load_report(render_json(report)) == report


@pytest.mark.parametrize("mutate, where", [
    (lambda d: d.update(format="something-else"), "report.format"),
    (lambda d: d.update(format_version=3), "report.format_version"),
    (lambda d: d["findings"][0]["evidence"].update(entries_a="12"), "report.findings[0].evidence.entries_a"),
    (lambda d: d["findings"][0]["evidence"].update(empty_layer_b="true"), "report.findings[0].evidence.empty_layer_b"),
    (lambda d: d["findings"][0]["evidence"].update(colour=1), "report.findings[0].evidence.colour"),
    (lambda d: d["findings"][0].update(evidence=[]), "report.findings[0].evidence"),
    # A number JavaScript holds exactly is a number, never text.
    (lambda d: d["steps"][6].update(drift_ns="-89607600"), "report.steps[6].drift_ns"),
    (lambda d: d["steps"][6]["created_a"].update(ns=1612451967935272300.0), "report.steps[6].created_a.ns"),
    (lambda d: d["findings"][0].update(step_a="6"), "report.findings[0].step_a"),
    (lambda d: d["steps"][3].update(created_a={"raw": 5, "ns": None}), "report.steps[3].created_a.raw"),
    (lambda d: d["a"].pop("references"), "report.a.references"),
    (lambda d: d["steps"][0].update(empty_layer_a=1), "report.steps[0].empty_layer_a"),
])
def test_loader_names_the_bad_field(mutate: Any, where: str) -> None:
    doc = json.loads(render_json(tomcat_report()))
    mutate(doc)
    with pytest.raises(InputError) as caught:
        load_report(json.dumps(doc))
    assert caught.value.member == where


def test_loader_rejects_non_json() -> None:
    with pytest.raises(InputError, match="not a JSON document"):
        load_report("{")
    with pytest.raises(InputError, match="not a JSON document"):
        load_report("[" * 100_000)


def test_notes_survive() -> None:
    report = tomcat_report()
    report = replace(report, b=replace(report.b, notes=("redacted: env",)))
    assert load_report(render_json(report)).b.notes == ("redacted: env",)


def test_every_report_field_is_written_and_in_the_schema() -> None:
    """A field added to the report but not to the JSON would be lost silently: not so."""
    import dataclasses

    from imageforensics.findings import Finding
    from imageforensics.report._values import InputSide, LayerSide, StepRow

    schema = _schema()
    doc = json.loads(render_json(tomcat_report()))
    written: list[tuple[type, dict[str, Any], dict[str, Any]]] = [
        (Report, doc, schema),
        (InputSide, doc["a"], schema["$defs"]["input"]),
        (Finding, doc["findings"][0], schema["$defs"]["finding"]),
        (StepRow, doc["steps"][6], schema["$defs"]["step"]),
        (LayerSide, doc["steps"][6]["layer_a"], schema["$defs"]["layer"]["oneOf"][1]),
    ]
    for cls, obj, sub in written:
        names = {f.name for f in dataclasses.fields(cls)}
        extra = {"format"} if cls is Report else set()
        assert set(obj) == names | extra, cls.__name__
        # A document cut by --max-paths says so (max_paths), beside the report's fields.
        assert set(sub["properties"]) == names | extra | ({"max_paths"} if cls is Report else set()), cls.__name__


def test_evidence_is_an_object_of_typed_values_with_absent_facts_absent() -> None:
    doc = json.loads(render_json(tomcat_report()))
    wrongly_empty = next(f for f in doc["findings"] if f["code"] == "step-wrongly-empty")
    evidence = wrongly_empty["evidence"]
    assert evidence["empty_layer_b"] is True
    assert evidence["layer_size_a"] == 7650 and type(evidence["layer_size_a"]) is int
    assert evidence["diff_id_a"].startswith("sha256:")
    # B has no layer at the step: no size, no diff_id, not "" or 0.
    assert "layer_size_b" not in evidence and "diff_id_b" not in evidence
    drift = next(f for f in doc["findings"] if f["code"] == "timestamp-drift")["evidence"]
    assert drift["drift_ns"] == -89607600
    assert drift["created_a"] == {"raw": "2021-02-04T15:19:27.9352723Z", "ns": "1612451967935272300"}
    # The duration is derived, so not written.
    assert "drift" not in drift


def test_pairs_and_lists_are_arrays() -> None:
    from imageforensics.evidence_json import evidence_json, load_evidence_json
    from imageforensics.findings import evidence

    typed = evidence(drifts=((5, -89607600), (6, None)), steps_a=(5, 6), drift_ns=-89607600)
    written = evidence_json("timestamp-drift", typed)
    assert written == {"drifts": [[5, -89607600], [6, None]], "steps_a": [5, 6], "drift_ns": -89607600}
    assert load_evidence_json("timestamp-drift", written, "e") == typed


@pytest.mark.parametrize("n, written", [(0, 0), (-(2**53) + 1, -(2**53) + 1), (2**53 - 1, 2**53 - 1),
                                        (2**53, "9007199254740992"), (-(2**53), "-9007199254740992")])
def test_integers_beyond_2_to_the_53_are_text(n: int, written: object) -> None:
    from imageforensics.evidence_json import json_int, load_json_int

    assert json_int(n) == written
    assert load_json_int(written, "x") == n


def test_format_1_reports_still_load_into_the_same_report() -> None:
    from tests.report.test_golden import CASES, GOLDEN

    for path in sorted((GOLDEN / "v1").glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert doc["format_version"] == 1 and isinstance(doc["findings"][0]["evidence"], list)
        case = path.name.removesuffix(".json")
        loaded = load_report(path.read_text(encoding="utf-8"))
        # Every finding read; a severity the code no longer takes (paths-mtime-differ was a warning in
        # format 1's days) is read as the code's severity of today, any other as written.
        assert [(f.code, SEVERITY_NAMES[f.severity]) for f in loaded.findings] == [
            (f["code"], f["severity"] if f["severity"] in {SEVERITY_NAMES[s] for s in REGISTRY[f["code"]].severities}
             else SEVERITY_NAMES[REGISTRY[f["code"]].severity]) for f in doc["findings"]], path.name
        if case.startswith("sample-"):
            continue  # the samples' reports change with the diff: tomcat.json is the hand-built, fixed one
        assert loaded == CASES[case](), path.name


def _mode_report() -> Report:
    from tests.report.test_golden import CASES

    return CASES["sample-mode"]()


def test_a_paths_changes_are_typed_json_that_loads_back_to_the_same_values() -> None:
    from imageforensics.path_change import PathChange

    base = tomcat_report()
    changes = (PathChange("/opt/app/cache", "mtime", 1_796_282_453_000_000_000, 1_796_282_481_000_000_000),
               PathChange("/opt/app/cache", "mode", 0o644, 0o755),
               PathChange("/opt/app/cache", "content", Digest.sha256("24" * 32), None),
               PathChange("/opt/app/cache", "device", (1, 3), (1, 5)),
               PathChange("/opt/app/cache", "xattrs", (("user.a", "x"),), ()))
    links = (PathChange("/opt/b", "hardlinks", ("/opt/a",), ()),)
    report = replace(base, findings=base.findings + (
        Finding(code="paths-changed", severity=Severity.WARNING, summary="s", step_a=6, step_b=6,
                paths=("/opt/app/cache",), evidence=evidence(count=1, change_001=changes)),
        Finding(code="paths-hardlinks-differ", severity=Severity.INFO, summary="s", step_a=6, step_b=6,
                paths=("/opt/b",), evidence=evidence(count=1, same_content=True, change_001=links))))
    text = render_json(report)
    doc = json.loads(text)
    written = doc["findings"][-2]["evidence"]["change_001"]
    # `date -u -d @1796282453 +%FT%TZ` is 2026-12-03T07:20:53Z; the nanoseconds are beyond 2^53, so text.
    assert written[0] == {"path": "/opt/app/cache", "field": "mtime", "a": "1796282453000000000",
                          "b": "1796282481000000000", "a_time": "2026-12-03T07:20:53Z", "b_time": "2026-12-03T07:21:21Z"}
    assert written[1] == {"path": "/opt/app/cache", "field": "mode", "a": 420, "b": 493, "a_octal": "0644",
                          "b_octal": "0755"}
    assert written[2]["a"] == "sha256:" + "24" * 32 and written[2]["b"] is None
    assert written[3]["a"] == [1, 3] and written[4]["a"] == [["user.a", "x"]]
    assert doc["findings"][-1]["evidence"]["change_001"] == [
        {"path": "/opt/b", "field": "hardlinks", "a": ["/opt/a"], "b": []}]
    assert load_report(text) == report
    schema = _schema()
    assert _errors(doc, schema, schema) == []
    for change in written:
        assert _errors(change, schema["$defs"]["path_change"], schema) == []


@pytest.mark.parametrize("mutate, where", [
    (lambda c: c.update(a_octal="0645"), "a_octal"),
    (lambda c: c.update(a=420.0), "a"),
    (lambda c: c.update(field="colour"), "field"),
    (lambda c: c.pop("b_octal"), ""),
    (lambda c: c.update(b=c["a"], b_octal=c["a_octal"]), ""),
    (lambda c: c.update(path="/elsewhere"), ""),
])
def test_the_loader_refuses_a_path_change_this_tool_never_writes(mutate: Any, where: str) -> None:
    doc = json.loads(render_json(_mode_report()))
    at = next(i for i, f in enumerate(doc["findings"]) if f["code"] == "paths-changed")
    mutate(doc["findings"][at]["evidence"]["change_001"][0])
    with pytest.raises(InputError) as caught:
        load_report(json.dumps(doc))
    member = caught.value.member or ""
    assert member.startswith(f"report.findings[{at}].evidence") and member.endswith(where)


def _as_format_1(report: Report) -> dict[str, Any]:
    """The report as the last format 1 writer wrote it: evidence as [name, text], nanoseconds as numbers."""
    from imageforensics.findings import evidence_texts

    doc = json.loads(render_json(report))
    doc["format_version"] = 1
    for f, written in zip(report.findings, doc["findings"]):
        written["evidence"] = [[t.name, t.text] for t in evidence_texts(f) if t.name != "drift"]
    for step in doc["steps"]:
        for side in ("created_a", "created_b"):
            if step[side] is not None and step[side]["ns"] is not None:
                step[side]["ns"] = int(step[side]["ns"])
        if step["drift_ns"] is not None:
            step["drift_ns"] = int(step["drift_ns"])
    return doc


def test_format_1_detail_text_loads_as_the_typed_changes() -> None:
    from tests.report.test_golden import CASES

    for case in ("sample-mode", "sample-opaque", "sample-platform", "sample-whiteout"):
        report = CASES[case]()
        assert any(name.startswith(("change_", "entry_")) for f in report.findings for name, _ in f.evidence)
        assert load_report(json.dumps(_as_format_1(report))) == report, case


def test_format_1_detail_text_in_an_older_spelling_leaves_the_path_without_detail() -> None:
    doc = _as_format_1(_mode_report())
    at = next(i for i, f in enumerate(doc["findings"]) if f["code"] == "paths-changed")
    doc["findings"][at]["evidence"] = [
        ["change_001", "/usr/local/bin/tool: mode 0o755 -> 0o700; uid 0 -> 1000; gid 0 -> 1000"] if k == "change_001"
        else [k, v] for k, v in doc["findings"][at]["evidence"]]
    loaded = load_report(json.dumps(doc)).findings[at]
    assert loaded.paths == ("/usr/local/bin/tool",) and loaded.evidence_value("change_001") is None
    assert loaded.evidence_value("count") == 1
