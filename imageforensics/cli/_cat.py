"""``imageforensics cat A PATH``: one regular file's bytes from the merged filesystem, to standard output.

Symlinks are followed as the runtime follows them inside the image's root
(an absolute target starts at the root, ``..`` stops there; a dangling or
looping symlink is refused in one line), a hardlink gives the file it
names, and only the layer that holds the file is read again; nothing is
written to disk. A snapshot holds no file contents: it says so.
"""

from __future__ import annotations

import argparse
import sys

from imageforensics.cli._look import LimitOptions, LimitsFromArgs, input_arguments, read_chosen, stdout_gone
from imageforensics.diff import inside
from imageforensics.read import copy_file


HELP = "one regular file's bytes from the merged filesystem, to standard output"


def declare(cat: argparse.ArgumentParser, limit_options: LimitOptions) -> None:
    """The ``cat`` subcommand's arguments."""
    input_arguments(cat)
    cat.add_argument("path", metavar="PATH", help="the file in the image, e.g. /etc/os-release")
    limit_options(cat)


def run(args: argparse.Namespace, limits_from_args: LimitsFromArgs) -> int:
    """Copy the file to stdout; exit status 0, or 2 (one line on stderr) when it is not a file of the image."""
    limits = limits_from_args(args)
    path = inside.normalise_path(args.path)
    # Standard input is read once: keep the bytes of the path asked for as they stream past.
    chosen = read_chosen(args, limits, keep_paths=frozenset({path}) if args.a == "-" else frozenset())
    where = inside.locate_file(chosen.image, path, limits)
    layer = chosen.image.layers[where.layer]
    assert layer is not None
    try:
        sys.stdout.flush()
        copy_file(chosen.archive.source, layer, where.member_path, where.occurrence, where.entry, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    except BrokenPipeError:
        stdout_gone()
    return 0
