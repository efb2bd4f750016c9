"""Build model values (Image, Layer, FileEntry, HistoryStep…) directly and concisely.

The diff tests use this instead of the reader, so they do not depend on it.
An image is described by an ``ImageSpec`` (its steps, each with a layer's
entries or none); ``build`` turns it into an ``Image``. Corruptions are spec
transforms (``mark_empty``, ``drop_entry``, ``shift_time`` …) so a test can
build A, corrupt a copy into B, and know exactly what changed and where.
Digests here are synthetic but consistent: the same entries always give the
same diff_id, and the same spec the same image ID.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from imageforensics.model import (EMPTY_GZIP_BUILDKIT, EMPTY_GZIP_SCHEMA1, EMPTY_TAR_1024, WELL_KNOWN_EMPTY, Archive, Digest,
                                  FileEntry, HistoryStep, Image, Layer, Platform, RunConfig)
from imageforensics.timestamp import NS, Timestamp, parse_ns

T0 = "2021-02-04T15:19:27.7561234Z"
T0_NS = parse_ns(T0)
MTIME = 1_612_451_967 * NS


def sha(data: bytes | str) -> str:
    """Hex sha256 of bytes or UTF-8 text."""
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def rfc3339(ns: int) -> str:
    """Epoch nanoseconds as Go's RFC3339Nano (trailing zeros trimmed, Z)."""
    import datetime
    seconds, frac = divmod(ns, NS)
    base = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    digits = f"{frac:09d}".rstrip("0")
    return f"{base}.{digits}Z" if digits else f"{base}Z"


def ts(value: str | int) -> Timestamp:
    """A Timestamp from an RFC 3339 string or from epoch nanoseconds."""
    return Timestamp.parse(value if isinstance(value, str) else rfc3339(value))


# Entries ------------------------------------------------------------------

def file(path: str, data: bytes | str = b"", *, mode: int = 0o644, uid: int = 0, gid: int = 0,
         mtime: int = MTIME, xattrs: tuple[tuple[str, str], ...] = ()) -> FileEntry:
    """A regular file with its content digest."""
    raw = data.encode() if isinstance(data, str) else data
    return FileEntry(path=path, kind="file", size=len(raw), mode=mode, uid=uid, gid=gid, mtime_ns=mtime,
                     content_digest="sha256:" + sha(raw), xattrs=xattrs)


def directory(path: str, *, mode: int = 0o755, uid: int = 0, gid: int = 0, mtime: int = MTIME) -> FileEntry:
    """A directory entry."""
    return FileEntry(path=path, kind="dir", mode=mode, uid=uid, gid=gid, mtime_ns=mtime)


def symlink(path: str, target: str, *, mtime: int = MTIME) -> FileEntry:
    """A symbolic link."""
    return FileEntry(path=path, kind="symlink", mode=0o777, linkname=target, mtime_ns=mtime)


def hardlink(path: str, target: str, *, mtime: int = MTIME) -> FileEntry:
    """A hard link to ``target`` (a path relative to the root)."""
    return FileEntry(path=path, kind="hardlink", mode=0o644, linkname=target, mtime_ns=mtime)


def whiteout(path: str) -> FileEntry:
    """A ``.wh.`` marker deleting ``path`` from lower layers."""
    return FileEntry(path=path, kind="whiteout")


def opaque(path: str) -> FileEntry:
    """A ``.wh..wh..opq`` marker hiding the lower contents of directory ``path``."""
    return FileEntry(path=path, kind="opaque")


def tree(*paths: str, data: str = "x") -> tuple[FileEntry, ...]:
    """Files at ``paths`` with their parent directories, dirs first, in tar order."""
    dirs: list[str] = []
    for p in paths:
        parts = p.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in dirs:
                dirs.append(d)
    return tuple(directory(d) for d in dirs) + tuple(file(p, f"{data}:{p}") for p in paths)


# Layers -------------------------------------------------------------------

def _tar_size(entries: Iterable[FileEntry]) -> int:
    return 1024 + sum(512 + -(-e.size // 512) * 512 for e in entries)


def layer(*entries: FileEntry, size: int | None = None, compression: str = "none",
          member: str | None = None) -> Layer:
    """A readable layer holding ``entries``; its diff_id is derived from them."""
    diff = Digest.sha256(sha(repr(entries)))
    blob = diff if compression == "none" else Digest.sha256(sha("blob:" + compression + repr(entries)))
    total = _tar_size(entries) if size is None else size
    return Layer(member=member or f"{diff.hex[:12]}/layer.tar", blob_digest=blob, diff_id=diff,
                 compression=compression, size=total if compression == "none" else total // 3,
                 uncompressed_size=total, entries=tuple(entries), empty_kind="" if entries else "entry-less tar")


def known_empty_layer(kind: str = EMPTY_TAR_1024) -> Layer:
    """One of the well-known empty layers (by blob digest; its diff_id is the 1024-byte empty tar)."""
    gz = kind in (EMPTY_GZIP_SCHEMA1, EMPTY_GZIP_BUILDKIT)
    diff = Digest.sha256(EMPTY_TAR_1024 if gz else kind)
    return Layer(member=f"{kind[:12]}/layer.tar", blob_digest=Digest.sha256(kind), diff_id=diff,
                 compression="gzip" if gz else "none", size=32 if gz else 1024, uncompressed_size=1024,
                 entries=(), empty_kind=WELL_KNOWN_EMPTY[kind])


# Images -------------------------------------------------------------------

@dataclass(frozen=True)
class StepSpec:
    """One history step; ``layer`` None means no layer (empty_layer unless said otherwise)."""

    created_by: str
    created: str | None = None
    layer: Layer | None = None
    empty_layer: bool | None = None
    comment: str = ""
    author: str = ""


@dataclass(frozen=True)
class ImageSpec:
    """An image: its steps in order plus config values."""

    steps: tuple[StepSpec, ...]
    created: str | None = "2021-02-04T15:19:30Z"
    run_config: RunConfig = field(default_factory=RunConfig)
    platform: Platform = field(default_factory=lambda: Platform(os="linux", architecture="amd64"))
    references: tuple[str, ...] = ()
    author: str = ""


def step(created_by: str, *entries: FileEntry, created: str | int | None = None, layer_value: Layer | None = None,
         empty_layer: bool | None = None, comment: str = "") -> StepSpec:
    """A step; with entries (or ``layer_value``) it carries a layer."""
    lay = layer_value if layer_value is not None else (layer(*entries) if entries else None)
    when = rfc3339(created) if isinstance(created, int) else created
    return StepSpec(created_by=created_by, created=when, layer=lay, empty_layer=empty_layer, comment=comment)


def spec(*steps: StepSpec, **kwargs: object) -> ImageSpec:
    """An ImageSpec; steps without a created time get T0 + 1 ms per position."""
    filled = tuple(s if s.created is not None else replace(s, created=rfc3339(T0_NS + i * 1_000_000))
                   for i, s in enumerate(steps))
    return ImageSpec(steps=filled, **kwargs)  # type: ignore[arg-type]


def build(image_spec: ImageSpec) -> Image:
    """The Image a spec describes, reconciled the way the reader does (non-empty steps ↔ layers).

    Its ``findings`` are empty, as parsing observes nothing odd in the archive:
    the audit is computed from the image where it is used (``audit.image_findings``).
    """
    layers = [s.layer for s in image_spec.steps if s.layer is not None]
    history = []
    n = 0
    for i, s in enumerate(image_spec.steps):
        empty = s.empty_layer if s.empty_layer is not None else s.layer is None
        li = None
        if not empty and n < len(layers):
            li, n = n, n + 1
        history.append(HistoryStep(index=i, created=ts(s.created) if s.created is not None else None,
                                   created_by=s.created_by, comment=s.comment, author=s.author,
                                   empty_layer=empty, layer_index=li))
    diff_ids = tuple(l.diff_id for l in layers if l.diff_id is not None)
    created = ts(image_spec.created) if image_spec.created is not None else None
    config = repr((tuple(history), diff_ids, image_spec.run_config, image_spec.platform,
                   image_spec.created, image_spec.author))
    image_id = Digest.sha256(sha(config))
    image = Image(image_id=image_id, config_member=f"{image_id.hex}.json", manifest_digest=None,
                  references=image_spec.references, platform=image_spec.platform, created=created,
                  author=image_spec.author, history=tuple(history), diff_ids=diff_ids, layers=tuple(layers),
                  layer_refs=tuple(f"{l.member}" for l in layers), run_config=image_spec.run_config)
    return image


def archive(image: Image, *, source: str = "a.tar", layout: str = "docker-legacy",
            compression: str = "none") -> Archive:
    """An Archive holding one image."""
    return Archive(source=source, layout=layout, compression=compression,
                   sha256=Digest.sha256(sha(source + repr(image.image_id))), images=(image,))


# Corruptions (spec transforms) ----------------------------------------------

def _with_step(s: ImageSpec, k: int, new: StepSpec) -> ImageSpec:
    return replace(s, steps=s.steps[:k] + (new,) + s.steps[k + 1:])


def mark_empty(s: ImageSpec, k: int) -> ImageSpec:
    """Step k marked empty_layer with its layer dropped (the cache-from corruption)."""
    return _with_step(s, k, replace(s.steps[k], layer=None, empty_layer=True))


def with_entries(s: ImageSpec, k: int, entries: Iterable[FileEntry]) -> ImageSpec:
    """Step k's layer replaced by one holding ``entries``."""
    return _with_step(s, k, replace(s.steps[k], layer=layer(*entries)))


def drop_entry(s: ImageSpec, k: int, path: str) -> ImageSpec:
    """The entry at ``path`` removed from step k's layer."""
    lay = s.steps[k].layer
    assert lay is not None
    return with_entries(s, k, [e for e in lay.entries if e.path != path])


def change_content(s: ImageSpec, k: int, path: str) -> ImageSpec:
    """One byte of the file at ``path`` in step k's layer changed (same size, new digest)."""
    lay = s.steps[k].layer
    assert lay is not None
    out = []
    for e in lay.entries:
        if e.path == path and e.kind == "file":
            e = replace(e, content_digest="sha256:" + sha("changed:" + e.content_digest))
        out.append(e)
    return with_entries(s, k, out)


def add_whiteout(s: ImageSpec, k: int, path: str) -> ImageSpec:
    """A whiteout for ``path`` appended to step k's layer."""
    lay = s.steps[k].layer
    assert lay is not None
    return with_entries(s, k, [*lay.entries, whiteout(path)])


def shift_time(s: ImageSpec, k: int, ns: int) -> ImageSpec:
    """Step k's created time moved by ``ns`` nanoseconds."""
    created = s.steps[k].created
    assert created is not None
    moved = parse_ns(created)
    assert moved is not None
    return _with_step(s, k, replace(s.steps[k], created=rfc3339(moved + ns)))


def insert_step(s: ImageSpec, k: int, new: StepSpec) -> ImageSpec:
    """``new`` inserted before step k (its created time copied from the step before, if unset)."""
    if new.created is None:
        prev = s.steps[k - 1] if k > 0 else s.steps[0]
        new = replace(new, created=prev.created)
    return replace(s, steps=s.steps[:k] + (new,) + s.steps[k:])


def naive_root_path(links: dict[str, str], path: str) -> str | None:
    """``path`` resolved inside the root through ``links`` (path → target), as moby's FollowSymlinkInScope walks it; None for a loop.

    The oracle for ``rootfs.RootLinks``: a string walk, one name at a time,
    with no index.
    """
    resolved = ""
    unsafe = path
    walked = 0
    while unsafe:
        name, _, unsafe = unsafe.partition("/")
        clean = posixpath.normpath("/" + resolved + name).lstrip("/")
        if not clean:
            resolved = ""
            continue
        if clean not in links:
            resolved = clean + "/"
            continue
        walked += 1
        if walked > 255:
            return None
        dest = links[clean]
        if dest.startswith("/"):
            resolved = ""
        joined = "/".join(x for x in (dest, unsafe) if x)
        unsafe = posixpath.normpath(joined) if joined else ""
    return posixpath.normpath("/" + resolved).lstrip("/")


def naive_merge(layers: Iterable[Iterable[FileEntry]]) -> dict[str, tuple[FileEntry, int]]:
    """A deliberately simple reference merge (quadratic scans), the oracle for fsmerge.

    Each entry's parent chain is resolved with ``naive_root_path`` against the
    symlinks as they stand (a loop drops the entry); an opaque directory is
    resolved whole.
    """
    state: dict[str, tuple[FileEntry, int]] = {}

    def drop_below(prefix: str) -> None:
        for p in [p for p in state if (p.startswith(prefix + "/") if prefix else True)]:
            del state[p]

    def real(e: FileEntry, whole: bool) -> FileEntry | None:
        links = {p: x.linkname for p, (x, _) in state.items() if x.kind == "symlink"}
        parent, _, name = e.path.rpartition("/")
        where = naive_root_path(links, e.path if whole else parent)
        if where is None:
            return None
        path = where if whole else "/".join(x for x in (where, name) if x)
        if e.kind == "hardlink":
            lparent, _, lname = e.linkname.rpartition("/")
            named = naive_root_path(links, lparent)
            if named is not None:
                e = replace(e, linkname="/".join(x for x in (named, lname) if x))
        return replace(e, path=path) if path != e.path or e.kind == "hardlink" else e

    for index, entries in enumerate(layers):
        entries = list(entries)
        for e in entries:
            if e.kind == "opaque":
                r = real(e, True)
                if r is not None:
                    drop_below(r.path)
        for e in entries:
            if e.kind == "whiteout":
                r = real(e, False)
                if r is not None:
                    state.pop(r.path, None)
                    drop_below(r.path)
        for e in entries:
            if e.kind in ("opaque", "whiteout"):
                continue
            r = real(e, False)
            if r is None:
                continue
            old = state.get(r.path)
            if old is not None and not (old[0].kind == "dir" and r.kind == "dir"):
                drop_below(r.path)
            elif old is None and r.kind != "dir":
                drop_below(r.path)  # an implicit directory (only its contents listed) is replaced too
            state[r.path] = (r, index)
    return state
