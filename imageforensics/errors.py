"""The project's exceptions: one root, one subclass per stage.

Bad input also subclasses ValueError. Every message names the archive, the
member (where there is one) and what was expected, on one line, so the CLI can
print it as it is: names from an archive are quoted with ``untrusted.show``
where the message is written.
"""

from __future__ import annotations

from imageforensics.untrusted import escape


class ImageForensicsError(Exception):
    """Root of every error this project raises on purpose."""


class InputError(ImageForensicsError, ValueError):
    """An input cannot be read as an image archive at all.

    ``member`` and ``expected`` are already shown text (their names went
    through ``untrusted.show``); ``archive`` is the input as given, shown here.
    """

    def __init__(self, archive: str, member: str | None, expected: str) -> None:
        self.archive = archive
        self.member = member
        self.expected = expected
        where = f"{escape(archive)}: {member}" if member else escape(archive)
        super().__init__(f"{where}: {expected}")


class SelectionError(ImageForensicsError, ValueError):
    """The input holds several images or platforms and the choice is missing or wrong."""


class LimitError(InputError):
    """A safety limit was hit (JSON size, nesting, layers, entries, decompression ratio)."""


class ToolMissingError(ImageForensicsError):
    """A helper program needed for a compression format is not available."""


class SnapshotError(InputError):
    """A snapshot file cannot be loaded."""
