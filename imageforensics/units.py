"""Sizes as people read them (pure formatting, shared by findings and renderers)."""

from __future__ import annotations


def human_size(n: int) -> str:
    """Decimal units with three significant digits, as docker prints them: ``7.65 kB``."""
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in ("kB", "MB", "GB", "TB", "PB"):
        value /= 1000
        if value < 999.5 or unit == "PB":
            text = f"{value:.3g}" if value < 1000 else f"{value:.0f}"
            return f"{text} {unit}"
    raise AssertionError("unreachable")
