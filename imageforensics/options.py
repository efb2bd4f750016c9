"""What each stage is told, as frozen values passed whole: the safety limits.

Every limit a user may raise carries its command-line option in the field's
metadata (``flag``, ``metavar``, ``help``): the CLI builds its options from
them and the README's table lists them, so a new limit is one field here and
the code that enforces it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

_KiB = 1 << 10
_MiB = 1 << 20


def _settable(default: int, flag: str, help: str, *, metavar: str = "N") -> Any:
    """A limit the option ``flag METAVAR`` raises; ``help`` is its --help text (the default is added)."""
    return field(default=default, metadata={"flag": flag, "metavar": metavar, "help": help})


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Every limit has a default and a CLI option to raise it; hitting one raises LimitError."""

    max_json_bytes: int = _settable(64 * _MiB, "--max-json-bytes", "largest JSON member read")
    max_json_depth: int = _settable(200, "--max-json-depth", "deepest JSON nesting")
    max_layers: int = _settable(4096, "--max-layers", "most layers per image")
    max_entries_per_layer: int = _settable(2_000_000, "--max-entries", "most entries per layer")
    max_path_bytes: int = _settable(64 * _KiB, "--max-path-bytes", "longest path in a layer")
    # Decompressed bytes may be at most this many times the compressed bytes
    # (plus a fixed allowance, since tiny inputs legitimately expand a lot).
    max_expansion_ratio: int = _settable(1000, "--max-expansion", "decompressed/compressed ratio that counts as a bomb",
                                         metavar="RATIO")
    expansion_allowance: int = 64 * _MiB


def settable_limits() -> tuple[dataclasses.Field[Any], ...]:
    """The fields of ``Limits`` that a command-line option sets, in their order."""
    return tuple(f for f in dataclasses.fields(Limits) if "flag" in f.metadata)


DEFAULT_LIMITS = Limits()
