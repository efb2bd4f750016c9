"""``ls --merged`` and ``cat`` against the root filesystems umoci really unpacked to disk.

real-archives.sh ran ``umoci unpack`` on each image and listed the result
(type, mode, owner, size, sha256 of each regular file). ``ls --merged`` of the
archive its builder saved must name exactly those paths with those types,
and ``cat`` of each regular file must give bytes with that sha256.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from typing import Any

import pytest

from tests.interop.interop_truth import config_truth, read_report, real_dir
from tests.interop.test_interop_rootfs import _KIND_ON_DISK, _params

from imageforensics.diff import inside
from imageforensics.model import Image
from imageforensics.read import copy_file, read_input


def _image(entry: dict[str, Any], image: dict[str, Any]) -> tuple[str, Image]:
    truth = config_truth(image["reports"]["skopeo_config_raw"])
    path = str(real_dir() / entry["path"])
    archive = read_input(path)
    return path, next(i for i in archive.images if str(i.image_id) == truth.image_id)


def _ls_json(path: str, image_id: str) -> list[dict[str, Any]]:
    # The command as a user runs it; the image chosen by its position (archive@N) when the archive holds several.
    archive = read_input(path)
    spec = path if len(archive.images) == 1 else f"{path}@{[str(i.image_id) for i in archive.images].index(image_id)}"
    out = subprocess.run([sys.executable, "-m", "imageforensics", "ls", spec, "--merged", "--format", "json"],
                         capture_output=True, check=True)
    return [json.loads(line) for line in out.stdout.decode("ascii").splitlines()]


@pytest.mark.parametrize("case", _params())
def test_ls_merged_lists_what_umoci_unpacked(case: Any) -> None:
    record, (entry, image) = case
    path, model = _image(entry, image)
    rows = _ls_json(path, str(model.image_id))
    on_disk = {row["path"]: row for row in read_report("rootfs", record["path"])["entries"]}
    # ls spells paths from the root (/etc/passwd); umoci's report names them relative to it.
    assert all(row["path"].startswith("/") for row in rows)
    listed = {row["path"][1:]: row for row in rows}
    assert len(listed) == len(rows), "a path listed twice"
    assert sorted(set(listed) - set(on_disk)) == []
    assert sorted(set(on_disk) - set(listed)) == []
    for p, row in listed.items():
        disk = on_disk[p]
        assert _KIND_ON_DISK.get(row["kind"]) == disk["type"], p
        assert (row.get("uid", 0), row.get("gid", 0)) == (disk["uid"], disk["gid"]), p
        if disk["type"] == "file":
            assert (row.get("size", 0), row.get("content_digest")) == (disk["size"], disk["sha256"]), p
        if disk["type"] == "symlink":
            assert row["linkname"] == disk["link"], p
    # The listing is sorted by path, as `ls` promises.
    assert [r["path"] for r in rows] == sorted(r["path"] for r in rows)


@pytest.mark.parametrize("case", _params())
def test_cat_gives_the_bytes_umoci_unpacked(case: Any) -> None:
    record, (entry, image) = case
    path, model = _image(entry, image)
    files = [row for row in read_report("rootfs", record["path"])["entries"] if row["type"] == "file"]
    assert files
    fs = inside.merged_view(model)
    for row in files:
        where = inside.locate_file(model, row["path"], fs=fs)
        layer = model.layers[where.layer]
        assert layer is not None
        out = io.BytesIO()
        copy_file(path, layer, where.member_path, where.occurrence, where.entry, out)
        data = out.getvalue()
        assert len(data) == row["size"], row["path"]
        assert "sha256:" + hashlib.sha256(data).hexdigest() == row["sha256"], row["path"]


@pytest.mark.parametrize("case", _params()[:3])
def test_cat_command_from_a_file_and_from_standard_input(case: Any) -> None:
    """The command itself, from the archive and piped in, gives the unpacked file's bytes."""
    record, (entry, image) = case
    path, model = _image(entry, image)
    archive = read_input(path)
    spec = path if len(archive.images) == 1 else f"{path}@{archive.images.index(model)}"
    row = max((r for r in read_report("rootfs", record["path"])["entries"] if r["type"] == "file"),
              key=lambda r: r["size"])
    by_file = subprocess.run([sys.executable, "-m", "imageforensics", "cat", spec, "/" + row["path"]],
                             capture_output=True, check=True).stdout
    assert "sha256:" + hashlib.sha256(by_file).hexdigest() == row["sha256"]
    if spec == path:
        with open(path, "rb") as f:
            piped = subprocess.run([sys.executable, "-m", "imageforensics", "cat", "-", row["path"]], stdin=f,
                                   capture_output=True, check=True).stdout
        assert piped == by_file
