"""Command line: ``imageforensics [diff] A B``, ``inspect A``, ``snapshot A -o F``.

Exit status follows diff(1): 0 when the two inputs hold the same image, 1 when
they differ, 2 for trouble. Every expected error becomes one line on stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import os
import shutil
import signal
import sys
import threading
from types import FrameType
from collections.abc import Sequence
from typing import NoReturn

from imageforensics import audit
from imageforensics.cli._build_info import build_commit, version_line
from imageforensics.cli._output import refuse_input_as_output, write_output
from imageforensics.diff import diff_images, layers_needing_content
from imageforensics.errors import ImageForensicsError
from imageforensics.options import DiffOptions, Limits, ReadOptions, settable_limits
from imageforensics.model import Archive
from imageforensics.read import Progress, choose_pair, read_input, select_image
from imageforensics.report import INSPECT_RENDERERS, RENDERERS, render, render_brief
from imageforensics.snapshot import write_snapshot
from imageforensics.untrusted import escape, show_prose

PROG = "imageforensics"
SUBCOMMANDS = ("diff", "inspect", "snapshot")

EXAMPLES = """\
examples:
  imageforensics pulled.tar rebuilt.tar          diff two archives (exit 0 same, 1 differ, 2 trouble)
  imageforensics diff a.tar b.tar --format markdown -o report.md
  imageforensics diff a.tar:local/app:1.0 b.tar@0 --ignore-timestamps --ignore '/var/cache/*'
  imageforensics inspect image.tar               format, image ID, history, layers, audit
  docker save app | imageforensics inspect -     read from standard input
  imageforensics snapshot a.tar -o a.json.gz     metadata-only snapshot, accepted wherever an archive is
  imageforensics a.json.gz b.tar                 diff a snapshot against an archive

inputs: a docker save / podman / skopeo / crane / containerd / BuildKit / OCI archive
(optionally gzip, bzip2, xz or zstd compressed), an OCI layout or extracted save directory,
a snapshot, or - for standard input. Choose one of several images with ARCHIVE:name:tag or
ARCHIVE@N, and one of several platforms with --platform os/arch[/variant].
"""


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        # argparse quotes the arguments it rejects: they may be pasted names.
        self.exit(2, f"{self.prog}: error: {show_prose(message)} (see --help)\n")


def _positive(text: str) -> int:
    """A limit: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, not {value}")
    return value


def _limit_options(parser: argparse.ArgumentParser) -> None:
    """One option per settable field of ``Limits``, declared by the field itself."""
    group = parser.add_argument_group("safety limits (raise them for unusual but trusted inputs)")
    for limit in settable_limits():
        group.add_argument(limit.metadata["flag"], dest=limit.name, type=_positive, default=limit.default,
                           metavar=limit.metadata["metavar"], help=f"{limit.metadata['help']} (default {limit.default})")


def _report_options(parser: argparse.ArgumentParser) -> None:
    """How much of the report is shown: its verdict alone, digests and input paths whole, every mtime."""
    group = parser.add_argument_group("report")
    group.add_argument("-s", "--brief", action="store_true",
                       help="print only the verdict line (the exit status says the rest), as diff -q does")
    group.add_argument("--full-digests", action="store_true", help="show digests whole (default: sha256:2440…0ab1)")
    group.add_argument("--full-paths", action="store_true",
                       help="name the inputs by the paths given in markdown (default: their file names)")
    group.add_argument("--all-mtimes", action="store_true",
                       help="list the paths that differ only in mtime (default: counted once per step)")


def _report_shown(args: argparse.Namespace, takes: frozenset[str]) -> dict[str, object]:
    """The renderer options ``_report_options`` set, for a format that takes them."""
    given = {"full_digests": args.full_digests, "full_paths": args.full_paths, "all_mtimes": args.all_mtimes}
    shown: dict[str, object] = {name: value for name, value in given.items() if name in takes}
    if "width" in takes and args.output in (None, "-") and sys.stdout.isatty():
        # On a terminal the text report takes its width; elsewhere the default 80 columns.
        shown["width"] = shutil.get_terminal_size().columns
    return shown


def limits_from_args(args: argparse.Namespace) -> Limits:
    """The ``Limits`` the parsed command line asks for (the defaults where no option is given)."""
    return Limits(**{limit.name: getattr(args, limit.name) for limit in settable_limits()})


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with the three subcommands."""
    parser = _Parser(
        prog=PROG,
        description="Offline forensics for container image archives: read, audit and diff them.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=version_line())
    sub = parser.add_subparsers(dest="command", metavar="{diff,inspect,snapshot}")

    diff = sub.add_parser("diff", help="compare two images (the default with two inputs)", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    diff.add_argument("a", metavar="A", help="first input (e.g. the pulled image)")
    diff.add_argument("b", metavar="B", help="second input (e.g. the rebuilt image)")
    diff.add_argument("--format", choices=tuple(RENDERERS), default="text", help="report format (default text)")
    diff.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE (whole or not at all)")
    diff.add_argument("--ignore-timestamps", action="store_true", help="do not count created times or file mtimes as differences")
    diff.add_argument("--ignore", action="append", default=[], metavar="PATTERN", help="ignore paths matching this glob (repeatable), e.g. '/var/cache/*'")
    diff.add_argument("--max-paths", type=int, default=None, metavar="N", help="paths listed per finding (default 10 text, 50 markdown, 200 html)")
    diff.add_argument("--color", choices=("auto", "always", "never"), default="auto", help="colour in text output (auto: only on a terminal without NO_COLOR)")
    diff.add_argument("--platform", metavar="OS/ARCH[/VARIANT]", help="platform to pick from multi-platform inputs")
    diff.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    _report_options(diff)
    _limit_options(diff)

    inspect = sub.add_parser("inspect", help="show one input: format, image ID, history, layers, audit")
    inspect.add_argument("a", metavar="INPUT", help="archive, directory, snapshot, or - for standard input")
    inspect.add_argument("--format", choices=tuple(INSPECT_RENDERERS), default="text", help="text (default) or the whole model as JSON")
    inspect.add_argument("-o", "--output", metavar="FILE", help="write to FILE (whole or not at all)")
    inspect.add_argument("--platform", metavar="OS/ARCH[/VARIANT]", help="platform to pick from multi-platform inputs")
    inspect.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    _limit_options(inspect)

    snap = sub.add_parser("snapshot", help="write a metadata-only snapshot (no file contents) that diffs like the archive")
    snap.add_argument("a", metavar="INPUT", help="archive, directory, or - for standard input")
    snap.add_argument("-o", "--output", metavar="FILE", required=True, help="snapshot file; .gz compresses it")
    snap.add_argument("--redact", default="", metavar="env,labels", help="replace config env values and/or label values with their digest")
    snap.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    _limit_options(snap)
    return parser


def _normalise_argv(argv: list[str]) -> list[str]:
    """Make ``diff`` the default subcommand: ``imageforensics A B`` means ``diff A B``."""
    if not argv or argv[0] in SUBCOMMANDS or argv[0] in ("-h", "--help", "--version"):
        return argv
    return ["diff", *argv]


def _use_color(choice: str, output: str | None) -> bool:
    if choice == "always":
        return True
    if choice == "never" or output not in (None, "-") or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


def _run_diff(args: argparse.Namespace) -> int:
    if args.a == "-" and args.b == "-":
        raise ImageForensicsError("only one of the two inputs can be - (standard input)")
    refuse_input_as_output(args.output, (args.a, args.b))
    limits = limits_from_args(args)
    options = DiffOptions(ignore_timestamps=args.ignore_timestamps, ignore=tuple(args.ignore), limits=limits)
    # Each byte hashed once where possible: the text report shows no archive
    # digest, and files' content digests are only taken for layers that differ.
    read = ReadOptions(limits=limits, platform=args.platform, archive_digest=args.format != "text")
    progress = _progress(args)
    try:
        # Each byte hashed once where possible: the text report shows no archive
        # digest, and files' content digests are only taken for layers that differ.
        chosen_a, chosen_b = choose_pair(args.a, args.b, read, progress=progress,
                                         needed_layers=lambda a, b: layers_needing_content(a, b, options))
    finally:
        if progress is not None:
            progress.finish()
    report = diff_images(chosen_a.archive, chosen_a.image, chosen_b.archive, chosen_b.image, options)
    commit = build_commit()
    if commit:
        # The report names exactly which build produced it.
        report = dataclasses.replace(report, tool_version=f"{report.tool_version} (commit {commit[:12]})")
    takes = RENDERERS[args.format].options
    shown: dict[str, object] = {}
    if "max_paths" in takes and args.max_paths is not None:
        shown["max_paths"] = max(0, args.max_paths)
    if "color" in takes:
        shown["color"] = _use_color(args.color, args.output)
    if args.brief:
        write_output(render_brief(report), args.output)
        return report.exit_status
    shown.update(_report_shown(args, takes))
    write_output(render(report, args.format, **shown), args.output)
    return report.exit_status


def _progress(args: argparse.Namespace) -> Progress | None:
    """A progress line on stderr only when it is a terminal and --quiet is not given."""
    if args.quiet or not sys.stderr.isatty():
        return None
    return Progress(sys.stderr)


def _read_one(args: argparse.Namespace) -> Archive:
    progress = _progress(args)
    try:
        return read_input(args.a, ReadOptions(limits=limits_from_args(args)), progress=progress)
    finally:
        if progress is not None:
            progress.finish()


def _run_inspect(args: argparse.Namespace) -> int:
    refuse_input_as_output(args.output, (args.a,))
    archive = _read_one(args)
    renderer = INSPECT_RENDERERS[args.format]
    images = None
    if args.platform and renderer.narrows_to_platform:
        images = (select_image(archive, reference=None, index=None, platform=args.platform),)
    write_output(renderer.render(archive, images, image_findings=audit.image_findings), args.output)
    return 0


def _run_snapshot(args: argparse.Namespace) -> int:
    redact = frozenset(part.strip() for part in args.redact.split(",") if part.strip())
    unknown = redact - {"env", "labels"}
    if unknown:
        raise ImageForensicsError(f"--redact takes env and/or labels, not {', '.join(sorted(unknown))}")
    refuse_input_as_output(args.output, (args.a,))
    archive = _read_one(args)
    data = write_snapshot(archive, redact=redact)
    if args.output.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    write_output(data, args.output)
    return 0


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread as Ctrl-C raises KeyboardInterrupt."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (130 after Ctrl-C, 143 after SIGTERM)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(_normalise_argv(args_list))
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    # Signals reach only the main thread; a caller running main() in another thread keeps its own handling.
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if in_main_thread else None
    try:
        return _run(args)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> int:
    """The subcommand, with every expected error as one line on stderr and its exit status."""
    try:
        if args.command == "inspect":
            return _run_inspect(args)
        if args.command == "snapshot":
            return _run_snapshot(args)
        return _run_diff(args)
    except ImageForensicsError as e:
        # Messages quote names already shown (untrusted.show); the guard is for any that is not.
        print(f"{PROG}: {show_prose(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # The readers run in daemon threads: nothing waits for them on the way out.
        _say("interrupted")
        return 128 + signal.SIGINT
    except _Terminated:
        _say("terminated")
        return 128 + signal.SIGTERM
    except OSError as e:
        where = f"{escape(str(e.filename))}: " if e.filename else ""
        print(f"{PROG}: {where}{show_prose(str(e.strerror or e))}", file=sys.stderr)
        return 2
    except (RecursionError, MemoryError) as e:
        print(f"{PROG}: input too deeply nested or too large to analyse: {type(e).__name__}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - a traceback must never reach a user
        if os.environ.get("IMAGEFORENSICS_DEBUG"):
            raise
        print(f"{PROG}: internal error: {type(e).__name__}: {show_prose(str(e))} (a bug: please report it; IMAGEFORENSICS_DEBUG=1 shows where)", file=sys.stderr)
        return 2


def _say(message: str) -> None:
    """One line on stderr, on a fresh line after any progress; quietly nothing when stderr is gone."""
    try:
        print(f"{PROG}: {message}", file=sys.stderr, flush=True)
    except OSError:
        pass
