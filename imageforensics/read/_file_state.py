"""Whether a file read once is still the file that was read: its ``fstat`` before and after.

``inputs`` reads a few layers a second time (for the content digests of
their files). Hashing their blobs again would prove the bytes are the ones
the first read hashed, at the cost of hashing them twice; the file's state
proves the same for a file that nobody wrote to since (see ``FileState``).
"""

from __future__ import annotations

import os
import time

from imageforensics.model import FileState

# Change times are kept at the kernel's clock tick (a few ms) or, on some
# filesystems, at 1 or 2 s: a file changed within this long before its first
# read could change again without its ctime moving.
GRAIN_NS = 3_000_000_000


def state_of(fd: int) -> FileState:
    """The state of the open file ``fd``, taken now."""
    st = os.fstat(fd)
    return FileState(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, time.time_ns())


def unchanged_since(first: FileState | None, now: FileState) -> bool:
    """Whether ``now`` proves the file was not written since ``first`` was taken.

    False when the first state is unknown, differs, or was taken so soon
    after a change that another change could leave the same ctime.
    """
    return first is not None and first == now and first.ctime_ns <= first.taken_ns - GRAIN_NS
