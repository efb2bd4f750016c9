"""Where Python's tarfile and Go's archive/tar read one tar differently, and which way the reader goes.

dockerd, containerd, podman and skopeo read layers and archives with Go's
``archive/tar`` (``reader.go``: ``Reader.next``, ``readHeader``,
``mergePAX``; ``strconv.go``: ``parseNumeric``, ``parsePAXRecord``,
``validPAXRecord``, ``parsePAXTime``) and apply entries with moby's
``pkg/archive`` (``createTarFile``), which skips ``TypeXGlobalHeader``. The
reader must list what the runtime writes, so each test builds one tar on
which the two differ, states what tarfile gives (asserted, so that the
difference is real on this Python) and what Go gives (from its source), and
checks that the reader gives Go's. A rule where both agree is asserted too,
so that a change in either shows here.
"""

from __future__ import annotations

import io
import struct
import tarfile
from typing import Any

import pytest

from imageforensics.model import Layer
from imageforensics.read._archive import read_stream
from imageforensics.read._layer_blob import read_layer
from imageforensics.read._pax import PaxError, parse_int64, parse_records, parse_time_ns
from imageforensics.read._tar_header import FastTarInfo
from tools.make_hostile import pax_block, pax_record, tar, zstd_raw


def ustar(name: str, data: bytes = b"", *, kind: bytes = tarfile.REGTYPE, fmt: int = tarfile.USTAR_FORMAT,
          edit: Any = None) -> bytes:
    """One member's header (and data blocks), optionally with header bytes edited and the checksum fixed."""
    info = tarfile.TarInfo(name)
    info.type, info.size, info.mtime, info.mode = kind, len(data), 0, 0o644
    block = bytearray(info.tobuf(format=fmt, encoding="utf-8", errors="surrogateescape")[-512:])
    if edit is not None:
        edit(block)
        block[148:156] = b" " * 8
        block[148:156] = b"%06o\x00 " % sum(block)
    return bytes(block) + data + bytes(-len(data) % 512)


END = bytes(1024)


def ours(data: bytes) -> Layer:
    return read_layer(io.BytesIO(data), archive="a.tar", member="layer.tar")


def paths(data: bytes) -> list[str]:
    layer = ours(data)
    assert layer.readable, layer.problem
    return [e.path for e in layer.entries]


def tarfile_names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:", tarinfo=tarfile.TarInfo) as tf:
        return [m.name for m in tf.getmembers()]


# ---- PAX headers ------------------------------------------------------------------------------


def test_a_global_path_is_not_inherited() -> None:
    # tarfile applies a global path to every later member; Go returns the g header as an entry of
    # its own and moby's createTarFile logs "PAX Global Extended Headers found and ignored".
    data = pax_block(tarfile.XGLTYPE, pax_record("path", "usr/bin/sudo")) + ustar("app/README", b"hi") + END
    assert tarfile_names(data) == ["usr/bin/sudo"]
    layer = ours(data)
    assert [e.path for e in layer.entries] == ["app/README"]
    assert layer.anomalies == (("pax-global-header", "path=usr/bin/sudo"),)


def test_a_global_size_and_linkpath_are_not_inherited_either() -> None:
    records = pax_record("size", "0") + pax_record("linkpath", "/etc/shadow")
    data = pax_block(tarfile.XGLTYPE, records) + ustar("a", b"abc") + ustar("l", kind=tarfile.SYMTYPE) + END
    layer = ours(data)
    assert [(e.path, e.size, e.linkname) for e in layer.entries] == [("a", 3, ""), ("l", 0, "")]


def test_in_the_outer_archive_a_global_header_is_a_finding_and_changes_no_name() -> None:
    from tools.make_hostile import WHOLE
    data = pax_block(tarfile.XGLTYPE, pax_record("path", "manifest.json")) + WHOLE
    archive = read_stream(io.BytesIO(data), "a.tar")  # type: ignore[arg-type]
    assert len(archive.images) == 1
    (finding,) = [f for f in archive.findings if f.code == "archive-anomaly"]
    assert finding.evidence_value("anomaly") == "pax-global-header" and finding.evidence_value("first") == "path=manifest.json"


def test_of_two_extended_headers_only_the_last_counts() -> None:
    # tarfile nests them, the first applied last (it wins); Go's next() keeps the last parsePAX result.
    data = (pax_block(tarfile.XHDTYPE, pax_record("path", "first") + pax_record("uid", "7"))
            + pax_block(tarfile.XHDTYPE, pax_record("path", "second")) + ustar("plain", b"x") + END)
    assert tarfile_names(data) == ["first"]
    (entry,) = ours(data).entries
    assert (entry.path, entry.uid) == ("second", 0)


def test_a_gnu_long_name_wins_over_a_pax_path_in_either_order() -> None:
    long_name = ustar("././@LongLink", b"from-gnu\0", kind=tarfile.GNUTYPE_LONGNAME, fmt=tarfile.GNU_FORMAT)
    pax = pax_block(tarfile.XHDTYPE, pax_record("path", "from-pax"))
    pax_first = pax + long_name + ustar("plain", b"x") + END
    gnu_first = long_name + pax + ustar("plain", b"x") + END
    # tarfile lets the header nearest the member lose: the outer one applies last.
    assert tarfile_names(pax_first) == ["from-pax"] and tarfile_names(gnu_first) == ["from-gnu"]
    # Go applies gnuLongName after mergePAX, whatever the order.
    assert paths(pax_first) == paths(gnu_first) == ["from-gnu"]


def test_an_empty_pax_value_keeps_the_header_field() -> None:
    # tarfile sets the name to ""; Go's mergePAX skips empty values ("Keep the original USTAR value").
    data = pax_block(tarfile.XHDTYPE, pax_record("path", "")) + ustar("kept", b"x") + END
    assert tarfile_names(data) == [""]
    assert paths(data) == ["kept"]


def test_a_repeated_pax_key_last_wins_in_both() -> None:
    data = pax_block(tarfile.XHDTYPE, pax_record("path", "one") + pax_record("path", "two")) + ustar("x", b"x") + END
    assert tarfile_names(data) == ["two"]
    assert paths(data) == ["two"]


def test_hdrcharset_is_ignored_and_the_name_bytes_kept() -> None:
    # Go knows no hdrcharset; tarfile decodes BINARY names with the archive's encoding. With UTF-8 and
    # surrogate escapes both keep the bytes; the reader never decodes by it.
    records = pax_record("hdrcharset", "BINARY") + pax_record("path", b"caf\xe9")
    data = pax_block(tarfile.XHDTYPE, records) + ustar("x", b"x") + END
    assert paths(data) == ["caf\udce9"]


def test_gnu_sparse_name_renames_only_a_sparse_file() -> None:
    # tarfile applies GNU.sparse.name to any member; Go only reads it once the record set is a sparse file.
    data = pax_block(tarfile.XHDTYPE, pax_record("GNU.sparse.name", "renamed")) + ustar("plain", b"x") + END
    assert tarfile_names(data) == ["renamed"]
    assert paths(data) == ["plain"]


@pytest.mark.parametrize(("records", "why"), [
    (pax_record("path", b"a\0b"), "path holds a NUL byte"),
    (pax_record("uid", "12x"), "'12x' is not a decimal number"),
    (pax_record("size", "1" * 30), "is out of the 64-bit range"),
    (pax_record("mtime", "1e3"), "'1e3' is not a decimal number"),
    (b"5 a=b\n", "does not end with a newline"),   # tarfile's regex stops quietly and keeps the member
    (b"8 nokey\n", "no '=' between keyword and value"),
    (pax_record("k\0ey", "v"), "keyword 'k\\x00ey' is empty or holds a NUL"),
    (b"1" * 974, "no length field"),               # the CVE-2024-6232 shape: digits only
])
def test_records_go_refuses_make_the_layer_unreadable(records: bytes, why: str) -> None:
    layer = ours(pax_block(tarfile.XHDTYPE, records) + ustar("x", b"x") + END)
    assert not layer.readable and why in layer.problem, layer.problem


def test_the_reader_never_runs_tarfiles_own_pax_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    # Whatever this Python's tarfile does with a PAX header (unpatched: CVE-2024-6232), the reader does not call it.
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("tarfile's _proc_pax was called")
    monkeypatch.setattr(tarfile.TarInfo, "_proc_pax", refuse)
    data = (pax_block(tarfile.XHDTYPE, pax_record("path", "p") + pax_record("mtime", "1.5"))
            + ustar("x", b"x") + pax_block(tarfile.XGLTYPE, pax_record("comment", "c")) + END)
    (entry,) = ours(data).entries
    assert (entry.path, entry.mtime_ns) == ("p", 1_500_000_000)


def test_record_parser_rules() -> None:
    assert parse_records(pax_record("a", "1") + pax_record("b", "x=y") + pax_record("a", "2")) == {"b": "x=y", "a": "2"}
    assert parse_records(b"+8 a=bc\n") == {"a": "bc"}  # Go's ParseInt takes a sign
    assert parse_records(b"0000000000000000000000000035 a=bcd\n") == {"a": "bcd"}  # leading zeros, as ParseInt
    # GNU sparse 0.0: offset/numbytes pairs gather, in order, into a 0.1 map.
    sparse = b"".join(pax_record(k, v) for k, v in (("GNU.sparse.offset", "0"), ("GNU.sparse.numbytes", "5"),
                                                      ("GNU.sparse.offset", "9"), ("GNU.sparse.numbytes", "1")))
    assert parse_records(sparse) == {"GNU.sparse.map": "0,5,9,1"}
    with pytest.raises(PaxError):
        parse_records(pax_record("GNU.sparse.numbytes", "5"))
    assert parse_int64("-9223372036854775808") == -(1 << 63)
    for bad in ("9223372036854775808", "1_000", " 1", "١", ""):
        with pytest.raises(PaxError):
            parse_int64(bad)
    assert parse_time_ns("-1.5") == -1_500_000_000 and parse_time_ns("2.") == 2_000_000_000


# ---- ustar numbers, names and the prefix field ---------------------------------------------------


def _size(field: bytes):  # type: ignore[no-untyped-def]
    def edit(block: bytearray) -> None:
        block[124:136] = field
    return edit


def test_a_negative_base_256_size_is_unreadable_in_a_layer() -> None:
    # tarfile reads -1 and no data; Go's handleRegularFile refuses a negative size (ErrHeader).
    data = ustar("neg", edit=_size(b"\xff" * 12)) + END
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        assert [m.size for m in tf.getmembers()] == [-1]
    layer = ours(data)
    assert not layer.readable and "negative size (-1)" in layer.problem


def test_a_negative_size_on_a_header_only_type_is_ignored_by_both() -> None:
    # Go's isHeaderOnlyType (links, devices, dirs, FIFOs): the size field is not used.
    data = ustar("d", kind=tarfile.DIRTYPE, edit=_size(b"\xff" * 12)) + ustar("f", b"x") + END
    assert paths(data) == ["d", "f"]


def test_a_base_256_number_beyond_int64_is_unreadable() -> None:
    # tarfile reads any number of bytes; Go's parseNumeric refuses past 63 bits.
    layer = ours(ustar("big", edit=_size(b"\x80" + b"\xff" * 11)) + END)
    assert not layer.readable and "out of the 64-bit range" in layer.problem


def test_base_256_with_another_leading_byte_the_reader_is_stricter_than_go() -> None:
    # Go reads any first byte with the high bit set as base-256 (0x81… a positive number); tarfile
    # takes only 0x80 and 0xff and refuses the header. No writer emits 0x81: the reader keeps
    # tarfile's refusal (the layer is unreadable), never a guess at another size.
    layer = ours(ustar("odd", edit=_size(b"\x81" + bytes(11))) + END)
    assert not layer.readable


def test_a_nul_in_a_ustar_name_ends_it_in_both() -> None:
    def nul(block: bytearray) -> None:
        block[0:8] = b"ab\0cd\0\0\0"
    data = ustar("abxcd", b"x", edit=nul) + END
    assert tarfile_names(data) == ["ab"]
    assert paths(data) == ["ab"]


def _prefix(field: bytes, *, magic: bytes):  # type: ignore[no-untyped-def]
    def edit(block: bytearray) -> None:
        block[257:265] = magic
        block[345 : 345 + len(field)] = field
    return edit


def test_the_ustar_prefix_field_is_read_in_both() -> None:
    data = ustar("name", b"x", edit=_prefix(b"usr/bin", magic=b"ustar\x0000")) + END
    assert tarfile_names(data) == ["usr/bin/name"]
    assert paths(data) == ["usr/bin/name"]


def test_a_gnu_header_has_no_prefix_field_when_its_times_parse() -> None:
    # GNU headers keep atime and ctime where ustar has its prefix: tarfile reads them as a prefix,
    # Go's readHeader (FormatGNU) does not.
    data = ustar("name", b"x", fmt=tarfile.GNU_FORMAT, edit=_prefix(b"14536246263\0", magic=b"ustar  \x00")) + END
    assert tarfile_names(data) == ["14536246263/name"]
    assert paths(data) == ["name"]


def test_a_gnu_header_whose_times_do_not_parse_has_a_prefix_as_old_go_wrote_it() -> None:
    # Go's fallback for files of pre-1.8 Go writers: atime unparseable, so the field is an ASCII prefix.
    data = ustar("name", b"x", fmt=tarfile.GNU_FORMAT, edit=_prefix(b"usr/bin", magic=b"ustar  \x00")) + END
    assert paths(data) == ["usr/bin/name"]


def test_a_v7_header_has_no_prefix_field() -> None:
    # No magic: Go reads the V7 fields only; tarfile prepends whatever the prefix bytes hold.
    data = ustar("name", b"x", edit=_prefix(b"evil", magic=bytes(8))) + END
    assert tarfile_names(data) == ["evil/name"]
    assert paths(data) == ["name"]


def test_an_extended_header_followed_by_the_end_marker_ends_the_tar_quietly() -> None:
    # Go's readHeader returns io.EOF on the zero blocks; tarfile raises "end of file header".
    data = ustar("f", b"x") + pax_block(tarfile.XHDTYPE, pax_record("path", "p")) + END
    assert paths(data) == ["f"]


# ---- compression ----------------------------------------------------------------------------------


def test_a_zstd_layer_starting_with_a_skippable_frame_is_zstd() -> None:
    pytest.importorskip("shutil").which("zstd") or pytest.skip("no zstd decoder")
    body = tar([("a", b"hello")])
    blob = struct.pack("<II", 0x184D2A50, 4) + b"meta" + zstd_raw(body)
    layer = ours(blob)
    assert (layer.compression, layer.readable, [e.path for e in layer.entries]) == ("zstd", True, ["a"])


def test_fast_tar_info_is_what_the_reader_uses() -> None:
    assert "_proc_member" in vars(FastTarInfo)
