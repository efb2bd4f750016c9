"""The table of report formats (``report.RENDERERS``) and inspect's (``report.INSPECT_RENDERERS``).

The table is the one list of formats: the command line's ``--format`` choices
are its keys, ``render`` dispatches through it, and what it says each
renderer takes is what the renderer's signature takes.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from tests.archivekit import oci, simple_image, tar_of
from imageforensics.audit import image_findings
from imageforensics.cli._main import build_parser
from imageforensics.model_json import archive_to_json
from imageforensics.read import read_input
from imageforensics.report import (INSPECT_RENDERERS, RENDERERS, render, render_html, render_inspect_all,
                                   render_inspect_json, render_json, render_markdown, render_text)
from imageforensics.report._values import Report
from tests.reportfactory import tomcat_report


def _format_choices(command: str) -> tuple[str, ...]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    fmt = next(a for a in sub.choices[command]._actions if a.dest == "format")
    assert fmt.choices is not None
    return tuple(fmt.choices)


def test_the_command_line_offers_exactly_the_formats_of_the_tables() -> None:
    assert _format_choices("diff") == tuple(RENDERERS) == ("text", "json", "markdown", "html")
    assert _format_choices("inspect") == tuple(INSPECT_RENDERERS) == ("text", "json")


@pytest.mark.parametrize("name", list(RENDERERS))
def test_each_renderer_takes_exactly_the_options_the_table_says(name: str) -> None:
    renderer = RENDERERS[name]
    parameters = inspect.signature(renderer.render).parameters
    keyword_only = {p for p, v in parameters.items() if v.kind is inspect.Parameter.KEYWORD_ONLY}
    assert keyword_only == renderer.options


def test_render_dispatches_to_each_format() -> None:
    report = tomcat_report()
    assert render(report) == render_text(report)
    assert render(report, "text", max_paths=3, color=True, width=100) == render_text(report, max_paths=3, color=True,
                                                                                      width=100)
    assert render(report, "json") == render_json(report)
    assert render(report, "markdown", max_paths=2) == render_markdown(report, max_paths=2)
    assert render(report, "html", max_paths=1) == render_html(report, max_paths=1)


def test_render_refuses_a_format_it_does_not_have() -> None:
    with pytest.raises(ValueError, match=r"^no report format 'pdf': the formats are text, json, markdown, html$"):
        render(tomcat_report(), "pdf")


def test_render_refuses_an_option_the_format_does_not_take() -> None:
    with pytest.raises(TypeError, match=r"^the json report takes max_paths, not color$"):
        render(tomcat_report(), "json", color=True)
    with pytest.raises(TypeError, match=r"^the markdown report takes all_mtimes, full_digests, full_paths, max_paths, not color, width$"):
        render(tomcat_report(), "markdown", color=True, width=3)


def test_the_tables_cannot_be_changed_by_a_caller() -> None:
    with pytest.raises(TypeError):
        RENDERERS["pdf"] = RENDERERS["text"]  # type: ignore[index]
    with pytest.raises(TypeError):
        INSPECT_RENDERERS["pdf"] = INSPECT_RENDERERS["text"]  # type: ignore[index]


def test_inspect_formats_render_the_chosen_images_or_the_whole_model(tmp_path: Path) -> None:
    path = tmp_path / "two.tar"
    path.write_bytes(tar_of(oci([simple_image("local/app:amd64"),
                                 replace(simple_image("local/app:arm64", seed="b"), architecture="arm64")])))
    archive = read_input(str(path))
    assert [str(image.platform) for image in archive.images] == ["linux/amd64", "linux/arm64"]
    text, whole = INSPECT_RENDERERS["text"], INSPECT_RENDERERS["json"]
    assert text.render is render_inspect_all and text.narrows_to_platform
    assert whole.render is render_inspect_json and not whole.narrows_to_platform
    arm = archive.images[1:]
    found = {"image_findings": image_findings}
    assert text.render(archive, arm, **found) == render_inspect_all(archive, arm, **found) != render_inspect_all(archive, **found)
    # What the command line writes, in pieces, is what each renders whole.
    for renderer in (text, whole):
        for chosen in (None, arm):
            assert "".join(renderer.stream(archive, chosen, **found)) == renderer.render(archive, chosen, **found)
    doc = json.loads(whole.render(archive, None, **found))
    assert len(doc["images"]) == 2 and doc["images"][0]["image_id"] == archive_to_json(archive)["images"][0]["image_id"]
    picked = json.loads(whole.render(archive, arm, **found))
    assert [i["image_id"] for i in picked["images"]] == [archive_to_json(archive)["images"][1]["image_id"]]


def test_inspect_json_spells_paths_modes_and_nanoseconds_for_readers(tmp_path: Path) -> None:
    path = tmp_path / "one.tar"
    path.write_bytes(tar_of(oci([simple_image("local/app:amd64")])))
    archive = read_input(str(path))
    doc = json.loads(INSPECT_RENDERERS["json"].render(archive, None, image_findings=image_findings))
    model = archive_to_json(archive)
    entries = doc["images"][0]["layers"][0]["entries"]
    held = model["images"][0]["layers"][0]["entries"]  # type: ignore[index]
    assert entries and len(entries) == len(held)
    for shown, entry in zip(entries, held):
        # The diff's spelling, /etc/nginx, and the mode as octal text beside the number.
        assert shown["path"] == "/" + entry["path"].lstrip("/")
        assert shown["mode_octal"] == format(entry.get("mode", 0), "04o")
        ns = entry.get("mtime_ns")
        if isinstance(ns, int) and ns >= 2**53:
            assert shown["mtime_ns"] == str(ns)


def _capped_report() -> Report:
    """Five path findings of 30 paths each (20 with details), under three steps: every kind of list."""
    from imageforensics.findings import Finding, Severity, evidence
    from imageforensics.path_change import PathChange

    def names(tag: str) -> tuple[str, ...]:
        return tuple(f"/{tag}/d{i % 3}/n{i:02d}zz" for i in range(30))

    chg, mti, hln, ent, mis = (names(t) for t in ("chg", "mti", "hln", "ent", "mis"))
    return replace(tomcat_report(), findings=(
        Finding(code="paths-changed", severity=Severity.WARNING, summary="s", step_a=3, step_b=3, paths=chg,
                evidence=evidence(count=30, fields=(("mode", 30),), **{
                    f"change_{i:03d}": (PathChange(p, "mode", 0o644, 0o755),) for i, p in enumerate(chg[:20], 1)})),
        Finding(code="paths-mtime-differ", severity=Severity.INFO, summary="s", step_a=3, step_b=3, paths=mti,
                evidence=evidence(count=30, fields=(("mtime", 30),), **{
                    f"change_{i:03d}": (PathChange(p, "mtime", 10**18, 10**18 + 5),) for i, p in enumerate(mti[:20], 1)})),
        Finding(code="paths-hardlinks-differ", severity=Severity.INFO, summary="s", step_a=3, step_b=3, paths=hln,
                evidence=evidence(count=30, same_content=True, **{
                    f"change_{i:03d}": (PathChange(p, "hardlinks", ("/hln/other",), ()),)
                    for i, p in enumerate(hln[:20], 1)})),
        Finding(code="layer-content-differs", severity=Severity.WARNING, summary="s", step_a=4, step_b=4, paths=ent,
                evidence=evidence(changed_entries=30, **{
                    f"entry_{i:03d}": (PathChange(p, "uid", 0, 1),) for i, p in enumerate(ent[:20], 1)})),
        Finding(code="paths-missing", severity=Severity.ERROR, summary="s", step_a=5, step_b=5, paths=mis,
                evidence=evidence(count=30, cause="lost", absent_from="B")),
    ))


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_max_paths_caps_every_list_the_change_tables_and_the_evidence(fmt: str) -> None:
    report = _capped_report()
    # Where each finding's paths are listed: its paths, the changes by step (one table per step), its details.
    lists = {"chg": 2, "mti": 2, "hln": 2, "ent": 3, "mis": 2}

    def shown(max_paths: int) -> dict[str, int]:
        out = render(report, fmt, max_paths=max_paths, all_mtimes=True)
        return {tag: len(re.findall(rf"/{tag}/d[0-9]/n[0-9]{{2}}zz", out)) for tag in lists}

    assert shown(0) == dict.fromkeys(lists, 0)
    for n in (1, 2, 5):
        for tag, count in shown(n).items():
            assert n <= count <= n * lists[tag], (fmt, n, tag, count)
    # Uncapped, every path is there: the caps are what held them back.
    whole = render(report, fmt, max_paths=1000, all_mtimes=True)
    assert all(f"/{tag}/d{i % 3}/n{i:02d}zz" in whole for tag in lists for i in range(30))


def test_the_json_report_is_whole_unless_max_paths_cuts_every_list_and_says_so() -> None:
    """Exact values in the JSON by default; --max-paths N cuts its lists as the other formats do, and says so."""
    from imageforensics.report._json import load_report

    report = _capped_report()
    tags = ("chg", "mti", "hln", "ent", "mis")
    text = render(report, "json")
    assert all(f"/{tag}/d{i % 3}/n{i:02d}zz" in text for tag in tags for i in range(30))
    assert "max_paths" not in json.loads(text) and load_report(text) == report
    for n in (0, 2):
        doc = json.loads(render(report, "json", max_paths=n))
        assert doc["max_paths"] == n
        for f in doc["findings"]:
            assert len(f["paths"]) == n
            details = [v for k, v in f["evidence"].items() if k.startswith(("change_", "entry_"))]
            assert len(details) <= n and all(v[0]["path"] in f["paths"] for v in details)
            assert f["evidence"].get("count", 30) == 30  # the counts still say how many there are
        assert sum(len(re.findall(rf"/{tag}/d[0-9]/n[0-9]{{2}}zz", json.dumps(doc))) for tag in tags) <= 3 * 5 * n
        loaded = load_report(render(report, "json", max_paths=n))
        assert [list(f.paths) for f in loaded.findings] == [f["paths"] for f in doc["findings"]]
    # The same paths as the other formats show.
    kept = json.loads(render(report, "json", max_paths=2))["findings"][4]["paths"]
    assert all(p in render(report, "text", max_paths=2) for p in kept)
