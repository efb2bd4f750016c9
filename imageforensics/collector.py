"""The garbage collector paused while layers are listed and while two images are compared, so that time per
entry stays flat.

A layer of a million entries allocates a million file entries that live on;
each allocation counts towards the collector's thresholds, and every full
collection walks all the entries listed so far: the time per entry grows
with the entries already held (measured on the bench's ``many`` case). The
entries hold no reference cycles (strings, integers, tuples of them), so
nothing the collector could free is made while they are listed.

The diff builds maps of every path of both images (the merged filesystems,
each step's entries); their collections walk the model as well, for nothing:
the maps hold no cycles either (measured: 0.7 s of a 3.3 s diff of the
``many`` pair).

Two inputs are read in two threads at once, and the collector is one per
process: the pause is counted, so it ends when the last listing ends, and
the collector is switched on again only if it was on when the first began.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator


class _Pause:
    """How many listings hold the collector paused, and whether it ran before the first."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.holders = 0
        self.was_enabled = False


# One per process, as the collector itself is.
_PAUSE = _Pause()


@contextlib.contextmanager
def paused_collector() -> Iterator[None]:
    """The garbage collector off while the block runs (in any thread), back as it was after the last one."""
    pause = _PAUSE
    with pause.lock:
        if not pause.holders:
            pause.was_enabled = gc.isenabled()
            gc.disable()
        pause.holders += 1
    try:
        yield
    finally:
        with pause.lock:
            pause.holders -= 1
            if not pause.holders and pause.was_enabled:
                gc.enable()
