"""``imageforensics ls A [--layer N | --step N | --merged] [--long] [PATTERN…]``: an image's entries, one per line."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator

from imageforensics.cli._look import LimitOptions, LimitsFromArgs, LineFormatter, input_arguments, intermixed, \
    read_chosen, write_lines
from imageforensics.diff import inside
from imageforensics.model_json import entry_for_readers


HELP = "list one layer's entries or the merged filesystem, like tar tv"


def declare(ls: argparse.ArgumentParser, limit_options: LimitOptions) -> None:
    """The ``ls`` subcommand's arguments."""
    input_arguments(ls)
    which = ls.add_mutually_exclusive_group()
    which.add_argument("--layer", type=int, metavar="N", help="the entries of layer N (0 = base), as stored: whiteouts and opaque markers too")
    which.add_argument("--step", type=int, metavar="N", help="the entries of the layer history step N wrote")
    which.add_argument("--merged", action="store_true", help="the merged filesystem, whiteouts applied (the default)")
    ls.add_argument("--long", action="store_true", help="add the step (and layer) that wrote each path")
    ls.add_argument("--format", choices=("text", "json"), default="text", help="text (default) or JSON Lines, one object per entry")
    ls.add_argument("patterns", nargs="*", metavar="PATTERN", help="only paths matching these globs (and what is below them)")
    limit_options(ls)
    intermixed(ls)


def run(args: argparse.Namespace, limits_from_args: LimitsFromArgs) -> int:
    """List; exit status 0."""
    limits = limits_from_args(args)
    # The text listing shows no content digest: files' data is hashed once, for the diff_id.
    chosen = read_chosen(args, limits, content_digests=args.format == "json")
    image = chosen.image
    wanted = inside.matcher(tuple(args.patterns))
    if args.step is not None:
        rows: Iterator[inside.Listed] = inside.list_layer(image, inside.layer_of_step(image, args.step), wanted)
    elif args.layer is not None:
        rows = inside.list_layer(image, args.layer, wanted)
    else:
        rows = inside.list_merged(image, wanted, limits)
    write_lines(_json_lines(rows) if args.format == "json" else _text_lines(rows, long=args.long))
    return 0


def _text_lines(rows: Iterator[inside.Listed], *, long: bool) -> Iterator[str]:
    shown = LineFormatter()
    for row in rows:
        line = shown.line(row.entry)
        # A tab never occurs in a shown path (it is escaped), so it parts the columns without doubt.
        yield f"{line}\t{shown.step(row.layer, row.step)}" if long else line


def _json_lines(rows: Iterator[inside.Listed]) -> Iterator[str]:
    for row in rows:
        out = entry_for_readers(row.entry)
        out["layer"] = row.layer
        out["step"] = row.step.index if row.step is not None else None
        out["created_by"] = row.step.created_by if row.step is not None else None
        if row.content_layer != row.layer:
            out["content_layer"] = row.content_layer
        yield json.dumps(out, sort_keys=True, ensure_ascii=True)
