"""One way to name an image, in every subcommand and on standard input: ``a.tar:name:tag``, ``a.tar@N``,
``--platform``, skopeo's transports, and one line for images that are not in a file."""

from __future__ import annotations

import functools
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from imageforensics.cli import _main as cli
from imageforensics.errors import SelectionError
from imageforensics.read import Selector, parse_selector
from tests.archivekit import legacy, oci, simple_image, tar_of, write_dir
from tools.fuzz import limit_cpu

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def two(tmp_path) -> Path:
    path = tmp_path / "two.tar"
    path.write_bytes(tar_of(legacy([simple_image("local/app:1", "a"), simple_image("local/app:2", "b")])))
    return path


def image_id_of(capsys, *args: str) -> str:
    """The image ID inspect --format json shows for the one image a selector names."""
    assert cli.main(["inspect", "--format", "json", "-q", *args]) == 0
    images = json.loads(capsys.readouterr().out)["images"]
    assert len(images) == 1
    return images[0]["image_id"]


def test_inspect_and_snapshot_take_the_selectors_diff_takes(two, tmp_path, capsys):
    first, second = image_id_of(capsys, f"{two}@0"), image_id_of(capsys, f"{two}:local/app:2")
    assert first != second
    assert image_id_of(capsys, f"docker-archive:{two}@1") == image_id_of(capsys, f"docker-archive:{two}:local/app:2") == second
    snap = tmp_path / "one.json.gz"
    assert cli.main(["snapshot", f"{two}:local/app:2", "-o", str(snap), "-q"]) == 0
    held = json.loads(gzip.decompress(snap.read_bytes()))["archive"]["images"]
    assert [image["image_id"] for image in held] == [second]
    # The diff of the two selections of one archive: they differ.
    assert cli.main(["diff", f"{two}@0", f"docker-archive:{two}:local/app:2", "-q"]) == 1
    assert cli.main(["diff", f"{two}@1", f"{two}:local/app:2", "-q"]) == 0


def test_without_a_choice_inspect_shows_every_image_and_diff_asks(two, capsys):
    assert cli.main(["inspect", "--format", "json", "-q", str(two)]) == 0
    assert len(json.loads(capsys.readouterr().out)["images"]) == 2
    assert cli.main(["diff", str(two), str(two), "-q"]) == 2
    assert "holds several images; add :name:tag or @N" in capsys.readouterr().err


def test_oci_and_dir_transports_name_directories(tmp_path, capsys):
    layout = tmp_path / "layout"
    write_dir(layout, oci([simple_image("local/app:1")], compress=False))
    plain = image_id_of(capsys, str(layout))
    assert image_id_of(capsys, f"oci:{layout}") == image_id_of(capsys, f"dir:{layout}") == plain
    archive = tmp_path / "image.oci.tar"
    archive.write_bytes(tar_of(oci([simple_image("local/app:1")], compress=False)))
    assert image_id_of(capsys, f"oci-archive:{archive}") == plain


@pytest.mark.parametrize("spec, says", [
    ("docker://nginx:1.25", "docker pull nginx:1.25 && docker save nginx:1.25 | imageforensics inspect -"),
    ("docker-daemon:app:latest", "docker save app:latest | imageforensics inspect -"),
    ("containers-storage:localhost/app", "podman save localhost/app | imageforensics inspect -"),
    ("ghcr.io/owner/app:2", "docker save ghcr.io/owner/app:2 | imageforensics inspect -"),
    ("nginx:1.25", "docker save nginx:1.25 | imageforensics inspect -"),
])
def test_images_not_in_a_file_get_one_line_and_the_command_that_makes_one(spec, says, capsys):
    for argv in (["inspect", spec], ["snapshot", spec, "-o", "x.json"], ["diff", spec, "b.tar"]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "reads files only" in err[0] and says in err[0], err


def test_a_missing_file_is_still_a_missing_file(tmp_path, capsys):
    assert cli.main(["inspect", str(tmp_path / "app.tar:latest")]) == 2
    err = capsys.readouterr().err
    assert "app.tar" in err and "reads files only" not in err


def test_selector_grammar():
    assert parse_selector("-@1") == Selector("-", index=1)
    assert parse_selector("-:local/app:2") == Selector("-", reference="local/app:2")
    assert parse_selector("docker-archive:-@1") == Selector("-", index=1, transport="docker-archive")
    assert parse_selector("dir:/no/such@1") == Selector("/no/such@1", transport="dir")  # dir: names one image
    with pytest.raises(SelectionError, match="expected a path after oci:"):
        parse_selector("oci:")
    with pytest.raises(SelectionError, match="expected -:name:tag or -@N"):
        parse_selector("-@x")


def test_an_existing_file_named_like_a_transport_is_that_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("docker:odd").write_bytes(b"")
    assert parse_selector("docker:odd") == Selector("docker:odd")


def run(*args: str, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "imageforensics", *args], input=stdin, cwd=ROOT, capture_output=True,
                          preexec_fn=functools.partial(limit_cpu, 120))


def test_an_image_of_standard_input_is_not_taken_for_an_option(two):
    data = two.read_bytes()
    by_index = run("inspect", "--format", "json", "-q", "-@1", stdin=data)
    assert by_index.returncode == 0, by_index.stderr
    by_ref = run("inspect", "--format", "json", "-q", "-:local/app:2", stdin=data)
    assert by_ref.returncode == 0, by_ref.stderr
    assert json.loads(by_index.stdout)["images"] == json.loads(by_ref.stdout)["images"]
    assert run("-@1", f"{two}:local/app:2", "-q", stdin=data).returncode == 0
    assert run(f"{two}@0", "-@1", "-q", stdin=data).returncode == 1


def test_standard_input_on_a_terminal_is_refused():
    import pty

    leader, follower = pty.openpty()
    try:
        out = subprocess.run([sys.executable, "-m", "imageforensics", "inspect", "-"], stdin=follower, cwd=ROOT,
                             capture_output=True, timeout=60)
    finally:
        import os

        os.close(leader)
        os.close(follower)
    assert out.returncode == 2
    assert out.stderr.decode().strip() == ("imageforensics: not reading an archive from a terminal: pipe one in "
                                           "(docker save IMAGE | imageforensics inspect -) or name a file")
