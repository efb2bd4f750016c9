"""Command line: ``imageforensics [diff] A B``, ``inspect A``, ``snapshot A -o F``, ``help [CMD]``.

Exit status follows diff(1): 0 when the two inputs hold the same image, 1 when
they differ, 2 for trouble. Every expected error becomes one line on stderr.
A subcommand is an entry of ``COMMANDS``: its help, the function declaring its
arguments (from the shared groups below: ``add_input``, output, filters,
``--fail-on``, limits) and the function running it; a one-input command reads
its input with ``read_one`` (the selector grammar of ``cli._inputs``).
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import functools
import gzip
import os
import shutil
import signal
import sys
import threading
from types import FrameType
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn

from imageforensics import audit
from imageforensics.cli import _cat, _ls, _package_options, _show_content, _stat
from imageforensics.cli._build_info import build_commit, version_line
from imageforensics.cli._inputs import SELECTOR_HELP, Selected, add_input, protect_stdin_selectors, read_selected, selector_of
from imageforensics.cli._output import refuse_input_as_output, write_output, write_streamed
from imageforensics.catalogue import Category, code_spec
from imageforensics.diff import diff_images, layers_needing_content
from imageforensics.errors import ImageForensicsError
from imageforensics.options import ConfigKey, DiffOptions, FailOn, Limits, ReadOptions, settable_limits
from imageforensics.read import Progress, choose_pair, parse_selector
from imageforensics.report import INSPECT_RENDERERS, RENDERERS, render, render_brief
from imageforensics.snapshot import write_snapshot
from imageforensics.untrusted import escape, show, show_prose

PROG = "imageforensics"

EXAMPLES = """\
examples:
  imageforensics pulled.tar rebuilt.tar          diff two archives (exit 0 same, 1 differ, 2 trouble)
  imageforensics diff a.tar b.tar --format markdown -o report.md
  imageforensics diff a.tar:local/app:1.0 b.tar@0 --ignore-timestamps --ignore '/var/cache/*'
  imageforensics diff a.tar b.tar --semantic     only what a container would see
  imageforensics inspect image.tar --fail-on error   exit 1 when the audit finds an error
  docker save app | imageforensics inspect -     read from standard input (-@1 for its second image)
  imageforensics snapshot a.tar -o a.json.gz     metadata-only snapshot, accepted wherever an archive is
  imageforensics a.json.gz b.tar                 diff a snapshot against an archive
  imageforensics help diff                       the options of one command
  imageforensics ls a.tar --long '/etc/*'        the merged filesystem, with the step that wrote each path
  imageforensics stat a.tar /etc/passwd          one path through the layers
  imageforensics cat a.tar /etc/os-release       one file's bytes, to standard output

inputs: a docker save / podman / skopeo / crane / containerd / BuildKit / OCI archive
(optionally gzip, bzip2, xz or zstd compressed), an OCI layout or extracted save directory,
a snapshot, or - for standard input. Choose one of several images with INPUT:name:tag or
INPUT@N (skopeo's docker-archive:, oci-archive:, oci: and dir: prefixes are accepted), and
one of several platforms with --platform os/arch[/variant]. Every command takes the same.
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


def _count(text: str) -> int:
    """A count that may be 0 (none), never negative."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 (none) or more, not {value}")
    return value


def _config_key(text: str) -> ConfigKey:
    try:
        return ConfigKey.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


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
                       help="name the inputs by the paths given in markdown and html (default: their file names)")
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


def _output_options(parser: argparse.ArgumentParser, formats: Sequence[str], *, what: str) -> None:
    """``--format`` (when there is a choice) and ``-o``."""
    if len(formats) > 1:
        parser.add_argument("--format", choices=tuple(formats), default=formats[0],
                            help=f"{what} format (default {formats[0]})")
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE (a file is replaced whole or not at all)")


def _quiet_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


def _archive_digest_option(parser: argparse.ArgumentParser, shown: str) -> None:
    # Only on request: sha256 is sequential, so an archive's own digest is a hash of every byte on
    # one core, as long as `openssl dgst` of the file, beside the layers' diff_ids (issue 18).
    parser.add_argument("--archive-digest", action="store_true",
                        help=f"take each input archive's own sha256 (as sha256sum gives it) and show it {shown}; "
                             "it costs a hash of every byte more")


def _fail_on_option(parser: argparse.ArgumentParser, default_says: str) -> None:
    parser.add_argument("--fail-on", choices=tuple(level.value for level in FailOn), default=None, metavar="LEVEL",
                        help=f"exit 1 when a finding of LEVEL or above remains: error, warning, info, or any "
                             f"(any finding or difference); {default_says}")


def _filter_options(parser: argparse.ArgumentParser) -> None:
    """What the diff leaves out (diffoci's --ignore-* and --semantic); the exit status follows what remains."""
    group = parser.add_argument_group("filters (the exit status reflects only what they leave)")
    group.add_argument("--ignore-timestamps", action="store_true", help="do not count created times or file mtimes as differences")
    group.add_argument("--ignore", action="append", default=[], metavar="PATTERN", help="ignore paths matching this glob (repeatable), e.g. '/var/cache/*'")
    group.add_argument("--ignore-history", action="store_true", help="ignore the history's text (created_by, comment, author)")
    group.add_argument("--ignore-config", action="append", default=[], type=_config_key, metavar="KEY",
                       help="ignore a config key or one member of it (repeatable), e.g. Labels.build-date, Env.BUILD_NO, Cmd")
    group.add_argument("--ignore-labels", action="store_true", help="ignore the config's labels (same as --ignore-config Labels)")
    group.add_argument("--ignore-env", action="store_true", help="ignore the config's environment (same as --ignore-config Env)")
    group.add_argument("--ignore-file-mode", action="store_true", help="ignore files' mode bits")
    group.add_argument("--ignore-file-owner", action="store_true", help="ignore files' owners (uid and gid)")
    group.add_argument("--semantic", action="store_true",
                       help="compare only what a container would see: files, their content, mode and owner, and the "
                            "runtime config (no timestamps, history text, labels, names or packaging)")


def _add_diff(parser: argparse.ArgumentParser) -> None:
    add_input(parser, "a", metavar="A", help="first input (e.g. the pulled image); " + SELECTOR_HELP)
    add_input(parser, "b", metavar="B", help="second input (e.g. the rebuilt image), named the same way", platform=False)
    _output_options(parser, tuple(RENDERERS), what="report")
    _filter_options(parser)
    _fail_on_option(parser, "without it, as diff(1): 1 when the images differ")
    parser.add_argument("--max-paths", type=_count, default=None, metavar="N",
                        help="paths listed per finding, 0 for none (default 10 text, 50 markdown, 200 html; json: all)")
    parser.add_argument("--color", nargs="?", const="always", choices=("auto", "always", "never"), default="auto",
                        help="colour in text output; a bare --color means always (auto: only on a terminal, "
                             "and never with NO_COLOR set to anything but the empty string)")
    _show_content.add_argument(parser)
    _package_options.add_arguments(parser)
    _report_options(parser)
    _archive_digest_option(parser, "in the report (not in the text format)")
    _quiet_option(parser)
    _limit_options(parser)


def _add_inspect(parser: argparse.ArgumentParser) -> None:
    add_input(parser, "a")
    _output_options(parser, tuple(INSPECT_RENDERERS), what="output")
    _fail_on_option(parser, "without it, 0 whatever the audit finds")
    _archive_digest_option(parser, "with its size")
    _quiet_option(parser)
    _limit_options(parser)


def _add_snapshot(parser: argparse.ArgumentParser) -> None:
    add_input(parser, "a")
    parser.add_argument("-o", "--output", metavar="FILE", required=True, help="snapshot file; .gz compresses it")
    parser.add_argument("--redact", default="", metavar="env,labels",
                        help="replace env and/or label values with their digest, in the config and where the "
                             "history's created_by repeats them")
    _quiet_option(parser)
    _limit_options(parser)


@dataclass(frozen=True)
class Command:
    """A subcommand: its one-line help, the arguments it declares, and what runs it."""

    help: str
    declare: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with a subparser per entry of ``COMMANDS``."""
    parser = _Parser(
        prog=PROG,
        description="Offline forensics for container image archives: read, audit and diff them.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-V", "--version", action="version", version=version_line())
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join((*COMMANDS, "help")) + "}")
    for name, command in COMMANDS.items():
        declare = sub.add_parser(name, help=command.help, description=command.help, epilog=EXAMPLES,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        command.declare(declare)
    helper = sub.add_parser("help", help="show the help of imageforensics or of one command")
    helper.add_argument("topic", nargs="?", metavar="COMMAND", help="a command to show the options of")
    return parser


def _normalise_argv(argv: list[str]) -> list[str]:
    """Make ``diff`` the default subcommand: ``imageforensics A B`` means ``diff A B``."""
    if not argv or argv[0] in COMMANDS or argv[0] in ("help", "-h", "--help", "-V", "--version"):
        return argv
    return ["diff", *argv]


def _mistyped_command(argv: Sequence[str]) -> str | None:
    """"did you mean inspect?" for a first word that names no file and is close to a command's name."""
    if not argv or argv[0] in (*COMMANDS, "help") or argv[0].startswith("-") or os.path.exists(argv[0]):
        return None
    word = argv[0]
    close = difflib.get_close_matches(word, (*COMMANDS, "help"), n=1, cutoff=0.6)
    # A word that could be an input spec (a path, a selector) is taken as one.
    if not close or any(ch in word for ch in "/.:@"):
        return None
    return f"{show(word, 40)} is no command and no file; did you mean {close[0]}? (see {PROG} help)"


def _use_color(choice: str, output: str | None) -> bool:
    if choice == "always":
        return True
    if choice == "never" or output not in (None, "-") or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


def diff_options_from_args(args: argparse.Namespace) -> DiffOptions:
    """The ``DiffOptions`` the parsed command line asks for."""
    keys: list[ConfigKey] = list(args.ignore_config)
    for flag, field in ((args.ignore_labels, "labels"), (args.ignore_env, "env")):
        if flag and ConfigKey(field) not in keys:
            keys.append(ConfigKey(field))
    options = DiffOptions(ignore_timestamps=args.ignore_timestamps, ignore=tuple(args.ignore),
                          ignore_history=args.ignore_history, ignore_config=tuple(keys),
                          ignore_file_mode=args.ignore_file_mode, ignore_file_owner=args.ignore_file_owner,
                          limits=limits_from_args(args), ignore_packages=tuple(args.ignore_packages),
                          package_types=_package_options.package_types(args))
    return options.with_semantic() if args.semantic else options


def _run_diff(args: argparse.Namespace) -> int:
    if parse_selector(args.a).is_stdin and parse_selector(args.b).is_stdin:
        raise ImageForensicsError("only one of the two inputs can be - (standard input)")
    selectors = selector_of(args.a), selector_of(args.b)
    refuse_input_as_output(args.output, (args.a, args.b))
    options = diff_options_from_args(args)
    # Each byte hashed once where possible: the archive digest only on request (the text
    # report never shows it), and files' content digests only for layers that differ.
    read = ReadOptions(limits=options.limits, platform=args.platform, archive_digest=args.archive_digest and args.format != "text",
                       keep_paths=_show_content.keep_paths(args))
    progress = _progress(args)
    try:
        chosen_a, chosen_b = choose_pair(*selectors, read, progress=progress,
                                         needed_layers=lambda a, b: layers_needing_content(a, b, options))
    finally:
        if progress is not None:
            progress.finish()
    report = diff_images(chosen_a.archive, chosen_a.image, chosen_b.archive, chosen_b.image, options)
    if args.show_content:
        report = _show_content.add_to(report, chosen_a, chosen_b, args.show_content, options.limits)
    commit = build_commit()
    if commit:
        # The report names exactly which build produced it.
        report = dataclasses.replace(report, tool_version=f"{report.tool_version} (commit {commit[:12]})")
    takes = RENDERERS[args.format].options
    shown: dict[str, object] = {}
    if "max_paths" in takes and args.max_paths is not None:
        shown["max_paths"] = args.max_paths
    if "color" in takes:
        shown["color"] = _use_color(args.color, args.output)
    if args.brief:
        write_output(render_brief(report), args.output)
    else:
        shown.update(_report_shown(args, takes))
        text = render(report, args.format, **shown)
        if args.format == "text" and args.show_content:
            text += _show_content.text_appendix(report)
        write_output(text, args.output)
    if args.fail_on is None:
        return report.exit_status
    # Notes say what is no difference (packaging, names, what was ignored or not compared): they never fail a run.
    weighed = (f.severity for f in report.findings if code_spec(f.code).category not in (Category.NOTE, Category.PACKAGING))
    return 1 if FailOn(args.fail_on).fails(weighed, differs=report.differs) else 0


def _progress(args: argparse.Namespace) -> Progress | None:
    """A progress line on stderr only when it is a terminal and --quiet is not given."""
    if args.quiet or not sys.stderr.isatty():
        return None
    return Progress(sys.stderr)


def read_one(args: argparse.Namespace, *, content_digests: bool = True, archive_digest: bool = True) -> Selected:
    """The input ``args.a`` names (selector, --platform, limits, progress), as every one-input command reads it.

    ``content_digests=False``: no file's content is hashed (the output shows no file digests);
    ``archive_digest=False``: nor the archive's own bytes (``Archive.sha256`` None).
    """
    progress = _progress(args)
    options = ReadOptions(limits=limits_from_args(args), platform=getattr(args, "platform", None),
                          archive_digest=archive_digest)
    if not content_digests:
        options = dataclasses.replace(options, content_digests=False, digest_below=0)
    try:
        return read_selected(args.a, options, progress=progress)
    finally:
        if progress is not None:
            progress.finish()


def _run_inspect(args: argparse.Namespace) -> int:
    selector_of(args.a)
    refuse_input_as_output(args.output, (args.a,))
    # Only the JSON model lists files with their content digests: the text hashes each byte once, for the diff_ids.
    selected = read_one(args, content_digests=args.format == "json", archive_digest=args.archive_digest)
    renderer = INSPECT_RENDERERS[args.format]
    # The JSON model is the whole input unless the selector itself names one image.
    narrow = selected.selector.chooses or (args.platform is not None and renderer.narrows_to_platform)
    images = selected.images if narrow else None
    write_streamed(renderer.stream(selected.archive, images, image_findings=audit.image_findings), args.output)
    if args.fail_on is None:
        return 0
    audited = [*selected.archive.findings, *(f for image in selected.images for f in audit.image_findings(image))]
    return 1 if FailOn(args.fail_on).fails(f.severity for f in audited) else 0


def _run_snapshot(args: argparse.Namespace) -> int:
    redact = frozenset(part.strip() for part in args.redact.split(",") if part.strip())
    unknown = redact - {"env", "labels"}
    if unknown:
        raise ImageForensicsError(f"--redact takes env and/or labels, not {', '.join(sorted(unknown))}")
    selector_of(args.a)
    refuse_input_as_output(args.output, (args.a,))
    selected = read_one(args)
    archive = selected.archive
    if selected.chose:
        # A snapshot of the image the selector names, alone.
        archive = dataclasses.replace(archive, images=selected.images)
    data = write_snapshot(archive, redact=redact)
    if args.output.endswith(".gz"):
        # Level 6: the same size as 9 on snapshots' JSON, in about half the time (issue 18).
        data = gzip.compress(data, compresslevel=6, mtime=0)
    write_output(data, args.output)
    return 0


COMMANDS: dict[str, Command] = {
    "diff": Command("compare two images (the default with two inputs)", _add_diff, _run_diff),
    "inspect": Command("show one input: format, image ID, history, layers, audit", _add_inspect, _run_inspect),
    "snapshot": Command("write a metadata-only snapshot (no file contents) that diffs like the archive",
                        _add_snapshot, _run_snapshot),
    **{name: Command(module.HELP, functools.partial(module.declare, limit_options=_limit_options),
                     functools.partial(module.run, limits_from_args=limits_from_args))
       for name, module in (("ls", _ls), ("stat", _stat), ("cat", _cat))},
}
SUBCOMMANDS = tuple(COMMANDS)


def _run_help(parser: argparse.ArgumentParser, topic: str | None) -> int:
    """``imageforensics help [COMMAND]``: the help on stdout, exit 0; an unknown command is trouble."""
    if topic is None:
        parser.print_help(sys.stdout)
        return 0
    if topic not in COMMANDS:
        close = difflib.get_close_matches(topic, COMMANDS, n=1)
        hint = f"; did you mean {close[0]}?" if close else f"; the commands are {', '.join(COMMANDS)}"
        print(f"{PROG}: no command {show(topic, 40)}{hint}", file=sys.stderr)
        return 2
    parser.parse_args([topic, "--help"])
    return 0


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread as Ctrl-C raises KeyboardInterrupt."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (130 after Ctrl-C, 143 after SIGTERM)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    mistyped = _mistyped_command(args_list)
    if mistyped is not None:
        print(f"{PROG}: {mistyped}", file=sys.stderr)
        return 2
    args = parser.parse_args(protect_stdin_selectors(_normalise_argv(args_list)))
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if args.command == "help":
        return _run_help(parser, args.topic)
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
        return COMMANDS[args.command].run(args)
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
