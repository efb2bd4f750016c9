"""The text report: content and order, 80 columns, colour only when asked, hostile names inert."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from imageforensics.report._escape import display_width
from imageforensics.report._text import render_text
from tests.reportfactory import HOSTILE_PIECES, hostile_report, hostile_text, reports, tomcat_report

_SGR = re.compile(r"\x1b\[[0-9;]*m")


def _visible(text: str) -> str:
    return _SGR.sub("", text)


def test_tomcat_report_reads_in_the_mock_order() -> None:
    out = render_text(tomcat_report())
    lines = out.splitlines()
    assert lines[0].startswith("imageforensics 0.1.0")
    assert lines[1] == "A  samples/tomcat-pulled.tar"
    assert "local/tomcat:pulled  sha256:2ea3401ac2fc  5 layers" in lines[2]
    assert "local/tomcat:bad  sha256:b61b0abdc740  4 layers" in out
    # Verdict first, then findings most severe first, then the history.
    verdict = out.index("VERDICT  B is missing content that A has")
    first_error = out.index("ERROR    step-wrongly-empty  step 6  COPY rootfs /")
    warning = out.index("WARNING  timestamp-drift  step 5")
    info = out.index("INFO     timestamps-shared  step 4 in B")
    history = out.index("HISTORY")
    assert verdict < first_error < warning < info < history
    assert "FINDINGS 2 errors, 1 warning, 1 info" in out


def test_findings_show_both_sides_evidence_exactly() -> None:
    out = render_text(tomcat_report())
    assert "A  diff_id=sha256:" in out
    assert "entries=12  layer_size=7650" in out
    assert "B  empty_layer=True  state=marked empty_layer" in out
    assert "A  created=2021-02-04T15:19:27.9352723Z" in out
    assert "B  created=2021-02-04T15:19:27.8456647Z" in out


def test_history_marks_the_cells_that_differ() -> None:
    out = render_text(tomcat_report())
    rows = out[out.index("HISTORY"):].splitlines()
    copy = next(i for i, line in enumerate(rows) if "COPY rootfs /" in line)
    assert re.match(r"\s+6 ◀ COPY rootfs /\s+7\.65 kB 12 ent\s+empty_layer\*$", rows[copy])
    assert re.match(r"\s+2021-02-04 15:19:27\.935272300\s+2021-02-04 15:19:27\.845664700\*\s+-89\.6 ms$",
                    rows[copy + 1])
    workdir = next(line for line in rows if "WORKDIR /opt/tomcat" in line)
    assert "◀" not in workdir and "*" not in workdir
    assert re.search(r"93 B 1 ent\s+same as A$", workdir)


def test_long_path_lists_are_cut_with_a_count() -> None:
    paths = tuple(f"/srv/data/file{i:05d}" for i in range(1214))
    report = tomcat_report()
    findings = (replace(report.findings[1], paths=paths),) + report.findings[2:]
    out = render_text(replace(report, findings=findings), max_paths=10)
    assert "paths (1,214):" in out
    assert "/srv/data/file00009" in out and "/srv/data/file00010" not in out
    assert "… and 1,204 more (--max-paths to show)" in out
    everything = render_text(replace(report, findings=findings), max_paths=5000)
    assert "/srv/data/file01213" in everything and "more (--max-paths" not in everything
    none = render_text(replace(report, findings=findings), max_paths=0)
    assert "… 1,214 more (--max-paths to show)" in none


def test_fits_80_columns_and_wider_terminals_get_one_line_per_step() -> None:
    for width in (80, 100, 160):
        out = render_text(tomcat_report(), width=width)
        assert max(display_width(line) for line in out.splitlines()) <= width
    wide = render_text(tomcat_report(), width=160)
    assert re.search(r"6 ◀ COPY rootfs /\s+2021-02-04 15:19:27\.935272300 .*-89\.6 ms\s+7\.65 kB", wide)


def test_colour_only_when_asked() -> None:
    plain = render_text(tomcat_report())
    assert "\x1b" not in plain
    coloured = render_text(tomcat_report(), color=True)
    assert "\x1b[1;31mERROR\x1b[0m" in coloured
    assert _visible(coloured) == plain


def test_deterministic() -> None:
    assert render_text(tomcat_report()) == render_text(tomcat_report())


def _assert_inert(out: str, *, color: bool) -> None:
    visible = _visible(out) if color else out
    assert "\x1b" not in visible  # no escape sequence but our own SGR
    for ch in visible:
        if ch != "\n":
            assert unicodedata.category(ch) not in {"Cc", "Cf", "Cs", "Zl", "Zp"}, repr(ch)
    out.encode("utf-8")


@settings(max_examples=60, deadline=None)
@given(hostile_text, st.booleans(), st.sampled_from([80, 100, 132]))
def test_hostile_names_never_reach_the_terminal(text: str, color: bool, width: int) -> None:
    out = render_text(hostile_report(text), color=color, width=width)
    _assert_inert(out, color=color)
    assert max(display_width(line) for line in _visible(out).splitlines()) <= width


def test_each_hostile_piece_is_shown_escaped() -> None:
    out = render_text(hostile_report("".join(HOSTILE_PIECES)), width=80)
    _assert_inert(out, color=False)
    assert "\\x1b[31m" in out and "\\u202e" in out and "\\x00" in out and "\\xff" in out
    assert "<script>alert(1)</script>" in out  # harmless on a terminal, shown as written


@settings(max_examples=40, deadline=None)
@given(reports, st.booleans())
def test_any_report_renders_inert_within_80_columns(report: object, color: bool) -> None:
    out = render_text(report, color=color, width=80)  # type: ignore[arg-type]
    _assert_inert(out, color=color)
    assert max(display_width(line) for line in _visible(out).splitlines()) <= 80


def test_long_identical_runs_are_folded_but_differences_never() -> None:
    report = tomcat_report()
    same = report.steps[3]
    rows = tuple(replace(same, index_a=i, index_b=i, created_by_a=f"RUN step {i}", created_by_b=f"RUN step {i}")
                 for i in range(30))
    differing = tuple(replace(r, index_a=30 + k, index_b=30 + k) for k, r in enumerate(report.steps[5:]))
    out = render_text(replace(report, steps=rows + differing))
    assert "… 24 more steps the same in A and B (JSON report has them)" in out
    for i in (0, 1, 2, 27, 28, 29):
        assert f"RUN step {i} " in out
    for i in range(3, 27):
        assert f"RUN step {i} " not in out
    assert re.search(r"31 ◀ COPY rootfs /", out)
    short = render_text(replace(report, steps=rows[:8]))
    assert "more steps the same" not in short and "RUN step 7" in short


def test_a_steps_whole_created_by_is_written_once_and_not_beside_its_per_side_evidence() -> None:
    from imageforensics.findings import Finding, Severity, evidence

    long_run = "RUN /bin/sh -c " + " && ".join(f"step-{i} --with-a-long-argument" for i in range(6)) + " # buildkit"
    other = long_run.replace("step-0", "other-0")
    findings = (
        Finding(code="layer-content-differs", severity=Severity.WARNING, summary="s", step_a=2, step_b=2,
                created_by=long_run, evidence=evidence(changed_entries=1)),
        Finding(code="paths-changed", severity=Severity.WARNING, summary="s", step_a=2, step_b=2,
                created_by=long_run, paths=("/x",), evidence=evidence(count=1)),
        Finding(code="step-changed", severity=Severity.WARNING, summary="s", step_a=2, step_b=2, created_by=long_run,
                evidence=evidence(created_by_a=long_run, created_by_b=other, paired_by="same instruction")),
        Finding(code="paths-changed", severity=Severity.WARNING, summary="s", step_a=3, step_b=3,
                created_by=other, paths=("/y",), evidence=evidence(count=1)),
    )
    text = render_text(replace(tomcat_report(), findings=findings), width=80)
    # Once for step 2 (its first finding), and the step-changed evidence per side; B's text was shown
    # there, so step 3's finding does not repeat it.
    assert text.count("created_by: RUN") == 1
    assert text.count("A  created_by=RUN") == 1 and text.count("B  created_by=RUN") == 1


def test_drifts_read_as_steps_and_durations_and_the_exact_nanoseconds_stay_in_the_json() -> None:
    import json

    from imageforensics.report._json import render_json

    from imageforensics.findings import Finding, Severity, evidence

    report = tomcat_report()
    drift = Finding(code="timestamp-drift", severity=Severity.WARNING, summary="s", step_a=5, step_b=5,
                    evidence=evidence(drift_ns=-89607600, drifted_steps=2, drifts=((5, -89607600), (6, -89607600))))
    text = render_text(replace(report, findings=(drift,)))
    assert re.search(r"drifts=step 5 -89\.6 ms,\s+step 6 -89\.6\s+ms", text), text
    assert "drift_ns=" not in text and "-89607600" not in text
    [written] = json.loads(render_json(replace(report, findings=(drift,))))["findings"]
    assert written["evidence"]["drift_ns"] == -89607600
