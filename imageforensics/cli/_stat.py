"""``imageforensics stat A PATH``: one path's history through the layers, and its state in the merged filesystem."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from typing import Any

from imageforensics.cli._look import LimitOptions, LimitsFromArgs, entry_line, input_arguments, read_chosen, \
    shown_path, step_text, write_lines
from imageforensics.diff import inside
from imageforensics.model import Image
from imageforensics.model_json import entry_for_readers, readers_path
from imageforensics.untrusted import escape


HELP = "one path through the layers: which step wrote, changed, removed or linked it"


def declare(st: argparse.ArgumentParser, limit_options: LimitOptions) -> None:
    """The ``stat`` subcommand's arguments."""
    input_arguments(st)
    st.add_argument("path", metavar="PATH", help="the path in the image, e.g. /etc/passwd")
    st.add_argument("--format", choices=("text", "json"), default="text", help="text (default) or one JSON object")
    limit_options(st)


def run(args: argparse.Namespace, limits_from_args: LimitsFromArgs) -> int:
    """Show the history; exit status 0 (also for a path no layer names: the output says so)."""
    limits = limits_from_args(args)
    image = read_chosen(args, limits).image
    history = inside.path_history(image, inside.normalise_path(args.path), limits)
    if args.format == "json":
        write_lines([json.dumps(_as_json(history, image), sort_keys=True, ensure_ascii=True)])
    else:
        write_lines(_text(history, image))
    return 0


def _text(h: inside.PathHistory, image: Image) -> Iterator[str]:
    yield shown_path(h.path)
    if not h.events:
        yield "  no layer names this path"
    for event in h.events:
        yield f"  {event.action:<9} {step_text(event.layer, event.step)}"
        yield f"            {entry_line(event.entry)}"
        if event.entry.content_digest:
            yield f"            content {event.entry.content_digest}"
    if h.merged is not None:
        writer = h.writer if h.writer is not None else 0
        yield f"merged: {entry_line(h.merged)}"
        yield f"  written by {step_text(writer, inside.step_of_layer(image, writer))}"
        if h.content_layer is not None and h.content_layer != writer:
            yield f"  its file is layer {h.content_layer}'s (a hardlink to a lower layer's file)"
        if h.merged.content_digest:
            yield f"  content {h.merged.content_digest}"
        if len(h.names) > 1:
            yield "  names of this file: " + " ".join(shown_path(n) for n in h.names)
    elif h.removed_by is not None:
        yield f"merged: absent, removed by {step_text(h.removed_by, inside.step_of_layer(image, h.removed_by))}"
    else:
        yield "merged: absent"
    if h.leads_to is not None:
        through = f"{shown_path(h.leads_to.link)} -> {escape(h.leads_to.target)}"
        if h.leads_to.loops:
            yield f"  its symlinks never end ({through}: a loop, or too many to follow)"
        else:
            yield f"  leads to {shown_path(h.leads_to.path)} inside the image (via {through})"


def _as_json(h: inside.PathHistory, image: Image) -> dict[str, Any]:
    def step(layer: int | None) -> dict[str, Any] | None:
        if layer is None:
            return None
        s = inside.step_of_layer(image, layer)
        return {"layer": layer, "step": s.index if s is not None else None,
                "created_by": s.created_by if s is not None else None}

    return {
        "path": readers_path(h.path),
        "events": [{"action": e.action, "entry": entry_for_readers(e.entry), **(step(e.layer) or {})} for e in h.events],
        "merged": None if h.merged is None else {
            "entry": entry_for_readers(h.merged), "written_by": step(h.writer), "content_layer": h.content_layer,
            "names": [readers_path(n) for n in h.names]},
        "removed_by": step(h.removed_by),
        "leads_to": None if h.leads_to is None else {
            "path": None if h.leads_to.loops else readers_path(h.leads_to.path), "link": readers_path(h.leads_to.link),
            "target": h.leads_to.target, "loops": h.leads_to.loops},
    }
