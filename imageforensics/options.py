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
import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from imageforensics.catalogue import Severity

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
    # The per-layer limit alone lets 4096 layers hold billions of entries; memory holds every one of them.
    max_entries_total: int = _settable(4_000_000, "--max-total-entries",
                                       "most entries in all the layers of one input (each blob counted once)")
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
    # containerd's fs.RootPath and moby's FollowSymlinkInScope give up after 255 links.
    max_symlink_hops: int = _fixed(255, "symlinks followed to resolve the parent of a layer entry inside the image (as containerd's `fs.RootPath`)")
    # Each link followed adds its target's names to the walk: this bounds one resolution's work.
    max_symlink_steps: int = _fixed(65_536, "names walked to resolve the parent of a layer entry (beyond: a loop)")
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


# The config keys ``--ignore-config`` names, spelt as in the config JSON's ``config`` object
# (image-spec config.md), each with the RunConfig field it is read into.
CONFIG_KEYS: dict[str, str] = {
    "Env": "env", "Cmd": "cmd", "Entrypoint": "entrypoint", "WorkingDir": "working_dir", "User": "user",
    "ExposedPorts": "exposed_ports", "Volumes": "volumes", "Labels": "labels", "StopSignal": "stop_signal",
    "Healthcheck": "healthcheck", "Shell": "shell", "OnBuild": "on_build",
}
# Keys whose value is a mapping or a set, so ``Key.member`` names one member (a label, a variable, a port, a volume).
KEYED_CONFIG_KEYS = frozenset({"Env", "Labels", "ExposedPorts", "Volumes"})


@dataclass(frozen=True, slots=True, order=True)
class ConfigKey:
    """A config key the diff leaves out: a whole field (``Labels``) or one member of it (``Labels.build-date``)."""

    field: str              # the RunConfig field, e.g. "labels"
    member: str | None = None  # a label, an env variable, a port or a volume; None for the whole field

    @classmethod
    def parse(cls, text: str) -> ConfigKey:
        """``Labels``, ``Labels.build-date``, ``Env.API_KEY``, ``config.Cmd`` (key names case-insensitive); ValueError else."""
        spelled = text[len("config."):] if text.lower().startswith("config.") else text
        head, dot, member = spelled.partition(".")
        by_lower = {k.lower(): k for k in CONFIG_KEYS}
        key = by_lower.get(head.lower())
        if key is None:
            raise ValueError(f"unknown config key {head!r}: expected one of {', '.join(CONFIG_KEYS)}, "
                             f"or Key.member for {', '.join(sorted(KEYED_CONFIG_KEYS))}")
        if dot and (key not in KEYED_CONFIG_KEYS or not member):
            raise ValueError(f"{text!r}: only {', '.join(sorted(KEYED_CONFIG_KEYS))} take a .member")
        if dot and key == "ExposedPorts":
            # As the model holds ports: ``8080`` is ``8080/tcp`` (Docker defaults the protocol to tcp).
            number, _, proto = member.partition("/")
            member = f"{number}/{(proto or 'tcp').lower()}"
        return cls(CONFIG_KEYS[key], member if dot else None)

    def __str__(self) -> str:
        key = next(k for k, f in CONFIG_KEYS.items() if f == self.field)
        return key if self.member is None else f"{key}.{self.member}"


class FailOn(enum.Enum):
    """``--fail-on``: the least a finding must weigh for the exit status to be 1."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    ANY = "any"       # any finding at all, or (for a diff) any difference

    def fails(self, severities: Iterable[Severity], *, differs: bool = False) -> bool:
        """True when a finding of these ``severities`` (or, for ANY, a difference) reaches this level."""
        if self is FailOn.ANY:
            return differs or any(True for _ in severities)
        least = {FailOn.ERROR: Severity.ERROR, FailOn.WARNING: Severity.WARNING, FailOn.INFO: Severity.INFO}[self]
        return any(s >= least for s in severities)


@dataclass(frozen=True, slots=True, kw_only=True)
class DiffOptions:
    """What the comparison leaves out, and the limits of its work.

    Each filter is left out where the comparison is made: ``ignore_timestamps``
    (created times, file mtimes), ``ignore`` (path globs), ``ignore_history``
    (the history's created_by, comment and author), ``ignore_config`` (config
    keys or members), ``ignore_file_mode`` and ``ignore_file_owner`` (entry
    fields). ``semantic`` compares only what a container would see: files, their
    content, mode and owner, and the runtime config (``SEMANTIC`` sets it with the
    filters it implies).
    """

    ignore_timestamps: bool = False
    ignore: tuple[str, ...] = ()
    ignore_history: bool = False
    ignore_config: tuple[ConfigKey, ...] = ()
    ignore_file_mode: bool = False
    ignore_file_owner: bool = False
    semantic: bool = False
    limits: Limits = field(default_factory=Limits)
    # Package names (globs) left out of the package comparison, and the package managers it compares
    # (names of model.PACKAGE_MANAGERS; () compares all), as container-diff's --type chooses analyzers.
    ignore_packages: tuple[str, ...] = ()
    package_types: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        """True when anything is ignored."""
        return (self.ignore_timestamps or bool(self.ignore) or self.ignore_history or bool(self.ignore_config)
                or self.ignore_file_mode or self.ignore_file_owner or self.semantic)

    @property
    def ignored_entry_fields(self) -> frozenset[str]:
        """The file entry fields (merged_fs ENTRY_FIELDS names) not compared."""
        fields = set()
        if self.ignore_timestamps:
            fields.add("mtime")
        if self.ignore_file_mode:
            fields.add("mode")
        if self.ignore_file_owner:
            fields.update(("uid", "gid"))
        return frozenset(fields)

    def with_semantic(self) -> DiffOptions:
        """These options with ``--semantic``: no timestamps, history text or labels (a container sees none of them)."""
        labels = ConfigKey("labels")
        return dataclasses.replace(self, semantic=True, ignore_timestamps=True, ignore_history=True,
                                   ignore_config=self.ignore_config + (() if labels in self.ignore_config else (labels,)))

    def described(self) -> tuple[tuple[str, str], ...]:
        """The filters in force as (option, value) pairs, for the report's header."""
        out: list[tuple[str, str]] = []
        if self.semantic:
            out.append(("semantic", "true"))
        if self.ignore_timestamps:
            out.append(("ignore_timestamps", "true"))
        if self.ignore:
            out.append(("ignore", " ".join(self.ignore)))
        if self.ignore_history:
            out.append(("ignore_history", "true"))
        if self.ignore_config:
            out.append(("ignore_config", " ".join(str(k) for k in self.ignore_config)))
        if self.ignore_file_mode:
            out.append(("ignore_file_mode", "true"))
        if self.ignore_file_owner:
            out.append(("ignore_file_owner", "true"))
        if self.ignore_packages:
            out.append(("ignore_packages", " ".join(self.ignore_packages)))
        if self.package_types:
            out.append(("package_types", " ".join(self.package_types)))
        return tuple(out)
