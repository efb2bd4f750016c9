"""``ls``, ``stat`` and ``cat`` on synthetic archives: every input kind, selector, link and whiteout."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from imageforensics.cli import _main as cli
from imageforensics.read import read_input
from imageforensics.snapshot import write_snapshot
from tests.archivekit import Img, legacy, oci, tar_of, write_dir
from tests.cli.test_main import one_error_line, run


def _layer(*members: tuple[str, str, object]) -> bytes:
    """A layer tar of (kind, name, value) members: file (bytes), dir, symlink/hardlink (target), whiteout."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for kind, name, value in members:
            info = tarfile.TarInfo(name)
            info.mtime = 0
            if kind == "file":
                assert isinstance(value, bytes)
                info.size, info.mode = len(value), 0o644
                tf.addfile(info, io.BytesIO(value))
                continue
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif kind in ("symlink", "hardlink"):
                info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
                info.linkname, info.mode = str(value), 0o777 if kind == "symlink" else 0o644
            elif kind == "whiteout":
                head, _, base = name.rpartition("/")
                info.name = f"{head}/.wh.{base}" if head else f".wh.{base}"
            tf.addfile(info)
    return out.getvalue()


BASE = _layer(("dir", "etc", None), ("file", "etc/app.conf", b"v1\n"), ("file", "etc/old", b"old\n"),
              ("file", "etc/shared", b"shared bytes\n"), ("dir", "opt", None), ("file", "opt/x", b"x\n"))
TOP = _layer(("file", "etc/app.conf", b"v2 first\n"), ("file", "etc/app.conf", b"v2\n"),
             ("hardlink", "etc/alias", "etc/shared"), ("symlink", "etc/link", "app.conf"),
             ("symlink", "etc/abs", "/etc/app.conf"), ("symlink", "etc/out", "../../../../etc/app.conf"),
             ("symlink", "etc/dangling", "nowhere"), ("whiteout", "etc/old", None),
             ("file", "etc/esc\x1bape", b"e\n"))
IMAGE = Img(layers=[BASE, TOP], tags=["local/inside:1"], history=[
    {"created": "2021-03-11T15:19:20Z", "created_by": "/bin/sh -c #(nop) ADD file:abc in / "},
    {"created": "2021-03-11T15:19:21Z", "created_by": '/bin/sh -c #(nop)  CMD ["sh"]', "empty_layer": True},
    {"created": "2021-03-11T15:19:22Z", "created_by": "RUN configure # buildkit"},
])


# A third layer of symlinks for ``cat`` to resolve as the runtime does (containerd's ``fs.RootPath``).
LINKS = _layer(("file", "etc/passwd", b"root:x:0:0\n"), ("symlink", "e", "/etc"), ("symlink", "up", "../../.."),
               ("symlink", "loop1", "loop2"), ("symlink", "loop2", "/loop1/x"), ("symlink", "etc/gone", "old"))
LINKED = Img(layers=[BASE, TOP, LINKS], tags=["local/linked:1"])


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("linked") / "l.tar"
    path.write_bytes(tar_of(legacy([LINKED])))
    return path


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("inside") / "a.tar"
    path.write_bytes(tar_of(legacy([IMAGE])))
    return path


def _main(capsysbinary: pytest.CaptureFixture[bytes], *args: str) -> tuple[int, bytes, str]:
    status = cli.main(list(args))
    out, err = capsysbinary.readouterr()
    return status, out, err.decode()


def test_ls_merged_lists_the_merged_filesystem_like_tar_tv(archive: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    status, out, _ = _main(capsysbinary, "ls", str(archive))
    assert status == 0
    assert out.decode().splitlines() == [
        "drwxr-xr-x 0/0          0 1970-01-01 00:00:00 /etc",
        "lrwxrwxrwx 0/0          0 1970-01-01 00:00:00 /etc/abs -> /etc/app.conf",
        "-rw-r--r-- 0/0         13 1970-01-01 00:00:00 /etc/alias",
        "-rw-r--r-- 0/0          3 1970-01-01 00:00:00 /etc/app.conf",
        "lrwxrwxrwx 0/0          0 1970-01-01 00:00:00 /etc/dangling -> nowhere",
        "-rw-r--r-- 0/0          2 1970-01-01 00:00:00 /etc/esc\\x1bape",
        "lrwxrwxrwx 0/0          0 1970-01-01 00:00:00 /etc/link -> app.conf",
        "lrwxrwxrwx 0/0          0 1970-01-01 00:00:00 /etc/out -> ../../../../etc/app.conf",
        "-rw-r--r-- 0/0         13 1970-01-01 00:00:00 /etc/shared",
        "drwxr-xr-x 0/0          0 1970-01-01 00:00:00 /opt",
        "-rw-r--r-- 0/0          2 1970-01-01 00:00:00 /opt/x",
    ]


def test_ls_long_names_the_step_and_patterns_choose_paths(archive: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    # Options may come between the input and the patterns.
    status, out, _ = _main(capsysbinary, "ls", str(archive), "--long", "/etc/app.*", "opt")
    assert status == 0
    assert out.decode().splitlines() == [
        "-rw-r--r-- 0/0          3 1970-01-01 00:00:00 /etc/app.conf\tstep 2 (layer 1) RUN configure",
        "drwxr-xr-x 0/0          0 1970-01-01 00:00:00 /opt\tstep 0 (layer 0) ADD file:abc in /",
        "-rw-r--r-- 0/0          2 1970-01-01 00:00:00 /opt/x\tstep 0 (layer 0) ADD file:abc in /",
    ]


def test_ls_of_one_layer_shows_it_as_stored(archive: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    by_layer = _main(capsysbinary, "ls", str(archive), "--layer", "1")
    by_step = _main(capsysbinary, "ls", str(archive), "--step", "2")
    assert by_layer == by_step and by_layer[0] == 0
    lines = by_layer[1].decode().splitlines()
    assert lines[:2] == ["-rw-r--r-- 0/0          9 1970-01-01 00:00:00 /etc/app.conf",
                         "-rw-r--r-- 0/0          3 1970-01-01 00:00:00 /etc/app.conf"]
    assert "hrw-r--r-- 0/0          0 1970-01-01 00:00:00 /etc/alias link to /etc/shared" in lines
    assert any(line.startswith("w--------- ") and " /etc/old (whiteout" in line for line in lines)


def test_ls_json_lines_keep_exact_values(archive: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    status, out, _ = _main(capsysbinary, "ls", str(archive), "--format", "json", "/etc/alias", "/etc/esc*")
    rows = [json.loads(line) for line in out.decode("ascii").splitlines()]
    # Paths spelled as the diff and inspect spell them, from the root.
    assert status == 0 and [r["path"] for r in rows] == ["/etc/alias", "/etc/esc\x1bape"]
    alias = rows[0]
    assert alias["mode_octal"] == "0644" and alias["mode"] == 0o644
    assert (alias["kind"], alias["layer"], alias["content_layer"], alias["step"]) == ("file", 1, 0, 2)
    assert alias["content_digest"] == "sha256:" + hashlib.sha256(b"shared bytes\n").hexdigest()
    assert alias["created_by"] == "RUN configure # buildkit"


@pytest.mark.parametrize("args, expected", [
    (("--step", "1"), "--step 1 wrote no layer (empty_layer); steps with a layer: 0, 2"),
    (("--step", "7"), "--step 7: the image has 3 history steps (0 to 2)"),
    (("--layer", "2"), "--layer 2: the image has 2 layers (0 to 1)"),
])
def test_ls_of_a_layer_that_is_not_there_is_one_line(archive: Path, capsysbinary: pytest.CaptureFixture[bytes],
                                                    args: tuple[str, ...], expected: str) -> None:
    status, out, err = _main(capsysbinary, "ls", str(archive), *args)
    assert (status, out) == (2, b"")
    assert err == f"imageforensics: {expected}\n"


def test_stat_follows_a_path_through_the_layers(archive: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    status, out, _ = _main(capsysbinary, "stat", str(archive), "/etc/old", "--format", "json")
    doc = json.loads(out)
    assert status == 0
    assert [(e["action"], e["layer"], e["step"], e["entry"]["kind"]) for e in doc["events"]] == [
        ("wrote", 0, 0, "file"), ("removed", 1, 2, "whiteout")]
    assert doc["merged"] is None and doc["removed_by"]["layer"] == 1

    _, out, _ = _main(capsysbinary, "stat", str(archive), "etc/shared", "--format", "json")
    doc = json.loads(out)
    assert doc["path"] == "/etc/shared"
    assert [(e["action"], e["entry"]["path"]) for e in doc["events"]] == [("wrote", "/etc/shared"),
                                                                          ("linked-to", "/etc/alias")]
    assert doc["merged"]["names"] == ["/etc/alias", "/etc/shared"]

    _, out, _ = _main(capsysbinary, "stat", str(archive), "/etc/app.conf")
    text = out.decode()
    assert text.splitlines()[:3] == ["/etc/app.conf", "  wrote     step 0 (layer 0) ADD file:abc in /",
                                     "            -rw-r--r-- 0/0          3 1970-01-01 00:00:00 /etc/app.conf"]
    assert text.count("  changed   step 2 (layer 1) RUN configure") == 2
    assert "merged: -rw-r--r-- 0/0          3 1970-01-01 00:00:00 /etc/app.conf" in text


def test_stat_says_where_the_runtime_resolves_a_path(linked: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    status, out, _ = _main(capsysbinary, "stat", str(linked), "/e/passwd")
    assert status == 0
    assert out.decode().splitlines() == ["/e/passwd", "  no layer names this path", "merged: absent",
                                         "  leads to /etc/passwd inside the image (via /e -> /etc)"]
    _, out, _ = _main(capsysbinary, "stat", str(linked), "/etc/out", "--format", "json")
    assert json.loads(out)["leads_to"] == {"path": "/etc/app.conf", "link": "/etc/out",
                                           "target": "../../../../etc/app.conf", "loops": False}
    _, out, _ = _main(capsysbinary, "stat", str(linked), "/loop2/y")
    assert out.decode().splitlines()[-1] == "  its symlinks never end (/loop2 -> /loop1/x: a loop, or too many to follow)"
    _, out, _ = _main(capsysbinary, "stat", str(linked), "/etc/app.conf", "--format", "json")
    assert json.loads(out)["leads_to"] is None


@pytest.mark.parametrize("path, data", [
    ("/etc/app.conf", b"v2\n"),          # the last of a path listed twice in one layer
    ("etc/link", b"v2\n"),               # a relative symlink, followed within the image
    ("/etc/abs", b"v2\n"),               # an absolute one: the image's root
    ("/etc/out", b"v2\n"),               # ``..`` stops at the root, as the runtime resolves it
    ("/e/passwd", b"root:x:0:0\n"),      # a symlinked parent directory, absolute target
    ("/up/etc/passwd", b"root:x:0:0\n"),  # a symlink to above the root is the root
    ("/up/e/../etc/abs", b"v2\n"),        # ``..`` after a symlink: on the resolved path
    ("/etc/alias", b"shared bytes\n"),   # a hardlink to a lower layer's file
    ("/opt/x", b"x\n"),
])
def test_cat_gives_the_merged_files_bytes(linked: Path, capsysbinary: pytest.CaptureFixture[bytes], path: str,
                                          data: bytes) -> None:
    assert _main(capsysbinary, "cat", str(linked), path) == (0, data, "")


@pytest.mark.parametrize("path, expected", [
    ("/etc/dangling", "/etc/dangling: a symlink to /etc/nowhere (/etc/dangling -> nowhere), which is not in the image"),
    ("/etc/gone", "/etc/gone: a symlink to /etc/old (/etc/gone -> old), which is not in the image"),
    ("/e/nope", "/e/nope: a symlink to /etc/nope (/e -> /etc), which is not in the image"),
    ("/loop1", "/loop1: its symlinks never end (/loop1 -> loop2: a loop, or more than 255 to follow)"),
    ("/loop2/y", "/loop2/y: its symlinks never end (/loop2 -> /loop1/x: a loop, or more than 255 to follow)"),
    ("/up", "/up: a directory (the image's root, via /up -> ../../..)"),
    ("/e", "/e: a directory"),
    ("/etc/old", "/etc/old: not in the merged filesystem (layer 1 removed it)"),
    ("/etc", "/etc: a directory"),
    ("/nope", "/nope: not in the merged filesystem"),
])
def test_cat_refuses_what_is_not_a_file_of_the_image(linked: Path, capsysbinary: pytest.CaptureFixture[bytes],
                                                     path: str, expected: str) -> None:
    assert _main(capsysbinary, "cat", str(linked), path) == (2, b"", f"imageforensics: {expected}\n")


def test_cat_reads_every_input_kind(tmp_path: Path, archive: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    compressed = tmp_path / "a.tar.gz"
    compressed.write_bytes(gzip.compress(archive.read_bytes(), mtime=0))
    layout = tmp_path / "layout"
    write_dir(layout, oci([IMAGE], compress=True))
    two = tmp_path / "two.tar"
    other = Img(layers=[_layer(("file", "etc/app.conf", b"other\n"))], tags=["local/other:1"])
    two.write_bytes(tar_of(legacy([other, IMAGE])))
    for spec in (compressed, layout, f"{two}:local/inside:1", f"{two}@1"):
        assert _main(capsysbinary, "cat", str(spec), "/etc/alias") == (0, b"shared bytes\n", ""), spec
    assert _main(capsysbinary, "cat", f"{two}@0", "/etc/app.conf") == (0, b"other\n", "")
    piped = run("cat", "-", "/etc/app.conf", stdin=archive.read_bytes())
    assert (piped.returncode, piped.stdout) == (0, b"v2\n")
    piped_gz = run("ls", "-", "/etc/app.conf", stdin=compressed.read_bytes())
    assert piped_gz.stdout == b"-rw-r--r-- 0/0          3 1970-01-01 00:00:00 /etc/app.conf\n"


def test_cat_from_standard_input_says_what_one_pass_cannot_give(archive: Path) -> None:
    # The hardlink's bytes are another name's, which streamed past unkept.
    piped = run("cat", "-", "/etc/alias", stdin=archive.read_bytes())
    assert piped.returncode == 2 and "standard input is read once" in one_error_line(piped)


def test_a_snapshot_lists_and_stats_but_holds_no_contents(tmp_path: Path, archive: Path,
                                                          capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    snap = tmp_path / "a.json"
    snap.write_bytes(write_snapshot(read_input(str(archive))))
    assert _main(capsysbinary, "ls", str(snap)) == _main(capsysbinary, "ls", str(archive))
    assert _main(capsysbinary, "stat", str(snap), "/etc/old") == _main(capsysbinary, "stat", str(archive), "/etc/old")
    status, out, err = _main(capsysbinary, "cat", str(snap), "/etc/app.conf")
    assert (status, out) == (2, b"")
    assert err == f"imageforensics: {snap}: a snapshot holds no file contents (metadata and digests only)\n"


def test_cat_notices_an_archive_changed_since_it_was_listed(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    from imageforensics.diff import inside
    from imageforensics.read import copy_file

    path = tmp_path / "a.tar"
    path.write_bytes(tar_of(legacy([IMAGE])))
    image = read_input(str(path)).images[0]
    where = inside.locate_file(image, "etc/app.conf")
    changed = tar_of(legacy([Img(layers=[BASE, TOP.replace(b"v2\n", b"v3\n")], tags=["local/inside:1"],
                                 history=IMAGE.history)]))
    path.write_bytes(changed)
    layer = image.layers[where.layer]
    assert layer is not None
    with pytest.raises(Exception, match="changed while being read"):
        copy_file(str(path), layer, where.member_path, where.occurrence, where.entry, io.BytesIO())


def test_platform_chooses_the_image_of_a_multi_platform_layout(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    arm = Img(layers=[_layer(("file", "etc/arch", b"arm64\n"))], tags=["local/m:1"], architecture="arm64")
    amd = Img(layers=[_layer(("file", "etc/arch", b"amd64\n"))], tags=["local/m:1"])
    layout = tmp_path / "multi.tar"
    layout.write_bytes(tar_of(oci([amd, arm])))
    assert _main(capsysbinary, "cat", str(layout), "/etc/arch", "--platform", "linux/arm64") == (0, b"arm64\n", "")
    status, out, _ = _main(capsysbinary, "stat", str(layout), "--platform", "linux/amd64", "/etc/arch", "--format", "json")
    assert status == 0 and json.loads(out)["merged"]["entry"]["content_digest"] == "sha256:" + hashlib.sha256(b"amd64\n").hexdigest()
    status, out, err = _main(capsysbinary, "ls", str(layout))
    assert (status, out) == (2, b"") and "linux/arm64" in err and "--platform" in err


def test_ls_and_stat_json_spell_big_times_as_inspect_does(tmp_path: Path,
                                                          capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    # A PAX mtime with a fraction: nanoseconds beyond 2^53, which jq 1.6 and JavaScript would round.
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo("srv/data")
        info.size, info.mode, info.mtime = 2, 0o600, 1796282453.25
        tf.addfile(info, io.BytesIO(b"d\n"))
    path = tmp_path / "t.tar"
    path.write_bytes(tar_of(legacy([Img(layers=[out.getvalue()], tags=["local/t:1"])])))

    status, listed, _ = _main(capsysbinary, "ls", str(path), "--format", "json")
    (row,) = [json.loads(line) for line in listed.decode("ascii").splitlines()]
    assert status == 0
    assert (row["path"], row["mode"], row["mode_octal"]) == ("/srv/data", 0o600, "0600")
    assert (row["mtime_ns"], row["mtime"]) == ("1796282453250000000", "2026-12-03T07:20:53.25Z")

    _, stat_out, _ = _main(capsysbinary, "stat", str(path), "/srv/data", "--format", "json")
    merged = json.loads(stat_out)["merged"]["entry"]
    assert {k: merged[k] for k in ("path", "mtime_ns", "mtime", "mode_octal")} == {
        k: row[k] for k in ("path", "mtime_ns", "mtime", "mode_octal")}

    _, inspected, _ = _main(capsysbinary, "inspect", str(path), "--format", "json")
    (entry,) = json.loads(inspected)["images"][0]["layers"][0]["entries"]
    assert {k: entry.get(k) for k in row if k in entry} == {k: row[k] for k in row if k in entry}
