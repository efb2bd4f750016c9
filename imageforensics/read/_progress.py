"""Progress on stderr while large inputs are read.

Only on a terminal and never with ``--quiet``; redrawn at most a few times a
second, on one line, for one or two inputs read in parallel. Reading threads
call ``advance``; the line is drawn by whichever thread finds it is due.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import BinaryIO, TextIO

from imageforensics.units import human_size
from imageforensics.untrusted import show

INTERVAL = 0.25  # seconds between redraws: a few times a second at most


class Progress:
    """The shared progress line for the inputs being read."""

    def __init__(self, stream: TextIO, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._clock = clock
        self._lock = threading.Lock()
        self._inputs: dict[str, list[int | None]] = {}
        self._member: dict[str, str] = {}
        self._last = 0.0
        self._width = 0

    def start(self, label: str, total: int | None) -> None:
        """Register an input (``total`` bytes when known)."""
        with self._lock:
            self._inputs[label] = [0, total]

    def member(self, label: str, name: str) -> None:
        """Note the archive member (usually a layer) an input is reading now."""
        with self._lock:
            self._member[label] = show(name, 32)

    def advance(self, label: str, nbytes: int) -> None:
        """Count bytes read from an input and redraw when due."""
        with self._lock:
            state = self._inputs.get(label)
            if state is None:
                return
            state[0] = int(state[0] or 0) + nbytes
            now = self._clock()
            if now - self._last < INTERVAL:
                return
            self._last = now
            self._draw()

    def _draw(self) -> None:
        parts = []
        for label, (done, total) in self._inputs.items():
            done = int(done or 0)
            current = f" [{self._member[label]}]" if label in self._member else ""
            if total:
                parts.append(f"{label} {min(100, done * 100 // max(total, 1))}% {human_size(done, decimals=1)}/{human_size(total, decimals=1)}{current}")
            else:
                parts.append(f"{label} {human_size(done, decimals=1)}{current}")
        line = "reading " + "   ".join(parts)
        pad = max(0, self._width - len(line))
        self._width = len(line)
        self._stream.write("\r" + line + " " * pad)
        self._stream.flush()

    def finish(self) -> None:
        """Erase the progress line, so the report or error starts on a clean line; nothing is drawn after it."""
        with self._lock:
            # A reader left running after Ctrl-C (a daemon thread) must not draw over the message.
            self._inputs.clear()
            if self._width:
                self._stream.write("\r" + " " * self._width + "\r")
                self._stream.flush()
                self._width = 0


class CountingReader:
    """A read-only stream that reports the bytes passing through it to a Progress."""

    def __init__(self, raw: BinaryIO, progress: Progress, label: str) -> None:
        self._raw = raw
        self._progress = progress
        self._label = label

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        if data:
            self._progress.advance(self._label, len(data))
        return data

    def readable(self) -> bool:
        return True


def label_for(source: str) -> str:
    """A short, safe label for an input on the progress line."""
    name = source.rstrip("/").rsplit("/", 1)[-1] or source
    return show(name)[:40]
