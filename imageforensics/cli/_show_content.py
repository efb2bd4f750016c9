"""``diff --show-content PATH``: read one file from each chosen image and add its comparison to the report."""

from __future__ import annotations

import argparse
import dataclasses
import io

from imageforensics.diff import inside
from imageforensics.diff._content import Shown, content_finding
from imageforensics.errors import InputError
from imageforensics.findings import sort_findings
from imageforensics.options import Limits
from imageforensics.read import Chosen, copy_file
from imageforensics.report import Report
from imageforensics.untrusted import escape


def add_argument(parser: argparse.ArgumentParser) -> None:
    """The option, on the diff's parser."""
    parser.add_argument("--show-content", metavar="PATH", help="add a unified diff of this text file of both images to the report")


def keep_paths(args: argparse.Namespace) -> frozenset[str]:
    """What a read from standard input keeps as it streams past, for the file to show."""
    return frozenset({inside.normalise_path(args.show_content)}) if args.show_content else frozenset()


def _side(chosen: Chosen, path: str, limits: Limits) -> Shown:
    try:
        where = inside.locate_file(chosen.image, path, limits)
    except inside.NotAFile as e:
        return Shown(None, str(e).split(": ", 1)[-1])
    if where.entry.size > limits.max_shown_content_bytes:
        return Shown(None, f"{where.entry.size} bytes, over the {limits.max_shown_content_bytes}-byte limit")
    layer = chosen.image.layers[where.layer]
    assert layer is not None
    out = io.BytesIO()
    try:
        copy_file(chosen.archive.source, layer, where.member_path, where.occurrence, where.entry, out)
    except InputError as e:
        return Shown(None, e.expected)
    return Shown(out.getvalue())


def add_to(report: Report, a: Chosen, b: Chosen, path_text: str, limits: Limits) -> Report:
    """The report with the ``content-shown`` finding for the path."""
    path = inside.normalise_path(path_text)
    finding = content_finding(path, _side(a, path, limits), _side(b, path, limits))
    return dataclasses.replace(report, findings=sort_findings(report.findings + (finding,)))


def text_appendix(report: Report) -> str:
    """The unified diff as text after the text report, line by line by the one escaping policy."""
    out = []
    for f in report.findings:
        diff = f.evidence_value("diff") if f.code == "content-shown" else None
        if isinstance(diff, str):
            out.append("\n" + "".join(escape(line) + "\n" for line in diff.splitlines()))
    return "".join(out)
