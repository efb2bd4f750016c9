"""Progress on stderr: throttled, one line, erased at the end, absent off a terminal."""

from __future__ import annotations

import functools
import io
import subprocess
import sys
from pathlib import Path

import pytest

from imageforensics.read._progress import CountingReader, Progress, label_for
from tools.fuzz import limit_cpu

ROOT = Path(__file__).resolve().parents[2]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_redraws_at_most_a_few_times_a_second():
    out, clock = io.StringIO(), FakeClock()
    progress = Progress(out, clock=clock)
    progress.start("a.tar", 4_000_000)
    for _ in range(1000):
        progress.advance("a.tar", 1000)  # no time passes: one draw at most
    assert out.getvalue().count("\r") == 1
    clock.now += 0.3
    progress.advance("a.tar", 1000)
    assert out.getvalue().count("\r") == 2
    assert "a.tar 25% 1.0 MB/4.0 MB" in out.getvalue()


def test_two_inputs_share_one_line_and_finish_erases_it():
    out, clock = io.StringIO(), FakeClock()
    progress = Progress(out, clock=clock)
    progress.start("a.tar", None)
    progress.start("b.tar", 2000)
    progress.advance("b.tar", 1000)
    clock.now += 1
    progress.advance("a.tar", 5000)
    last = out.getvalue().rsplit("\r", 1)[-1]
    assert "a.tar 5.0 kB" in last and "b.tar 50%" in last
    progress.finish()
    assert out.getvalue().endswith("\r")
    assert out.getvalue().rsplit("\r", 2)[-2].strip() == ""


def test_nothing_is_drawn_after_finish():
    # A reader thread left running after Ctrl-C must not draw over "interrupted".
    out, clock = io.StringIO(), FakeClock()
    progress = Progress(out, clock=clock)
    progress.start("a.tar", 1000)
    progress.advance("a.tar", 10)
    progress.finish()
    drawn = out.getvalue()
    clock.now += 5
    progress.advance("a.tar", 10)
    assert out.getvalue() == drawn


def test_counting_reader_passes_bytes_through_unchanged():
    out, clock = io.StringIO(), FakeClock()
    progress = Progress(out, clock=clock)
    progress.start("x", 10)
    reader = CountingReader(io.BytesIO(b"0123456789"), progress, "x")
    assert reader.read(4) + reader.read(-1) == b"0123456789"
    assert reader.read(5) == b""


def test_labels_from_hostile_names_are_safe():
    assert "\x1b" not in label_for("/tmp/evil\x1b[2J.tar")


@pytest.mark.skipif(not (ROOT / "samples" / "tomcat-pulled.tar").is_file(), reason="samples not generated")
def test_nothing_on_stderr_when_it_is_not_a_terminal():
    sample = str(ROOT / "samples" / "tomcat-pulled.tar")
    out = subprocess.run([sys.executable, "-m", "imageforensics", sample, sample], capture_output=True,
                         preexec_fn=functools.partial(limit_cpu, 120))
    assert out.returncode == 0
    assert out.stderr == b""


def test_the_line_names_the_member_being_read():
    out, clock = io.StringIO(), FakeClock()
    progress = Progress(out, clock=clock)
    progress.start("a.tar", 100)
    progress.member("a.tar", "blobs/sha256/5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef\x1b[2J")
    progress.advance("a.tar", 10)
    line = out.getvalue().rsplit("\r", 1)[-1]
    assert "[blobs/sha256/5f70bf18a0860070" in line and "\x1b" not in line


def test_reader_reports_each_member_it_starts(tmp_path):
    from imageforensics.read._archive import read_stream

    sample = ROOT / "samples" / "tomcat-pulled.tar"
    if not sample.is_file():
        pytest.skip("samples not generated")
    seen: list[str] = []
    with open(sample, "rb") as f:
        archive = read_stream(f, str(sample), on_member=seen.append)
    assert "manifest.json" in seen
    assert sum(name.endswith("/layer.tar") for name in seen) == len(archive.images[0].layers)


def test_sizes_in_the_line_keep_one_decimal() -> None:
    from imageforensics.units import human_size

    assert [human_size(n, decimals=1) for n in (999, 1000, 7650, 132_100_000, 999_400, 999_950, 10**16)] == [
        "999 B", "1.0 kB", "7.7 kB", "132.1 MB", "999.4 kB", "1.0 MB", "10.0 PB"]
    # Without ``decimals``: three significant digits, as docker prints them.
    assert [human_size(n) for n in (7650, 132_100_000, 999_500)] == ["7.65 kB", "132 MB", "1 MB"]


def _lines(out: io.StringIO) -> list[str]:
    return [part.rstrip() for part in out.getvalue().split("\r") if part.strip()]


def test_the_line_shows_rate_and_time_left():
    out, clock = io.StringIO(), FakeClock()
    progress = Progress(out, clock=clock, columns=120)
    progress.start("a.tar", 4_000_000)
    clock.now += 0.5
    progress.advance("a.tar", 1000)
    assert _lines(out)[-1] == "reading a.tar 0% 1.0 kB/4.0 MB"  # no rate from half a second
    clock.now += 1.5
    progress.advance("a.tar", 999_000)
    assert "a.tar 25% 1.0 MB/4.0 MB 500.0 kB/s 6s left" in _lines(out)[-1]


@pytest.mark.parametrize("columns", [40, 80, 120])
def test_every_redraw_fits_the_terminal(columns):
    out, clock = io.StringIO(), FakeClock()
    progress = Progress(out, clock=clock, columns=columns)
    progress.start("a-rather-long-archive-name-of-an-image.tar", 40_000_000_000)
    progress.start("b-rather-long-archive-name-of-an-image.tar", None)
    for step in range(20):
        progress.member("a-rather-long-archive-name-of-an-image.tar", f"blobs/sha256/{step:064d}")
        clock.now += 1
        progress.advance("a-rather-long-archive-name-of-an-image.tar", 123_456_789)
        progress.advance("b-rather-long-archive-name-of-an-image.tar", 98_765_432)
    drawn = out.getvalue().split("\r")
    assert len(drawn) > 10
    assert max(len(part) for part in drawn) <= columns - 1
    if columns >= 80:
        assert "/s" in drawn[-1] and " left" in drawn[-1]  # the rate fits where the members do not


def test_the_second_pass_is_shown(tmp_path):
    from dataclasses import replace

    from imageforensics.diff import layers_needing_content
    from imageforensics.options import ReadOptions
    from imageforensics.read import choose_pair

    a, b = ROOT / "samples" / "mode-a.tar", ROOT / "samples" / "mode-b.tar"
    if not (a.is_file() and b.is_file()):
        pytest.skip("samples not generated")

    class Clock:
        now = 0.0

        def __call__(self) -> float:
            self.now += 1.0  # every look at the clock is a redraw's worth later
            return self.now

    out = io.StringIO()
    progress = Progress(out, clock=Clock(), columns=200)
    # digest_below=0: no file is hashed on the first read, so the layers that differ are read again.
    choose_pair(str(a), str(b), replace(ReadOptions(), digest_below=0), progress=progress,
                needed_layers=layers_needing_content)
    last = out.getvalue().rsplit("\r", 1)[-1]
    assert "mode-a.tar digests 100%" in last and "mode-b.tar digests 100%" in last
