"""Read one layer blob in a single forward pass: digests, compression, and its tar entries.

The stored bytes are hashed as they stream (the blob digest), decompressed,
hashed again (the diff_id) and listed with ``tarfile`` over a forward-only
view, so memory is bounded by the entries' metadata, never by the data. The
tar is never extracted; links are recorded, never followed.
"""

from __future__ import annotations

import tarfile
from typing import BinaryIO, cast

from imageforensics.read._compression import HEAD_BYTES, detect, open_decompressed
from imageforensics.errors import ImageForensicsError, InputError, LimitError
from imageforensics.read._layer_entries import EntryBudget, EntryLister
from imageforensics.read._layer_streams import BLOCK, RawError, StoredReader, TarStream, TruncatedData
from imageforensics.options import Limits, ReadOptions
from imageforensics.model import WELL_KNOWN_EMPTY, Digest, Layer
from imageforensics.read._tar_header import FastTarInfo
from imageforensics.untrusted import show

_HINT_BYTES = 16


def read_layer(
    raw: BinaryIO, *, archive: str, member: str, options: ReadOptions = ReadOptions(), unchanged_from: Layer | None = None,
    budget: EntryBudget | None = None,
) -> Layer:
    """Hash, decompress and list one layer blob, consuming ``raw`` to its end.

    ``member`` is the blob's name as the archive spells it: the Layer keeps it
    exactly, messages quote it shown (``untrusted.show``).

    Content problems (not a tar, corrupt compression, a corrupt or truncated
    tar) give ``readable=False`` with ``problem`` set. Failures to read
    ``raw`` itself raise InputError naming the archive and member; limits
    raise LimitError; zstd without a decoder raises ToolMissingError.
    ``options.content_digests=False`` leaves files' ``content_digest`` empty
    (their data is then only hashed once, for the diff_id), except for files
    smaller than ``options.digest_below`` bytes. ``unchanged_from`` is this layer as an
    earlier read gave it, when the caller has proven the stored bytes
    unchanged since: they are not hashed again, its digests are kept.
    ``budget`` counts the entries of all the layers of one input (``--max-total-entries``).
    """
    stored = StoredReader(raw)
    where = show(member)
    try:
        return _read(stored, archive, member, where, options, unchanged_from, budget)
    except RawError as exc:
        cause = exc.__cause__
        if isinstance(cause, ImageForensicsError):
            raise cause from None
        if isinstance(cause, (tarfile.ReadError, EOFError)):
            what = f"archive ends in the middle of this member ({cause})"
        else:
            what = f"cannot read this member ({type(cause).__name__}: {cause})"
        raise InputError(archive, where, what) from None
    finally:
        stored.hash.close()


def _read(stored: StoredReader, archive: str, member: str, where: str, options: ReadOptions,
          unchanged_from: Layer | None, budget: EntryBudget | None) -> Layer:
    limits = options.limits
    kind = detect(stored.peek(HEAD_BYTES))
    # Uncompressed: the stored bytes are the tar, so the diff_id hash is the blob digest.
    stored.hashing = kind != "none" and unchanged_from is None
    source = open_decompressed(
        cast(BinaryIO, stored), kind, archive=archive, member=where, limits=limits
    )
    # Extended headers hold a path (plus xattrs); anything far larger is hostile.
    tar = TarStream(source, limits.max_extended_header_bytes, archive, where, hashing=unchanged_from is None,
                    skips_here=kind == "none")
    lister = EntryLister(archive, where, options, budget)
    problem = ""
    decompressed = True
    try:
        try:
            problem, ended = _list_tar(tar, lister, kind, limits)
            if ended:
                after, nonzero = tar.drain()
                if nonzero:
                    # estargz puts its TOC entry here; it counts toward the diff_id.
                    lister.note("trailing-data", f"{after} bytes")
            tar.drain()
        except LimitError:
            raise
        except InputError as exc:  # the compressed data is corrupt or cut short
            problem, decompressed = exc.expected, False
        finally:
            source.close()
        trailing = getattr(source, "trailing_bytes", 0)
        if trailing:
            zero = " (all zero)" if getattr(source, "trailing_zero", False) else ""
            lister.note("trailing-garbage", f"{trailing} bytes after the {kind} stream{zero}")
        stored.drain()
        diff_hex = tar.hash.hexdigest()
    finally:
        tar.hash.close()
    blob_hex = diff_hex if kind == "none" else stored.hash.hexdigest()
    if unchanged_from is not None:
        # Nothing was hashed: the caller proved these are the bytes the earlier read hashed.
        blob_hex = unchanged_from.blob_digest.hex
        diff_hex = unchanged_from.diff_id.hex if unchanged_from.diff_id is not None else diff_hex
    entries, anomalies = lister.result()
    empty_kind = WELL_KNOWN_EMPTY.get(blob_hex) or (
        WELL_KNOWN_EMPTY.get(diff_hex, "") if decompressed else ""
    )
    if not empty_kind and not problem and lister.members == 0:
        empty_kind = "entry-less tar"
    return Layer(
        member=member,
        blob_digest=Digest.sha256(blob_hex),
        diff_id=Digest.sha256(diff_hex) if decompressed else None,
        compression=kind,
        size=stored.size,
        uncompressed_size=tar.total,
        entries=entries,
        readable=not problem,
        problem=problem,
        empty_kind=empty_kind,
        anomalies=anomalies,
        kept=tuple(lister.kept),
        package_databases=lister.package_databases(),
    )


# What tarfile (and our own checks) raise on a corrupt or truncated tar.
_TAR_ERRORS = (
    tarfile.TarError,
    EOFError,
    ValueError,
    OverflowError,
    IndexError,
    KeyError,
    UnicodeError,
)


def _list_tar(tar: TarStream, lister: EntryLister, kind: str, limits: Limits) -> tuple[str, bool]:
    """List every entry into ``lister``: (content problem or "", whether an end block was seen)."""
    start = tar.head(_HINT_BYTES)
    if kind != "none" and detect(start) != "none":
        return f"not a tar archive: {kind} data holding {detect(start)} data (compressed twice)", False
    try:
        archive = tarfile.TarFile(
            fileobj=tar,  # type: ignore[arg-type]
            mode="r",
            tarinfo=FastTarInfo.capped(limits),
            encoding="utf-8",
            errors="surrogateescape",
        )
    except (ImageForensicsError, RawError):
        raise
    except _TAR_ERRORS as exc:
        if tar.total == 0:
            return "not a tar archive (0 bytes)", False
        if _is_header(tar.first_block):
            return f"tar is corrupt near offset {tar.tell()}: {exc}", False
        return f"not a tar archive ({exc}; starts with {start!r})", False
    try:
        lister.list_members(archive, tar)
    except (ImageForensicsError, RawError):
        raise
    except _TAR_ERRORS as exc:
        if str(exc) == "unexpected end of data" or isinstance(exc, TruncatedData):
            return f"tar ends in the middle of an entry (offset {tar.tell()})", False
        return f"tar is corrupt near offset {tar.tell()}: {exc}", False
    return _end_problem(tar, lister, archive.offset)


def _is_header(block: bytes | None) -> bool:
    """Whether ``block`` is a well-formed tar header (its checksum matches)."""
    try:
        tarfile.TarInfo.frombuf(block or b"", "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def _end_problem(tar: TarStream, lister: EntryLister, offset: int) -> tuple[str, bool]:
    """tarfile stops quietly at a bad header: tell the end-of-archive block from corruption."""
    block = tar.last_block
    if not block:
        # Go's archive/tar accepts a tar that just stops after an entry.
        lister.note("no-end-marker", f"offset {offset}")
        return "", False
    if len(block) < BLOCK:
        return f"tar ends in the middle of a header (offset {offset})", False
    if block.count(0) == BLOCK:
        return "", True
    try:
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
        reason = "unreadable header"
    except tarfile.HeaderError as exc:
        reason = str(exc)
    return f"tar header at offset {offset} is corrupt ({reason})", False
