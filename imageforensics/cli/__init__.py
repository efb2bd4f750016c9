"""The command line: ``imageforensics [diff] A B``, ``inspect``, ``snapshot``."""

from imageforensics.cli._main import main

__all__ = ["main"]
