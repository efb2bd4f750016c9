"""What ``ls``, ``stat`` and ``cat`` share: reading one input and choosing its image, and lines on stdout.

The input is any the tool accepts (archive, directory, snapshot, ``-``), with
the image chosen as everywhere (``a.tar:name:tag``, ``a.tar@N``,
``--platform``). Lines are written as they are made, so ``ls`` on a million
entries starts at once and ``| head`` stops it; a reader that goes away is
not an error.
"""

from __future__ import annotations

import argparse
import datetime
import os
import stat
import sys
from collections.abc import Callable, Iterable
from typing import Any

from imageforensics.cli._inputs import add_input, selector_of
from imageforensics.created_by import display_created_by
from imageforensics.model import FileEntry, HistoryStep
from imageforensics.options import Limits, ReadOptions
from imageforensics.read import Chosen, Progress, choose
from imageforensics.untrusted import escape

LimitOptions = Callable[[argparse.ArgumentParser], None]
LimitsFromArgs = Callable[[argparse.Namespace], Limits]


def input_arguments(parser: argparse.ArgumentParser) -> None:
    """The input and how its image is chosen, as every subcommand spells them (cli/_inputs)."""
    add_input(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


def intermixed(parser: argparse.ArgumentParser) -> None:
    """Let ``parser`` take options between its positionals (``ls A --long /etc``), as
    ``parse_intermixed_args`` does: plain argparse gives a positional list after the first nothing
    once an option comes between them."""
    base = type(parser)

    class Intermixed(base):  # type: ignore[valid-type,misc]  # a subclass of the parser's own class
        _busy = False

        def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
            # Python < 3.13 implements the intermixed parse with parse_known_args itself.
            if self._busy:
                return super().parse_known_args(args, namespace)
            self._busy = True
            try:
                return self.parse_known_intermixed_args(args, namespace)
            finally:
                self._busy = False

    parser.__class__ = Intermixed


def read_chosen(args: argparse.Namespace, limits: Limits, *, keep_paths: frozenset[str] = frozenset(),
                content_digests: bool = True) -> Chosen:
    """The input the arguments name, read, and the image chosen from it (``content_digests=False``:
    no file's data hashed but for the diff_id, when nothing shown needs them). ls, stat and cat
    never show the archive's own digest: it is not taken."""
    progress = None if args.quiet or not sys.stderr.isatty() else Progress(sys.stderr)
    try:
        return choose(selector_of(args.a), ReadOptions(limits=limits, platform=args.platform, keep_paths=keep_paths,
                                          content_digests=content_digests, digest_below=0, archive_digest=False),
                      progress=progress)
    finally:
        if progress is not None:
            progress.finish()


def write_lines(lines: Iterable[str]) -> None:
    """Each line to stdout as it comes (UTF-8, names already shown); quietly stop when the reader goes away."""
    out = sys.stdout.buffer
    try:
        sys.stdout.flush()
        batch: list[str] = []
        for line in lines:
            batch.append(line)
            if len(batch) >= 4096:
                out.write(("\n".join(batch) + "\n").encode("utf-8", "surrogateescape"))
                batch.clear()
        if batch:
            out.write(("\n".join(batch) + "\n").encode("utf-8", "surrogateescape"))
        out.flush()
    except BrokenPipeError:
        stdout_gone()


def stdout_gone() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush finds no broken pipe to complain of."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


_TYPE_CHAR = {"file": "-", "dir": "d", "symlink": "l", "hardlink": "h", "char": "c", "block": "b", "fifo": "p",
              "whiteout": "w", "opaque": "o"}
_FORMAT_BITS = {"file": stat.S_IFREG, "dir": stat.S_IFDIR, "symlink": stat.S_IFLNK, "hardlink": stat.S_IFREG,
                "char": stat.S_IFCHR, "block": stat.S_IFBLK, "fifo": stat.S_IFIFO}


def mode_text(e: FileEntry) -> str:
    """``drwxr-xr-x`` as ``ls -l`` and ``tar tv`` write it (``h`` a hardlink, ``w`` a whiteout, ``o`` an opaque marker)."""
    if e.kind in ("whiteout", "opaque"):
        return _TYPE_CHAR[e.kind] + "-" * 9
    return _TYPE_CHAR.get(e.kind, "?") + stat.filemode(_FORMAT_BITS.get(e.kind, 0) | (e.mode & 0o7777))[1:]


def mtime_text(ns: int) -> str:
    """An mtime as UTC ``YYYY-MM-DD HH:MM:SS`` (the nanoseconds as they are when the year is out of range)."""
    try:
        when = datetime.datetime.fromtimestamp(ns // 1_000_000_000, tz=datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return f"@{ns}ns"
    return when.strftime("%Y-%m-%d %H:%M:%S")


def shown_path(path: str) -> str:
    """A model path as the listings show it: absolute, by the one escaping policy."""
    return "/" + escape(path)


class LineFormatter:
    """``entry_line`` for a whole listing: the mode and mtime texts, which a million entries share
    among a few hundred values, are made once each."""

    def __init__(self) -> None:
        self._modes: dict[tuple[str, int], str] = {}
        self._mtimes: dict[int, str] = {}
        self._steps: dict[int, str] = {}

    def line(self, e: FileEntry) -> str:
        """The entry's ``tar tv`` line."""
        mode = self._modes.get((e.kind, e.mode))
        if mode is None:
            mode = self._modes[(e.kind, e.mode)] = mode_text(e)
        when = self._mtimes.get(e.mtime_ns)
        if when is None:
            when = self._mtimes[e.mtime_ns] = mtime_text(e.mtime_ns)
        return entry_line(e, mode, when)

    def step(self, layer: int, step: HistoryStep | None) -> str:
        """``step_text`` of a layer, made once per layer."""
        text = self._steps.get(layer)
        if text is None:
            text = self._steps[layer] = step_text(layer, step)
        return text


def entry_line(e: FileEntry, mode: str | None = None, when: str | None = None) -> str:
    """One entry as ``tar tv`` lists it: mode, owner, size (``major,minor`` for a device), mtime, path, link
    (``mode`` and ``when``: its mode and mtime texts, when already made)."""
    size = f"{e.devmajor},{e.devminor}" if e.kind in ("char", "block") else str(e.size)
    mode = mode_text(e) if mode is None else mode
    when = mtime_text(e.mtime_ns) if when is None else when
    line = f"{mode} {e.uid}/{e.gid} {size:>10} {when} {shown_path(e.path)}"
    if e.kind == "symlink":
        line += f" -> {escape(e.linkname)}"
    elif e.kind == "hardlink":
        line += f" link to {shown_path(e.linkname)}"
    elif e.kind == "whiteout":
        line += " (whiteout: removes it from the layers below)"
    elif e.kind == "opaque":
        line += " (opaque: hides the layers below's contents)"
    return line


def step_text(layer: int, step: HistoryStep | None) -> str:
    """``step 3 (layer 2) RUN …``: which step wrote a layer, its created_by shown by the one policy."""
    if step is None:
        return f"layer {layer} (no history step)"
    created = escape(display_created_by(step.created_by)) or "(no created_by)"
    return f"step {step.index} (layer {layer}) {created}"
