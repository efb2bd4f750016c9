"""imageforensics: read, audit and diff container image archives offline."""

from imageforensics._version import __version__

__all__ = ["__version__"]
