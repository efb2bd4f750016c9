"""imageforensics: read, audit and diff container image archives offline."""

__version__ = "0.1.0"
