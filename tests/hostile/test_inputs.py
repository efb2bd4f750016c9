"""Inputs that are not image archives at all: empty, random, another format, a plain tar, a plain directory, endless.

read/test_archive.py checks the messages for an empty input, random bytes and a
plain tar read from memory; here the same kinds of input arrive as files,
directories and devices, the way a user names them.
"""

from __future__ import annotations

import gzip
import io
import os
import random
import zipfile
from pathlib import Path

import pytest

from tests.archivekit import legacy, simple_image, tar_of
from imageforensics.errors import InputError
from imageforensics.options import Limits
from imageforensics.read._archive import read_archive, read_stream
from tools.fuzz import guarded


def error_of(path: str) -> str:
    with pytest.raises(InputError) as info:
        guarded(lambda: read_archive(path))
    assert "\n" not in str(info.value)
    return str(info.value)


def test_an_empty_file(tmp_path: Path) -> None:
    (tmp_path / "e.tar").write_bytes(b"")
    assert error_of(str(tmp_path / "e.tar")) == f"{tmp_path}/e.tar: empty input: expected a tar archive"


@pytest.mark.parametrize("seed", range(5))
def test_random_bytes(tmp_path: Path, seed: int) -> None:
    data = random.Random(seed).randbytes(3000)
    (tmp_path / "r.bin").write_bytes(data)
    msg = error_of(str(tmp_path / "r.bin"))
    assert msg.startswith(f"{tmp_path}/r.bin: not a tar archive (")


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("a.zip", None, "not a tar archive (truncated header)"),
        ("a.txt", b"just some text\n" * 50, "not a tar archive (invalid header)"),
        ("a.gz", gzip.compress(b"text, not a tar\n" * 100), "not a tar archive (invalid header)"),
        ("a.json", b'{"not": "an archive"}', "not a tar archive (truncated header)"),
    ],
)
def test_other_formats(tmp_path: Path, name: str, data: bytes | None, expected: str) -> None:
    if data is None:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as z:
            z.writestr("manifest.json", "[]")
        data = out.getvalue()
    (tmp_path / name).write_bytes(data)
    assert error_of(str(tmp_path / name)) == f"{tmp_path}/{name}: {expected}"


def test_a_tar_that_is_not_an_image(tmp_path: Path) -> None:
    (tmp_path / "t.tar").write_bytes(tar_of([("etc/passwd", b"root:x:0:0\n"), ("README.md", b"hi\n")]))
    assert error_of(str(tmp_path / "t.tar")) == (
        f"{tmp_path}/t.tar: not an image archive: expected manifest.json (docker save) or index.json (OCI layout), found etc/passwd, README.md"
    )


def test_an_empty_tar(tmp_path: Path) -> None:
    (tmp_path / "t.tar").write_bytes(bytes(10240))
    assert error_of(str(tmp_path / "t.tar")) == (
        f"{tmp_path}/t.tar: not an image archive: expected manifest.json (docker save) or index.json (OCI layout), found no members"
    )


def test_a_directory_that_is_not_an_image(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.c").write_text("int main(void) { return 0; }\n")
    (tmp_path / "Makefile").write_text("all:\n")
    assert error_of(str(tmp_path)) == (
        f"{tmp_path}: not an image archive: expected manifest.json (docker save) or index.json (OCI layout), found Makefile, src, src/main.c"
    )


def test_an_empty_directory(tmp_path: Path) -> None:
    assert error_of(str(tmp_path)) == (
        f"{tmp_path}: not an image archive: expected manifest.json (docker save) or index.json (OCI layout), found no members"
    )


def test_a_missing_path() -> None:
    assert error_of("/nonexistent/x.tar") == "/nonexistent/x.tar: cannot open: No such file or directory"


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_dev_zero_is_refused_instead_of_read_forever() -> None:
    # Regression: zeros read as an empty tar, then the rest was read "to hash the whole input" forever.
    assert error_of("/dev/zero") == f"/dev/zero: more than {Limits().max_bytes_after_end} bytes follow the end-of-archive marker (an endless input such as /dev/zero?)"


def test_record_padding_after_the_end_marker_is_read_and_hashed() -> None:
    data = tar_of(legacy([simple_image()])) + bytes(1 << 20)
    archive = guarded(lambda: read_stream(io.BytesIO(data), "t.tar"))  # type: ignore[arg-type]
    assert archive.size == len(data) and len(archive.images) == 1
