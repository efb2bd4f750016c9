"""The HTML report in a real browser: headless Chromium, when it is installed (skipped otherwise).

The page has no script and its CSP forbids one, so the check runs on a copy
with the policy removed and a measuring script added; the script writes what
it measured into the page, and ``--dump-dom`` gives it back. Layout failures
that can be measured: the page wider than a 1,280 px window, an in-page link
whose anchor is absent or has no size, the picture without one mark per step.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from imageforensics.report._html import render_html
from imageforensics.report._values import Report
from tests.report.test_golden import CASES
from tools.large_report import large_report

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium (/usr/bin/chromium) not installed")

_MEASURE = """<script>
window.addEventListener("load", () => {
  const root = document.documentElement;
  const broken = [];
  for (const a of document.querySelectorAll('a[href^="#"]')) {
    const target = document.getElementById(a.getAttribute("href").slice(1));
    if (target === null) { broken.push(a.getAttribute("href")); continue; }
    const box = target.getBoundingClientRect();
    if (box.width === 0 && box.height === 0 && target.tagName !== "g") broken.push(a.getAttribute("href"));
  }
  const findings = [...document.querySelectorAll('tr[id^="finding-"]')].map(e => e.id);
  const result = {
    scrollWidth: root.scrollWidth, clientWidth: root.clientWidth,
    broken: broken, findings: findings,
    linkedFindings: findings.filter(id => document.querySelector('a[href="#' + id + '"]') !== null),
    marksA: document.querySelectorAll("svg .mark-a").length,
    marksB: document.querySelectorAll("svg .mark-b").length,
    svgWidth: document.querySelector("svg") ? document.querySelector("svg").getBoundingClientRect().width : -1,
  };
  const out = document.createElement("pre");
  out.id = "measured";
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
});
</script>"""


def _measure(page: str, tmp_path: Path) -> dict[str, object]:
    probe = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page).replace("</body>", _MEASURE + "</body>")
    path = tmp_path / "report.html"
    path.write_text(probe, encoding="utf-8")
    result = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--window-size=1280,900", "--virtual-time-budget=5000", "--dump-dom", path.as_uri()],
        capture_output=True, timeout=120, text=True)
    m = re.search(r'<pre id="measured">(.*?)</pre>', result.stdout)
    assert m is not None, result.stderr[-2000:]
    return json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))  # type: ignore[no-any-return]


def _check(report: Report, tmp_path: Path) -> None:
    measured = _measure(render_html(report), tmp_path)
    assert measured["scrollWidth"] <= measured["clientWidth"] <= 1280, measured
    assert measured["broken"] == [], measured["broken"]
    assert measured["findings"] and measured["linkedFindings"] == measured["findings"]
    assert measured["marksA"] == sum(r.index_a is not None for r in report.steps)
    assert measured["marksB"] == sum(r.index_b is not None for r in report.steps)
    assert 0 < measured["svgWidth"] <= 1280  # type: ignore[operator]


@pytest.mark.parametrize("case", ["sample-tomcat", "sample-opaque", "sample-platform", "sample-timestamps"])
def test_the_sample_reports_lay_out_in_chromium(case: str, tmp_path: Path) -> None:
    _check(CASES[case](), tmp_path)


def test_a_large_report_lays_out_in_chromium(tmp_path: Path) -> None:
    _check(large_report(20_000), tmp_path)


def test_the_measure_sees_an_overflowing_page_and_a_broken_anchor(tmp_path: Path) -> None:
    page = render_html(CASES["sample-tomcat"]())
    page = page.replace("<h1>", '<div style="width:3000px">wide</div><a href="#nowhere">x</a><h1>')
    measured = _measure(page, tmp_path)
    assert measured["scrollWidth"] > 1280 and measured["broken"] == ["#nowhere"]
