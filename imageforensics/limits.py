"""Safety limits for reading untrusted archives, as one frozen value."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Every limit has a default and a CLI option to raise it; hitting one raises LimitError."""

    max_json_bytes: int = 64 * 1024 * 1024
    max_json_depth: int = 200
    max_layers: int = 4096
    max_entries_per_layer: int = 2_000_000
    max_path_bytes: int = 64 * 1024
    # Decompressed bytes may be at most this many times the compressed bytes
    # (plus a fixed allowance, since tiny inputs legitimately expand a lot).
    max_expansion_ratio: int = 1000
    expansion_allowance: int = 64 * 1024 * 1024


DEFAULT_LIMITS = Limits()
