"""One regular file's bytes, read from the one layer blob that holds them, onto an output stream.

Nothing is extracted: the layer's tar is walked once more, forward, until the
entry that holds the file, whose data is copied to the output in the chunks it
is read in and hashed on the way; the digest must be the one the first read
took, or the copy ends with an error (the input changed in between). Where the
blob lies: at its ``location`` (an uncompressed archive, a directory's blob
file), else found again by its member name in the whole input read once more
(a compressed archive), else in the bytes the first read kept
(``ReadOptions.keep_paths``: standard input, which cannot be read twice).
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from typing import BinaryIO, Protocol, cast

from imageforensics.errors import InputError
from imageforensics.model import FileEntry, Layer
from imageforensics.options import Limits, ReadOptions
from imageforensics.parse import normalise_member_name
from imageforensics.read._compression import HEAD_BYTES, detect, open_decompressed
from imageforensics.read._layer_entries import EntryLister
from imageforensics.read._layer_streams import TarStream
from imageforensics.read._sources import looks_like_snapshot
from imageforensics.read._outer_tar import MemberStream, Prefixed, TarView
from imageforensics.read._tar_header import FastTarInfo
from imageforensics.untrusted import show


class Output(Protocol):
    """Where the bytes go (standard output's binary buffer)."""

    def write(self, data: bytes, /) -> object: ...


class _Copy:
    """Hands each chunk of the file's data to the output and to the digest."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self.sha256 = hashlib.sha256()
        self.size = 0

    def update(self, chunk: bytes | memoryview) -> None:
        self.sha256.update(chunk)
        self.out.write(bytes(chunk))
        self.size += len(chunk)


def copy_file(source: str, layer: Layer, member_path: str, occurrence: int, file: FileEntry, out: Output,
              options: ReadOptions = ReadOptions()) -> int:
    """Write the bytes of the ``occurrence``-th entry at ``member_path`` of ``layer`` to ``out``; their size.

    ``file`` is that file as the first read listed it (its size and content
    digest are checked). InputError when the bytes cannot be had or differ.
    """
    where = show(layer.member)
    for kept in layer.kept:
        if kept.path == member_path and kept.occurrence == occurrence:
            copy = _Copy(out)
            copy.update(kept.data)
            _check(copy, file, source, where)
            return copy.size
    if source == "-":
        raise InputError(source, where, f"standard input is read once and /{show(member_path)} was not kept "
                                        "as it streamed past (another name's file, or a snapshot, which holds no "
                                        "file contents): read from a file")
    if layer.location is not None:
        spot = layer.location
        try:
            f = open(spot.path, "rb")
        except OSError as e:
            raise InputError(source, where, f"cannot open {show(spot.path)} again: {e.strerror or e}") from None
        with f:
            f.seek(spot.offset)
            blob = MemberStream(f, spot.length, archive=source, member=where)
            return _from_blob(cast(BinaryIO, blob), source, where, member_path, occurrence, file, out, options.limits)
    if os.path.isfile(source):
        return _from_archive_again(source, layer, member_path, occurrence, file, out, options.limits)
    raise InputError(source, where, "the layer's blob cannot be read again")


def _check(copy: _Copy, file: FileEntry, source: str, where: str) -> None:
    digest = "sha256:" + copy.sha256.hexdigest()
    if copy.size != file.size or (file.content_digest and digest != file.content_digest):
        raise InputError(source, where, f"/{show(file.path)} read again is {copy.size} bytes with digest {digest}, "
                                        f"not {file.size} bytes with {file.content_digest or 'the first read'}: "
                                        "the input changed while being read")


def _from_blob(blob: BinaryIO, source: str, where: str, member_path: str, occurrence: int, file: FileEntry,
               out: Output, limits: Limits) -> int:
    """Walk one layer blob's tar, listing as the first read did, to the entry holding the file."""
    peek = blob.read(HEAD_BYTES)
    kind = detect(peek)
    stream = open_decompressed(cast(BinaryIO, Prefixed(peek, blob)), kind, archive=source, member=where, limits=limits)
    try:
        tar = TarStream(stream, limits.max_extended_header_bytes, source, where, hashing=False)
        # Listed without digests: only the wanted entry's data is read.
        lister = EntryLister(source, where, ReadOptions(limits=limits, content_digests=False, digest_below=0,
                                                             package_databases=False))
        try:
            archive = tarfile.TarFile(fileobj=tar, mode="r", tarinfo=FastTarInfo.capped(limits),  # type: ignore[arg-type]
                                      encoding="utf-8", errors="surrogateescape")
            seen = 0
            while True:
                info = archive.next()
                if info is None:
                    break
                archive.members.clear()  # type: ignore[attr-defined]  # one forward pass keeps no TarInfo
                before = lister.listed
                lister.add(info, tar)
                if lister.listed == before or lister.last_path != member_path:
                    continue
                if seen == occurrence:
                    if info.sparse is not None:
                        raise InputError(source, where, f"/{show(member_path)} is a sparse file, which cat does not copy")
                    copy = _Copy(out)
                    tar.seek(info.offset_data)
                    tar.hash_exactly(info.size, copy)  # type: ignore[arg-type]  # hash_exactly needs only update()
                    _check(copy, file, source, where)
                    return copy.size
                seen += 1
        except (tarfile.TarError, EOFError) as e:
            raise InputError(source, where, f"the layer read again is not the tar it was ({e})") from None
    finally:
        stream.close()
    raise InputError(source, where, f"the layer read again holds no entry /{show(member_path)}: the input changed "
                                    "while being read")


def _from_archive_again(source: str, layer: Layer, member_path: str, occurrence: int, file: FileEntry, out: Output,
                        limits: Limits) -> int:
    """Read the input once more (decompressing it) up to the member that holds the layer, then that member."""
    where = show(layer.member)
    wanted = normalise_member_name(layer.member)
    with open(source, "rb") as f:
        peek = f.read(4096)  # enough to tell a snapshot, and the compression
        if looks_like_snapshot(peek):
            raise InputError(source, None, "a snapshot holds no file contents (metadata and digests only)")
        whole = open_decompressed(cast(BinaryIO, Prefixed(peek, f)), detect(peek), archive=source, member=None,
                                  limits=limits)
        try:
            view = TarView(whole, archive=source, cap=limits.max_extended_header_bytes)
            try:
                outer = tarfile.TarFile(fileobj=view, mode="r", tarinfo=FastTarInfo.capped(limits))  # type: ignore[arg-type]
                while True:
                    info = outer.next()
                    if info is None:
                        break
                    outer.members.clear()  # type: ignore[attr-defined]
                    if info.isreg() and info.sparse is None and normalise_member_name(info.name) == wanted:
                        view.seek(info.offset_data)
                        blob = MemberStream(view, info.size, archive=source, member=where)
                        return _from_blob(cast(BinaryIO, blob), source, where, member_path, occurrence, file, out,
                                          limits)
            except (tarfile.TarError, EOFError) as e:
                raise InputError(source, None, f"the archive read again is not the tar it was ({e})") from None
        finally:
            whole.close()
    raise InputError(source, where, "the archive read again holds no such member: it changed while being read")
