"""A faster, hardened reader of tar headers for ``tarfile``: plain headers parsed quickly, sparse maps capped,
extended headers read as the container runtimes read them.

``FastTarInfo`` is handed to ``tarfile.TarFile(tarinfo=...)``. It computes
what ``tarfile.TarInfo`` computes for a plain header and defers to it for an
unusual block. The headers that describe the next member (PAX ``x``, GNU
long names ``L``/``K``) and PAX global headers (``g``) it processes itself,
by the rules of Go's ``archive/tar`` (``Reader.next``, ``mergePAX``), which
dockerd, containerd, podman and skopeo use (see ``read/_pax.py`` for the
records):

- a global header is an entry of its own (type ``g``) that nothing inherits:
  tarfile applies its ``path``/``linkpath``/``size`` to every later member,
  Go returns it as a header and moby and containerd skip it, so an archive
  could show tarfile one file while the runtime writes another;
- of several extended headers before one member only the last counts
  (tarfile merges them, the first winning);
- a GNU long name or link wins over a PAX ``path``/``linkpath``, whatever
  their order (tarfile lets the later-processed one win);
- an empty PAX value keeps the header's own field (tarfile sets it empty);
- ``GNU.sparse.name`` renames only a member that is a GNU sparse file;
- a bad number in a record, a NUL in a name, a malformed record or sparse
  map makes the header invalid (tarfile reads 0, keeps the NUL, stops
  parsing, or raises ValueError).
"""

from __future__ import annotations

import inspect
import struct
import tarfile
import zlib
from typing import Callable, ClassVar, cast

from imageforensics.options import Limits
from imageforensics.read._pax import PaxError, parse_int64, parse_records, parse_time_ns

# ustar header: name mode uid gid size mtime chksum type linkname magic version
# uname gname devmajor devminor prefix (GNU headers keep other data there).
_HEADER = struct.Struct("100s8s8s8s12s12s8sc100s6s2s32s32s8s8s155s12x")
_NUMERIC = (1, 2, 3, 4, 5, 6, 13, 14)
_TEXT = (0, 8, 11, 12, 15)
BLOCK = tarfile.BLOCKSIZE
# Headers that describe the next member, and the global header (an entry of its own).
_META = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)
# Go's isHeaderOnlyType: their size field is ignored (no data follows).
HEADER_ONLY = frozenset((tarfile.LNKTYPE, tarfile.SYMTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.DIRTYPE,
                         tarfile.FIFOTYPE))
_INT64 = range(-(1 << 63), 1 << 63)
# tarfile's own header errors (typeshed leaves them out): TarFile.next turns a subsequent-header error
# into ReadError, and reads the end-of-archive marker as the end.
_SUBSEQUENT: type[tarfile.HeaderError] = getattr(tarfile, "SubsequentHeaderError")
_END_OF_ARCHIVE: type[tarfile.HeaderError] = getattr(tarfile, "EOFHeaderError")


# The member types a plain header may have for ``plain_member``: files, links, devices, FIFOs, directories.
_PLAIN_TYPES = frozenset((tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE, tarfile.LNKTYPE, tarfile.SYMTYPE,
                          tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE, tarfile.DIRTYPE))
# The types whose data follows the header (tarfile's isreg(); the others are header-only, as in Go).
DATA_TYPES = frozenset((tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE))

# What ``plain_member`` reads from a header block: name, type, size, mode, uid, gid, mtime (s), linkname,
# devmajor, devminor.
PlainMember = tuple[str, bytes, int, int, int, int, int, str, int, int]


def plain_member(block: bytes) -> PlainMember | None:
    """A member header block parsed in one ``struct`` unpack, or None when tarfile must read it.

    The hot path of listing a layer: it reads exactly what ``FastTarInfo``
    over tarfile reads for the same block (name as Go's archive/tar prefixes
    it, V7 directories, numbers octal as tarfile's ``nti`` or base-256 within
    int64) and declines everything else: a bad checksum or a zero block,
    extended headers (PAX ``x``/``g``, GNU ``L``/``K``), old-GNU sparse
    files and other types, a negative size, any number field tarfile's
    octal parser would read differently from ``int(field, 8)``. Only a
    header it declines can end the archive or fail, and tarfile, reading it
    again, decides how.
    """
    fields = _HEADER.unpack(block)
    kind: bytes = fields[7]
    if kind not in _PLAIN_TYPES:
        return None
    chksum_field: bytes = fields[6]
    try:
        if block.isascii():
            # No base-256 number (its first byte is 0x80 or 0xFF): octal as tarfile's nti, up to the first
            # NUL; trailing NULs are stripped, and a NUL before other bytes makes int() raise (tarfile decides).
            mode = int(fields[1].rstrip(b"\0") or b"0", 8)
            uid = int(fields[2].rstrip(b"\0") or b"0", 8)
            gid = int(fields[3].rstrip(b"\0") or b"0", 8)
            size = int(fields[4].rstrip(b"\0") or b"0", 8)
            mtime = int(fields[5].rstrip(b"\0") or b"0", 8)
            devmajor = int(fields[13].rstrip(b"\0") or b"0", 8)
            devminor = int(fields[14].rstrip(b"\0") or b"0", 8)
            # Written as six digits, NUL, space by tarfile, GNU tar and Go alike.
            chksum = int(chksum_field[:6] if chksum_field[6:] == b"\0 " else chksum_field.rstrip(b"\0") or b"0", 8)
            # ASCII bytes sum to at most 512 * 127 < 65521, so Adler-32's low half is 1 + the exact byte sum.
            total = (zlib.adler32(block) & 0xFFFF) - 1
        else:
            mode, uid, gid, size, mtime, devmajor, devminor = [_number(fields[i]) for i in (1, 2, 3, 4, 5, 13, 14)]
            chksum = int(chksum_field[:6], 8) if chksum_field[6:] == b"\0 " and chksum_field[0] < 0x80 else _number(
                chksum_field)
            # Each half of the block sums to at most 256 * 255 < 65521.
            total = (zlib.adler32(block[:256]) & 0xFFFF) + (zlib.adler32(block[256:]) & 0xFFFF) - 2
    except ValueError:
        return None
    # tarfile takes the unsigned or the signed sum of the block, its checksum field counted as spaces.
    if chksum != total - sum(chksum_field) + 256 or not total or size < 0:
        return None  # the signed sum, a zero block (the end), a negative size: tarfile decides
    raw_name: bytes = fields[0].split(b"\0", 1)[0]
    # tarfile's V7 rule: a regular file whose name ends in "/" is a directory (see FastTarInfo.parse_plain).
    if kind == tarfile.AREGTYPE and raw_name.endswith(b"/"):
        kind = tarfile.DIRTYPE
    if block[345]:
        prefix = runtime_prefix(block)
        if prefix:
            raw_name = prefix + b"/" + raw_name
    name = raw_name.decode("utf-8", "surrogateescape")
    if kind == tarfile.DIRTYPE:
        name = name.rstrip("/")
    linkname = fields[8].split(b"\0", 1)[0].decode("utf-8", "surrogateescape") if fields[8][0] else ""
    return name, kind, size, mode, uid, gid, mtime, linkname, devmajor, devminor


def _number(field: bytes) -> int:
    """A numeric header field as tarfile's ``nti`` reads it, or ValueError where the two might differ.

    Octal: up to the first NUL, as ``int(text, 8)`` (tarfile strips more kinds
    of white space; those fields raise here and go to tarfile). Base-256 (a
    first byte of 0x80 or 0xFF, as tarfile knows them): big-endian, 0xFF
    negative, within Go's int64.
    """
    first = field[0]
    if first < 0x80:
        return int(field.rstrip(b"\0") or b"0", 8)
    if first == 0x80:
        value = int.from_bytes(field[1:], "big")
    elif first == 0xFF:
        value = int.from_bytes(field[1:], "big") - (1 << (8 * (len(field) - 1)))
    else:
        raise ValueError("not a number tarfile reads")
    if value not in _INT64:
        raise ValueError("out of the 64-bit range")
    return value


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
        parsed = cls.parse_plain(buf, encoding, errors, dircheck=dircheck) or cls.parse_block(
            buf, encoding, errors, dircheck=dircheck)
        # An empty prefix field (its first byte NUL) is empty for tarfile and Go alike: nothing to redo.
        if buf[345]:
            _runtime_name(parsed, buf, encoding, errors)
        return parsed

    @classmethod
    def parse_block(cls, buf: bytes | bytearray, encoding: str, errors: str, *, dircheck: bool = True) -> FastTarInfo:
        """The header block as tarfile's own parser reads it (quickly when it is a plain one).

        Only this path can meet base-256 numbers (a plain header's octal
        fields stay far below 2**63): they must fit Go's int64.
        """
        parsed = cls.parse_plain(buf, encoding, errors, dircheck=dircheck)
        if parsed is not None:
            return parsed
        # super() follows the class's MRO, so the parser found is the next one
        # after ours: tarfile's _frombuf where it exists, else its frombuf
        # (which then does the whole parse and calls neither of ours).
        tarfile_parser = getattr(super(), "_frombuf", None)
        if tarfile_parser is None:
            parsed = super().frombuf(buf, encoding, errors)
        else:
            # It builds its TarInfo as cls(): one of ours.
            parsed = cast(FastTarInfo, tarfile_parser(buf, encoding, errors, dircheck=dircheck))
        _check_numbers(parsed)
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

    def _proc_member(self, tarfile_: tarfile.TarFile) -> "tarfile.TarInfo | None":
        """Process the member whose header was just parsed (tarfile's dispatch, extended headers ours)."""
        if self.type in _META:
            return self._proc_extended(tarfile_)
        if self.type == tarfile.SOLARIS_XHDTYPE:
            # Go knows no Solaris "X" header: it is an entry of an unknown type, its data skipped.
            return self._proc_builtin(tarfile_)  # type: ignore[attr-defined, no-any-return]
        return _TARFILE_PROC_MEMBER(self, tarfile_)

    def _proc_extended(self, tarfile_: tarfile.TarFile) -> "tarfile.TarInfo | None":
        """Read extended and long-name headers up to the member they describe, as Go's ``Reader.next`` does.

        Returns the member, a global header as an entry of its own, or None
        when the end-of-archive marker follows (Go ends there quietly).
        """
        fileobj = tarfile_.fileobj
        assert fileobj is not None
        encoding, errors = tarfile_.encoding, tarfile_.errors
        records: dict[str, str] = {}
        long_name = long_link = ""
        header: FastTarInfo = self
        while True:
            if header.size < 0:
                raise _SUBSEQUENT(f"extended header at offset {header.offset} has a negative size")
            data = fileobj.read(header._block(header.size))  # type: ignore[attr-defined]
            if len(data) < header.size:
                raise _SUBSEQUENT("unexpected end of data")
            body = data[: header.size]
            if header.type in (tarfile.XHDTYPE, tarfile.XGLTYPE):
                try:
                    parsed = parse_records(body)
                except PaxError as e:
                    raise _SUBSEQUENT(f"invalid extended header at offset {header.offset}: {e}") from None
                if header.type == tarfile.XGLTYPE:
                    # An entry of its own, as Go returns it: no later member inherits its records.
                    header.pax_headers = parsed
                    header.offset_data = header.offset + BLOCK
                    tarfile_.offset = fileobj.tell()
                    return header
                records = parsed  # Go keeps only the last extended header before a member
            else:
                text = body.split(b"\0", 1)[0].decode(encoding or "utf-8", errors)
                if header.type == tarfile.GNUTYPE_LONGNAME:
                    long_name = text
                else:
                    long_link = text
            offset = fileobj.tell()
            block = fileobj.read(BLOCK)
            try:
                header = type(self)._frombuf(block, encoding or "utf-8", errors, dircheck=False)
            except _END_OF_ARCHIVE:
                tarfile_.offset = offset
                return None
            except tarfile.HeaderError as e:
                raise _SUBSEQUENT(str(e)) from None
            header.offset = offset
            if header.type not in _META:
                break
        first = self.offset
        try:
            return _described(header, records, long_name, long_link, tarfile_, first)
        except PaxError as e:
            raise _SUBSEQUENT(f"invalid extended header at offset {first}: {e}") from None

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


def _runtime_name(parsed: tarfile.TarInfo, buf: bytes | bytearray, encoding: str, errors: str) -> None:
    """The member name with the prefix Go's archive/tar reads (tarfile prepends the field whatever the format)."""
    name = bytes(buf[0:100]).split(b"\0", 1)[0]
    prefix = runtime_prefix(buf)
    if prefix:
        name = prefix + b"/" + name
    parsed.name = name.decode(encoding, errors)
    if parsed.type == tarfile.DIRTYPE:
        parsed.name = parsed.name.rstrip("/")


def runtime_prefix(buf: bytes | bytearray) -> bytes:
    """The name prefix Go's ``readHeader`` takes from a header block, by its format (``getFormat``).

    ustar (magic ``ustar\\0``): the 155-byte prefix field, 131 bytes in a star
    header (trailer ``tar\\0``). GNU (``ustar  \\0``): none, as those bytes
    hold atime, ctime and sparse data, unless atime or ctime does not parse
    as a number (a pre-Go 1.8 writer put a prefix there), then the field if
    ASCII. V7 (no magic): none.
    """
    magic, version = bytes(buf[257:263]), bytes(buf[263:265])
    if magic == b"ustar\0":
        field = buf[345:476] if buf[508:512] == b"tar\0" else buf[345:500]
        return bytes(field).split(b"\0", 1)[0]
    if magic == b"ustar " and version == b" \0":
        if all(not buf[i] or _go_number(buf[i : i + 12]) for i in (345, 357)):
            return b""
        text = bytes(buf[345:500]).split(b"\0", 1)[0]
        return text if text.isascii() else b""
    return b""


def _go_number(field: bytes | bytearray) -> bool:
    """Whether Go's ``parseNumeric`` reads the field without error (base-256 within int64, or octal)."""
    if field[0] & 0x80:
        negative = bool(field[0] & 0x40)
        value = int.from_bytes(bytes([field[0] & 0x7F]) + bytes(field[1:]), "big")
        if negative:
            value = int.from_bytes(bytes([(~field[0]) & 0x7F]) + bytes(~b & 0xFF for b in field[1:]), "big")
        return value < (1 << 63)
    text = bytes(field).strip(b" \0").split(b"\0", 1)[0]
    return not text or (text.isdigit() and all(48 <= c <= 55 for c in text) and int(text, 8) < (1 << 64))


def _described(member: FastTarInfo, records: dict[str, str], long_name: str, long_link: str,
               tarfile_: tarfile.TarFile, first: int) -> tarfile.TarInfo:
    """The member after its extended headers: Go's ``mergePAX``, then long names, then sparse maps."""
    if member.type == tarfile.SOLARIS_XHDTYPE:
        result: tarfile.TarInfo = member._proc_builtin(tarfile_)  # type: ignore[attr-defined]
    else:
        result = _TARFILE_PROC_MEMBER(member, tarfile_)
    for key, value in records.items():
        if not value:
            continue  # Go: an empty value keeps the header's own field
        if key == "path":
            result.name = value
        elif key == "linkpath":
            result.linkname = value
        elif key == "uname":
            result.uname = value
        elif key == "gname":
            result.gname = value
        elif key == "uid":
            result.uid = parse_int64(value)
        elif key == "gid":
            result.gid = parse_int64(value)
        elif key in ("atime", "ctime"):
            parse_time_ns(value)  # checked only: the model keeps no atime or ctime
        elif key == "mtime":
            # In seconds, as tarfile's float(); the exact nanoseconds are read from the record (mtime_ns).
            result.mtime = parse_time_ns(value) / 1_000_000_000
        elif key == "size":
            stored = parse_int64(value)
            if result.type != tarfile.GNUTYPE_SPARSE:
                result.size = stored  # an old-GNU sparse file keeps the real size of its header (readOldGNUSparseMap)
            if result.type not in HEADER_ONLY:
                # The data is as long as the record says; the next header follows it.
                tarfile_.offset = result.offset_data + result._block(max(stored, 0))  # type: ignore[attr-defined]
    if long_name:
        result.name = long_name
    if long_link:
        result.linkname = long_link
    # Go's V7 rule on the final name: a plain file whose name ends in "/" is a directory.
    if result.type == tarfile.AREGTYPE and result.name.endswith("/"):
        result.type = tarfile.DIRTYPE
    if result.type == tarfile.DIRTYPE:
        result.name = result.name.rstrip("/")
    result.pax_headers = records
    result.offset = first
    if result.type != tarfile.GNUTYPE_SPARSE:
        _pax_sparse(result, records, tarfile_)
    return result


def _pax_sparse(member: tarfile.TarInfo, records: dict[str, str], tarfile_: tarfile.TarFile) -> None:
    """GNU sparse files in PAX form (0.0, 0.1, 1.0), recognised as Go's ``readGNUSparsePAXHeaders`` does."""
    major, minor = records.get("GNU.sparse.major", ""), records.get("GNU.sparse.minor", "")
    if major == "0" and minor in ("0", "1"):
        in_data = False
    elif major == "1" and minor == "0":
        in_data = True
    elif major or minor or not records.get("GNU.sparse.map"):
        return  # an unknown version, or not sparse: a plain file
    else:
        in_data = False  # 0.0 and 0.1 carry no version records
    name = records.get("GNU.sparse.name")
    if name:
        member.name = name
    real = records.get("GNU.sparse.size") or records.get("GNU.sparse.realsize")
    stored = member.size
    if real:
        member.size = parse_int64(real)
    cap = cast("type[FastTarInfo]", type(member)).max_sparse_runs
    if in_data:
        runs = _sparse_map_in_data(member, tarfile_, cap)
    else:
        count = parse_int64(records.get("GNU.sparse.numblocks", ""))
        if count < 0:
            raise PaxError(f"GNU.sparse.numblocks is negative ({count})")
        _check_sparse_runs(count, cap)
        text = records.get("GNU.sparse.map", "")
        numbers = [parse_int64(n) for n in text.split(",")] if text else []
        if len(numbers) != 2 * count:
            raise PaxError(f"GNU.sparse.map holds {len(numbers)} numbers for {count} runs")
        runs = list(zip(numbers[::2], numbers[1::2]))
    if member.type in HEADER_ONLY or stored < 0:
        raise PaxError("a sparse map on an entry without data")
    # typeshed declares TarInfo.sparse as bytes | None; tarfile stores (offset, size) pairs there.
    member.sparse = runs  # type: ignore[assignment]


def _sparse_map_in_data(member: tarfile.TarInfo, tarfile_: tarfile.TarFile, cap: int) -> list[tuple[int, int]]:
    """GNU sparse 1.0: decimal numbers, one a line, at the start of the data, padded to a block (capped)."""
    fileobj = tarfile_.fileobj
    assert fileobj is not None
    fileobj.seek(member.offset_data)
    buf = b""
    numbers: list[int] = []
    count = -1
    while count < 0 or len(numbers) < 2 * count:
        line, newline, rest = buf.partition(b"\n")
        if not newline:
            if len(buf) > 64:
                raise PaxError("GNU sparse 1.0 map holds a number of more than 64 digits")
            more = fileobj.read(BLOCK)
            if len(more) < BLOCK:
                raise PaxError("GNU sparse 1.0 map ends early")
            buf += more
            continue
        buf = rest
        number = parse_int64(line.decode("latin-1"))
        if count < 0:
            if number < 0:
                raise PaxError(f"GNU sparse 1.0 map has a negative count ({number})")
            _check_sparse_runs(number, cap)
            count = number
        else:
            numbers.append(number)
    # The data starts at the block after the map.
    member.offset_data = fileobj.tell()
    return list(zip(numbers[::2], numbers[1::2]))


def _check_numbers(member: tarfile.TarInfo) -> None:
    """Go keeps header numbers in int64: a base-256 field beyond it makes the header invalid."""
    for value in (member.size, member.uid, member.gid, member.mtime, member.devmajor, member.devminor):
        if isinstance(value, int) and value not in _INT64:
            raise _SUBSEQUENT(f"a header number ({value}) is out of the 64-bit range")


def _check_sparse_runs(count: int, cap: int) -> None:
    if count > cap:
        raise tarfile.ReadError(f"sparse map has more than {cap} runs")


def _same_parameters(name: str, parameters: tuple[str, ...]) -> bool:
    method = getattr(tarfile.TarInfo, name, None)
    return method is not None and tuple(inspect.signature(method).parameters) == parameters


# tarfile's dispatch to _proc_builtin/_proc_sparse, for the members that are not extended headers.
_TARFILE_PROC_MEMBER: Callable[[tarfile.TarInfo, tarfile.TarFile], tarfile.TarInfo] = getattr(tarfile.TarInfo, "_proc_member")

# The capped copies replace private tarfile methods, identical from 3.10 to 3.13;
# should a later Python change them, tarfile's own versions are used instead.
if not _same_parameters("_proc_sparse", ("self", "tarfile")):
    del FastTarInfo._proc_sparse
