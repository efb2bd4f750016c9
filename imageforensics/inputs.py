"""Opening what the user named: an archive, a directory, stdin, or a snapshot.

This is the reader side of the pipeline (it does I/O). It turns an input spec
such as ``a.tar``, ``a.tar:name:tag``, ``a.tar@1`` or ``a.json.gz`` into the
Archive and the one Image the user means, and reads two inputs in parallel:
hashlib and zlib release the GIL, so two archives use both cores.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

from imageforensics import reader, snapshot
from imageforensics.errors import InputError
from imageforensics.limits import DEFAULT_LIMITS, Limits
from imageforensics.model import Archive, Image
from imageforensics.progress import CountingReader, Progress, label_for
from imageforensics.select import parse_input_spec, select_image


@dataclass(frozen=True, slots=True)
class Chosen:
    """An input as read, and the image chosen from it."""

    archive: Archive
    image: Image


def looks_like_snapshot(head: bytes) -> bool:
    """True for a JSON document or a gzip stream, neither of which is a tar archive."""
    stripped = head.lstrip()
    return stripped[:1] == b"{" or _gzip_holds_json(head)


def _gzip_holds_json(head: bytes) -> bool:
    if head[:2] != b"\x1f\x8b":
        return False
    import zlib

    try:
        start = zlib.decompressobj(31).decompress(head, 64)
    except zlib.error:
        return False
    return start.lstrip()[:1] == b"{"


def read_input(path: str, *, limits: Limits = DEFAULT_LIMITS, progress: Progress | None = None) -> Archive:
    """Read an archive, directory, ``-`` (stdin) or snapshot file into an Archive."""
    if path != "-" and os.path.isfile(path):
        with open(path, "rb") as f:
            head = f.read(4096)
        if looks_like_snapshot(head):
            return _load_snapshot_file(path, limits)
        if progress is not None:
            return _read_with_progress(path, limits, progress)
    elif path == "-":
        stdin: BinaryIO = sys.stdin.buffer
        peek = getattr(stdin, "peek", None)
        head = peek(4096)[:4096] if peek is not None else b""
        if head and looks_like_snapshot(head):
            return snapshot.load_snapshot(stdin.read(), source="-", limits=limits)
        if progress is not None:
            label = "stdin"
            progress.start(label, None)
            return reader.read_stream(CountingReader(stdin, progress, label), "-", limits=limits,  # type: ignore[arg-type]
                                      on_member=lambda name: progress.member(label, name))
    return reader.read_archive(path, limits=limits)


def _read_with_progress(path: str, limits: Limits, progress: Progress) -> Archive:
    label = label_for(path)
    try:
        f = open(path, "rb")
    except OSError as e:
        raise InputError(path, None, f"cannot open: {e.strerror or e}") from None
    with f:
        progress.start(label, os.fstat(f.fileno()).st_size)
        return reader.read_stream(CountingReader(f, progress, label), path, limits=limits,  # type: ignore[arg-type]
                                  on_member=lambda name: progress.member(label, name))


def _load_snapshot_file(path: str, limits: Limits) -> Archive:
    # load_snapshot enforces its own size limit (before and after inflating).
    with open(path, "rb") as f:
        return snapshot.load_snapshot(f.read(), source=path, limits=limits)


def choose(spec: str, *, platform: str | None, limits: Limits = DEFAULT_LIMITS, progress: Progress | None = None) -> Chosen:
    """Read the input named by ``spec`` and select the image it designates."""
    path, reference, index = parse_input_spec(spec)
    archive = read_input(path, limits=limits, progress=progress)
    image = select_image(archive, reference=reference, index=index, platform=platform)
    return Chosen(archive, image)


def choose_pair(
    spec_a: str, spec_b: str, *, platform: str | None, limits: Limits = DEFAULT_LIMITS, progress: Progress | None = None
) -> tuple[Chosen, Chosen]:
    """Read two inputs in parallel (one thread each) and select an image from each."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        future_a = pool.submit(choose, spec_a, platform=platform, limits=limits, progress=progress)
        future_b = pool.submit(choose, spec_b, platform=platform, limits=limits, progress=progress)
        return future_a.result(), future_b.result()
