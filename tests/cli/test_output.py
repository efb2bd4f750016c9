"""``-o PATH`` never destroys what PATH is: each kind of target, in a temporary directory (never the machine's /dev)."""

from __future__ import annotations

import functools
import os
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from imageforensics.cli import _main as cli
from imageforensics.cli._output import OutputError, write_output, write_streamed
from tests.archivekit import legacy, simple_image, tar_of
from tools.fuzz import limit_cpu

ROOT = Path(__file__).resolve().parents[2]
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="making a character device needs root")


def run(*args: str, cwd: Path = ROOT, **kw: object) -> subprocess.CompletedProcess[bytes]:
    """The module as a user runs it (ended by the kernel after 60 s of CPU time)."""
    return subprocess.run([sys.executable, "-m", "imageforensics", *args], cwd=cwd, capture_output=True,
                          preexec_fn=functools.partial(limit_cpu, 60), **kw)  # type: ignore[call-overload]


def one_line(result: subprocess.CompletedProcess[bytes]) -> str:
    err = result.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    path = tmp_path / "a.tar"
    path.write_bytes(tar_of(legacy([simple_image()])))
    return path


def leftovers(folder: Path) -> list[str]:
    return [name for name in os.listdir(folder) if name.startswith(".imageforensics-")]


def test_a_regular_file_is_replaced_whole_and_keeps_its_mode(tmp_path):
    target = tmp_path / "report.txt"
    target.write_text("old", encoding="utf-8")
    os.chmod(target, 0o640)
    before = target.stat().st_ino
    write_output("new text", str(target))
    assert target.read_text(encoding="utf-8") == "new text"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert target.stat().st_ino != before  # a new file renamed into place: readers never see half of it
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file away needs root")
def test_a_regular_file_keeps_its_owner_when_we_may_set_it(tmp_path):
    target = tmp_path / "report.txt"
    target.write_text("old", encoding="utf-8")
    os.chown(target, 1234, 5678)
    write_output("new", str(target))
    assert (target.stat().st_uid, target.stat().st_gid) == (1234, 5678)


def test_a_symlink_is_followed_and_stays(tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("old", encoding="utf-8")
    os.chmod(real, 0o600)
    link = tmp_path / "link.txt"
    link.symlink_to("real.txt")
    write_output("through the link", str(link))
    assert link.is_symlink() and os.readlink(link) == "real.txt"
    assert real.read_text(encoding="utf-8") == "through the link"
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
    assert leftovers(tmp_path) == []


def test_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.txt"
    link.symlink_to("made.txt")
    write_output("x", str(link))
    assert link.is_symlink()
    assert (tmp_path / "made.txt").read_text(encoding="utf-8") == "x"


def test_a_hard_link_is_kept_written_through_its_inode(tmp_path):
    first = tmp_path / "first.txt"
    first.write_text("a much longer old text than the new one", encoding="utf-8")
    second = tmp_path / "second.txt"
    os.link(first, second)
    inode = first.stat().st_ino
    write_output("new", str(first))
    assert first.stat().st_ino == second.stat().st_ino == inode
    assert first.stat().st_nlink == 2
    assert second.read_text(encoding="utf-8") == "new"  # truncated, not overwritten at the start
    assert leftovers(tmp_path) == []


def test_a_fifo_is_written_through_not_replaced(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    write_output("to the reader\n", str(fifo))
    reader.join(timeout=30)
    assert got == [b"to the reader\n"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


MIB = 1 << 20


def test_pieces_go_to_the_temporary_file_and_the_target_is_replaced_only_when_whole(tmp_path):
    target = tmp_path / "model.json"
    target.write_text("old", encoding="utf-8")
    seen: list[tuple[str, int]] = []

    def pieces():
        yield "x" * (2 * MIB)
        # Written already (not held until the end), into the temporary file alone.
        (temp,) = leftovers(tmp_path)
        seen.append((target.read_text(encoding="utf-8"), (tmp_path / temp).stat().st_size))
        yield "y" * 10

    write_streamed(pieces(), str(target))
    assert seen == [("old", 2 * MIB)]
    assert target.read_text(encoding="utf-8") == "x" * (2 * MIB) + "y" * 10
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("linked", [False, True])
def test_output_that_fails_while_being_made_leaves_the_target_as_it_was(tmp_path, linked):
    target = tmp_path / "model.json"
    target.write_text("old", encoding="utf-8")
    if linked:
        os.link(target, tmp_path / "other.json")

    def pieces():
        yield "x" * (2 * MIB)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_streamed(pieces(), str(target))
    assert target.read_text(encoding="utf-8") == "old"
    assert leftovers(tmp_path) == []


def test_a_hard_link_gets_streamed_pieces_only_once_they_are_whole(tmp_path):
    first = tmp_path / "first.txt"
    first.write_text("old", encoding="utf-8")
    second = tmp_path / "second.txt"
    os.link(first, second)
    seen: list[str] = []

    def pieces():
        yield "a" * (3 * MIB)
        seen.append(second.read_text(encoding="utf-8"))
        yield "b"

    write_streamed(pieces(), str(first))
    assert seen == ["old"]
    assert second.read_text(encoding="utf-8") == "a" * (3 * MIB) + "b"
    assert first.stat().st_ino == second.stat().st_ino and first.stat().st_nlink == 2
    assert leftovers(tmp_path) == []


def test_a_fifo_gets_pieces_as_they_come(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    first_read = threading.Event()

    def read() -> None:
        with open(fifo, "rb") as f:
            got.append(f.read(MIB))
            first_read.set()
            got.append(f.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    def pieces():
        yield b"p" * (2 * MIB)
        # The reader has the first megabyte before the last piece is even made.
        assert first_read.wait(timeout=60)
        yield "q\n"

    write_streamed(pieces(), str(fifo))
    reader.join(timeout=60)
    assert b"".join(got) == b"p" * (2 * MIB) + b"q\n"


def test_stdout_through_a_symlink_onto_a_socket_is_written_through(tmp_path, archive):
    # What ``-o /dev/stdout`` is, without touching /dev: a link to /proc/self/fd/1 (here a socket).
    link = tmp_path / "stdout"
    link.symlink_to("/proc/self/fd/1")
    ours, theirs = socket.socketpair()
    with ours, theirs:
        result = subprocess.run([sys.executable, "-m", "imageforensics", "inspect", str(archive), "-o", str(link)],
                                cwd=ROOT, stdout=theirs, stderr=subprocess.PIPE, preexec_fn=functools.partial(limit_cpu, 60))
        theirs.close()
        received = b"".join(iter(lambda: ours.recv(65536), b""))
    assert result.returncode == 0, result.stderr
    assert b"local/app:1" in received
    assert os.readlink(link) == "/proc/self/fd/1"


def test_stdout_through_a_symlink_onto_a_pipe_is_written_through(tmp_path, archive):
    link = tmp_path / "stdout"
    link.symlink_to("/proc/self/fd/1")
    result = run("inspect", str(archive), "-o", str(link))
    assert result.returncode == 0, result.stderr
    assert b"local/app:1" in result.stdout
    assert link.is_symlink()


@as_root
def test_a_character_device_is_written_through_not_replaced(tmp_path):
    null = tmp_path / "null"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    write_output("discarded", str(null))
    assert stat.S_ISCHR(os.lstat(null).st_mode)
    assert leftovers(tmp_path) == []


@as_root
def test_a_full_device_is_one_line_naming_the_path(tmp_path, archive):
    full = tmp_path / "full"
    os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    result = run("inspect", str(archive), "-o", str(full))
    assert result.returncode == 2
    line = one_line(result)
    assert str(full) in line and "space" in line.lower()
    assert stat.S_ISCHR(os.lstat(full).st_mode)
    assert leftovers(tmp_path) == []


def test_a_missing_directory_is_one_line_naming_the_path(tmp_path, archive):
    target = tmp_path / "nowhere" / "report.txt"
    result = run("inspect", str(archive), "-o", str(target))
    assert result.returncode == 2
    assert str(target) in one_line(result)
    assert ".imageforensics-" not in result.stderr.decode()


def test_a_missing_directory_before_dotdot_is_not_skipped(tmp_path, archive):
    # realpath() alone makes missing/../a.tar the input itself; open() would fail, and so must we.
    before = archive.read_bytes()
    given = str(tmp_path / "missing" / ".." / "a.tar")
    result = run("diff", str(archive), str(archive), "-o", given)
    assert result.returncode == 2
    assert f"-o {given}: no such directory" in one_line(result)
    assert archive.read_bytes() == before


def test_an_unwritable_directory_names_the_path_not_a_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "report.txt"

    def refuse(*args: object, **kw: object) -> tuple[int, str]:
        raise PermissionError(13, "Permission denied", str(tmp_path / ".imageforensics-x1y2"))

    monkeypatch.setattr("tempfile.mkstemp", refuse)
    with pytest.raises(OutputError) as caught:
        write_output("x", str(target))
    assert str(target) in str(caught.value)
    assert ".imageforensics-" not in str(caught.value)


@pytest.mark.parametrize("spelling", ["same", "dotdot", "symlink", "hardlink"])
def test_an_input_as_output_is_refused_and_left_alone(tmp_path, archive, spelling):
    (tmp_path / "sub").mkdir()
    given = {"same": str(archive), "dotdot": str(tmp_path / "sub" / ".." / "a.tar"),
             "symlink": str(tmp_path / "link.tar"), "hardlink": str(tmp_path / "other.tar")}[spelling]
    if spelling == "symlink":
        os.symlink(archive, given)
    if spelling == "hardlink":
        os.link(archive, given)
    before = archive.read_bytes()
    result = run("diff", str(archive) + ":local/app:1", str(archive), "-o", given)
    assert result.returncode == 2
    line = one_line(result)
    assert f"-o {given}:" in line and "input" in line
    assert archive.read_bytes() == before


def test_an_input_as_output_is_refused_before_anything_is_read(tmp_path, archive):
    # A FIFO nobody writes: reading it would block for ever, so a prompt refusal proves nothing was read.
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    for argv in (["inspect", str(fifo)], ["snapshot", str(fifo)], ["diff", str(archive), str(fifo)]):
        result = run(*argv, "-o", str(fifo), timeout=60)
        assert result.returncode == 2
        assert f"-o {fifo}:" in one_line(result)


def test_standard_input_as_output_is_refused(tmp_path, archive):
    with open(archive, "rb") as stdin:
        result = run("inspect", "-", "-o", str(archive), stdin=stdin)
    assert result.returncode == 2
    assert "standard input" in one_line(result)
    assert archive.read_bytes() == tar_of(legacy([simple_image()]))


def test_an_output_inside_an_input_directory_is_refused(tmp_path):
    top = tmp_path / "layout"
    top.mkdir()
    result = run("inspect", str(top), "-o", str(top / "report.txt"))
    assert result.returncode == 2
    assert "input directory" in one_line(result)
    assert list(top.iterdir()) == []


def test_a_new_file_gets_the_usual_mode(tmp_path):
    target = tmp_path / "out.txt"
    old = os.umask(0o027)
    try:
        cli.write_output("x", str(target))
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_stdout_through_a_symlink_onto_a_terminal_is_written_through(tmp_path, archive):
    import pty

    link = tmp_path / "tty"
    link.symlink_to("/proc/self/fd/1")
    controller, terminal = pty.openpty()
    try:
        result = subprocess.run([sys.executable, "-m", "imageforensics", "inspect", str(archive), "-o", str(link)],
                                cwd=ROOT, stdout=terminal, stderr=subprocess.PIPE, timeout=60,  # a report far smaller than a tty's buffer
                                preexec_fn=functools.partial(limit_cpu, 60))
        os.close(terminal)
        received = b""
        while True:
            try:
                part = os.read(controller, 65536)
            except OSError:  # EIO: the terminal side is closed and everything was read
                break
            if not part:
                break
            received += part
    finally:
        os.close(controller)
    assert result.returncode == 0, result.stderr
    assert b"local/app:1" in received
    assert link.is_symlink()
