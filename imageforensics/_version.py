"""The version of imageforensics (one place: the package metadata and reports read it)."""

__version__ = "0.1.0"
