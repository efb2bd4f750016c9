"""Opening what the user named: an archive, a directory, stdin, or a snapshot.

This is the reader side of the pipeline (it does I/O). It turns an input spec
such as ``a.tar``, ``a.tar:name:tag``, ``a.tar@1`` or ``a.json.gz`` into the
Archive and the one Image the user means, and reads two inputs in parallel:
hashlib and zlib release the GIL, so two archives use both cores.

Hashing each file's data (content digests) costs as much again as the
diff_id, and the diff only compares files of layers whose diff_ids differ
(the diff says which: ``NeededLayers``). So ``choose_pair`` can defer them: inputs whose layers can
be read again from where they lie (an uncompressed archive file, a directory)
are read without content digests, and just the layers the diff compares are
read a second time, with them.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import BinaryIO, cast

from imageforensics import snapshot
from imageforensics.read import _layer_blob as layer
from imageforensics.read import _archive as reader
from imageforensics.read._compression import detect
from imageforensics.errors import InputError
from imageforensics.read._file_state import state_of, unchanged_since
from imageforensics.options import Limits, ReadOptions
from imageforensics.model import Archive, Digest, FileEntry, Image, Layer
from imageforensics.read._layer_pool import LayerPool, future_of
from imageforensics.read._outer_tar import MemberStream
from imageforensics.read._progress import CountingReader, Progress, label_for
from imageforensics.read._selection import Selector, parse_selector, select_image
from imageforensics.untrusted import show


# Which layers of each image the diff will compare files of (the diff engine's
# answer, passed in: the reader never imports the diff).
NeededLayers = Callable[[Image, Image], "tuple[frozenset[int], frozenset[int]]"]


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


def can_read_again(path: str) -> bool:
    """Whether an input's layer blobs lie uncompressed in files, where they can be read again.

    True for a directory and an uncompressed archive file; False for stdin,
    a compressed archive and a snapshot (which holds no blobs).
    """
    if path == "-":
        return False
    if os.path.isdir(path):
        return True
    if not os.path.isfile(path):
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return bool(head) and not looks_like_snapshot(head) and detect(head) == "none"


def read_input(path: str, options: ReadOptions = ReadOptions(), *, progress: Progress | None = None,
               pool: LayerPool | None = None) -> Archive:
    """Read an archive, directory, ``-`` (stdin) or snapshot file into an Archive.

    ``options`` and ``pool`` as for ``reader.read_archive`` (a snapshot holds what it holds).
    """
    if path != "-" and os.path.isfile(path):
        with open(path, "rb") as f:
            head = f.read(4096)
        if looks_like_snapshot(head):
            return _load_snapshot_file(path, options.limits)
        if progress is not None:
            return _read_with_progress(path, options, progress, pool)
    elif path == "-":
        stdin: BinaryIO = sys.stdin.buffer
        peek = getattr(stdin, "peek", None)
        head = peek(4096)[:4096] if peek is not None else b""
        if head and looks_like_snapshot(head):
            return snapshot.load_snapshot(stdin.read(), source="-", limits=options.limits)
        if progress is not None:
            label = "stdin"
            progress.start(label, None)
            return reader.read_stream(CountingReader(stdin, progress, label), "-", options,  # type: ignore[arg-type]
                                      on_member=lambda name: progress.member(label, name))
    return reader.read_archive(path, options, pool=pool)


def _read_with_progress(path: str, options: ReadOptions, progress: Progress, pool: LayerPool | None) -> Archive:
    label = label_for(path)
    try:
        f = open(path, "rb")
    except OSError as e:
        raise InputError(path, None, f"cannot open: {e.strerror or e}") from None
    with f:
        progress.start(label, os.fstat(f.fileno()).st_size)
        # The counting reader reads the file from its first byte: layers can record their location.
        counting = CountingReader(f, progress, label)
        state = state_of(f.fileno())
        with LayerPool() if pool is None else contextlib.nullcontext(pool) as using:
            return reader.read_stream(counting, path, options,  # type: ignore[arg-type]
                                      on_member=lambda name: progress.member(label, name), file_path=path,
                                      file_state=state, pool=using, on_bytes=counting.advance)


def _load_snapshot_file(path: str, limits: Limits) -> Archive:
    # load_snapshot enforces its own size limit (before and after inflating).
    with open(path, "rb") as f:
        return snapshot.load_snapshot(f.read(), source=path, limits=limits)


def choose(spec: str | Selector, options: ReadOptions = ReadOptions(), *, progress: Progress | None = None,
           pool: LayerPool | None = None) -> Chosen:
    """Read the input named by ``spec`` (``parse_selector``'s grammar) and select the image it designates (on ``options.platform``)."""
    selector = spec if isinstance(spec, Selector) else parse_selector(spec)
    archive = read_input(selector.path, options, progress=progress, pool=pool)
    image = select_image(archive, reference=selector.reference, index=selector.index, platform=options.platform)
    return Chosen(archive, image)


def choose_pair(spec_a: str | Selector, spec_b: str | Selector, options: ReadOptions = ReadOptions(), *, progress: Progress | None = None,
                needed_layers: NeededLayers | None = None) -> tuple[Chosen, Chosen]:
    """Read two inputs in parallel (one thread each) and select an image from each.

    ``needed_layers`` defers content digests: an input whose layers can be read
    again is read without them; then only the layers ``needed_layers`` names
    (those the diff compares files of) are read again, with them. The images are then exactly as a full read gives them,
    except that other layers' files have no content digest (the diff never
    looks at them). ``options.archive_digest=False`` leaves ``Archive.sha256`` None.
    """
    # Both specs are parsed before anything is read: a misspelt second one stops the run at once.
    specs = tuple(spec if isinstance(spec, Selector) else parse_selector(spec) for spec in (spec_a, spec_b))
    deferred = [needed_layers is not None and can_read_again(spec.path) for spec in specs]
    # One pool for both: the layers of the larger input are read on both cores once the smaller one is done.
    with LayerPool() as pool:
        # A deferred input is read without content digests first.
        first = [_in_daemon_thread(functools.partial(choose, spec, replace(options, content_digests=False) if later else options,
                                                     progress=progress, pool=pool))
                 for spec, later in zip(specs, deferred)]
        chosen = (first[0].result(), first[1].result())
        if not any(later and any(_lacks_content(l) for l in c.image.layers) for c, later in zip(chosen, deferred)):
            return chosen  # every file was small enough to be hashed on the way
        # Which layers need content digests follows from diff_ids and paths alone.
        assert needed_layers is not None
        needed = needed_layers(chosen[0].image, chosen[1].image)
        futures = [_in_daemon_thread(functools.partial(_with_content, spec, c, need, options, progress, pool)) if later else None
                   for spec, c, need, later in zip(specs, chosen, needed, deferred)]
        return tuple(c if f is None else f.result() for c, f in zip(chosen, futures))  # type: ignore[return-value]


def _in_daemon_thread(work: Callable[[], Chosen]) -> Future[Chosen]:
    """Run ``work`` in a daemon thread; its Future holds the result or the exception.

    Not a ThreadPoolExecutor: its exit, and the interpreter's, wait for every
    worker, so Ctrl-C while two large inputs are read took effect only once
    both were read. A reader only reads (it writes nothing anywhere), so a
    caller interrupted while waiting on ``result()`` may leave it behind: the
    process ends at once, and the thread with it.
    """
    future, run = future_of(work)
    threading.Thread(target=run, name="imageforensics-reader", daemon=True).start()
    return future


def _with_content(spec: Selector, chosen: Chosen, needed: frozenset[int], options: ReadOptions,
                  progress: Progress | None = None, pool: LayerPool | None = None) -> Chosen:
    """The chosen image with the content digests of the ``needed`` layers, read again from their location.

    ``progress`` shows this second pass as an input of its own (``a.tar digests``). The layers are
    read on ``pool``'s workers (both cores), their errors raised in the layers' order.
    """
    originals: dict[Digest, Layer] = {}
    for i in sorted(needed):
        old = chosen.image.layers[i] if i < len(chosen.image.layers) else None
        if old is not None and old.readable and _lacks_content(old):
            originals.setdefault(old.blob_digest, old)
    if not originals:
        return chosen
    if any(old.location is None for old in originals.values()):
        # A blob with no place to read it from (a sparse member): read the whole input again.
        return _read_whole_again(spec, chosen, options, progress)
    counted: _Counted | None = None
    if progress is not None:
        label = f"{label_for(chosen.archive.source)} digests"
        progress.start(label, sum(old.location.length for old in originals.values() if old.location is not None))
        counted = (progress, label)
    if pool is None:
        fresh = {digest: _read_again(chosen.archive.source, old, options, counted) for digest, old in originals.items()}
    else:
        reading = {digest: pool.submit(functools.partial(_read_again, chosen.archive.source, old, options, counted))
                   for digest, old in originals.items()}
        fresh = {digest: future.result() for digest, future in reading.items()}
    # The same blob may sit at several positions: each gets the entries with content digests.
    layers = tuple(replace(old, entries=fresh[old.blob_digest]) if old is not None and old.blob_digest in fresh else old
                   for old in chosen.image.layers)
    image = replace(chosen.image, layers=layers)
    archive = replace(chosen.archive, images=tuple(image if im is chosen.image else im for im in chosen.archive.images))
    return Chosen(archive, image)


def _lacks_content(old: Layer | None) -> bool:
    """Whether a layer holds files without a content digest (small files were hashed on the first read)."""
    return old is not None and any(e.kind == "file" and not e.content_key for e in old.entries)


# Where a second read counts its bytes: the progress line and the label there.
_Counted = tuple[Progress, str]


def _read_again(source: str, old: Layer, options: ReadOptions, counted: _Counted | None = None) -> tuple[FileEntry, ...]:
    """The entries of a layer read again from its location, with content digests.

    The blob is hashed again to prove it is the one the first read hashed,
    unless the file's state proves that nobody wrote to it since (``filestate``).
    """
    assert old.location is not None
    where = old.location
    try:
        # The same checks as the first read (a file of a directory input is never followed, and must be the
        # inode read then); the input's own path may be a symlink to the archive.
        f = reader.open_listed(where.path, where.state, follow=where.path == source)
    except OSError as e:
        raise InputError(source, show(old.member), f"cannot open {show(where.path)} again to hash file contents: {e.strerror or e}") from None
    with f:
        unchanged = unchanged_since(where.state, state_of(f.fileno()))
        try:
            f.seek(where.offset)
        except OSError as e:
            raise InputError(source, show(old.member), f"cannot seek to offset {where.offset} again: {e.strerror or e}") from None
        # A short read (the file shrank since the first read) is a one-line InputError naming the member.
        again: object = MemberStream(f, where.length, archive=source, member=show(old.member))
        if counted is not None:
            again = CountingReader(cast(BinaryIO, again), *counted)
        new = layer.read_layer(cast(BinaryIO, again), archive=source, member=old.member,
                               options=replace(options, content_digests=True), unchanged_from=old if unchanged else None)
        if unchanged and not unchanged_since(where.state, state_of(f.fileno())):
            raise InputError(source, show(old.member), "the file changed while being read: its size, mtime or ctime "
                                                 "differ from the first read's")
    if (new.blob_digest, new.diff_id, len(new.entries)) != (old.blob_digest, old.diff_id, len(old.entries)):
        raise InputError(source, show(old.member), f"the file changed while being read: the layer read again has blob digest "
                                             f"{new.blob_digest}, not {old.blob_digest}")
    if unchanged and not _same_listing(new, old):
        raise InputError(source, show(old.member), "the file changed while being read: the layer read again lists "
                                             "other entries")
    return new.entries


def _same_listing(new: Layer, old: Layer) -> bool:
    """Whether a second read lists what the first did (the first hashed only small files)."""
    return new.anomalies == old.anomalies and all(
        n == o if o.content_digest else replace(n, content_digest="") == o for n, o in zip(new.entries, old.entries))


def _read_whole_again(spec: Selector, chosen: Chosen, options: ReadOptions, progress: Progress | None = None) -> Chosen:
    again = choose(spec, replace(options, content_digests=True, archive_digest=chosen.archive.sha256 is not None),
                   progress=progress)
    blobs = [l.blob_digest if l is not None else None for l in chosen.image.layers]
    if again.image.image_id != chosen.image.image_id or blobs != [l.blob_digest if l is not None else None
                                                                  for l in again.image.layers]:
        raise InputError(chosen.archive.source, None, "the input changed while being read: its image or layers differ "
                                                      "when read again")
    return again
