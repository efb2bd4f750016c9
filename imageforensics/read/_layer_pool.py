"""A small pool of reading threads: layer blobs of a regular file read at their offsets, on both cores.

One thread per input leaves a core idle whenever one input is much larger
than the other (a 2 GiB archive against a 128 MiB one hashes on one core).
The outer tar of an uncompressed archive file says where each member's data
lies, so each layer blob is a unit of work of its own: a worker reads it at
its offset (``os.pread``: no shared file position) while the outer walk goes
on. hashlib and zlib release the GIL, so two workers keep two cores busy.

Not a ThreadPoolExecutor: its workers are joined at the interpreter's exit,
so Ctrl-C while large inputs are read would take effect only once they were
read. These workers are daemon threads; a unit only reads (it writes nothing
anywhere), so one left behind ends with the process.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from types import TracebackType
from typing import TypeVar

from imageforensics.read._forward_view import CHUNK

WORKERS = 2

_T = TypeVar("_T")
_Work = Callable[[], None]


def future_of(work: Callable[[], _T]) -> tuple[Future[_T], Callable[[], None]]:
    """A Future for ``work``, and the call that runs it there (whichever thread makes the call)."""
    future: Future[_T] = Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            result = work()
        except BaseException as e:  # handed to the waiting thread, which re-raises it
            future.set_exception(e)
        else:
            future.set_result(result)

    return future, run


class LayerPool:
    """``WORKERS`` daemon threads running submitted units in the order they were submitted."""

    def __init__(self, workers: int = WORKERS) -> None:
        self._queue: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._workers = workers
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, work: Callable[[], _T]) -> Future[_T]:
        """Run ``work`` on a worker; its Future holds the result or the exception."""
        future, run = future_of(work)
        with self._lock:
            if self._closed:
                raise RuntimeError("the layer pool is closed")
            if len(self._threads) < self._workers:
                thread = threading.Thread(target=self._work, name="imageforensics-layer", daemon=True)
                self._threads.append(thread)
                thread.start()
            self._queue.put(run)
        return future

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            item()

    def close(self) -> None:
        """Let the workers end once the units submitted are done (without waiting for them)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for _ in self._threads:
                self._queue.put(None)

    def __enter__(self) -> LayerPool:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class FileRange:
    """``length`` bytes of an open regular file from ``offset``, read with ``os.pread`` (thread-safe, no shared position).

    ``on_bytes`` is told how many bytes each read returned (the progress line),
    but for the first ``counted`` (read, and counted, elsewhere already);
    once ``stop`` is set, reads fail (the unit is abandoned before its file is closed).
    """

    def __init__(self, fd: int, offset: int, length: int, on_bytes: Callable[[int], None] | None = None,
                 stop: threading.Event | None = None, counted: int = 0) -> None:
        self._fd = fd
        self._pos = offset
        self._end = offset + length
        self._on_bytes = on_bytes
        self._stop = stop
        self._count_from = offset + counted

    def read(self, n: int = -1) -> bytes:
        if self._stop is not None and self._stop.is_set():
            # The read this unit belongs to has ended (an error elsewhere): its result is not wanted.
            raise OSError("the read was abandoned")
        left = self._end - self._pos
        if left <= 0:
            return b""
        want = left if n is None or n < 0 else min(n, left)
        data = os.pread(self._fd, min(want, CHUNK), self._pos)
        start, self._pos = self._pos, self._pos + len(data)
        if self._on_bytes is not None and self._pos > self._count_from:
            self._on_bytes(self._pos - max(start, self._count_from))
        return data

    def readable(self) -> bool:
        return True
