"""Reporting: the report values, every renderer behind one table, the JSON report's loader, and ``inspect``.

Renderers are pure: a Report in, a string out. ``RENDERERS`` names each
report format with its renderer and the options it takes; the command line's
``--format`` choices are its keys, and ``render`` dispatches through it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from imageforensics.model import Archive, Image
from imageforensics.report._html import render_html
from imageforensics.report._inspect import (INSPECT_FORMAT_NAME, INSPECT_FORMAT_VERSION, ImageFindings, render_inspect_all,
                                           render_inspect_json, render_inspect_text, stream_inspect_json,
                                           stream_inspect_text)
from imageforensics.report._json import load_report, render_json, report_from_json, report_to_json
from imageforensics.report._markdown import render_markdown
from imageforensics.report._text import render_brief, render_text
from imageforensics.report._values import FORMAT_VERSION, VERDICT_KINDS, InputSide, LayerSide, Report, StepRow


@dataclass(frozen=True, slots=True)
class Renderer:
    """A report format: the function that renders a Report, and the keyword options it takes."""

    render: Callable[..., str]
    # Of: max_paths (every list's length; each format has its default),
    # color (ANSI colour), width (columns of the text layout), full_digests
    # (digests whole), full_paths (the inputs' paths, not their file names),
    # all_mtimes (list the paths that differ only in mtime).
    options: frozenset[str] = frozenset()


# Read-only, so no caller can add or replace a format behind the others' back.
RENDERERS: Mapping[str, Renderer] = MappingProxyType({
    "text": Renderer(render_text, frozenset({"max_paths", "color", "width", "full_digests", "all_mtimes"})),
    "json": Renderer(render_json, frozenset({"max_paths"})),
    "markdown": Renderer(render_markdown, frozenset({"max_paths", "full_digests", "full_paths", "all_mtimes"})),
    "html": Renderer(render_html, frozenset({"max_paths", "full_digests", "full_paths", "all_mtimes"})),
})


def render(report: Report, format: str = "text", **options: object) -> str:
    """The report in one of the ``RENDERERS`` formats, with options that format takes.

    ValueError for a format not in the table, TypeError for an option the
    format does not take (``RENDERERS[format].options`` lists them).
    """
    renderer = RENDERERS.get(format)
    if renderer is None:
        raise ValueError(f"no report format {format!r}: the formats are {', '.join(RENDERERS)}")
    unknown = sorted(set(options) - renderer.options)
    if unknown:
        takes = ", ".join(sorted(renderer.options)) or "no options"
        raise TypeError(f"the {format} report takes {takes}, not {', '.join(unknown)}")
    return renderer.render(report, **options)


class InspectRender(Protocol):
    """How an inspect format is called: the input, the images to show (None: all), and each image's findings."""

    def __call__(self, archive: Archive, images: tuple[Image, ...] | None = None, *,
                 image_findings: ImageFindings) -> str: ...


class InspectStream(Protocol):
    """An inspect format written in pieces (joined, they are what its ``InspectRender`` gives)."""

    def __call__(self, archive: Archive, images: tuple[Image, ...] | None = None, *,
                 image_findings: ImageFindings) -> Iterator[str]: ...


@dataclass(frozen=True, slots=True)
class InspectRenderer:
    """A format of ``inspect``: renders an input, given the images to show (None: all) and each image's findings.

    The audit is computed, not stored: the caller passes ``audit.image_findings``
    (renderers import only values).
    """

    render: InspectRender
    # The same output in pieces, as the command line writes it: a large model
    # (JSON of a million entries) is never whole in memory.
    stream: InspectStream
    # Whether the command line shows only the image --platform picks. JSON is
    # the input's whole model as read, whatever is picked.
    narrows_to_platform: bool


INSPECT_RENDERERS: Mapping[str, InspectRenderer] = MappingProxyType({
    "text": InspectRenderer(render_inspect_all, stream_inspect_text, narrows_to_platform=True),
    "json": InspectRenderer(render_inspect_json, stream_inspect_json, narrows_to_platform=False),
})

__all__ = [
    "FORMAT_VERSION",
    "INSPECT_FORMAT_NAME",
    "INSPECT_FORMAT_VERSION",
    "INSPECT_RENDERERS",
    "InputSide",
    "InspectRenderer",
    "InspectStream",
    "LayerSide",
    "RENDERERS",
    "Renderer",
    "Report",
    "StepRow",
    "VERDICT_KINDS",
    "load_report",
    "render",
    "render_brief",
    "render_html",
    "render_inspect_all",
    "render_inspect_json",
    "render_inspect_text",
    "stream_inspect_json",
    "stream_inspect_text",
    "render_json",
    "render_markdown",
    "render_text",
    "report_from_json",
    "report_to_json",
]
