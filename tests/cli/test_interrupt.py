"""Stopping when asked: Ctrl-C and SIGTERM while an input is being read, and a reader of our output that goes away."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest

from tests.archivekit import legacy, simple_image, tar_of
from tools.fuzz import limit_cpu

ROOT = Path(__file__).resolve().parents[2]
FED = 4 << 20  # bytes the reader must have taken from the FIFO (far more than a pipe holds) before the signal


class EndlessArchive:
    """A FIFO fed the start of an archive whose one member never ends, so a read of it is provably in progress."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.path = path
        self.fed = threading.Event()
        self._thread = threading.Thread(target=self._feed, daemon=True)
        self._thread.start()

    def _feed(self) -> None:
        info = tarfile.TarInfo("0123abcd/layer.tar")
        info.size = (1 << 33) - 512  # the most a ustar header holds: never reached
        written = 0
        try:
            with open(self.path, "wb") as f:
                f.write(info.tobuf(format=tarfile.USTAR_FORMAT))
                block = bytes(64 << 10)
                while True:
                    f.write(block)
                    written += len(block)
                    if written >= FED:
                        self.fed.set()
        except OSError:
            pass  # the reader went away: that is the point

    def close(self) -> None:
        # Unblock a writer still waiting for a reader (should the process never have opened the FIFO).
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
            os.close(fd)
        except OSError:
            pass
        self._thread.join(timeout=10)


@pytest.fixture
def endless(tmp_path: Path):  # type: ignore[no-untyped-def]
    feeder = EndlessArchive(tmp_path / "endless.tar")
    yield feeder
    feeder.close()


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.tar"
    path.write_bytes(tar_of(legacy([simple_image()])))
    return path


def _as_at_a_terminal() -> None:
    """The child as a terminal starts it: Ctrl-C delivered (a background job, as CI may run us, inherits SIGINT
    ignored, and Python then installs no handler for it), and bounded in CPU time."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    limit_cpu(60)


def start(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "imageforensics", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=_as_at_a_terminal)


def stopped(process: subprocess.Popen[bytes], feeder: EndlessArchive, signum: int) -> tuple[int, str]:
    """Send ``signum`` once the read is under way; the exit status and stderr (the timeout only guards a hang)."""
    if not feeder.fed.wait(timeout=120):
        process.kill()
        _, err = process.communicate()
        pytest.fail(f"the reader never took the archive's bytes: {err!r}")
    process.send_signal(signum)
    try:
        _, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail("still running a minute after the signal")
    return process.returncode, err.decode("utf-8", "replace")


@pytest.mark.parametrize(("signum", "status", "word"), [(signal.SIGINT, 130, "interrupted"),
                                                        (signal.SIGTERM, 143, "terminated")])
def test_diff_stops_mid_read_and_leaves_nothing(tmp_path, endless, small, signum, status, word):
    report = tmp_path / "report.txt"
    process = start("diff", str(endless.path), str(small), "-o", str(report))
    code, err = stopped(process, endless, signum)
    assert code == status, err
    assert err.strip().splitlines() == [f"imageforensics: {word}"]
    assert sorted(os.listdir(tmp_path)) == ["endless.tar", "small.tar"]


def test_diff_stops_whichever_input_is_still_being_read(tmp_path, endless, small):
    # The small input is read at once; the wait is on the second one.
    code, err = stopped(start("diff", str(small), str(endless.path)), endless, signal.SIGINT)
    assert code == 130, err
    assert "Traceback" not in err


def test_inspect_stops_mid_read(tmp_path, endless):
    code, err = stopped(start("inspect", str(endless.path), "-o", str(tmp_path / "out.txt")), endless, signal.SIGINT)
    assert code == 130, err
    assert sorted(os.listdir(tmp_path)) == ["endless.tar"]


@pytest.mark.parametrize(("second", "status"), [("same", 0), ("other", 1)])
def test_a_closed_pipe_keeps_the_usual_status_and_says_nothing(tmp_path, small, second, status):
    other = tmp_path / "other.tar"
    other.write_bytes(tar_of(legacy([simple_image(seed="b")])))
    b = small if second == "same" else other
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will ever read: the first write fails with EPIPE
    try:
        result = subprocess.run([sys.executable, "-m", "imageforensics", str(small), str(b), "--format", "json"],
                                cwd=ROOT, stdout=write_end, stderr=subprocess.PIPE,
                                preexec_fn=functools.partial(limit_cpu, 60))
    finally:
        os.close(write_end)
    assert result.returncode == status
    assert result.stderr == b""


def test_head_dash_1_ends_quietly(tmp_path, small):
    other = tmp_path / "other.tar"
    other.write_bytes(tar_of(legacy([simple_image(seed="b")])))
    line = f"{sys.executable} -m imageforensics {small} {other} --format json | head -c 1 >/dev/null; exit ${{PIPESTATUS[0]}}"
    result = subprocess.run(["bash", "-c", line], cwd=ROOT, capture_output=True,
                            preexec_fn=functools.partial(limit_cpu, 60))
    assert result.returncode == 1
    assert result.stderr == b""
