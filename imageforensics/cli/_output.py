"""Writing ``-o PATH`` without ever destroying what PATH is, as ``sort -o`` and ``diff > PATH`` do.

- A regular file is replaced whole or not at all (a temporary file in the same
  directory, fsync, rename) and keeps its mode, and its owner when we may set it.
- A regular file with several hard links is written in place through its inode
  (truncated and written once, from the output already whole in an unnamed
  temporary file beside it): renaming would break the link, so this one case is
  not atomic.
- A symlink is followed: its target is written as above and the symlink stays.
- Anything else (a character device, a FIFO, ``/dev/stdout`` onto a pipe, tty or
  socket) is opened and written straight through, never replaced.
- An output that is one of the inputs is refused before anything is read.

Every error is an ``OutputError`` naming the path the user gave, never a temporary name.

An output may come in pieces (``write_streamed``): it is written as it is
made, in batches, so that a large one (``inspect --format json`` of a million
entries) is never whole in memory; the file it replaces is still replaced only
once it is complete.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator

from imageforensics.errors import ImageForensicsError
from imageforensics.read import parse_input_spec
from imageforensics.untrusted import escape

_TEMP_PREFIX = ".imageforensics-"
# Pieces of a streamed output are joined into writes of about this many bytes.
_BATCH_BYTES = 1 << 20


class OutputError(ImageForensicsError):
    """The output could not be written (or would overwrite an input); names the path the user gave."""

    def __init__(self, path: str, what: str) -> None:
        # The path is the user's, but it may hold what a terminal would act on: shown by the one policy.
        super().__init__(f"-o {escape(path)}: {what}")
        self.path = path


def _reason(e: OSError) -> str:
    return e.strerror or str(e)


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def refuse_input_as_output(output: str | None, inputs: Iterable[str]) -> None:
    """OutputError when ``output`` is one of ``inputs`` (same device and inode, through any spelling or symlink).

    ``inputs`` are the specs as given (``a.tar:name:tag``, ``a.tar@1``, ``-``);
    ``-`` is standard input, compared by what it is open on. An output inside
    an input directory (an OCI layout, an extracted save) is refused too.
    """
    if output is None or output == "-":
        return
    try:
        out = os.stat(output)
    except OSError:
        out = None
    out_real = os.path.realpath(output)
    for spec in inputs:
        path = parse_input_spec(spec)[0]
        try:
            have = os.fstat(sys.stdin.fileno()) if path == "-" else os.stat(path)
        except (OSError, ValueError):
            continue
        shown = "standard input" if path == "-" else escape(path)
        # Standard input counts when it is a file (``< a.tar``), not a pipe or terminal stdout may share.
        if out is not None and _same_file(out, have) and (path != "-" or stat.S_ISREG(have.st_mode)):
            raise OutputError(output, f"is the input {shown}; refusing to overwrite an input")
        if path != "-" and stat.S_ISDIR(have.st_mode):
            top = os.path.realpath(path)
            if os.path.commonpath([top, out_real]) == top:
                raise OutputError(output, f"lies inside the input directory {shown}; refusing to write into an input")


def write_output(text: str | bytes, path: str | None) -> None:
    """Write to stdout (``None`` or ``-``) or to ``path`` as the module docstring says."""
    write_streamed((text,), path)


def write_streamed(pieces: Iterable[str | bytes], path: str | None) -> None:
    """Write ``pieces`` (UTF-8 text or bytes) as they come, to stdout or ``path``, as the module docstring says."""
    if path is None or path == "-":
        _write_stdout(_batched(pieces))
        return
    try:
        st: os.stat_result | None = os.stat(path)  # follows symlinks: the target is what is written
    except FileNotFoundError:
        st = None  # a new file (or a dangling symlink, whose target is created)
    except OSError as e:
        raise OutputError(path, _reason(e)) from None
    if st is not None and _is_our_stdout(st):
        # ``-o /dev/stdout`` (or a path to what stdout is open on): write through the open stream.
        _write_stdout(_batched(pieces))
    elif st is not None and not stat.S_ISREG(st.st_mode):
        _write_through(_batched(pieces), path, os.O_WRONLY)
    elif st is not None and st.st_nlink > 1:
        # Renaming would break the hard link: the whole output first, then truncate and write once through the inode.
        _write_linked(_batched(pieces), path)
    else:
        _replace_whole(_batched(pieces), path, st)


def _batched(pieces: Iterable[str | bytes]) -> Iterator[bytes]:
    """The pieces as bytes, joined into writes of about ``_BATCH_BYTES``."""
    batch: list[bytes] = []
    size = 0
    for piece in pieces:
        data = piece.encode("utf-8") if isinstance(piece, str) else piece
        batch.append(data)
        size += len(data)
        if size >= _BATCH_BYTES:
            yield b"".join(batch)
            batch.clear()
            size = 0
    if batch:
        yield b"".join(batch)


def _is_our_stdout(st: os.stat_result) -> bool:
    try:
        return _same_file(st, os.fstat(sys.stdout.fileno()))
    except (OSError, ValueError, AttributeError):
        return False


def _write_stdout(batches: Iterator[bytes]) -> None:
    """Write to stdout; a reader that went away (``| head``) is not an error of ours."""
    try:
        sys.stdout.flush()
        for data in batches:
            sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except BrokenPipeError:
        # Whatever is still buffered goes nowhere, so the interpreter's last flush
        # at exit cannot print "Exception ignored ... BrokenPipeError".
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _write_through(batches: Iterator[bytes], path: str, flags: int) -> None:
    """Open ``path`` as it is (a device, a FIFO, a hard-linked file) and write the batches into it."""
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise OutputError(path, f"cannot open: {_reason(e)}") from None
    try:
        for data in batches:
            _write_all(fd, data)
        if flags & os.O_TRUNC:
            os.fsync(fd)
    except BrokenPipeError:
        pass  # a FIFO whose reader went away, as for stdout
    except OSError as e:
        raise OutputError(path, f"cannot write: {_reason(e)}") from None
    finally:
        os.close(fd)


def _write_linked(batches: Iterator[bytes], path: str) -> None:
    """The whole output into an unnamed temporary file beside ``path``, then through ``path``'s inode at once.

    The file is touched only once the output is complete, as when it is
    replaced, however long the making of the output takes or wherever it fails.
    """
    folder = os.path.dirname(os.path.realpath(path))
    try:
        spool = tempfile.TemporaryFile(prefix=_TEMP_PREFIX, dir=folder)
    except OSError as e:
        raise OutputError(path, f"cannot create a file in {escape(os.path.dirname(path) or '.')}: {_reason(e)}") from None
    with spool:
        try:
            for data in batches:
                spool.write(data)
            spool.flush()
        except OSError as e:
            what = "no space left on the device" if e.errno == errno.ENOSPC else _reason(e)
            raise OutputError(path, f"cannot write: {what}") from None
        spool.seek(0)
        _write_through(iter(lambda: spool.read(_BATCH_BYTES), b""), path, os.O_WRONLY | os.O_TRUNC)


def _replace_whole(batches: Iterator[bytes], path: str, old: os.stat_result | None) -> None:
    """Write a temporary file beside the (symlink-resolved) target, fsync it, give it the old mode, rename it."""
    given_folder = os.path.dirname(path) or "."
    # Asked of the kernel with the user's spelling first: realpath() alone takes
    # ``missing/../a.tar`` for ``a.tar``, where open() would fail.
    if not os.path.isdir(given_folder):
        raise OutputError(path, f"no such directory {escape(given_folder)}")
    target = os.path.realpath(path)
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):  # a dangling symlink into a missing directory
        raise OutputError(path, f"no such directory {escape(folder)} (where the symlink points)")
    try:
        fd, tmp = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=folder)
    except OSError as e:
        raise OutputError(path, f"cannot create a file in {escape(os.path.dirname(path) or '.')}: {_reason(e)}") from None
    try:
        try:
            for data in batches:
                _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if old is not None:
            os.chmod(tmp, stat.S_IMODE(old.st_mode))
            if (old.st_uid, old.st_gid) != (os.getuid(), os.getgid()):
                try:
                    os.chown(tmp, old.st_uid, old.st_gid)
                except PermissionError:
                    pass  # only root may give a file away: it keeps its mode, and is ours
        else:
            # mkstemp makes the file 0600; give it the mode a plain open() would.
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            what = "no space left on the device" if e.errno == errno.ENOSPC else _reason(e)
            raise OutputError(path, f"cannot write: {what}") from None
        raise
    _sync_folder(folder)


def _sync_folder(folder: str) -> None:
    """Make the rename durable where the platform allows it (best effort)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
