"""The merged filesystem imageforensics computes equals the one umoci really unpacked to disk.

real-archives.sh ran `umoci unpack` on each image (umoci applies the layers,
whiteouts, hardlinks, owners and modes itself) and listed the result with
os.lstat. Here the same image is read from the archive its builder saved, its
layers merged by imageforensics.diff._merged_fs, and every path compared.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.interop.interop_truth import config_truth, load_manifest, read_report, skip_reason

from imageforensics.diff._merged_fs import MergedFilesystem, merge_layers

# Where each unpacked lineage's image was saved by the tool that built it.
ANCHOR_PREFIXES = ("docker/", "buildah/", "umoci/layout")


def _params() -> list[Any]:
    manifest = load_manifest()
    if manifest is None:
        return [pytest.param(None, marks=pytest.mark.skip(reason=skip_reason()), id="no-real-archives")]
    out = []
    for lineage, record in sorted(manifest.get("rootfs", {}).items()):
        anchor = None
        for prefix in ANCHOR_PREFIXES:
            for entry in manifest["archives"]:
                if anchor is None and entry["path"].startswith(prefix) and "derived_from" not in entry:
                    for image in entry["images"]:
                        if image["lineage"] == lineage and "skopeo_config_raw" in image["reports"]:
                            anchor = (entry, image)
                            break
        assert anchor is not None, f"no archive holds lineage {lineage}"
        out.append(pytest.param((record, anchor), id=f"{lineage}:{anchor[0]['path']}"))
    return out


_KIND_ON_DISK = {"file": "file", "hardlink": "file", "dir": "dir", "symlink": "symlink",
                 "fifo": "fifo", "char": "char", "block": "block"}


def _groups_from_model(fs: MergedFilesystem) -> list[list[str]]:
    """Hardlink sets as the merged filesystem resolves them (names of one file)."""
    return sorted(sorted(g) for g in set(fs.hardlink_groups().values()))


@pytest.mark.parametrize("case", _params())
def test_merged_filesystem_equals_umoci_unpack(case: Any, read: Any) -> None:
    """Same paths; same type, mode, owner, size, content, link target, mtime; same hardlink sets."""
    record, (entry, image) = case
    truth = config_truth(image["reports"]["skopeo_config_raw"])
    arc = read(entry["path"])
    model = next(i for i in arc.images if str(i.image_id) == truth.image_id)
    assert all(layer is not None for layer in model.layers)
    fs = merge_layers([layer.entries for layer in model.layers if layer is not None])
    merged = fs.entries
    disk = read_report("rootfs", record["path"])
    on_disk = {row["path"]: row for row in disk["entries"]}

    assert sorted(set(merged) - set(on_disk)) == [], "paths imageforensics has that umoci did not unpack"
    assert sorted(set(on_disk) - set(merged)) == [], "paths umoci unpacked that imageforensics lacks"
    for path, e in sorted(merged.items()):
        row = on_disk[path]
        assert _KIND_ON_DISK.get(e.kind) == row["type"], path
        assert (e.uid, e.gid) == (row["uid"], row["gid"]), path
        if e.kind != "symlink":  # Linux keeps no mode on a symlink (always 0777)
            assert e.mode & 0o7777 == row["mode"], f"{path}: {oct(e.mode)} vs {oct(row['mode'])}"
        if e.kind == "symlink":
            assert e.linkname == row["link"], path
        content = e  # a resolved hardlink holds its file's content
        if row["type"] == "file":
            assert content.kind == "file", path
            assert content.size == row["size"], path
            assert content.content_digest == row["sha256"], path
        if row["type"] in ("char", "block"):
            assert (e.devmajor, e.devminor) == (row["devmajor"], row["devminor"]), path
        if row["type"] in ("file", "fifo", "symlink"):
            # umoci sets each entry's mtime from its tar header; directories are
            # touched again as their children are written, so only leaves are exact.
            assert content.mtime_ns == row["mtime_ns"], path
    assert _groups_from_model(fs) == disk["hardlink_groups"]


# Pairs of really different images whose root filesystems umoci unpacked:
# the same Dockerfile through the classic builder and BuildKit, the same
# Containerfile layered and as one layer, and the busybox base before and
# after a umoci repack (a file added, one deleted).
FS_PAIRS = (("fs-classic", "fs-buildkit"), ("bah-oci-layers", "bah-oci-single"), ("base", "umoci-base-modified"))
LEAVES = ("file", "symlink", "fifo", "char", "block")


def _fs_pair_params() -> list[Any]:
    manifest = load_manifest()
    if manifest is None:
        return [pytest.param(None, marks=pytest.mark.skip(reason=skip_reason()), id="no-real-archives")]
    anchors = {p.id.split(":", 1)[0]: p.values[0] for p in _params()}
    return [pytest.param((anchors[a], anchors[b]), id=f"{a}~{b}") for a, b in FS_PAIRS
            if a in anchors and b in anchors]


def _row_attrs(row: dict[str, Any]) -> tuple[Any, ...]:
    """What the filesystem holds for a path, mtime aside (symlink modes mean nothing on Linux)."""
    mode = None if row["type"] == "symlink" else row["mode"]
    return (row["type"], mode, row["uid"], row["gid"], row.get("size"), row.get("sha256"),
            row.get("link"), row.get("devmajor"), row.get("devminor"))


@pytest.mark.parametrize("pair", _fs_pair_params())
def test_filesystem_differences_are_the_real_ones(pair: Any, read: Any) -> None:
    """paths-missing, paths-added and paths-changed name exactly the paths whose unpacked files differ."""
    from imageforensics.diff._engine import diff_images

    (rec_a, (ea, ia)), (rec_b, (eb, ib)) = pair
    images = []
    for entry, image in ((ea, ia), (eb, ib)):
        truth = config_truth(image["reports"]["skopeo_config_raw"])
        arc = read(entry["path"])
        images.append((arc, next(i for i in arc.images if str(i.image_id) == truth.image_id)))
    report = diff_images(images[0][0], images[0][1], images[1][0], images[1][1])
    disk_a = {r["path"]: r for r in read_report("rootfs", rec_a["path"])["entries"]}
    disk_b = {r["path"]: r for r in read_report("rootfs", rec_b["path"])["entries"]}

    def reported(code: str) -> set[str]:
        return {p.lstrip("/") for f in report.findings if f.code == code for p in f.paths}

    only_a, only_b = set(disk_a) - set(disk_b), set(disk_b) - set(disk_a)
    # A builder's empty mount points (BuildKit's /dev, /proc, /sys) are said apart, as builder-artefacts.
    artefacts = reported("builder-artefacts")
    assert artefacts <= only_a | only_b
    for path in artefacts:
        row = disk_a.get(path) or disk_b[path]
        inside = [p for p in (disk_a if path in disk_a else disk_b) if p.startswith(path + "/")]
        assert (row["type"] == "dir" and all(disk_a.get(p, disk_b.get(p, {})).get("size") == 0 for p in inside)) \
            or (row["type"] == "file" and row.get("size") == 0), path
    assert reported("paths-missing") | (artefacts & only_a) == only_a
    assert reported("paths-added") | (artefacts & only_b) == only_b
    both = set(disk_a) & set(disk_b)
    assert reported("paths-changed") == {p for p in both if _row_attrs(disk_a[p]) != _row_attrs(disk_b[p])}
    # Leaves keep their tar mtimes on disk, so a leaf that differs only in mtime must be reported so.
    mtime_only = {p for p in both if disk_a[p]["type"] in LEAVES and _row_attrs(disk_a[p]) == _row_attrs(disk_b[p])
                  and disk_a[p]["mtime_ns"] != disk_b[p]["mtime_ns"]}
    assert mtime_only <= reported("paths-mtime-differ")
    assert report.verdict_kind != "identical"
