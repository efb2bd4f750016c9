"""The diff's package options: ``--ignore-packages PATTERN`` and ``--type MANAGER[,MANAGER]`` (container-diff's spelling)."""

from __future__ import annotations

import argparse

from imageforensics.errors import ImageForensicsError
from imageforensics.model import PACKAGE_MANAGERS

# container-diff's analyzer names, and ours.
_ALIASES = {"apt": "dpkg", "deb": "dpkg", "node": "npm", "python": "pip"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options, on the diff's parser."""
    parser.add_argument("--ignore-packages", action="append", default=[], metavar="PATTERN",
                        help="leave packages whose name matches this glob out of the package comparison (repeatable)")
    parser.add_argument("--type", action="append", default=[], metavar="MANAGER",
                        help="compare only these package managers' packages: " + ", ".join(PACKAGE_MANAGERS)
                        + " (also apt, node, python; comma-separated or repeated)")


def package_types(args: argparse.Namespace) -> tuple[str, ...]:
    """The package managers ``--type`` names (DiffOptions.package_types); () for all."""
    types = []
    for text in args.type:
        for part in text.split(","):
            name = _ALIASES.get(part.strip().lower(), part.strip().lower())
            if name not in PACKAGE_MANAGERS:
                raise ImageForensicsError(f"--type {part.strip()[:40]!r}: expected one of {', '.join(PACKAGE_MANAGERS)} "
                                          f"(or apt, node, python)")
            types.append(name)
    return tuple(sorted(set(types)))
