"""The registry of finding codes: what a finding may be, and that everything downstream follows it."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings

from imageforensics.catalogue import (REGISTRY, Category, Key, catalogue, code_spec, evidence_text,
                                      parse_evidence_text)
from imageforensics.diff._align import align_images
from imageforensics.diff._steps import LayerStates
from imageforensics.diff._verdict import decide_verdict
from imageforensics.digest import Digest
from imageforensics.findings import Finding, Severity, evidence, evidence_from_texts, evidence_texts, sort_findings
from imageforensics.model_json import finding_json, load_finding
from imageforensics.path_change import PathChange
from imageforensics.timestamp import Timestamp
from imageforensics.untrusted_json import JsonShapeError
from tests.reportfactory import findings, sample_evidence
from tests.modelfactory import build, file, spec, step

PACKAGE = Path(__file__).resolve().parents[1] / "imageforensics"
ALL_SPECS = sorted(REGISTRY.values(), key=lambda s: s.code)


# ---- what a finding may be ------------------------------------------------------


def test_an_unregistered_code_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="unregistered finding code 'layer-vanished'"):
        Finding(code="layer-vanished", severity=Severity.ERROR, summary="")


def test_a_severity_the_code_never_has_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="history-absent is never ERROR"):
        Finding(code="history-absent", severity=Severity.ERROR, summary="")
    # A code with more than one severity takes each.
    for severity in (Severity.WARNING, Severity.INFO):
        Finding(code="fs-step-marked-empty", severity=severity, summary="")


def test_an_undeclared_evidence_key_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="layer-count-mismatch declares no evidence 'layer_count'"):
        Finding(code="layer-count-mismatch", severity=Severity.ERROR, summary="", evidence=evidence(layer_count=1))
    # A numbered family takes name_NNN, never the bare name or another number format.
    for name in ("entry", "entry_1", "entry_0001"):
        with pytest.raises(ValueError, match="declares no evidence"):
            Finding(code="layer-content-differs", severity=Severity.WARNING, summary="", evidence=((name, "x"),))
    Finding(code="layer-content-differs", severity=Severity.WARNING, summary="", paths=("/x",),
            evidence=(("entry_017", (PathChange("/x", "presence", True, False),)),))


@pytest.mark.parametrize("code_spec_", [s for s in ALL_SPECS if any(k.path_changes for k in s.keys)],
                         ids=lambda s: s.code)
def test_a_paths_changes_are_typed_shown_as_text_and_never_read_from_it(code_spec_) -> None:
    from imageforensics.evidence_json import evidence_json, load_evidence_json

    declared = next(k for k in code_spec_.keys if k.path_changes)
    changes = (PathChange("/app/run.sh", "mode", 0o644, 0o755), PathChange("/app/run.sh", "uid", 0, 1000))
    f = Finding(code=code_spec_.code, severity=code_spec_.severity, summary="", paths=("/app/run.sh",),
                evidence=((f"{declared.name}_001", changes),))
    text = evidence_texts(f)[0].text
    assert text == f"/app/run.sh{declared.inner}mode 0644 → 0755; uid 0 → 1000"
    with pytest.raises(ValueError, match="read typed, not from text"):
        parse_evidence_text(declared, text)
    written = evidence_json(f.code, f.evidence)
    assert written[f"{declared.name}_001"] == [
        {"path": "/app/run.sh", "field": "mode", "a": 420, "b": 493, "a_octal": "0644", "b_octal": "0755"},
        {"path": "/app/run.sh", "field": "uid", "a": 0, "b": 1000}]
    assert load_evidence_json(f.code, written, "e") == f.evidence


@pytest.mark.parametrize(("code", "name", "value"), [
    ("layer-count-mismatch", "layers", "2"),        # a number written as text
    ("layer-count-mismatch", "layers", True),       # a bool is not an int
    ("layer-content-differs", "mtime_only", 1),     # an int is not a bool
    ("layer-content-differs", "mtime_only", "True"),
    ("diff-id-mismatch", "declared", "sha256:" + "a" * 64),  # a digest written as text
    ("time-backwards", "created", "2021-02-04T15:19:27Z"),   # a time written as text
    ("layer-repeated", "layers", "1,2"),            # a list written as text
    ("layer-repeated", "layers", (1, "2")),
    ("layer-repeated", "layers", [1, 2]),           # a list is not a tuple
    ("timestamps-shared", "runs", ((1, 2, 3),)),    # a pair has two parts
    ("timestamps-shared", "runs", ((1, None),)),    # only a nullable pair holds None
    ("layer-anomaly", "first", None),
])
def test_a_value_of_the_wrong_type_fails_at_construction(code: str, name: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"{code} evidence {name} must be of type"):
        Finding(code=code, severity=code_spec(code).severity, summary="", evidence=((name, value),))  # type: ignore[arg-type]


def test_a_value_shown_from_another_key_is_never_given() -> None:
    with pytest.raises(ValueError, match="timestamp-drift evidence drift must be of type duration of drift_ns"):
        Finding(code="timestamp-drift", severity=Severity.WARNING, summary="", evidence=(("drift", "+1 s"),))


def test_evidence_must_be_sorted_and_unique() -> None:
    with pytest.raises(ValueError, match="not sorted"):
        Finding(code="layer-count-mismatch", severity=Severity.ERROR, summary="",
                evidence=(("layers", 1), ("diff_ids", 2)))
    with pytest.raises(ValueError, match="repeats"):
        Finding(code="layer-count-mismatch", severity=Severity.ERROR, summary="",
                evidence=(("layers", 1), ("layers", 2)))


@pytest.mark.parametrize("code_spec_", ALL_SPECS, ids=lambda s: s.code)
def test_every_declared_key_takes_a_value_of_its_type(code_spec_) -> None:
    f = Finding(code=code_spec_.code, severity=code_spec_.severity, summary="", evidence=sample_evidence(code_spec_))  # type: ignore[arg-type]
    assert evidence_from_texts(f.code, tuple((t.name, t.text) for t in evidence_texts(f))) == f.evidence


# ---- the text of evidence, and back ------------------------------------------------


def test_evidence_text_is_what_str_gave_before_values_were_typed() -> None:
    f = Finding(code="timestamp-drift", severity=Severity.WARNING, summary="", evidence=evidence(
        created_a=Timestamp.parse("2021-02-04T15:19:27.9352723Z"), drift_ns=-89_607_600, drifted_steps=2,
        drifts=((5, -89_607_600), (6, None)), steps_a=(5, -1)))
    assert [(t.name, t.side, t.label, t.text) for t in evidence_texts(f)] == [
        ("created_a", "A", "created", "2021-02-04T15:19:27.9352723Z"),
        ("drift", "", "drift", "-89.6 ms"),
        ("drift_ns", "", "drift_ns", "-89607600"),
        ("drifted_steps", "", "drifted_steps", "2"),
        ("drifts", "", "drifts", "5:-89607600 6:None"),
        ("steps_a", "A", "steps", "5 -1"),
    ]
    absent = Finding(code="filesystem-not-compared", severity=Severity.INFO, summary="",
                     evidence=evidence(layers=(("A", 0), ("B", 12))))
    assert [t.text for t in evidence_texts(absent)] == ["A layer 0 B layer 12"]
    wrongly = Finding(code="step-wrongly-empty", severity=Severity.ERROR, summary="", evidence=evidence(
        empty_layer_b=True, signals=("a COPY step marked empty_layer", "at the top")))
    assert [(t.side, t.label, t.text) for t in evidence_texts(wrongly)] == [
        ("B", "empty_layer", "True"), ("", "signals", "a COPY step marked empty_layer; at the top")]


@pytest.mark.parametrize(("k", "text"), [
    (Key("n", (int,)), "01"), (Key("n", (int,)), "+1"), (Key("n", (int,)), "1_000"), (Key("n", (int,)), "٣"),
    (Key("n", (int,)), " 1"), (Key("n", (int,)), "-0"), (Key("b", (bool,)), "true"), (Key("d", (Digest,)), "sha256:x"),
    (Key("l", (int,), separator=","), "1,,2"), (Key("p", (int, int), inner="–"), "1-2"),
    (Key("l", (str, int), separator=" ", inner=" layer "), "A layer 0 B layer"),
])
def test_text_that_this_tool_never_writes_is_refused_at_the_parse_boundary(k: Key, text: str) -> None:
    with pytest.raises(ValueError):
        parse_evidence_text(k, text)


@settings(max_examples=300, deadline=None)
@given(findings)
def test_evidence_text_reads_back_as_the_same_values(f: Finding) -> None:
    texts = tuple((t.name, t.text) for t in evidence_texts(f))
    assert evidence_from_texts(f.code, texts) == f.evidence
    assert load_finding(json.loads(json.dumps(finding_json(f))), "finding") == f


def test_a_loaded_finding_is_checked_against_the_registry() -> None:
    good = finding_json(Finding(code="layer-count-mismatch", severity=Severity.ERROR, summary="s",
                                evidence=evidence(layers=1, diff_ids=2)))
    for change, where in [({"code": "layer-vanished"}, "finding.code"),
                          ({"severity": "info"}, "finding.severity"),
                          ({"evidence": [["layers", "one"]]}, "finding.evidence"),
                          ({"evidence": [["layer_count", "1"]]}, "finding.evidence"),
                          ({"evidence": [["layers", "1"], ["layers", "1"]]}, "finding.evidence")]:
        with pytest.raises(JsonShapeError) as info:
            load_finding({**good, **change}, "finding")
        assert info.value.where == where
    drift = finding_json(Finding(code="timestamp-drift", severity=Severity.WARNING, summary="",
                                 evidence=evidence(drift_ns=1_500_000_000)))
    assert ["drift", "+1.5 s"] in drift["evidence"]
    drift["evidence"] = [["drift", "+2 s"] if k == "drift" else [k, v] for k, v in drift["evidence"]]
    with pytest.raises(JsonShapeError, match="drift is not the duration of drift_ns"):
        load_finding(drift, "finding")


# ---- every code the package emits is registered, and every registered code is emitted ----


def _strings(node: ast.AST, assigned: dict[str, list[ast.AST]]) -> tuple[set[str], set[str]]:
    """The codes a `code` argument can be: plain strings, and f-string patterns."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}, set()
    if isinstance(node, ast.IfExp):
        a, pa = _strings(node.body, assigned)
        b, pb = _strings(node.orelse, assigned)
        return a | b, pa | pb
    if isinstance(node, ast.JoinedStr):
        pattern = "".join(re.escape(v.value) if isinstance(v, ast.Constant) else "[a-z]+" for v in node.values)
        return set(), {pattern}
    if isinstance(node, ast.Name):
        plain, patterns = set(), set()
        for value in assigned.get(node.id, []):
            p, q = _strings(value, assigned)
            plain, patterns = plain | p, patterns | q
        return plain, patterns
    return set(), set()


def _emitted() -> tuple[set[str], set[str]]:
    plain: set[str] = set()
    patterns: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
            assigned: dict[str, list[ast.AST]] = {}
            for node in ast.walk(func):
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            assigned.setdefault(target.id, []).append(node.value)
            for node in ast.walk(func):
                if not isinstance(node, ast.Call):
                    continue
                name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
                args: list[ast.AST] = []
                if name == "Finding":
                    args = [kw.value for kw in node.keywords if kw.arg == "code"]
                elif name in ("_f", "link_problem", "code_spec") and node.args:
                    args = [node.args[0]]
                elif name == "_at_pair" and len(node.args) > 1:
                    args = [node.args[1]]
                for arg in args:
                    p, q = _strings(arg, assigned)
                    plain, patterns = plain | p, patterns | q
    return plain, patterns


def test_every_code_the_package_emits_is_registered_and_every_registered_code_is_emitted() -> None:
    plain, patterns = _emitted()
    # The link codes reach link_problem from the member table, as a variable: named in its own table of words.
    source = (PACKAGE / "parse" / "_archive_findings.py").read_text(encoding="utf-8")
    plain |= set(re.findall(r'"(member-link-[a-z-]+)":', source))
    assert plain and plain <= set(REGISTRY), plain - set(REGISTRY)
    from_patterns = set()
    for pattern in patterns:
        matched = {code for code in REGISTRY if re.fullmatch(pattern, code)}
        assert matched, f"an f-string makes codes {pattern!r} that are not registered"
        from_patterns |= matched
    assert set(REGISTRY) <= plain | from_patterns, set(REGISTRY) - plain - from_patterns


def test_the_catalogue_covers_every_registered_code_as_plain_values() -> None:
    records = catalogue()
    assert [r["code"] for r in records] == list(REGISTRY)
    assert json.loads(json.dumps(records)) == list(records)
    layer_anomaly = next(r for r in records if r["code"] == "layer-anomaly")
    assert layer_anomaly == {
        "code": "layer-anomaly", "severity": "WARNING", "severities": ["WARNING"], "category": "integrity",
        "meaning": "odd entries in a layer (Layer.anomalies), one finding per kind", "phrase": "", "cause": False,
        "breaks_integrity": False,
        "evidence": [{"key": "layer", "type": "int", "side": ""}, {"key": "anomaly", "type": "str", "side": ""},
                     {"key": "count", "type": "int", "side": ""}, {"key": "first", "type": "str", "side": ""}]}
    wrongly = next(r for r in records if r["code"] == "step-wrongly-empty")
    assert {"key": "signals", "type": "tuple[str, ...]", "side": ""} in wrongly["evidence"]  # type: ignore[operator]
    assert {"key": "layer_size_a", "type": "int", "side": "A"} in wrongly["evidence"]  # type: ignore[operator]


# ---- the verdict and the sorting follow the registry ---------------------------------


def _pair_with_the_same_content() -> tuple:
    a = build(spec(step("ADD a /", file("a")), step("CMD x")))
    b = build(spec(step("ADD a /", file("a")), step("CMD x"), author="someone"))
    assert a.image_id != b.image_id and a.diff_ids == b.diff_ids
    return a, b, align_images(a, b)


NOT_COMPARED = ("same content with metadata differences: the same layer content; the configs differ only in "
                "fields not compared (image IDs differ)")


@pytest.mark.parametrize("code_spec_", ALL_SPECS, ids=lambda s: s.code)
def test_the_verdict_on_one_finding_follows_its_category(code_spec_) -> None:
    """Every code of a category gives the same verdict kind: a new code gets its category's verdict."""
    a, b, pairs = _pair_with_the_same_content()
    severity = Severity.ERROR if Severity.ERROR in code_spec_.severities else code_spec_.severity
    f = Finding(code=code_spec_.code, severity=severity, summary="what it says", side="B")
    kind, sentence = decide_verdict(a, b, pairs, [f], False, LayerStates(a, b))
    category = code_spec_.category
    if category is Category.LOSS:
        assert kind == "missing-content"
    elif category is Category.PLATFORM:
        assert kind == "diverged" and sentence.startswith("diverged: different platforms")
    elif category.is_content:
        assert (kind, sentence) == ("diverged", "diverged: what it says.")
    elif category.is_difference:
        assert kind == "metadata" and sentence != NOT_COMPARED
    else:
        assert (kind, sentence) == ("metadata", NOT_COMPARED)
    assert kind == decide_verdict(a, b, pairs, [f], True, LayerStates(a, b))[0] or not category.is_difference


@pytest.mark.parametrize("category", [c for c in Category if c.is_difference and not c.is_content])
def test_metadata_differences_are_named_in_registry_order(category: Category) -> None:
    a, b, pairs = _pair_with_the_same_content()
    named = [s for s in REGISTRY.values() if s.category is category or s.phrase]
    found = [Finding(code=s.code, severity=s.severity, summary="", path="field", evidence=sample_evidence(s))  # type: ignore[arg-type]
             for s in reversed(named)]
    _, sentence = decide_verdict(a, b, pairs, found, False, LayerStates(a, b))
    phrases = [s.phrase.format(n=1) for s in named if s.phrase]
    positions = [sentence.index(p) for p in phrases]
    assert positions == sorted(positions)


def test_a_cause_sorts_before_its_consequences_at_one_step() -> None:
    causes = [s for s in REGISTRY.values() if s.cause]
    assert causes
    for cause in causes:
        for other in REGISTRY.values():
            if other.cause or cause.severity not in other.severities:
                continue
            first = Finding(code=other.code, severity=cause.severity, summary="", step_a=3)
            second = Finding(code=cause.code, severity=cause.severity, summary="", step_a=3)
            assert sort_findings([first, second]) == (second, first)


def test_evidence_text_round_trips_for_each_scalar_type() -> None:
    for k, value in [(Key("n", (int,)), -12), (Key("b", (bool,)), False), (Key("s", (str,)), "a b: c"),
                     (Key("d", (Digest,)), Digest.sha256("cd" * 32)),
                     (Key("t", (Timestamp,)), Timestamp.parse("not a time")),
                     (Key("p", (str, str), inner=": "), ("a: b", "only in A"))]:
        assert parse_evidence_text(k, evidence_text(k, value)) == value  # type: ignore[arg-type]


def test_the_shipped_findings_json_is_the_catalogue_the_code_declares() -> None:
    """imageforensics/findings.json is written by tools/write_findings_json.py; a code change without it fails here."""
    from imageforensics.catalogue import catalogue_document

    shipped = (PACKAGE / "findings.json").read_text(encoding="utf-8")
    assert shipped == catalogue_document(), "run python3 tools/write_findings_json.py"
    doc = json.loads(shipped)
    assert [c["code"] for c in doc["codes"]] == list(REGISTRY)
    drift = next(c for c in doc["codes"] if c["code"] == "timestamp-drift")
    forms = {e["key"]: e["json"] for e in drift["evidence"]}
    assert forms["created_a"] == "timestamp {raw, ns}" and forms["drifts"] == "array of [integer or null, integer or null]"
    assert forms["drift"] == "not written: derived from drift_ns"


def test_every_evidence_key_the_json_reports_write_is_in_findings_json() -> None:
    from imageforensics.report._json import render_json
    from tests.report.test_golden import CASES

    doc = json.loads((PACKAGE / "findings.json").read_text(encoding="utf-8"))
    declared = {c["code"]: {e["key"] for e in c["evidence"]} for c in doc["codes"]}
    seen = 0
    for case in sorted(CASES):
        for finding in json.loads(render_json(CASES[case]()))["findings"]:
            for name in finding["evidence"]:
                family = re.sub(r"_[0-9]{3}$", "_NNN", name)
                assert name in declared[finding["code"]] or family in declared[finding["code"]], (finding["code"], name)
                seen += 1
    assert seen > 20
