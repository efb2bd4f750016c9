"""FileEntry: a frozen value as the model's dataclasses are, built cheaply, its digest kept as bytes."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import pickle

import pytest

from imageforensics.model import FileEntry, file_entry

DIGEST = "sha256:" + hashlib.sha256(b"x").hexdigest()


def test_the_reader_and_the_keyword_constructor_build_equal_values() -> None:
    by_name = FileEntry(path="etc/hosts", kind="file", size=1, mode=0o644, mtime_ns=5, content_digest=DIGEST)
    by_reader = file_entry("etc/hosts", "file", 1, 0o644, 0, 0, 5, "", 0, 0, (), hashlib.sha256(b"x").digest())
    assert by_name == by_reader and hash(by_name) == hash(by_reader)
    assert by_reader.content_digest == DIGEST
    assert by_name != dataclasses.replace(by_name, content_digest="")


@pytest.mark.parametrize("text", ["", DIGEST, DIGEST.upper(), "sha256:abc", "sha512:" + "0" * 128, DIGEST + " "])
def test_any_content_digest_text_reads_back_as_given(text: str) -> None:
    entry = FileEntry(path="f", kind="file", content_digest=text)
    assert entry.content_digest == text
    assert (entry == FileEntry(path="f", kind="file", content_digest=DIGEST)) == (text == DIGEST)


def test_fields_replace_repr_and_copies_as_a_dataclass() -> None:
    entry = FileEntry(path="bin/sh", kind="symlink", linkname="busybox", xattrs=(("user.a", "v"),))
    assert dataclasses.is_dataclass(entry)
    assert [f.name for f in dataclasses.fields(entry)] == [
        "path", "kind", "size", "mode", "uid", "gid", "mtime_ns", "linkname", "devmajor", "devminor", "xattrs",
        "content_digest"]
    assert dataclasses.replace(entry, path="bin/ash").path == "bin/ash"
    assert repr(entry) == ("FileEntry(path='bin/sh', kind='symlink', size=0, mode=0, uid=0, gid=0, mtime_ns=0, "
                           "linkname='busybox', devmajor=0, devminor=0, xattrs=(('user.a', 'v'),), content_digest='')")
    assert dataclasses.asdict(entry)["linkname"] == "busybox"
    assert pickle.loads(pickle.dumps(entry)) == entry
    assert copy.copy(entry) is entry and copy.deepcopy(entry) is entry


def test_frozen() -> None:
    entry = FileEntry(path="a", kind="dir")
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.path = "b"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del entry.kind  # type: ignore[misc]
    assert entry.path == "a"


def test_never_equal_to_another_type() -> None:
    entry = FileEntry(path="a", kind="dir")
    assert entry != ("a", "dir") and entry != object()


def test_each_field_alone_makes_entries_unequal() -> None:
    base = FileEntry(path="srv/f", kind="file", size=3, mode=0o644, uid=1, gid=2, mtime_ns=5, linkname="",
                     devmajor=0, devminor=0, xattrs=(("user.a", "1"),), content_digest=DIGEST)
    others = {"path": "srv/g", "kind": "hardlink", "size": 4, "mode": 0o600, "uid": 7, "gid": 8, "mtime_ns": 6,
              "linkname": "x", "devmajor": 1, "devminor": 1, "xattrs": (), "content_digest": ""}
    assert set(others) == {f.name for f in dataclasses.fields(base)}
    twin = dataclasses.replace(base)
    assert twin == base and twin is not base and hash(twin) == hash(base)
    for name, value in others.items():
        changed = dataclasses.replace(base, **{name: value})
        assert changed != base and base != changed, name
        assert not (changed == base), name
