"""Golden files: every report format, byte for byte.

``tomcat.*`` come from the hand-built report in ``reportfactory`` (renderers
alone); ``sample-tomcat.*`` from the real pipeline on the sample pair
(reader → select → diff → render). After a deliberate change, regenerate with
``IMAGEFORENSICS_REGEN_GOLDEN=1 python3 -m pytest tests/report/test_golden.py``
and review the diff of ``tests/golden/`` before committing it.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable

import pytest

from imageforensics.report._html import render_html
from imageforensics.report._json import load_report, render_json
from imageforensics.report._markdown import render_markdown
from imageforensics.report._text import render_text
from imageforensics.report._values import Report
from tests.reportfactory import tomcat_report

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parents[1] / "golden"
REGEN = os.environ.get("IMAGEFORENSICS_REGEN_GOLDEN") == "1"

RENDERERS: dict[str, Callable[[Report], str]] = {
    "txt": render_text,
    "color.txt": lambda r: render_text(r, color=True),
    "json": render_json,
    "md": render_markdown,
    "html": render_html,
}


def sample_report(name_a: str, name_b: str) -> Report:
    """The diff of two sample archives, named as a user in the repository root would name them."""
    from imageforensics.diff._engine import diff_images
    from imageforensics.read._archive import read_archive
    from imageforensics.read._selection import select_image

    archives = []
    for name in (name_a, name_b):
        path = ROOT / "samples" / name
        if not path.exists():
            pytest.skip(f"samples/{name} not generated")
        archive = dataclasses.replace(read_archive(str(path)), source=f"samples/{name}")
        archives.append((archive, select_image(archive, reference=None, index=None, platform=None)))
    (a, image_a), (b, image_b) = archives
    return diff_images(a, image_a, b, image_b)


SAMPLE_PAIRS = {
    "tomcat": ("tomcat-pulled.tar", "tomcat-cache-from.tar"),
    "same": ("same-legacy.tar", "same-oci.tar"),
    "timestamps": ("timestamps-a.tar", "timestamps-b.tar"),
    "whiteout": ("whiteout-a.tar", "whiteout-b.tar"),
    "opaque": ("opaque-a.tar", "opaque-b.tar"),
    "mode": ("mode-a.tar", "mode-b.tar"),
    "platform": ("platform-a.tar", "platform-b.tar"),
}


def _sample_case(pair: tuple[str, str]) -> Callable[[], Report]:
    return lambda: sample_report(*pair)


CASES: dict[str, Callable[[], Report]] = {"tomcat": tomcat_report}
CASES.update({f"sample-{name}": _sample_case(pair) for name, pair in SAMPLE_PAIRS.items()})
# Colour is checked on the two tomcat cases; plain formats on every pair.
GOLDENS = [(case, fmt) for case in sorted(CASES) for fmt in sorted(RENDERERS)
           if fmt != "color.txt" or case in ("tomcat", "sample-tomcat")]


@pytest.mark.parametrize("case, fmt", GOLDENS)
def test_golden(case: str, fmt: str) -> None:
    report = CASES[case]()
    out = RENDERERS[fmt](report)
    path = GOLDEN / f"{case}.{fmt}"
    if REGEN:
        GOLDEN.mkdir(exist_ok=True)
        path.write_bytes(out.encode("utf-8"))
    assert path.exists(), f"{path} missing: run with IMAGEFORENSICS_REGEN_GOLDEN=1 to create it"
    assert out.encode("utf-8") == path.read_bytes(), f"{path.name} differs; regenerate deliberately if intended"


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_json_reads_back_into_the_report(case: str) -> None:
    path = GOLDEN / f"{case}.json"
    if not path.exists():
        pytest.skip("golden not generated")
    assert load_report(path.read_text(encoding="utf-8")) == CASES[case]()


def test_sample_tomcat_report_says_what_the_seed_found() -> None:
    text = (GOLDEN / "sample-tomcat.txt").read_text(encoding="utf-8")
    assert "VERDICT  B is missing content that A has: step 6 `COPY rootfs /`" in text
    assert "step-wrongly-empty" in text and "paths-missing" in text
    assert "-89.6 ms" in text
    assert len(text.splitlines()[0]) <= 80 and max(len(line) for line in text.splitlines()) <= 80


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_text_fits_80_columns_and_markdown_githubs_limit(case: str) -> None:
    from imageforensics.report._escape import display_width

    text = (GOLDEN / f"{case}.txt").read_text(encoding="utf-8")
    assert max(display_width(line) for line in text.splitlines()) <= 80
    assert len((GOLDEN / f"{case}.md").read_text(encoding="utf-8")) < 65_536
