"""The immutable model of an image archive.

Everything here is a frozen, slotted, hashable value: str, int, bool, tuples,
and other model values. Mappings from the JSON are stored as tuples of sorted
(key, value) pairs. Nothing in this module does I/O.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import Field, FrozenInstanceError, dataclass, field
from typing import Any, ClassVar, cast

from imageforensics.digest import Digest as Digest  # re-exported: the model's values include digests
from imageforensics.findings import Finding
from imageforensics.timestamp import Timestamp
from imageforensics.inline_cache import InlineCache

# The well-known empty layers (FORMATS.md A5). Python's zlib cannot reproduce
# Go's gzip bytes, so these are recognised by digest, never by re-compressing.
EMPTY_TAR_1024 = "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
EMPTY_GZIP_SCHEMA1 = "a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"
EMPTY_GZIP_BUILDKIT = "4f4fb700ef54461cfa02571ae0db9a0dc1e0cdb5577484a6d75e68dc38e8acc1"
EMPTY_TAR_10240 = "84ff92691f909a05b224e1c56abb4864f01b4f8e3c854e4bb4c7baf1d3f6d652"
WELL_KNOWN_EMPTY = {
    EMPTY_TAR_1024: "1024-byte empty tar (docker's empty layer)",
    EMPTY_GZIP_SCHEMA1: "32-byte empty gzip (schema1 / containers/image)",
    EMPTY_GZIP_BUILDKIT: "32-byte empty gzip (BuildKit EmptyGZLayer)",
    EMPTY_TAR_10240: "10240-byte empty tar",
}


class _EntrySlots:
    """The storage of a ``FileEntry``: its slots, filled once by ``file_entry`` (this class has no guard)."""

    __slots__ = ("path", "kind", "size", "mode", "uid", "gid", "mtime_ns", "linkname", "devmajor", "devminor",
                 "xattrs", "content_key")
    path: str
    kind: str
    size: int
    mode: int
    uid: int
    gid: int
    mtime_ns: int
    linkname: str
    devmajor: int
    devminor: int
    xattrs: tuple[tuple[str, str], ...]
    # The content digest as entries compare it: the sha256 as its 32 bytes (a sha256:<hex> text read back
    # as them), else the text as given ("" mostly). Equal keys, equal content_digest texts; the diff
    # compares keys (spelling 400,000 digests out to compare them cost 0.5 s of a 200,000-file diff).
    content_key: bytes | str


class FileEntry(_EntrySlots):
    """One entry of a layer tar, with its name normalised.

    ``path`` has no leading ``/`` or ``./`` (``usr/bin/env``; the root itself
    is skipped). ``kind`` is one of: file, dir, symlink, hardlink, char,
    block, fifo, whiteout, opaque. For ``whiteout`` the path is the path it
    deletes; for ``opaque`` it is the directory whose lower contents it hides
    ("" for the root directory). Names that are not UTF-8 keep their bytes as
    surrogate escapes (``surrogateescape``); renderers must escape them.
    ``linkname`` of a hardlink is normalised like ``path``; a symlink's is
    kept as stored. ``content_digest`` is ``sha256:<hex>`` of a regular
    file's data (sparse files: with their holes), else "". ``xattrs`` are
    sorted (name, value) pairs from PAX ``SCHILY.xattr.*`` and
    ``LIBARCHIVE.xattr.*`` records; values are the raw bytes as escaped text:
    printable ASCII as is, backslash doubled, every other byte ``\\xNN``.

    A frozen value as the model's dataclasses are (equality and hash by
    field, ``dataclasses.fields`` and ``replace``, the same repr), built
    more cheaply: a layer lists millions of them. The digest is kept as its
    32 bytes, and ``content_digest`` spells it out when asked.
    """

    __slots__ = ()
    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]

    def __new__(cls, *, path: str, kind: str, size: int = 0, mode: int = 0, uid: int = 0, gid: int = 0,
                mtime_ns: int = 0, linkname: str = "", devmajor: int = 0, devminor: int = 0,
                xattrs: tuple[tuple[str, str], ...] = (), content_digest: str = "") -> FileEntry:
        digest: bytes | str = content_digest
        if len(content_digest) == 71 and _SHA256_TEXT.fullmatch(content_digest):
            digest = bytes.fromhex(content_digest[7:])
        return file_entry(path, kind, size, mode, uid, gid, mtime_ns, linkname, devmajor, devminor, xattrs, digest)

    @property
    def content_digest(self) -> str:
        """``sha256:<hex>`` of a regular file's data, else ""."""
        digest = self.content_key
        return "sha256:" + digest.hex() if isinstance(digest, bytes) else digest

    def _fields(self) -> tuple[object, ...]:
        return (self.path, self.kind, self.size, self.mode, self.uid, self.gid, self.mtime_ns, self.linkname,
                self.devmajor, self.devminor, self.xattrs, self.content_key)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not FileEntry:
            return NotImplemented
        assert isinstance(other, FileEntry)
        # Field by field, the likeliest differences first: no tuples built for the million comparisons of a diff.
        return (self.content_key == other.content_key and self.mtime_ns == other.mtime_ns
                and self.path == other.path and self.size == other.size and self.mode == other.mode
                and self.kind == other.kind and self.uid == other.uid and self.gid == other.gid
                and self.linkname == other.linkname and self.devmajor == other.devmajor
                and self.devminor == other.devminor and self.xattrs == other.xattrs)

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return (f"FileEntry(path={self.path!r}, kind={self.kind!r}, size={self.size!r}, mode={self.mode!r}, "
                f"uid={self.uid!r}, gid={self.gid!r}, mtime_ns={self.mtime_ns!r}, linkname={self.linkname!r}, "
                f"devmajor={self.devmajor!r}, devminor={self.devminor!r}, xattrs={self.xattrs!r}, "
                f"content_digest={self.content_digest!r})")

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __replace__(self, **changes: Any) -> FileEntry:
        """``copy.replace`` (Python 3.13+), as a dataclass has it."""
        return dataclasses.replace(self, **changes)

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return file_entry, self._fields()

    def __copy__(self) -> FileEntry:
        return self

    def __deepcopy__(self, memo: object) -> FileEntry:
        return self


_SHA256_TEXT = re.compile(r"sha256:[0-9a-f]{64}")


def file_entry(path: str, kind: str, size: int, mode: int, uid: int, gid: int, mtime_ns: int, linkname: str,
               devmajor: int, devminor: int, xattrs: tuple[tuple[str, str], ...], digest: bytes | str) -> FileEntry:
    """A FileEntry from its fields in order, the content digest as its 32 bytes (or "" for none): the reader's way."""
    entry = _new_slots(_EntrySlots)
    entry.path, entry.kind, entry.size, entry.mode, entry.uid, entry.gid = path, kind, size, mode, uid, gid
    entry.mtime_ns, entry.linkname, entry.devmajor, entry.devminor = mtime_ns, linkname, devmajor, devminor
    entry.xattrs, entry.content_key = xattrs, digest
    # The same slots, now behind FileEntry's guard: cheaper than one object.__setattr__ per field.
    entry.__class__ = FileEntry
    return cast(FileEntry, entry)


_new_slots = object.__new__


@dataclass(frozen=True, kw_only=True)
class _FileEntryFields:
    """FileEntry's fields as a dataclass declares them, for ``dataclasses.fields`` and ``replace``."""

    path: str
    kind: str
    size: int = 0
    mode: int = 0
    uid: int = 0
    gid: int = 0
    mtime_ns: int = 0
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: tuple[tuple[str, str], ...] = ()
    content_digest: str = ""


FileEntry.__dataclass_fields__ = _FileEntryFields.__dataclass_fields__


ENTRY_KINDS = ("file", "dir", "symlink", "hardlink", "char", "block", "fifo", "whiteout", "opaque")


@dataclass(frozen=True, slots=True)
class FileState:
    """What ``fstat`` said of a file as its first read began, to tell later whether it changed since.

    Any write to a file sets its change time (``ctime``) to the current time,
    and only a change of the system clock can set it back: a file whose
    identity, size, mtime and ctime are unchanged, and whose ctime was already
    older than ``taken_ns`` by more than the clock's grain, was not written in
    between (the rule git applies to its index: stat data proves a file
    unchanged unless it changed too recently to tell).
    """

    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int
    taken_ns: int = field(compare=False)


@dataclass(frozen=True, slots=True)
class BlobLocation:
    """Where a blob's stored bytes lie in a regular file: to read them again."""

    path: str
    offset: int
    length: int
    # None when the file's state is unknown: a second read then hashes the blob again.
    state: FileState | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Package:
    """One installed package as its package manager's database records it.

    ``manager`` is one of ``PACKAGE_MANAGERS``; ``arch`` "" where the
    manager records none (pip, npm). ``name`` and ``version`` are exactly
    as recorded.
    """

    manager: str
    name: str
    version: str
    arch: str = ""


PACKAGE_MANAGERS = {
    "dpkg": "Debian's dpkg (var/lib/dpkg/status, distroless var/lib/dpkg/status.d/*)",
    "apk": "Alpine's apk-tools (lib/apk/db/installed)",
    "rpm": "rpm's SQLite database (var/lib/rpm/rpmdb.sqlite)",
    "pip": "Python distributions (*.dist-info/METADATA, *.egg-info/PKG-INFO)",
    "npm": "npm packages (node_modules/*/package.json)",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class PackageDatabase:
    """A package database file of a layer, read as it streamed past: the packages it lists.

    ``path`` is the file's path in the layer; ``problem`` says, in one line,
    why it could not be read (then ``packages`` is empty): over the size
    limit, a Berkeley DB rpm database, a Python whose sqlite3 cannot open a
    database image in memory, a malformed file.
    """

    path: str
    manager: str
    packages: tuple[Package, ...] = ()
    problem: str = ""


@dataclass(frozen=True, slots=True)
class KeptFile:
    """The bytes of one regular file of a layer, kept as the layer streamed past (``ReadOptions.keep_paths``).

    ``occurrence`` says which of the layer's entries at ``path`` held them (0
    for the first), as ``Layer.entries`` lists them.
    """

    path: str
    occurrence: int
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Layer:
    """A layer blob as found in the archive, hashed while it streamed.

    ``blob_digest`` is the sha256 of the stored bytes; ``diff_id`` the sha256
    of the uncompressed tar (equal for uncompressed layers); None when the
    stored bytes could not be decompressed. ``compression`` is none, gzip or
    zstd (or bzip2, xz). ``readable`` is False when the blob is not a tar, or
    its compression or tar structure is corrupt or truncated: ``problem``
    says why and ``entries`` holds what was listed before the problem.
    ``empty_kind`` names a well-known empty layer, or "entry-less tar" for
    other tars without entries, else "". ``anomalies`` are (code, detail)
    pairs, in stream order, for odd but readable content (see
    ``LAYER_ANOMALIES``), e.g. ``("absolute-name", "/etc/passwd")``.
    ``location`` is where the blob's stored bytes can be read again (a
    ``BlobLocation``), set only when they sit uncompressed at a known offset
    (an uncompressed outer tar read from a path, or a blob file of a
    directory), else None (stdin, a compressed outer archive, a snapshot). It
    is a reading aid, not evidence: it takes no part in equality, and
    snapshots and the model JSON leave it out. ``kept`` holds the bytes of
    the files ``ReadOptions.keep_paths`` asked for, a reading aid too.
    ``package_databases`` are the layer's package database files, read
    (``PackageDatabase``), in tar order; None when unknown (a snapshot of
    a version that did not read them).
    """

    member: str
    blob_digest: Digest
    diff_id: Digest | None
    compression: str
    size: int
    uncompressed_size: int
    entries: tuple[FileEntry, ...]
    readable: bool = True
    problem: str = ""
    empty_kind: str = ""
    anomalies: tuple[tuple[str, str], ...] = ()
    # Where the bytes were is not what they are: equal layers compare equal wherever they sat.
    location: BlobLocation | None = field(default=None, compare=False)
    kept: tuple[KeptFile, ...] = field(default=(), compare=False)
    package_databases: tuple[PackageDatabase, ...] | None = ()

    @property
    def entry_count(self) -> int:
        """Number of entries, whiteouts and opaque markers included."""
        return len(self.entries)


# Codes of Layer.anomalies (odd but readable layer content) and what the detail holds.
LAYER_ANOMALIES = {
    "absolute-name": "an entry name starting with '/' (read as relative to the root); raw name",
    "escaping-name": "an entry name escaping the root with '..' (entry left out); raw name",
    "duplicate-path": "a path listed more than once in one layer (last one wins); path",
    "overlay-whiteout": "an overlayfs char-device 0/0 whiteout (docker converts these); path",
    "aufs-metadata": "AUFS .wh..wh.* metadata entry (left out, as docker does); raw name",
    "invalid-whiteout": "a whiteout naming no valid path, e.g. a bare '.wh.' (left out); raw name",
    "hardlink-target-absent": "a hardlink whose target is not earlier in this layer; 'path -> target'",
    "hardlink-escaping": "a hardlink to the root or beyond it (entry left out); 'path -> target'",
    "device-node": "a char or block device; 'path (char|block major:minor)'",
    "non-utf8-name": "a name that is not UTF-8; path with surrogate escapes",
    "control-char-name": "a name with control characters; path",
    "sparse-file": "a sparse file (content digest covers the holes as zeros); path",
    "unknown-type": "an entry of a tar type docker cannot apply (left out); 'type X: raw name'",
    "no-end-marker": "the tar ends without an end-of-archive block; offset",
    "trailing-data": "non-zero data after the tar's end-of-archive block (e.g. an estargz TOC); bytes",
    "trailing-garbage": "stored bytes after the end of the compressed stream; 'N bytes'",
    "pax-global-header": "a PAX global header (typeflag g), which the runtime ignores and tarfile applies to every later entry; its records",
    "more-anomalies": "the anomaly list was cut short; how many were left out",
}

# Codes of what is odd in the outer archive's own tar and compression (Archive findings "archive-anomaly").
ARCHIVE_ANOMALIES = {
    "pax-global-header": "a PAX global header (typeflag g), which docker load ignores and tarfile applies to every later member; its records",
    "trailing-data": "non-zero data after the end-of-archive marker, which docker load never reads (a reader that skips zero blocks would); where and what",
    "trailing-garbage": "bytes after the end of the outer compressed stream, which docker load never reads; 'N bytes'",
    "negative-size": "a member with a negative size, which makes Go's archive/tar (docker load) refuse the archive (read as empty); 'member (size)'",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryStep:
    """One entry of the config's ``history``.

    ``index`` is its 0-based position. ``layer_index`` is the position in the
    image's layers that the reconciliation matched it to (entries with
    ``empty_layer != true`` map 1:1, in order, onto ``rootfs.diff_ids``), or
    None for empty steps and for surplus steps that have no layer left.
    """

    index: int
    created: Timestamp | None
    created_by: str = ""
    author: str = ""
    comment: str = ""
    empty_layer: bool = False
    layer_index: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Platform:
    """os/architecture[/variant], with os.version and os.features when given."""

    os: str = ""
    architecture: str = ""
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()

    def __str__(self) -> str:
        parts = [self.os or "?", self.architecture or "?"]
        if self.variant:
            parts.append(self.variant)
        return "/".join(parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunConfig:
    """The config's ``config`` object (what a container runs with).

    JSON values that are lists stay tuples in order; maps become sorted
    pairs. ``healthcheck`` is the canonical JSON text of the object, or "".
    ``exposed_ports`` are normalised (``8080`` becomes ``8080/tcp``).
    None means the field is absent or null, which differs from empty.
    """

    env: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    working_dir: str = ""
    user: str = ""
    exposed_ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    stop_signal: str = ""
    healthcheck: str = ""
    shell: tuple[str, ...] | None = None
    on_build: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Image:
    """One image in an archive: its config, history and layers, and what parsing observed of it.

    ``image_id`` is the sha256 of the config bytes as stored (recomputed, not
    trusted from names). ``diff_ids`` are as declared in ``rootfs``.
    ``layers`` are in manifest order (index 0 = base); an entry is None where
    the manifest names a layer whose blob is absent from the archive.
    ``layer_refs`` are the manifest's own names for the layers (member paths or
    descriptor digests), parallel to ``layers``. ``findings`` are what parsing
    observed of the archive's bytes and references for this image (its config
    named by another digest, an absent layer, a config field of the wrong
    type…), which the model alone could not tell again; the checks that follow
    from the model are its audit, computed where it is used
    (``audit.image_findings``), never stored. ``config_shape`` is how the
    config JSON is written, path by path (``configshape``); () when unknown
    (an older snapshot).
    """

    image_id: Digest
    config_member: str
    manifest_digest: Digest | None
    references: tuple[str, ...]
    platform: Platform
    created: Timestamp | None
    author: str
    history: tuple[HistoryStep, ...]
    diff_ids: tuple[Digest, ...]
    layers: tuple[Layer | None, ...]
    layer_refs: tuple[str, ...]
    run_config: RunConfig
    docker_version: str = ""
    has_inline_cache: bool = False
    # The decoded moby.buildkit.cache.v0 (None when the config has none).
    inline_cache: InlineCache | None = None
    findings: tuple[Finding, ...] = ()
    config_shape: tuple[tuple[str, str], ...] = ()

    def layer_for_step(self, step: HistoryStep) -> Layer | None:
        """The layer a history step was matched to, if any and present."""
        if step.layer_index is None or step.layer_index >= len(self.layers):
            return None
        return self.layers[step.layer_index]


@dataclass(frozen=True, slots=True, kw_only=True)
class Archive:
    """What one input holds: its layout, its images, and archive-level findings.

    ``source`` is the input as named by the user. ``layout`` is a short
    stable name (see ``LAYOUTS``). ``compression`` is that of the whole file.
    ``sha256`` is of the input's bytes as read (None for directories).
    """

    source: str
    layout: str
    compression: str
    sha256: Digest | None
    images: tuple[Image, ...]
    findings: tuple[Finding, ...] = ()
    size: int = 0
    notes: tuple[str, ...] = field(default=())


LAYOUTS = {
    "docker-legacy": "docker-archive (docker save, Docker <= 24)",
    "docker-containers-image": "docker-archive (podman/buildah/skopeo, containers/image)",
    "docker-crane": "docker tarball (crane/kaniko, go-containerregistry)",
    "docker-oci-graphdriver": "docker save, Docker 25+ (graphdriver store)",
    "docker-oci-containerd": "docker save, Docker 25+ (containerd store) / BuildKit type=docker",
    "oci-archive": "OCI image layout in a tar (oci-archive)",
    "oci-dir": "OCI image layout directory",
    "docker-dir": "directory: an extracted docker save, or containers/image dir: (podman save --format docker-dir)",
    "snapshot": "imageforensics snapshot",
}
