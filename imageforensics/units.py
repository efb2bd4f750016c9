"""Sizes as people read them (pure formatting, shared by findings and renderers)."""

from __future__ import annotations


def human_size(n: int, *, decimals: int | None = None) -> str:
    """Decimal units with three significant digits, as docker prints them: ``7.65 kB``.

    ``decimals`` fixes the digits after the point instead (``7.7 kB``), so
    that a size that keeps changing keeps its width (a progress line).
    """
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in ("kB", "MB", "GB", "TB", "PB"):
        value /= 1000
        if value < 999.5 or unit == "PB":
            if decimals is not None:
                return f"{value:.{decimals}f} {unit}"
            text = f"{value:.3g}" if value < 1000 else f"{value:.0f}"
            return f"{text} {unit}"
    raise AssertionError("unreachable")
