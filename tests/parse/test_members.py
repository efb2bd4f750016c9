"""Archive members (parse/_members): names normalised and the digests they claim, the store keeping the last of duplicates."""

from __future__ import annotations

import io

import pytest

from tests.archivekit import legacy, simple_image, tar_of
from imageforensics.model import Archive
from imageforensics.parse._members import named_digest, normalise_member_name
from imageforensics.read._archive import read_stream


def read(members: list) -> Archive:
    return read_stream(io.BytesIO(tar_of(members)), "x.tar")


def codes(findings: tuple) -> list[str]:
    return sorted(f.code for f in findings)


@pytest.mark.parametrize("raw,clean", [("./manifest.json", "manifest.json"), ("a//b/", "a/b"), ("./", ""), ("././x", "x"), ("a/./b/../c", "a/c")])
def test_normalise_member_name(raw, clean):
    assert normalise_member_name(raw) == clean


@pytest.mark.parametrize("name,digest", [
    ("blobs/sha256/" + "a" * 64, "sha256:" + "a" * 64),
    ("sha256:" + "b" * 64, "sha256:" + "b" * 64),
    ("c" * 64 + ".tar.gz", "sha256:" + "c" * 64),
    ("c" * 64 + ".json", "sha256:" + "c" * 64),
    ("c" * 64 + "/layer.tar", None),
    ("blobs/sha256/short", None),
])
def test_named_digest(name, digest):
    assert (str(named_digest(name)) if named_digest(name) else None) == digest


def test_duplicate_member_names_keep_the_last():
    img = simple_image()
    members = legacy([img])
    members.insert(0, ("manifest.json", b"null"))
    archive = read(members)
    assert "member-duplicate" in codes(archive.findings)
    assert len(archive.images) == 1
