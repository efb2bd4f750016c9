"""imageforensics: read, audit and diff container image archives offline.

The library's whole surface; everything else is private to its stage::

    import imageforensics

    report = imageforensics.diff_inputs("pulled.tar", "rebuilt.tar")
    print(imageforensics.render(report, "markdown"))
    status = report.exit_status  # 0 the same image, 1 they differ

Reading: ``read_input`` reads an archive, a directory, ``-`` or a snapshot
into an ``Archive``; ``select_image`` picks one of its images (by reference,
``@N`` index or platform); ``choose`` does both from a spec as the command
line takes it (``a.tar``, ``a.tar:name:tag``, ``a.tar@1``), ``choose_pair``
reads two in parallel. Every error this library raises on purpose is an
``ImageForensicsError``.

Diffing: ``diff_images`` compares two images already read; ``diff_inputs``
reads and compares two inputs as the command line does. A path finding's
details are typed: each ``PathChange`` says one field of one path and its
value in A and in B.

Reporting: ``render`` writes a ``Report`` in any of the formats of the
``RENDERERS`` table (text, json, markdown, html); ``load_report`` reads a JSON
report back. ``write_snapshot`` and ``load_snapshot`` keep an input's
metadata (no file contents) to diff later. ``__version__`` is this version.
"""

from __future__ import annotations

from imageforensics._version import __version__
from imageforensics.diff import diff_images, layers_needing_content
from imageforensics.errors import (ImageForensicsError, InputError, LimitError, SelectionError, SnapshotError,
                                   ToolMissingError)
from imageforensics.findings import Finding, Severity
from imageforensics.options import DiffOptions, Limits, ReadOptions
from imageforensics.path_change import PathChange
from imageforensics.model import Archive, Digest, FileEntry, HistoryStep, Image, Layer, Platform, RunConfig
from imageforensics.read import Chosen, choose, choose_pair, read_input, select_image
from imageforensics.report import RENDERERS, InputSide, Report, StepRow, load_report, render
from imageforensics.snapshot import load_snapshot, write_snapshot


def diff_inputs(a: str, b: str, options: DiffOptions = DiffOptions(), read: ReadOptions = ReadOptions()) -> Report:
    """Read two inputs (specs as the command line takes them) and diff the images they designate.

    As the command line does, files' content digests are taken only for the
    layers the diff compares (where an input can be read again), and both
    inputs are read at once, one thread each. ``read`` says how (limits,
    platform); ``options`` what the diff leaves out.
    """
    chosen_a, chosen_b = choose_pair(a, b, read, needed_layers=lambda x, y: layers_needing_content(x, y, options))
    return diff_images(chosen_a.archive, chosen_a.image, chosen_b.archive, chosen_b.image, options)


__all__ = [
    "Archive",
    "Chosen",
    "DiffOptions",
    "Digest",
    "FileEntry",
    "Finding",
    "HistoryStep",
    "Image",
    "ImageForensicsError",
    "InputError",
    "InputSide",
    "Layer",
    "LimitError",
    "Limits",
    "PathChange",
    "Platform",
    "RENDERERS",
    "ReadOptions",
    "Report",
    "RunConfig",
    "SelectionError",
    "Severity",
    "SnapshotError",
    "StepRow",
    "ToolMissingError",
    "__version__",
    "choose",
    "choose_pair",
    "diff_images",
    "diff_inputs",
    "load_report",
    "load_snapshot",
    "read_input",
    "render",
    "select_image",
    "write_snapshot",
]


def __dir__() -> list[str]:
    """The public names, as ``__all__`` lists them (the stages' modules are private)."""
    return list(__all__)
