"""How every subcommand names and reads its inputs: one selector grammar, stdin included.

A subcommand declares an input with ``add_input`` (the positional argument and
``--platform``) and reads it with ``read_selected``: the archive, the selector
(``read.parse_selector``: ``a.tar:name:tag``, ``a.tar@N``, skopeo's
``docker-archive:``, ``oci-archive:``, ``oci:``, ``dir:``) and the images it
names. ``-@1`` and ``-:name:tag`` (an image of standard input) begin with a dash
like an option: ``protect_stdin_selectors`` keeps argparse from taking them
for one.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from imageforensics.errors import ImageForensicsError
from imageforensics.model import Archive, Image
from imageforensics.options import ReadOptions
from imageforensics.read import Progress, Selector, parse_selector, read_input, select_image

# argv strings never hold a NUL (execve cannot pass one): a protected spec is unmistakable.
_PROTECTED = "\0"

SELECTOR_HELP = ("an archive, a directory, a snapshot or - for standard input; add :name:tag or @N to choose "
                 "one of several images (docker-archive:, oci-archive:, oci: and dir: prefixes as skopeo spells them)")


def protect_stdin_selectors(argv: Sequence[str]) -> list[str]:
    """``argv`` with ``-@N`` and ``-:ref`` marked as inputs (``input_spec`` restores them); ``--`` ends the marking."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        if arg == "--":
            return out + list(argv[i:])
        out.append(_PROTECTED + arg if arg[:2] in ("-@", "-:") else arg)
    return out


def input_spec(text: str) -> str:
    """argparse ``type`` of an input: the spec as the user wrote it."""
    return text[len(_PROTECTED):] if text.startswith(_PROTECTED) else text


def add_input(parser: argparse.ArgumentParser, dest: str = "a", *, metavar: str = "INPUT",
              help: str = SELECTOR_HELP, platform: bool = True) -> None:
    """The positional input ``dest``, and ``--platform`` with it (``platform=False`` for a second input)."""
    parser.add_argument(dest, metavar=metavar, type=input_spec, help=help)
    if platform:
        parser.add_argument("--platform", metavar="OS/ARCH[/VARIANT]",
                            help="platform to pick from multi-platform inputs, e.g. linux/arm64/v8")


@dataclass(frozen=True, slots=True)
class Selected:
    """An input as read: the whole archive, the selector that named it, and the images it names."""

    archive: Archive
    selector: Selector
    # The chosen image when the selector or --platform chooses one; every image of the archive else.
    images: tuple[Image, ...]
    chose: bool

    @property
    def image(self) -> Image:
        """The one image named; SelectionError (listing the choices) when the input holds several."""
        return self.images[0] if self.chose else select_image(self.archive)


def selector_of(spec: str) -> Selector:
    """The selector of a spec, refusing standard input when it is a terminal (nothing would ever come)."""
    selector = parse_selector(spec)
    if selector.is_stdin and _stdin_is_terminal():
        raise ImageForensicsError("not reading an archive from a terminal: pipe one in "
                                  "(docker save IMAGE | imageforensics inspect -) or name a file")
    return selector


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except ValueError:  # closed
        return False


def read_selected(spec: str, options: ReadOptions, *, progress: Progress | None = None) -> Selected:
    """Read the input ``spec`` names, and choose the image its selector (and ``options.platform``) names."""
    selector = selector_of(spec)
    archive = read_input(selector.path, options, progress=progress)
    if selector.chooses or options.platform is not None:
        image = select_image(archive, reference=selector.reference, index=selector.index, platform=options.platform)
        return Selected(archive, selector, (image,), True)
    return Selected(archive, selector, archive.images, False)
