"""The table of report formats (``report.RENDERERS``) and inspect's (``report.INSPECT_RENDERERS``).

The table is the one list of formats: the command line's ``--format`` choices
are its keys, ``render`` dispatches through it, and what it says each
renderer takes is what the renderer's signature takes.
"""

from __future__ import annotations

import argparse
import inspect
import json
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
    with pytest.raises(TypeError, match=r"^the json report takes no options, not max_paths$"):
        render(tomcat_report(), "json", max_paths=3)
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
