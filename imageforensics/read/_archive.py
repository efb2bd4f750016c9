"""Reading an input (file, directory or ``-``) in one forward pass.

This is the only module that touches files and streams. It decompresses the
outer archive itself, walks the tar members once in whatever order they come,
and identifies each member by its content: JSON documents are kept in memory
(they are small and bounded by ``limits.max_json_bytes``), layer blobs are
streamed through ``layer.read_layer`` (hashed and listed, never kept), links
are recorded. ``parse.parse_archive`` then resolves the references.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import io
import json
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
import os
import stat
import sys
import tarfile
from typing import BinaryIO, cast

from imageforensics.read import _compression as compress
from imageforensics.read import _layer_blob as layer
from imageforensics.errors import InputError, LimitError
from imageforensics.read._layer_streams import HashPipe
from imageforensics.options import Limits, ReadOptions
from imageforensics.read._file_state import state_of
from imageforensics.model import Archive, BlobLocation, Digest, FileState, Layer
from imageforensics.read._outer_tar import CHUNK, MemberStream, Prefixed, TarView
from imageforensics.parse import LayerReader, Member, normalise_member_name, parse_archive
from imageforensics.read._layer_entries import EntryBudget, escape_text, global_header_detail
from imageforensics.read._layer_pool import WORKERS, FileRange, LayerPool
from imageforensics.read._tar_header import BLOCK, HEADER_ONLY, FastTarInfo
from imageforensics.untrusted import show

PEEK = 512


class _HashingReader:
    """Reads the input, hashing and counting every byte on the way (Archive.sha256/size).

    The hashing runs on another thread (HashPipe), next to the layer digests;
    ``digest=False`` only counts (the caller does not show the archive digest).
    """

    def __init__(self, raw: BinaryIO, *, digest: bool = True) -> None:
        self._raw = raw
        self.sha256 = HashPipe() if digest else None
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n if n is not None and n >= 0 else CHUNK)
        if data:
            if self.sha256 is not None:
                self.sha256.update(data)
            self.count += len(data)
        return data

    def skip_to(self, pos: int) -> None:
        """Move the raw file to ``pos`` (what lies between is read elsewhere); only when not hashing."""
        assert self.sha256 is None
        self._raw.seek(pos)
        self.count = pos

    def close(self) -> None:
        """Stop the hashing thread."""
        if self.sha256 is not None:
            self.sha256.close()

    def drain(self) -> None:
        """Read to the end, so the digest covers the whole input."""
        while self.read(CHUNK):
            pass


def read_archive(source: str, options: ReadOptions = ReadOptions(), *, pool: LayerPool | None = None) -> Archive:
    """Read a file path, a directory (OCI layout / extracted docker save) or ``-`` (stdin).

    ``options.content_digests=False`` leaves the content digests of files of
    ``options.digest_below`` bytes or more empty (their bytes are then hashed
    once, for the diff_id; ``inputs`` reads again the layers whose files the
    diff compares). ``options.archive_digest=False`` leaves
    ``Archive.sha256`` None (not shown by the text report). The layer blobs
    of an archive file are read on ``pool``'s workers (a pool of its own when None).
    """
    if source != "-" and os.path.isdir(source):
        return _read_directory(source, options)
    if source == "-":
        return read_stream(sys.stdin.buffer, source, options)
    try:
        f = open(source, "rb")
    except OSError as e:
        raise InputError(source, None, f"cannot open: {e.strerror or e}") from None
    with f:
        state = state_of(f.fileno())
        if pool is not None:
            return read_stream(f, source, options, file_path=source, file_state=state, pool=pool)
        with LayerPool() as own:
            return read_stream(f, source, options, file_path=source, file_state=state, pool=own)


def read_stream(raw: BinaryIO, source: str, options: ReadOptions = ReadOptions(), *,
                on_member: Callable[[str], None] | None = None, file_path: str | None = None,
                file_state: FileState | None = None, pool: LayerPool | None = None,
                on_bytes: Callable[[int], None] | None = None) -> Archive:
    """Read an archive from any readable stream (pipes included), in one forward pass.

    ``on_member`` is told the name of each regular member as its reading starts
    (the progress line shows the layer being read). ``file_path`` names the
    regular file ``raw`` reads from its first byte, if it is one: layers of an
    uncompressed archive then record their ``location`` in it, with
    ``file_state``, the file's state taken before ``raw`` was read.
    ``options`` as for ``read_archive``. With ``pool``, and ``raw`` a regular
    file (``fileno`` and ``seek``) that ``file_path`` names, the layer blobs
    are read at their offsets on the pool's workers (``os.pread``; the walk
    seeks past them) and the archive digest is taken there too; ``on_bytes``
    is told of the bytes they read (the progress line). The result is the
    same as one forward pass gives, errors included.
    """
    fd = _file_descriptor(raw) if pool is not None and file_path is not None else None
    hashing = _HashingReader(raw, digest=options.archive_digest and fd is None)
    units = None if fd is None or pool is None else _Units(pool, fd, source, options, on_bytes)
    try:
        if units is not None and options.archive_digest:
            units.digest_file()
        return _read_hashed(hashing, source, options, on_member, None if file_path is None else (file_path, file_state),
                            units)
    finally:
        hashing.close()
        if units is not None:
            units.abandon()


def _file_descriptor(raw: BinaryIO) -> int | None:
    """The descriptor of ``raw`` when it is a seekable regular file, read from its start; None else."""
    try:
        fd = raw.fileno()
        seekable = raw.seekable() and stat.S_ISREG(os.fstat(fd).st_mode) and raw.tell() == 0
    except (AttributeError, OSError, ValueError):
        return None
    return fd if seekable else None


def _read_hashed(hashing: _HashingReader, source: str, options: ReadOptions, on_member: Callable[[str], None] | None,
                 file: tuple[str, FileState | None] | None = None, units: _Units | None = None) -> Archive:
    limits = options.limits
    head = _read_exactly(hashing, 6)
    if not head:
        raise InputError(source, None, "empty input: expected a tar archive")
    kind = compress.detect(head)
    stream: BinaryIO = Prefixed(head, hashing)  # type: ignore[assignment]
    if kind != "none":
        stream = compress.open_decompressed(stream, kind, archive=source, member=None, limits=limits)
    # Only uncompressed, the tar's offsets are offsets in the file.
    located_in = file if kind == "none" else None
    if located_in is not None and units is not None:
        units.skip_raw = hashing.skip_to
    anomalies: list[tuple[str, str]] = []
    try:
        members, end_problem, view = _walk_tar(stream, source, options, anomalies, on_member, located_in,
                                               units if located_in is not None else None)
        # Read what follows the end-of-archive blocks, so the digest and size
        # cover the whole input (and a corrupt compressed trailer is noticed).
        try:
            if end_problem is None:
                after = _AfterEnd(view.tell())
                while True:
                    data = view.read_some(CHUNK)
                    if not data:
                        break
                    after.add(data)
                    if after.count > limits.max_bytes_after_end:
                        # An endless input (/dev/zero reads as an empty tar) would never finish.
                        raise InputError(source, None, f"more than {limits.max_bytes_after_end} bytes follow the end-of-archive marker (an endless input such as /dev/zero?)")
                if after.first_nonzero >= 0:
                    anomalies.append(("trailing-data", after.detail()))
            while stream.read(CHUNK):
                pass
        except (OSError, EOFError, tarfile.TarError) as e:
            raise InputError(source, None, f"corrupt {kind} data after the tar end: {_reason(e)}") from None
        trailing = getattr(stream, "trailing_bytes", 0)
        if trailing:
            zero = " (all zero)" if getattr(stream, "trailing_zero", False) else ""
            anomalies.append(("trailing-garbage", f"{trailing} bytes after the {kind} stream{zero}"))
    finally:
        if kind != "none":
            stream.close()
    hashing.drain()
    if end_problem is not None:
        # Whatever was read before, a truncated archive cannot say what it held.
        raise end_problem
    if hashing.sha256 is not None:
        sha256: Digest | None = Digest.sha256(hashing.sha256.hexdigest())
    else:
        sha256 = units.file_digest() if units is not None else None
    return parse_archive(
        members,
        source=source,
        compression=kind,
        sha256=sha256,
        size=hashing.count,
        directory=False,
        limits=limits,
        read_layer=_small_layer_reader(source, options),
        tar_anomalies=tuple(anomalies),
    )


def _small_layer_reader(source: str, options: ReadOptions) -> LayerReader:
    """How the parser reads a layer blob kept in memory: the same layer reader, over its bytes.

    Its files get content digests whatever ``options`` say: a blob held in
    memory has no place in a file to be read again from.
    """
    whole = replace(options, content_digests=True)

    def read(data: bytes, member: str) -> Layer:
        return layer.read_layer(io.BytesIO(data), archive=source, member=member, options=whole)

    return read


def _read_exactly(f: _HashingReader | BinaryIO | MemberStream, n: int) -> bytes:
    """Up to ``n`` bytes, looping over short reads (pipes return what they have)."""
    parts: list[bytes] = []
    got = 0
    while got < n:
        data = f.read(n - got)
        if not data:
            break
        parts.append(data)
        got += len(data)
    return b"".join(parts)


def _walk_tar(stream: BinaryIO, source: str, options: ReadOptions, anomalies: list[tuple[str, str]],
              on_member: Callable[[str], None] | None = None, located_in: tuple[str, FileState | None] | None = None,
              units: _Units | None = None) -> tuple[list[Member], InputError | None, TarView]:
    """Every member of the outer tar, in order; odd tar structure is added to ``anomalies`` (ARCHIVE_ANOMALIES).

    With ``units``, layer blobs are read on its workers: the walk seeks past
    their data, and an error of one of them is raised before any error the
    walk meets after it (as one forward pass raises the first error).
    """
    members: list[Member] = []
    kept = _Kept(options.limits)
    try:
        end_problem, view = _walk_members(stream, source, options, anomalies, on_member, located_in, units, members, kept)
    except Exception:
        if units is not None and not units.failed:
            units.settle(members, kept.entries)  # raises the first error of a blob before this point, if any
        raise
    if units is not None:
        units.settle(members, kept.entries)
    return members, end_problem, view


def _walk_members(stream: BinaryIO, source: str, options: ReadOptions, anomalies: list[tuple[str, str]],
                  on_member: Callable[[str], None] | None, located_in: tuple[str, FileState | None] | None,
                  units: _Units | None, members: list[Member], kept: _Kept) -> tuple[InputError | None, TarView]:
    limits = options.limits
    last = None
    view = TarView(stream, archive=source, cap=limits.max_extended_header_bytes)
    try:
        # FastTarInfo caps sparse maps: tarfile would list every run of a hostile map in memory.
        tf = tarfile.TarFile(fileobj=view, mode="r", errorlevel=2, tarinfo=FastTarInfo.capped(limits))  # type: ignore[arg-type]
    except (tarfile.TarError, EOFError) as e:
        raise InputError(source, None, f"not a tar archive ({_reason(e)})") from None
    except OSError as e:
        raise InputError(source, None, f"cannot read the archive ({_reason(e)})") from None
    with tf:
        while True:
            # tarfile keeps every TarInfo it returns; in one forward pass none is needed again.
            tf.members.clear()  # type: ignore[attr-defined]  # undocumented TarFile attribute, not in typeshed
            if getattr(tf, "_loaded", False):
                # Python 3.10's next() seeks backwards once the end was seen while opening (an empty archive).
                break
            try:
                info = tf.next()
            except (tarfile.TarError, EOFError) as e:
                where = f"after {show(last)}" if last else None
                raise InputError(source, where, f"expected a tar header ({_reason(e)})") from None
            except OSError as e:
                raise InputError(source, None, f"cannot read the archive ({_reason(e)})") from None
            if info is None:
                break
            last = info.name
            if len(members) >= limits.max_members:
                raise LimitError(source, show(info.name), f"more than {limits.max_members} members in the archive {_members_allowed(limits)}")
            if len(info.name.encode("utf-8", "surrogateescape")) > limits.max_path_bytes:
                raise LimitError(source, show(info.name[:80]) + "…", f"member name longer than {limits.max_path_bytes} bytes (--max-path-bytes)")
            if info.type == tarfile.XGLTYPE:
                # An entry of its own (read/_tar_header): docker load skips it, nothing inherits it.
                anomalies.append(("pax-global-header", global_header_detail(info)))
                continue
            name = normalise_member_name(info.name)
            if info.size < 0 and info.type not in HEADER_ONLY:
                # Go's archive/tar refuses the header; tarfile reads no data for it: read as empty.
                anomalies.append(("negative-size", f"{escape_text(name)} ({info.size})"))
                info.size = 0
            if info.isreg():
                source_of_data: BinaryIO | TarView = view
                location = None
                if info.sparse is not None:
                    _check_sparse(info, source, limits)
                    source_of_data = tf.extractfile(info)  # type: ignore[assignment]  # tarfile fills the holes
                    if units is not None:
                        units.settle(members, kept.entries)  # read here, after the blobs before it
                else:
                    view.seek(info.offset_data)
                    if located_in is not None:
                        location = BlobLocation(located_in[0], info.offset_data, info.size, located_in[1])
                body = MemberStream(source_of_data, info.size, archive=source, member=show(name))
                if on_member is not None:
                    on_member(name)
                read = _read_inline(name, info.size, info.mode, body, source, options, kept)
                if isinstance(read, Member):
                    members.append(read)
                elif units is not None and location is not None:
                    # What the walk's buffer holds of the blob was counted as read (the progress line).
                    counted = max(0, min(info.size, view.buffered_to - info.offset_data))
                    units.submit(members, name, info.mode, location, json_like=read.json_like, budget=kept.entries,
                                 counted=counted)
                    view.skip_to(info.offset_data + info.size, units.skip_raw)
                    continue
                else:
                    members.append(_read_blob(name, info.size, info.mode, read, body, source, options, kept, location))
                body.drain()
            elif info.issym():
                members.append(Member(name=name, kind="symlink", size=0, mode=info.mode, linkname=info.linkname))
            elif info.islnk():
                members.append(Member(name=name, kind="hardlink", size=0, mode=info.mode, linkname=info.linkname))
            elif info.isdir():
                members.append(Member(name=name, kind="dir", size=0, mode=info.mode))
            else:
                members.append(Member(name=name, kind="special", size=0, mode=info.mode))
        end_problem = _check_end(view, tf.offset, source, last)
    return end_problem, view


class _AfterEnd:
    """What follows the end-of-archive marker: counted, and its first non-zero block looked at.

    Writers pad the archive with zero blocks; anything else there is never
    read by docker load (Go's reader stops at the marker), but GNU tar ``-i``
    and tarfile's ``ignore_zeros`` read on, and see members hidden there (a
    second manifest.json).
    """

    def __init__(self, start: int) -> None:
        self.start = start
        self.count = 0
        self.first_nonzero = -1
        self._block = b""  # the block holding the first non-zero byte, as far as read

    def add(self, data: bytes) -> None:
        at = self.start + self.count
        self.count += len(data)
        if self.first_nonzero < 0:
            stripped = data.lstrip(b"\0")
            if not stripped:
                return
            self.first_nonzero = at + len(data) - len(stripped)
            lead = (self.first_nonzero - self.start) % BLOCK
            self._block = bytes(lead) + stripped[: BLOCK - lead]
        elif len(self._block) < BLOCK:
            self._block += data[: BLOCK - len(self._block)]

    def detail(self) -> str:
        try:
            hidden = tarfile.TarInfo.frombuf(self._block, "utf-8", "surrogateescape")
        except tarfile.HeaderError:
            what = "not a tar header"
        else:
            what = f"a tar header of {escape_text(hidden.name)!r}"
        block_at = self.first_nonzero - (self.first_nonzero - self.start) % BLOCK
        return (f"{self.count} bytes after the end-of-archive block at offset {self.start - BLOCK};"
                f" the first non-zero block, at offset {block_at}, is {what}")


def _check_sparse(info: tarfile.TarInfo, source: str, limits: Limits) -> None:
    """Holes of a sparse member read back as zeros: as many as a decompression bomb would give are refused."""
    # typeshed declares TarInfo.sparse as bytes | None; tarfile stores (offset, size) pairs there.
    stored = sum(length for _, length in cast("list[tuple[int, int]] | None", info.sparse) or ())
    holes = info.size - stored
    if holes > limits.max_expansion_ratio * stored + limits.expansion_allowance:
        raise LimitError(source, show(info.name), f"sparse member has {holes} bytes of holes for {stored} stored bytes (raise the limit with --max-expansion)")


def _check_end(view: TarView, offset: int, source: str, last: str | None) -> InputError | None:
    """The archive must end with a zero block; anything else is truncation or corruption."""
    block = view.block_at(offset)
    after = f"after member {show(last)}" if last else "at the start"
    if block is None or len(block) == 512 and not any(block):
        return None
    if len(block) < 512:
        return InputError(source, None, f"archive is truncated {after}: no end-of-archive marker at offset {offset}")
    return InputError(source, None, f"expected a tar header or the end-of-archive marker at offset {offset} ({after})")


def _reason(e: BaseException) -> str:
    text = str(e) or type(e).__name__
    return show(text)


def _members_allowed(limits: Limits) -> str:
    return f"({limits.members_per_layer} per layer allowed by --max-layers, plus {limits.members_besides_layers})"


class _Kept:
    """How many member bytes (and layer entries) are held in memory; bounded so memory never grows with the input."""

    def __init__(self, limits: Limits) -> None:
        self.budget = limits.max_json_held_bytes
        self.held = 0
        self.entries = EntryBudget(limits)

    def take(self, size: int) -> bool:
        if self.held + size > self.budget:
            return False
        self.held += size
        return True


def _read_member(name: str, size: int, mode: int, body: MemberStream | BinaryIO, source: str, options: ReadOptions,
                 kept: _Kept, location: BlobLocation | None = None) -> Member:
    """Identify one regular member by its first bytes and read it accordingly."""
    read = _read_inline(name, size, mode, body, source, options, kept)
    return read if isinstance(read, Member) else _read_blob(name, size, mode, read, body, source, options, kept, location)


@dataclass(frozen=True, slots=True)
class _BlobHead:
    """A member's first bytes, which say it is read as a layer blob."""

    head: bytes
    json_like: bool


def _read_inline(name: str, size: int, mode: int, body: MemberStream | BinaryIO, source: str, options: ReadOptions,
                 kept: _Kept) -> Member | _BlobHead:
    """A JSON or small member read whole; or the first bytes of a member to be read as a layer blob."""
    limits = options.limits
    head = _read_exactly(body, min(PEEK, size))
    stripped = head.lstrip(b" \t\r\n")
    json_like = stripped[:1] in (b"{", b"[")
    if json_like and size <= limits.max_json_bytes:
        if not kept.take(size):
            raise LimitError(source, show(name), f"the archive's JSON members together exceed {kept.budget} bytes (twice --max-json-bytes)")
        data = head + _read_exactly(body, size - len(head))
        return Member(name=name, kind="json", size=size, mode=mode, data=data, digest=Digest.sha256(hashlib.sha256(data).hexdigest()))
    if size <= limits.max_small_member_bytes and not json_like and not _looks_like_layer(head) and kept.take(size):
        data = head + _read_exactly(body, size - len(head))
        return Member(name=name, kind="other", size=size, mode=mode, data=data, digest=Digest.sha256(hashlib.sha256(data).hexdigest()))
    return _BlobHead(head, json_like)


def _read_blob(name: str, size: int, mode: int, start: _BlobHead, body: MemberStream | BinaryIO, source: str,
               options: ReadOptions, kept: _Kept, location: BlobLocation | None) -> Member:
    """A member read as a layer blob, in this thread, from its first bytes on."""
    head, json_like = start.head, start.json_like
    blob = layer.read_layer(Prefixed(head, body), archive=source, member=name, options=options,  # type: ignore[arg-type]
                            budget=kept.entries)
    if location is not None:
        blob = replace(blob, location=location)
    return Member(name=name, kind="blob", size=size, mode=mode, layer=blob, digest=blob.blob_digest, json_like=json_like)


def _looks_like_layer(head: bytes) -> bool:
    """A compressed stream, or a tar header (ustar magic, or an end-of-archive zero block)."""
    if compress.detect(head) != "none":
        return True
    if len(head) >= 262 and head[257:262] == b"ustar":
        return True
    if len(head) == 512 and _v7_checksum_ok(head):
        return True
    return False


def _v7_checksum_ok(block: bytes) -> bool:
    """Old-style tar headers have no magic; their checksum field identifies them."""
    try:
        stored = int(block[148:156].replace(b"\x00", b" ").strip() or b"-1", 8)
    except ValueError:
        return False
    computed = sum(block[:148]) + 8 * 32 + sum(block[156:])
    return stored == computed or (block == bytes(512))


def open_listed(path: str, listed: os.stat_result | FileState | None, *, follow: bool = False) -> BinaryIO:
    """The regular file ``path`` opened for reading, proven to be the one listed (same device and inode).

    ``O_NOFOLLOW`` (unless ``follow``: the input's own path may be a link)
    and ``O_NONBLOCK``: a name swapped for a symlink or a FIFO after it was
    listed fails or opens without waiting, and ``fstat`` of what was opened
    must say the regular file the listing saw. OSError (with a message) when not.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(f"it is no longer a regular file (mode {stat.filemode(st.st_mode)})")
        if listed is not None:
            device, inode = (listed.st_dev, listed.st_ino) if isinstance(listed, os.stat_result) else (listed.device, listed.inode)
            if (st.st_dev, st.st_ino) != (device, inode):
                raise OSError(f"it was replaced by another file (inode {st.st_ino}, listed as {inode})")
        return os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


def _declared_sizes(top: str, files: list[tuple[str, str, os.stat_result]], limits: Limits) -> dict[str, int]:
    """The size each blob's references declare, by hex digest: every descriptor of the small JSON files.

    A descriptor (OCI or Docker: ``digest`` and ``size``) says how many bytes
    its blob holds; a blob is never read beyond the largest size declared for
    it (plus one byte, to tell a longer file), so a huge sparse file named by
    a small descriptor costs its declared size, not its length.
    """
    declared: dict[str, int] = {}
    budget = limits.max_json_held_bytes
    for name, full, st in files:
        if st.st_size > limits.max_json_bytes or st.st_size > budget:
            continue
        try:
            with open_listed(full, st) as f:
                data = f.read(st.st_size + 1)
        except OSError:
            continue  # the read proper reports it
        if data.lstrip(b" \t\r\n")[:1] not in (b"{", b"["):
            continue
        budget -= len(data)
        try:
            value = json.loads(data)
        except (ValueError, RecursionError):
            continue
        stack = [value]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                digest, size = item.get("digest"), item.get("size")
                if isinstance(digest, str) and type(size) is int and size >= 0:
                    hex_part = digest.partition(":")[2]
                    declared[hex_part] = max(size, declared.get(hex_part, 0))
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
    return declared


def _read_directory(top: str, options: ReadOptions) -> Archive:
    """Walk a directory's files (each read once); symlinks are recorded, never followed.

    A directory that cannot be listed is an error naming it (never a blob
    silently absent). Each file is opened as ``open_listed`` says, so a name
    swapped for a FIFO or a symlink between the listing and the read is an
    error, not a hang or a file from outside. A file larger than the JSON
    limit is read up to the size its descriptors declare, plus one byte
    (``_declared_sizes``).
    """
    limits = options.limits
    members: list[Member] = []
    total = 0
    kept = _Kept(limits)
    listed: list[tuple[str, str, os.stat_result | None]] = []

    def unlistable(e: OSError) -> None:
        rel = os.path.relpath(e.filename, top) if isinstance(e.filename, str) else "."
        raise InputError(top, show(normalise_member_name(rel) if rel != "." else "."),
                         f"cannot list this directory: {e.strerror or e}")

    for dirpath, dirnames, filenames in os.walk(top, onerror=unlistable, followlinks=False):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, top)
        for entry in sorted(dirnames + filenames):
            full = os.path.join(dirpath, entry)
            rel = entry if rel_dir == "." else f"{rel_dir}/{entry}".replace(os.sep, "/")
            name = normalise_member_name(rel)
            if len(listed) >= limits.max_members:
                raise LimitError(top, show(name), f"more than {limits.max_members} files in the directory {_members_allowed(limits)}")
            try:
                listed.append((name, full, os.lstat(full)))
            except OSError as e:
                raise InputError(top, show(name), f"cannot stat: {e.strerror or e}") from None
    regular = [(name, full, st) for name, full, st in listed if st is not None and stat.S_ISREG(st.st_mode)]
    declared = _declared_sizes(top, regular, limits)
    for name, full, st in listed:
        assert st is not None
        if stat.S_ISLNK(st.st_mode):
            members.append(Member(name=name, kind="symlink", size=0, mode=st.st_mode & 0o7777, linkname=os.readlink(full)))
        elif stat.S_ISDIR(st.st_mode):
            members.append(Member(name=name, kind="dir", size=0, mode=st.st_mode & 0o7777))
        elif stat.S_ISREG(st.st_mode):
            try:
                f = open_listed(full, st)
            except OSError as e:
                raise InputError(top, show(name), f"cannot open: {e.strerror or e}") from None
            with f:
                # Never past what a reference declares (+1 to tell a longer file), once the file is larger
                # than any JSON member read whole (a config longer than its descriptor is still evidence).
                cap = declared.get(name.rpartition("/")[2])
                length = st.st_size if cap is None or st.st_size <= limits.max_json_bytes else min(st.st_size, cap + 1)
                where = BlobLocation(full, 0, length, state_of(f.fileno()))
                body = MemberStream(f, length, archive=top, member=show(name))
                member = _read_member(name, length, st.st_mode & 0o7777, body, top, options, kept, where)
                members.append(member if length == st.st_size else replace(member, size=st.st_size))
            total += st.st_size
        else:
            # FIFOs, sockets and devices are never opened (a FIFO would hang).
            members.append(Member(name=name, kind="special", size=0, mode=st.st_mode & 0o7777))
    return parse_archive(members, source=top, compression="none", sha256=None, size=total, directory=True, limits=limits,
                         read_layer=_small_layer_reader(top, options))


def _cannot_skip(pos: int) -> None:
    raise AssertionError("the walk seeks past a blob only in an uncompressed file")


@dataclass(frozen=True, slots=True)
class _Pending:
    """A layer blob being read on a worker, and where its member goes in the walk's list."""

    index: int
    name: str
    mode: int
    location: BlobLocation
    json_like: bool
    result: Future[tuple[Layer | Exception, int]]


class _Units:
    """The layer blobs of one archive file, read at their offsets on a pool's workers; settled in the walk's order.

    What one forward pass gives is kept exactly: members in tar order, and the
    error of the first blob that fails before any error met after it. The
    input's entry budget (``--max-total-entries``) is charged in order: each
    blob is read with what the blobs settled before it leave (at least what
    one forward pass would leave it) and counts how many tar members it met,
    so the blob where the budget runs out is known whatever the threads'
    timing; the error is then one forward pass's, word for word.
    """

    def __init__(self, pool: LayerPool, fd: int, source: str, options: ReadOptions,
                 on_bytes: Callable[[int], None] | None) -> None:
        self._pool = pool
        self._fd = fd
        self._source = source
        self._options = options
        self._on_bytes = on_bytes
        self._stop = threading.Event()
        self._pending: collections.deque[_Pending] = collections.deque()
        self._digest: Future[str] | None = None
        self.skip_raw: Callable[[int], None] = _cannot_skip
        self.failed = False  # a blob's error was raised: no error after it counts

    def digest_file(self) -> None:
        """Start hashing the whole file (Archive.sha256) on a worker."""
        self._digest = self._pool.submit(self._hash_file)

    def _hash_file(self) -> str:
        digest = hashlib.sha256()
        at = 0
        while not self._stop.is_set():
            data = os.pread(self._fd, CHUNK, at)
            if not data:
                return digest.hexdigest()
            digest.update(data)
            at += len(data)
        raise OSError("the read was abandoned")

    def file_digest(self) -> Digest | None:
        """The whole file's sha256 (None when not asked for)."""
        if self._digest is None:
            return None
        try:
            return Digest.sha256(self._digest.result())
        except OSError as e:
            raise InputError(self._source, None, f"cannot read the archive ({_reason(e)})") from None

    def submit(self, members: list[Member], name: str, mode: int, location: BlobLocation, *, json_like: bool,
               budget: EntryBudget, counted: int = 0) -> None:
        """Read the blob ``name`` at ``location`` on a worker; its member's place in ``members`` is kept.

        ``counted``: how many of its first bytes the walk has read (and the progress line counted).
        """
        own = EntryBudget(self._options.limits)
        own.left = budget.left
        result = self._pool.submit(functools.partial(self._read, name, location, own, counted))
        self._pending.append(_Pending(len(members), name, mode, location, json_like, result))
        members.append(Member(name=name, kind="blob", size=location.length, mode=mode))  # its place, until settled
        # Settle what is done, and never let more than a few blobs wait: an error stops the walk soon.
        while self._pending and (self._pending[0].result.done() or len(self._pending) > 2 * WORKERS):
            self._settle_first(members, budget)

    def _read(self, name: str, location: BlobLocation, budget: EntryBudget, counted: int) -> tuple[Layer | Exception, int]:
        """The blob read (or the error reading it raised) and how many tar members it met."""
        start = budget.left
        data = FileRange(self._fd, location.offset, location.length, self._on_bytes, self._stop, counted)
        body = MemberStream(cast(BinaryIO, data), location.length, archive=self._source, member=show(name))
        try:
            blob = layer.read_layer(cast(BinaryIO, body), archive=self._source, member=name, options=self._options,
                                    budget=budget)
        except Exception as e:  # raised in the walk's thread, in the walk's order
            return e, start - budget.left
        return replace(blob, location=location), start - budget.left

    def settle(self, members: list[Member], budget: EntryBudget) -> None:
        """Wait for every blob submitted, in order; raise the first one's error."""
        while self._pending:
            self._settle_first(members, budget)

    def _settle_first(self, members: list[Member], budget: EntryBudget) -> None:
        pending = self._pending.popleft()
        blob, met = pending.result.result()
        left = budget.left - met
        self.failed = left < 0 or isinstance(blob, Exception)
        if left < 0:
            # Where one forward pass stops (read/_layer_entries: EntryLister), before anything later in this blob.
            raise LimitError(self._source, show(pending.name), f"the layers of this input hold more than {budget.limit}"
                                                               " entries (raise the limit with --max-total-entries)")
        if isinstance(blob, Exception):
            raise blob
        budget.left = left
        members[pending.index] = Member(name=pending.name, kind="blob", size=pending.location.length, mode=pending.mode,
                                        layer=blob, digest=blob.blob_digest, json_like=pending.json_like)

    def abandon(self) -> None:
        """Stop the units still running (the read ended: an error) and wait for them, before the file is closed."""
        self._stop.set()
        waiting: list[Future[object]] = [cast("Future[object]", p.result) for p in self._pending]
        if self._digest is not None:
            waiting.append(cast("Future[object]", self._digest))
        self._pending.clear()
        for future in waiting:
            if not future.cancel():
                future.exception()  # waits; the unit's error, if any, is not wanted
