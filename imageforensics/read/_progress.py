"""Progress on stderr while large inputs are read.

Only on a terminal and never with ``--quiet``; redrawn at most a few times a
second, on one line that fits the terminal's width (a longer line wraps, and
each redraw would scroll), for one or two inputs read in parallel, with each
input's rate and, when its size is known, the time left. The second pass (the
layers read again for their files' digests) is an input of its own. Reading
threads call ``advance``; the line is drawn by whichever thread finds it is due.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from typing import BinaryIO, TextIO

from imageforensics.units import human_size
from imageforensics.untrusted import show

INTERVAL = 0.25  # seconds between redraws: a few times a second at most


class Progress:
    """The shared progress line for the inputs being read."""

    def __init__(self, stream: TextIO, *, clock: Callable[[], float] = time.monotonic, columns: int | None = None) -> None:
        self._stream = stream
        self._clock = clock
        self._lock = threading.Lock()
        self._inputs: dict[str, list[int | None]] = {}
        self._started: dict[str, float] = {}
        self._member: dict[str, str] = {}
        self._last = 0.0
        self._width = 0
        # The last column is left empty: a line that fills it wraps on some terminals.
        self._columns = max(20, (columns or shutil.get_terminal_size((80, 24)).columns) - 1)

    def start(self, label: str, total: int | None) -> None:
        """Register an input (``total`` bytes when known); a label started again begins again (the second pass)."""
        with self._lock:
            self._inputs[label] = [0, total]
            self._started[label] = self._clock()
            self._member.pop(label, None)

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

    def _part(self, label: str, done: int, total: int | None, *, rate: bool, member: bool, name_width: int,
              compact: bool) -> str:
        """One input's part of the line: label (cut to ``name_width``), share and bytes (``compact``: the share
        alone), rate and time left, the member."""
        text = (label if len(label) <= name_width else label[: name_width - 1] + "…") + " "
        if total:
            text += f"{min(100, done * 100 // max(total, 1))}%"
            if not compact:
                text += f" {human_size(done, decimals=1)}/{human_size(total, decimals=1)}"
        else:
            text += human_size(done, decimals=1)
        elapsed = self._clock() - self._started.get(label, self._clock())
        # A rate needs a second of reading to mean anything (the first bytes come in a burst or a trickle).
        if rate and elapsed >= 1.0 and done:
            per_second = done / elapsed
            text += f" {human_size(int(per_second), decimals=1)}/s"
            if total and total > done:
                text += f" {_duration((total - done) / per_second)} left"
        if member and label in self._member:
            text += f" [{self._member[label]}]"
        return text

    def _draw(self) -> None:
        states = [(label, int(done or 0), total) for label, (done, total) in self._inputs.items()]
        line = ""
        # The richest line that fits: the members go first, then the bytes, the labels' length, the rates.
        for rate, member, name_width, compact in ((True, True, 40, False), (True, False, 40, False),
                                                  (True, False, 16, True), (True, False, 10, True),
                                                  (False, False, 16, False),
                                                  (False, False, 12, True)):
            line = "reading " + "   ".join(self._part(label, done, total, rate=rate, member=member,
                                                      name_width=name_width, compact=compact)
                                           for label, done, total in states)
            if len(line) <= self._columns:
                break
        line = line[: self._columns]
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

    # A file stays a file: its layers can be read at their offsets (read/_layer_pool), counted by ``advance``.
    def fileno(self) -> int:
        return self._raw.fileno()

    def seekable(self) -> bool:
        return self._raw.seekable()

    def seek(self, pos: int, whence: int = 0) -> int:
        return self._raw.seek(pos, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def advance(self, nbytes: int) -> None:
        """Count bytes of this input read elsewhere."""
        self._progress.advance(self._label, nbytes)


def _duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``: short, for the time left."""
    s = int(seconds + 0.5)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def label_for(source: str) -> str:
    """A short, safe label for an input on the progress line."""
    name = source.rstrip("/").rsplit("/", 1)[-1] or source
    return show(name)[:40]
