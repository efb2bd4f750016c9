"""The inline cache check on real dockerd 20.10.24 output (tools/poisoned-cache.sh), against its TRUTH.json.

Ground truth is TRUTH.json: which images are healthy, which step a poisoned
cache leaves unclaimed (history_index) with the entries of its layer, which
rebuild came from which source. Never our own output.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import pytest

from tests.interop.interop_truth import real_dir

from imageforensics.audit import inline_cache_findings
from imageforensics.diff._engine import diff_images
from imageforensics.findings import Severity
from imageforensics.model import Archive, Image
from imageforensics.read import read_input


def _truth() -> dict[str, Any] | None:
    path = real_dir() / "poisoned-cache" / "TRUTH.json"
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


TRUTH = _truth()
pytestmark = pytest.mark.skipif(TRUTH is None, reason=f"no {real_dir()}/poisoned-cache/TRUTH.json (tools/poisoned-cache.sh makes it)")
IMAGES: dict[str, dict[str, Any]] = {x["name"]: x for x in TRUTH["images"]} if TRUTH else {}


def _names(role: str) -> list[str]:
    return sorted(n for n, x in IMAGES.items() if x["role"] == role)


@lru_cache(maxsize=None)
def _read(name: str) -> tuple[Archive, Image]:
    archive = read_input(str(real_dir() / "poisoned-cache" / IMAGES[name]["archive"]))
    return archive, archive.images[0]


@pytest.mark.parametrize("name", _names("healthy") + _names("control"))
def test_a_healthy_inline_cache_gives_no_warning(name):
    _, image = _read(name)
    found = inline_cache_findings(image)
    assert [f.code for f in found] == ["inline-cache"]
    assert all(f.severity is Severity.INFO for f in found)


@pytest.mark.parametrize("name", _names("poisoned"))
def test_a_poisoned_source_is_an_error_naming_the_unclaimed_step(name):
    _, image = _read(name)
    case = next(c for c in TRUTH["cases"] if c["poisoned"] == name)
    unclaimed = case["poison"]["unclaimed_steps"]
    (f,) = [f for f in inline_cache_findings(image) if f.code == "inline-cache-poisoned"]
    assert f.severity is Severity.ERROR
    assert f.step_a == unclaimed[0]["history_index"]
    assert f.evidence_value("lost_steps") == tuple(s["history_index"] for s in unclaimed)
    assert set(f.paths) == {e["path"] for s in unclaimed for e in s["entries"]}
    top = case["poison"]["top_record"]
    assert (f.evidence_value("points_at"), f.evidence_value("should")) == (top["points_at"], top["should"])


@pytest.mark.parametrize("name", _names("corrupt"))
def test_the_corrupt_rebuild_alone_says_it_carries_the_poison_on(name):
    _, image = _read(name)
    (f,) = inline_cache_findings(image)
    assert f.code == "inline-cache-poison-carried" and f.severity is Severity.ERROR
    assert "carries a poisoned BuildKit inline cache on" in f.summary


def _pairs() -> list[tuple[str, str]]:
    out = []
    for case in TRUTH["cases"] if TRUTH else []:
        for corrupt in case["corrupt"]:
            out += [(case["healthy"], corrupt), (case["poisoned"], corrupt)]
    return out


@pytest.mark.parametrize("source, corrupt", _pairs())
def test_the_verdict_names_the_poisoned_cache_as_the_cause_in_both_orders(source, corrupt):
    (a, ia), (b, ib) = _read(source), _read(corrupt)
    flipped = IMAGES[corrupt]["corruption"]["flipped_to_empty"]
    for first, second, r, s in ((a, b, "B", "A"), (b, a, "A", "B")):
        x, y = (ia, ib) if first is a else (ib, ia)
        verdict = diff_images(first, x, second, y).verdict
        assert f"Cause: {r} was built from" in verdict and "poisoned inline cache" in verdict, verdict
        for step in flipped:
            assert f"step {step['history_index']} " in verdict.split("Cause:")[1]
