"""Where reading one archive spends its CPU: each sha256 switched off in turn, then a cProfile of the rest.

Usage::

    python3 tools/profile_read.py ARCHIVE [--reps N] [--top N]

The model asks for three sha256 digests over the bytes of a large regular
file in an uncompressed archive: the archive's (``Archive.sha256``), its
layer's (``Layer.diff_id``) and its own (``FileEntry.content_digest``). This
tool reads ARCHIVE with ``reader.read_archive`` (best CPU time of N runs,
every thread counted) as it is, then with the content digests, the archive
digest (both left out through ``ReadOptions``) and finally every digest
replaced by a no-op, so the cost of each digest and of everything else is
measured separately; then it prints the functions where the reading thread
spends its time (``--top``). The stub is for measuring only: the models it
gives are wrong on purpose.
"""

from __future__ import annotations

import argparse
import cProfile
import contextlib
import pstats
import sys
import time
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from imageforensics.options import ReadOptions  # noqa: E402
from imageforensics.read import _layer_streams as layerstream  # noqa: E402
from imageforensics.read import _archive as reader  # noqa: E402


class _NoHash:
    """Stands in for a sha256: takes the bytes, computes nothing."""

    def update(self, data: object) -> None:
        pass

    def hexdigest(self) -> str:
        return "0" * 64

    def close(self) -> None:
        pass


@contextlib.contextmanager
def _patched(obj: object, name: str, value: object) -> Iterator[None]:
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


# No file's data hashed (it is still read: tar is a stream), then no archive digest either.
_NO_CONTENT = ReadOptions(content_digests=False, digest_below=0)
_NO_CONTENT_NOR_ARCHIVE = ReadOptions(content_digests=False, digest_below=0, archive_digest=False)


def cpu_of(path: str, reps: int, options: ReadOptions = ReadOptions()) -> float:
    """Best process CPU time (all threads) of reading ``path``."""
    best = float("inf")
    for _ in range(reps):
        start = time.process_time()
        reader.read_archive(path, options)
        best = min(best, time.process_time() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    """Print the CPU of each digest and a profile of the reading thread."""
    parser = argparse.ArgumentParser(prog="profile_read.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("archive")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    size = Path(args.archive).stat().st_size
    rows = []
    full = cpu_of(args.archive, args.reps)
    rows.append(("as is (archive + diff_id + content digests)", full))
    no_content = cpu_of(args.archive, args.reps, _NO_CONTENT)
    rows.append(("without content digests", no_content))
    no_archive = cpu_of(args.archive, args.reps, _NO_CONTENT_NOR_ARCHIVE)
    rows.append(("without content and archive digests", no_archive))
    with _patched(layerstream, "HashPipe", _NoHash):
        nothing = cpu_of(args.archive, args.reps, _NO_CONTENT_NOR_ARCHIVE)
        rows.append(("without any digest (reading, tar parsing, Python)", nothing))
    print(f"# {args.archive}: {size / 2**20:.1f} MiB; best CPU of {args.reps} reads, all threads")
    for label, cpu in rows:
        print(f"{label:52s} {cpu:7.3f} s  {cpu / (size / 2**30):6.3f} s/GiB")
    print(f"{'  content digests cost':52s} {full - no_content:7.3f} s")
    print(f"{'  archive digest costs':52s} {no_content - no_archive:7.3f} s")
    print(f"{'  diff_id/blob digests cost':52s} {no_archive - nothing:7.3f} s")
    profile = cProfile.Profile()
    profile.runcall(reader.read_archive, args.archive)
    print(f"\n# cProfile of the reading thread (hashing threads not shown), top {args.top} by own time")
    pstats.Stats(profile, stream=sys.stdout).sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
