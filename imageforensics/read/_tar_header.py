"""A faster, hardened reader of tar headers for ``tarfile``: plain headers parsed quickly, sparse maps capped.

``FastTarInfo`` is handed to ``tarfile.TarFile(tarinfo=...)``. It computes
what ``tarfile.TarInfo`` computes and defers to it for anything unusual.
"""

from __future__ import annotations

import inspect
import struct
import tarfile
import zlib
from typing import ClassVar, cast

from imageforensics.options import Limits

# ustar header: name mode uid gid size mtime chksum type linkname magic version
# uname gname devmajor devminor prefix (GNU headers keep other data there).
_HEADER = struct.Struct("100s8s8s8s12s12s8sc100s6s2s32s32s8s8s155s12x")
_NUMERIC = (1, 2, 3, 4, 5, 6, 13, 14)
_TEXT = (0, 8, 11, 12, 15)


class FastTarInfo(tarfile.TarInfo):
    """TarInfo with a quicker header parser for plain ASCII headers (the 200,000-file case).

    ``parse_plain`` computes exactly what tarfile's own parser computes (same
    fields, same octal parsing) and leaves every other header to it: non-ASCII
    bytes (UTF-8 names, base-256 numbers), old-GNU sparse headers, zero blocks.
    It hooks in under both names tarfile has called its parser by: ``frombuf``
    (3.10 to 3.13) and ``_frombuf`` (CPython main since gh-143933, whose
    ``fromtarfile`` calls ``_frombuf`` and never ``frombuf``).
    """

    __slots__ = ()
    # tarfile is given a class, not an instance: the cap on sparse runs rides on it (see ``capped``).
    max_sparse_runs: ClassVar[int] = Limits().max_sparse_runs

    @classmethod
    def capped(cls, limits: Limits) -> type[FastTarInfo]:
        """This class, or a subclass of it with the sparse-run cap of ``limits`` when that differs."""
        if limits.max_sparse_runs == cls.max_sparse_runs:
            return cls
        return type(cls.__name__, (cls,), {"__slots__": (), "max_sparse_runs": limits.max_sparse_runs})

    @classmethod
    def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> FastTarInfo:
        """Parse a 512-byte header block (tarfile's public parser)."""
        return cls._frombuf(buf, encoding, errors)

    @classmethod
    def _frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str, *, dircheck: bool = True) -> FastTarInfo:
        """Parse a 512-byte header block, as tarfile's own ``_frombuf`` where it has one.

        ``dircheck=False`` is what tarfile passes for the header that follows a
        GNU long name or a pax header: its V7 directory rule does not apply.
        """
        parsed = cls.parse_plain(buf, encoding, errors, dircheck=dircheck)
        if parsed is None:
            # super() follows the class's MRO, so the parser found is the next one
            # after ours: tarfile's _frombuf where it exists, else its frombuf
            # (which then does the whole parse and calls neither of ours).
            tarfile_parser = getattr(super(), "_frombuf", None)
            if tarfile_parser is None:
                parsed = super().frombuf(buf, encoding, errors)
            else:
                # It builds its TarInfo as cls(): one of ours.
                parsed = cast(FastTarInfo, tarfile_parser(buf, encoding, errors, dircheck=dircheck))
        if parsed.size < 0:
            # A negative base-256 size moves tarfile's offset backwards: it reads the
            # same headers again, for ever. Go's archive/tar rejects it (ErrHeader).
            raise tarfile.HeaderError(f"negative size {parsed.size}")
        return parsed

    @classmethod
    def parse_plain(cls, buf: bytes | bytearray, encoding: str, errors: str, *,
                    dircheck: bool = True) -> FastTarInfo | None:
        """The header parsed quickly when it is a plain ASCII one; None leaves it to tarfile."""
        if len(buf) != tarfile.BLOCKSIZE or not buf.isascii() or buf[156:157] == tarfile.GNUTYPE_SPARSE:
            return None
        # ASCII bytes sum to at most 512 * 127 < 65521, so Adler-32's low half
        # is 1 + the exact byte sum; signed and unsigned checksums agree.
        total = (zlib.adler32(buf) & 0xFFFF) - 1
        fields = _HEADER.unpack(buf)
        try:
            # tarfile.nti for an ASCII field: up to the first NUL, base 8
            # (anything int() rejects goes to tarfile, which decides).
            mode, uid, gid, size, mtime, chk, devmajor, devminor = [
                int(fields[i].split(b"\0", 1)[0] or b"0", 8) for i in _NUMERIC
            ]
        except ValueError:
            return None
        if not total or chk != total - sum(fields[6]) + 256:
            return None
        kind: bytes = fields[7]
        name, linkname, uname, gname, prefix = [
            fields[i].split(b"\0", 1)[0].decode(encoding, errors) for i in _TEXT
        ]
        obj = cls()
        obj.name = name
        obj.mode, obj.uid, obj.gid, obj.size, obj.mtime = mode, uid, gid, size, mtime
        obj.devmajor, obj.devminor = devmajor, devminor
        obj.chksum = chk
        obj.type = kind
        obj.linkname, obj.uname, obj.gname = linkname, uname, gname
        # As tarfile: a V7 directory is a regular file with a trailing slash
        # (not in the header after a long name: its name field is not the name).
        if dircheck and kind == tarfile.AREGTYPE and name.endswith("/"):
            obj.type = tarfile.DIRTYPE
        if obj.type == tarfile.DIRTYPE:
            obj.name = name.rstrip("/")
        if prefix and obj.type not in tarfile.GNU_TYPES:
            obj.name = prefix + "/" + obj.name
        return obj

    # tarfile reads sparse maps into lists as long as the data allows; hostile
    # maps could fill memory, so these copies of its readers stop at a cap.
    def _proc_sparse(self, tarfile_: tarfile.TarFile) -> "tarfile.TarInfo":
        """Old GNU sparse header plus its extension blocks (as tarfile, capped)."""
        structs, isextended, origsize = self._sparse_structs  # type: ignore[attr-defined]
        del self._sparse_structs  # type: ignore[attr-defined]
        while isextended:
            buf = tarfile_.fileobj.read(tarfile.BLOCKSIZE)
            pos = 0
            for _ in range(21):
                try:
                    offset = tarfile.nti(buf[pos : pos + 12])  # type: ignore[attr-defined]
                    numbytes = tarfile.nti(buf[pos + 12 : pos + 24])  # type: ignore[attr-defined]
                except ValueError:
                    break
                if offset and numbytes:
                    structs.append((offset, numbytes))
                pos += 24
            isextended = bool(buf[504])
            _check_sparse_runs(len(structs), self.max_sparse_runs)
        self.sparse = structs
        self.offset_data = tarfile_.fileobj.tell()
        tarfile_.offset = self.offset_data + self._block(self.size)  # type: ignore[attr-defined]
        self.size = origsize
        return self

    def _proc_gnusparse_10(
        self, next: "tarfile.TarInfo", pax_headers: dict[str, str], tarfile_: tarfile.TarFile
    ) -> None:
        """GNU sparse 1.0: the map at the start of the data (as tarfile, capped)."""
        fileobj = tarfile_.fileobj
        assert fileobj is not None
        sparse: list[int] = []
        buf = fileobj.read(tarfile.BLOCKSIZE)
        fields, buf = buf.split(b"\n", 1)
        count = int(fields)
        _check_sparse_runs(count, self.max_sparse_runs)
        while len(sparse) < count * 2:
            if b"\n" not in buf:
                buf += fileobj.read(tarfile.BLOCKSIZE)
            number, buf = buf.split(b"\n", 1)
            sparse.append(int(number))
        next.offset_data = fileobj.tell()
        # typeshed declares TarInfo.sparse as bytes | None, but tarfile itself
        # stores the sparse map there as a list of (offset, size) runs.
        next.sparse = list(zip(sparse[::2], sparse[1::2]))  # type: ignore[assignment]


def _check_sparse_runs(count: int, cap: int) -> None:
    if count > cap:
        raise tarfile.ReadError(f"sparse map has more than {cap} runs")


def _same_parameters(name: str, parameters: tuple[str, ...]) -> bool:
    method = getattr(tarfile.TarInfo, name, None)
    return method is not None and tuple(inspect.signature(method).parameters) == parameters


# The capped copies replace private tarfile methods, identical from 3.10 to 3.13;
# should a later Python change them, tarfile's own versions are used instead.
if not _same_parameters("_proc_sparse", ("self", "tarfile")):
    del FastTarInfo._proc_sparse
if not _same_parameters("_proc_gnusparse_10", ("self", "next", "pax_headers", "tarfile")):
    del FastTarInfo._proc_gnusparse_10
