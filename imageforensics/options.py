"""What each stage is told, as frozen values passed whole: the limits, what the reader reads, what the diff ignores.

Every bound on the work or memory an untrusted input can ask for is a field
of ``Limits``, read from the ``Limits`` a module is given (so a test lowers a
cap by passing a smaller one). Those a user may raise carry their
command-line option in the field's metadata (``flag``, ``metavar``, ``help``):
the CLI builds its options from them. The others are fixed caps, marked
``fixed`` with what they bound; the README lists both from here.

``ReadOptions`` is what the reader is told for one read, ``DiffOptions``
what the diff is told (each with the ``Limits`` of the run), passed whole
through ``read/`` and ``diff/``: a new option is a field here, its flag in
the CLI, and the code that reads it.
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


def _fixed(default: int, bounds: str, *, unit: str = "") -> Any:
    """A cap no option raises; ``bounds`` says what it bounds and ``unit`` what it counts, as the README lists them."""
    return field(default=default, metadata={"fixed": bounds, "unit": unit})


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Every bound on the work and memory an input can ask for, with its default.

    Going over a settable limit raises LimitError naming its option; a fixed
    cap refuses the input or shortens a list, as the code that reads it says.
    """

    max_json_bytes: int = _settable(64 * _MiB, "--max-json-bytes", "largest JSON member read")
    max_json_depth: int = _settable(200, "--max-json-depth", "deepest JSON nesting")
    max_layers: int = _settable(4096, "--max-layers", "most layers per image")
    max_entries_per_layer: int = _settable(2_000_000, "--max-entries", "most entries per layer")
    max_path_bytes: int = _settable(64 * _KiB, "--max-path-bytes", "longest path in a layer")
    # Decompressed bytes may be at most this many times the compressed bytes
    # (plus a fixed allowance, since tiny inputs legitimately expand a lot).
    max_expansion_ratio: int = _settable(1000, "--max-expansion", "decompressed/compressed ratio that counts as a bomb",
                                         metavar="RATIO")

    # The fixed caps, in the order a read and then a diff meet them.
    expansion_allowance: int = _fixed(
        64 * _MiB, "decompressed bytes allowed beyond `--max-expansion` times the compressed bytes", unit="bytes")
    # Each layer brings a few members (a directory, VERSION, json, layer.tar, a blob).
    members_per_layer: int = _fixed(16, "members of an archive (or files of a directory) per layer `--max-layers` allows")
    members_besides_layers: int = _fixed(4096, "members of an archive (or files of a directory) besides those")
    # An extended header holds a path and a link target, plus xattrs and the like.
    extended_header_allowance: int = _fixed(
        1 * _MiB, "size of a tar extended header, beyond twice `--max-path-bytes`", unit="bytes")
    # Tar writers pad to a record size (10240 bytes for GNU tar); far more than
    # that is an endless input (/dev/zero reads as an empty tar), which must end.
    max_bytes_after_end: int = _fixed(
        64 * _MiB, "bytes after the end-of-archive marker, or after the end of a compressed stream "
                   "(an endless input such as `/dev/zero`)", unit="bytes")
    # JSON documents of one archive are configs, manifests and indexes:
    # kilobytes each. Twice the single-document limit is generous.
    json_held_multiple: int = _fixed(2, "JSON members held in memory together", unit="× `--max-json-bytes`")
    # Small members that are neither JSON nor a compressed stream nor a tar
    # (VERSION, README, placeholder blobs) are kept as bytes: parse turns them
    # into (unreadable) layers if a manifest names them as such.
    max_small_member_bytes: int = _fixed(
        64 * _KiB, "size of a small member that is neither JSON nor a layer (VERSION, a placeholder blob), "
                   "held in memory", unit="bytes")
    # tarfile would list every run of a hostile sparse map in memory.
    max_sparse_runs: int = _fixed(100_000, "runs in a sparse map")
    max_anomalies_per_layer: int = _fixed(1000, "anomalies listed per layer (the rest are counted)")
    max_link_hops: int = _fixed(40, "links followed to resolve a member name")
    max_index_depth: int = _fixed(16, "nesting of image indexes", unit="levels")
    # Each (child, names, platform) is walked once, but indexes naming their
    # children under distinct names on every path still fan out.
    max_descriptors: int = _fixed(100_000, "descriptors walked in all image indexes")
    max_duplicate_keys: int = _fixed(20, "duplicate keys noted per JSON document")
    # Only for documents too deep for json: how deep, exactly for up to this many characters.
    depth_scan_chars: int = _fixed(
        4 * _MiB, "characters of a JSON document too deep for Python's parser scanned to tell its depth")
    # A config is kilobytes; a hostile one with a million keys keeps this many
    # paths (and a digest of the rest).
    max_config_paths: int = _fixed(4096, "config paths fingerprinted (the rest as one digest)")
    # A snapshot lists every file entry, so it may legitimately be larger than
    # any config JSON: this many times the JSON member limit, once inflated.
    snapshot_json_multiple: int = _fixed(16, "size of a snapshot (after inflating)", unit="× `--max-json-bytes`")
    # The diff's: a huge or hostile history, or paths nested thousands deep, stay fast.
    # Above this many cells the quadratic alignment is replaced by difflib's
    # matching on normalised text.
    max_alignment_cells: int = _fixed(
        1_000_000, "cells of the history alignment table (beyond: difflib's matching blocks)")
    # difflib is quadratic on repetitive input (a hostile history of alternating
    # steps); beyond this many units a windowed greedy pass is used instead.
    max_difflib_units: int = _fixed(10_000, "history steps matched with difflib (beyond: one linear pass)")
    resync_window: int = _fixed(64, "steps the linear pass looks ahead to pair up again", unit="steps")
    # `cat` from standard input keeps the bytes of the files at the path asked for as they stream past
    # (a later layer may replace them); package databases are small text files or one SQLite file.
    max_kept_file_bytes: int = _fixed(
        64 * _MiB, "size of a file whose bytes are kept while a layer streams past (a package database, "
                   "`cat` from standard input)", unit="bytes")
    max_kept_layer_bytes: int = _fixed(
        256 * _MiB, "bytes of such files kept from one layer", unit="bytes")
    max_package_databases_per_layer: int = _fixed(
        100_000, "package database files read per layer (one per Python or npm package; the rest are counted)")
    # A unified diff of two files of this size is already more than a report should hold.
    max_shown_content_bytes: int = _fixed(
        1 * _MiB, "size of a file `diff --show-content` compares as text", unit="bytes")
    # Deeper paths (PATH_MAX 4096 allows about 2,048 levels) are indexed lazily.
    max_linked_depth: int = _fixed(
        256, "depth of paths the merged filesystem links to their parent (deeper ones are found by a scan)",
        unit="levels")

    @property
    def max_members(self) -> int:
        """How many members an archive (or files a directory) may hold."""
        return self.members_per_layer * self.max_layers + self.members_besides_layers

    @property
    def max_extended_header_bytes(self) -> int:
        """The largest tar extended header read (tarfile reads one whole)."""
        return 2 * self.max_path_bytes + self.extended_header_allowance

    @property
    def max_json_held_bytes(self) -> int:
        """How many bytes of JSON members one archive may keep in memory together."""
        return self.json_held_multiple * self.max_json_bytes

    @property
    def max_snapshot_bytes(self) -> int:
        """The largest snapshot read, before and after inflating."""
        return self.snapshot_json_multiple * self.max_json_bytes


def fixed_caps() -> tuple[dataclasses.Field[Any], ...]:
    """The fields of ``Limits`` that no option sets, in their order."""
    return tuple(f for f in dataclasses.fields(Limits) if "fixed" in f.metadata)


def settable_limits() -> tuple[dataclasses.Field[Any], ...]:
    """The fields of ``Limits`` that a command-line option sets, in their order."""
    return tuple(f for f in dataclasses.fields(Limits) if "flag" in f.metadata)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadOptions:
    """What the reader is told for one read: its limits, which digests to take, and which platform to select."""

    limits: Limits = field(default_factory=Limits)
    # False leaves the content digests of files of ``digest_below`` bytes or
    # more empty: their data is then hashed once, for the diff_id (the reader
    # reads again just the layers whose files the diff compares).
    content_digests: bool = True
    # Without content digests, smaller files are hashed all the same: hashing
    # one costs about what listing it costs, and a layer of many small files
    # read again would cost more than hashing them on the way.
    digest_below: int = 64 * _KiB
    # False leaves Archive.sha256 None (the text report does not show it).
    archive_digest: bool = True
    # os/arch[/variant]: which image of a multi-platform input is chosen.
    platform: str | None = None
    # Paths (model paths: no leading "/") whose regular files' bytes each layer keeps (Layer.kept),
    # within ``Limits.max_kept_file_bytes``: `cat` from an input that cannot be read again.
    keep_paths: frozenset[str] = frozenset()
    # Read the package databases found in the layers (dpkg, apk, rpm, pip, npm) as they stream past.
    package_databases: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class DiffOptions:
    """What the comparison leaves out (timestamps, paths matching globs), and the limits of its work."""

    ignore_timestamps: bool = False
    ignore: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    # Package names (globs) left out of the package comparison, and the package managers it compares
    # (names of model.PACKAGE_MANAGERS; () compares all), as container-diff's --type chooses analyzers.
    ignore_packages: tuple[str, ...] = ()
    package_types: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        """True when anything is ignored."""
        return self.ignore_timestamps or bool(self.ignore)
