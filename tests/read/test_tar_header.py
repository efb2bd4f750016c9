"""The fast tar-header paths are really taken: a canary for ``read/_tar_header``.

``plain_member`` parses the plain headers of a layer in place, and
``FastTarInfo.parse_plain`` those tarfile reads (an outer archive, a layer's
first member), leaving the rest to tarfile; if tarfile stops calling the hook
it overrides (CPython main calls ``_frombuf`` where 3.10 to 3.13 call
``frombuf``), or the listing stops finding plain headers, every header
silently takes the slow path and nothing else fails. These tests count the
headers the two parsed while the reader read a layer and an outer archive,
and read a tar as both spellings of tarfile do.

The count is taken with a profile hook matching the two functions' code
objects: nothing of the reader is patched or replaced.
"""

from __future__ import annotations

import io
import sys
import tarfile
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, BinaryIO, cast

from imageforensics.read._archive import read_stream
from imageforensics.read._layer_blob import read_layer
from imageforensics.read._tar_header import FastTarInfo, plain_member
from tests.archivekit import gz, layer_tar, legacy, simple_image, tar_of


def _plain_parses(run: Callable[[], object], *, tarfile_only: bool = False) -> int:
    """How many headers ``FastTarInfo.parse_plain`` or ``plain_member`` parsed (returned a value for) while ``run()`` ran."""
    codes = {FastTarInfo.parse_plain.__func__.__code__} | (set() if tarfile_only else {plain_member.__code__})
    parsed: list[None] = []  # list.append is atomic: other threads may parse too

    def hook(frame: FrameType, event: str, arg: Any) -> None:
        if event == "return" and frame.f_code in codes and arg is not None:
            parsed.append(None)

    previous, previous_threads = sys.getprofile(), threading.getprofile()
    sys.setprofile(hook)
    threading.setprofile(hook)
    try:
        run()
    finally:
        sys.setprofile(previous)
        threading.setprofile(previous_threads)  # type: ignore[arg-type]  # None restores "no hook"
    return len(parsed)


def _headers(tar: bytes) -> int:
    """The header blocks of a tar whose members are all plain ustar ones (one block each)."""
    with tarfile.open(fileobj=io.BytesIO(tar), mode="r:") as tf:
        return len(tf.getmembers())


def _listing(tar: bytes, tarinfo: type[tarfile.TarInfo]) -> list[tuple[object, ...]]:
    with tarfile.open(fileobj=io.BytesIO(tar), mode="r:", tarinfo=tarinfo) as tf:
        return [(m.name, m.type, m.size, m.mode, m.uid, m.gid, m.mtime, m.linkname, m.uname, m.gname, m.offset_data,
                 m.pax_headers) for m in tf.getmembers()]


def _mixed_tar() -> bytes:
    """Plain members, a GNU long name, a pax header and a non-ASCII name: every path through the parser."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for name, kind in (("etc", tarfile.DIRTYPE), ("etc/hosts", tarfile.REGTYPE), ("l" * 150, tarfile.REGTYPE),
                           ("caf\u00e9", tarfile.REGTYPE)):
            info = tarfile.TarInfo(name)
            info.type = kind
            info.size = 3 if kind == tarfile.REGTYPE else 0
            tf.addfile(info, io.BytesIO(b"abc") if kind == tarfile.REGTYPE else None)
        info = tarfile.TarInfo("pax")
        info.size = 1
        info.pax_headers = {"mtime": "1.5"}
        tf.format = tarfile.PAX_FORMAT
        tf.addfile(info, io.BytesIO(b"p"))
    return out.getvalue()


# A stand-in for CPython main's tarfile on Pythons that predate it: headers are
# read through _frombuf only (fromtarfile, and the header after a long name or
# a pax header, which come back through fromtarfile). Where this Python's
# tarfile already has _frombuf, it is the real thing.
if hasattr(tarfile.TarInfo, "_frombuf"):
    MainTarInfo: type[tarfile.TarInfo] = tarfile.TarInfo
else:
    class _MainTarInfo(tarfile.TarInfo):
        __slots__ = ()

        @classmethod
        def _frombuf(cls, buf: bytes, encoding: str, errors: str, *, dircheck: bool = True) -> tarfile.TarInfo:
            # This Python's whole parser, under main's name (it calls no hook of ours).
            parse = cast(Callable[..., tarfile.TarInfo], tarfile.TarInfo.frombuf.__func__)  # type: ignore[attr-defined]
            return parse(cls, buf, encoding, errors)

        @classmethod
        def fromtarfile(cls, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
            fileobj = cast(BinaryIO, tarfile_.fileobj)
            buf = fileobj.read(tarfile.BLOCKSIZE)
            obj = cls._frombuf(buf, tarfile_.encoding or "utf-8", tarfile_.errors)
            obj.offset = fileobj.tell() - tarfile.BLOCKSIZE
            return obj._proc_member(tarfile_)  # type: ignore[attr-defined,no-any-return]

    MainTarInfo = _MainTarInfo


class FastOnMain(FastTarInfo, MainTarInfo):  # type: ignore[misc,valid-type]
    """FastTarInfo over a tarfile that parses headers as CPython main does, never through ``frombuf``."""

    __slots__ = ()

    @classmethod
    def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> FastTarInfo:
        raise AssertionError("CPython main's tarfile reads headers through _frombuf, never frombuf")


def test_reading_a_layer_parses_every_plain_header_on_the_fast_path() -> None:
    tar = layer_tar({"etc/a": b"a\n", "etc/b": b"b" * 5000, "usr/bin/tool": b"#!/bin/sh\n"}, dirs=("etc", "usr", "usr/bin"))
    layers = []
    parses = _plain_parses(lambda: layers.append(read_layer(io.BytesIO(tar), archive="a.tar", member="layer.tar")))
    assert len(layers[0].entries) == 6 == _headers(tar)
    assert parses == 6
    # tarfile reads the first member as it opens the layer; the listing reads the rest in place.
    assert _plain_parses(lambda: read_layer(io.BytesIO(tar), archive="a.tar", member="layer.tar"), tarfile_only=True) == 1


def test_reading_an_outer_archive_parses_its_headers_and_its_layers_on_the_fast_path() -> None:
    members = legacy([simple_image()])
    archive = tar_of(members)
    layer_headers = sum(_headers(content) for _, content in members if isinstance(content, bytes)
                        and content[257:262] == b"ustar")
    parses = _plain_parses(lambda: read_stream(io.BytesIO(archive), "a.tar"))
    assert layer_headers == 3  # etc, etc/a-base; app/a.txt
    assert parses == _headers(archive) + layer_headers


def test_a_compressed_outer_archive_takes_the_fast_path_too() -> None:
    members = legacy([simple_image()])
    archive = tar_of(members)
    plain = _plain_parses(lambda: read_stream(io.BytesIO(archive), "a.tar"))
    assert _plain_parses(lambda: read_stream(io.BytesIO(gz(archive)), "a.tar.gz")) == plain > 0


def test_hooked_in_as_frombuf_which_python_3_10_to_3_13_call() -> None:
    tar = _mixed_tar()
    parses = _plain_parses(lambda: _listing(tar, FastTarInfo))
    assert _listing(tar, FastTarInfo) == _listing(tar, tarfile.TarInfo)
    # Fast: etc, etc/hosts, the long-name header and the header after it, the pax
    # header and the header after it. Slow: the non-ASCII name.
    assert parses == 6


def test_hooked_in_as__frombuf_which_cpython_main_calls() -> None:
    tar = _mixed_tar()
    parses = _plain_parses(lambda: _listing(tar, FastOnMain))
    assert _listing(tar, FastOnMain) == _listing(tar, tarfile.TarInfo)
    assert parses == 6


def _v7_directory_block() -> bytes:
    """A V7 header: a regular file (type NUL) whose name ends in a slash, which tarfile reads as a directory."""
    info = tarfile.TarInfo("d/")
    info.type = tarfile.AREGTYPE
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def test_the_v7_directory_rule_applies_unless_tarfile_says_otherwise() -> None:
    block = _v7_directory_block()
    assert FastTarInfo.parse_plain(block, "utf-8", "surrogateescape") is not None
    classic = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    fast = FastTarInfo.frombuf(block, "utf-8", "surrogateescape")
    assert (fast.name, fast.type) == (classic.name, classic.type) == ("d", tarfile.DIRTYPE)
    # CPython main passes dircheck=False for the header after a GNU long name,
    # whose name field is not the member's name: it stays a regular file.
    after_long_name = FastOnMain._frombuf(block, "utf-8", "surrogateescape", dircheck=False)
    assert (after_long_name.name, after_long_name.type) == ("d/", tarfile.AREGTYPE)
