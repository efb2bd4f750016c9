"""Hostile references: manifests naming absent members, paths escaping the archive, the manifest itself, and links.

Nothing is ever followed out of the archive (or out of the directory being
read): an escaping, absolute, looping or dangling reference is a finding and
an absent layer, or, for the config and manifest that nothing can replace,
a one-line error. Cases in read/test_archive.py (a symlinked layer.tar escaping,
absolute, looping on itself, dangling, to a directory; a directory's symlink
out of it; a FIFO) are not repeated.
"""

from __future__ import annotations

import io
import json
import os
import threading
from pathlib import Path

import pytest

from tests.archivekit import Dir, Link, legacy, oci, simple_image, tar_of, write_dir
from imageforensics.audit import image_findings
from imageforensics.errors import InputError
from imageforensics.model import Archive
from imageforensics.read._archive import read_archive, read_stream
from tools.fuzz import guarded

IMG = simple_image()
LEGACY = legacy([IMG])
ITEM = json.loads(dict(LEGACY)["manifest.json"])[0]
CONFIG = ITEM["Config"]
LAYERS = ITEM["Layers"]
OCI = oci([IMG])
OCI_MANIFEST = [n for n, c in OCI if b"image.manifest.v1" in c[:100]][0]
OCI_LAYERS = [n for n, c in OCI if c[:2] == b"\x1f\x8b"]


def read(data: bytes) -> Archive:
    return guarded(lambda: read_stream(io.BytesIO(data), "t.tar"))  # type: ignore[arg-type]


def error(data: bytes) -> str:
    with pytest.raises(InputError) as info:
        read(data)
    assert "\n" not in str(info.value)
    return str(info.value)


def with_item(**fields: object) -> bytes:
    item = {**ITEM, **fields}
    return tar_of([(n, json.dumps([item]).encode() if n == "manifest.json" else c) for n, c in LEGACY])


def swapped(members: list, name: str, content: object, *extra: tuple[str, object]) -> bytes:
    return tar_of([(n, c) for n, c in members if n != name] + [(name, content), *extra])


def codes(findings: object) -> set[str]:
    return {f.code for f in findings}  # type: ignore[attr-defined]


def absent_layers(archive: Archive) -> list[object]:
    return [f.evidence_value("layer") for f in archive.images[0].findings if f.code == "layer-absent"]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("../../etc/passwd", "t.tar: ../../etc/passwd: absent: manifest.json[0] names it as the image config"),
        ("/etc/passwd", "t.tar: /etc/passwd: absent: manifest.json[0] names it as the image config"),
        ("nope.json", "t.tar: nope.json: absent: manifest.json[0] names it as the image config"),
        ("manifest.json", "t.tar: manifest.json: expected the image config to be a JSON object, found an array"),
        (f"{LAYERS[0].split('/')[0]}", f"t.tar: {LAYERS[0].split('/')[0]}: expected image config (JSON), found a directory"),
    ],
)
def test_config_references_that_cannot_be_the_config(config: str, expected: str) -> None:
    assert error(with_item(Config=config)) == expected


@pytest.mark.parametrize(
    ("layers", "absent"),
    [
        (["../../etc/passwd", "/etc/shadow"], [0, 1]),
        ([LAYERS[0], "nope/layer.tar"], [1]),
        (["/" + LAYERS[0], LAYERS[1]], [0]),
        ([LAYERS[0], LAYERS[1].split("/")[0]], [1]),
    ],
)
def test_layer_references_escaping_absolute_or_absent_are_absent_layers(layers: list[str], absent: list[int]) -> None:
    archive = read(with_item(Layers=layers))
    assert absent_layers(archive) == absent
    assert [layer is None for layer in archive.images[0].layers] == [i in absent for i in range(len(layers))]


def test_the_manifest_named_as_a_layer_is_an_unreadable_layer() -> None:
    archive = read(with_item(Layers=["manifest.json", LAYERS[1]]))
    first = archive.images[0].layers[0]
    assert first is not None and not first.readable and first.problem.startswith("not a tar archive")
    assert "layer-unreadable" in codes(image_findings(archive.images[0]))


@pytest.mark.parametrize(
    ("link", "extra", "code"),
    [
        (Link("../x/layer.tar"), [("x/layer.tar", Link(f"../{LAYERS[1]}"))], "member-link-loop"),
        (Link(LAYERS[1], hard=True), [], "member-link-loop"),
        (Link("/etc/passwd", hard=True), [], "member-link-escapes"),
        (Link("../../x", hard=True), [], "member-link-escapes"),
        (Link("../c0/layer.tar"), [(f"c{i}/layer.tar", Link(f"../c{i + 1}/layer.tar")) for i in range(60)], "member-link-loop"),
    ],
)
def test_layer_links_in_loops_long_chains_and_hardlinks_out(link: Link, extra: list, code: str) -> None:
    archive = read(swapped(LEGACY, LAYERS[1], link, *extra))
    assert code in codes(archive.findings)
    assert absent_layers(archive) == [1]
    assert archive.images[0].layers[0] is not None


def test_a_layer_reached_through_a_chain_within_the_hop_limit_is_read() -> None:
    chain = [(f"c{i}/layer.tar", Link(f"../c{i + 1}/layer.tar")) for i in range(10)]
    data = swapped(LEGACY, LAYERS[1], Link("../c0/layer.tar"), *chain, ("c10/layer.tar", dict(LEGACY)[LAYERS[1]]))
    archive = read(data)
    assert absent_layers(archive) == [] and archive.images[0].layers[1] is not None


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (Link("../manifest.json"), "t.tar: manifest.json: is a link that does not resolve inside the archive"),
        (Link("manifest.json"), "t.tar: manifest.json: is a link that does not resolve inside the archive"),
        (Link("/etc/passwd", hard=True), "t.tar: manifest.json: is a link that does not resolve inside the archive"),
        (Dir(), "t.tar: manifest.json: expected manifest.json (JSON), found a directory"),
    ],
)
def test_manifest_json_as_a_link_out_a_loop_or_a_directory(content: object, expected: str) -> None:
    assert error(swapped(LEGACY, "manifest.json", content)) == expected


def test_a_config_linked_out_of_the_archive_names_the_link_problem() -> None:
    msg = error(swapped(LEGACY, CONFIG, Link("/etc/passwd")))
    assert msg == f"t.tar: {CONFIG}: absent (member-link-escapes): manifest.json[0] names it as the image config"


def test_an_oci_manifest_blob_linked_out_is_absent() -> None:
    msg = error(swapped(OCI, OCI_MANIFEST, Link("../../../etc/passwd")))
    assert msg == f"t.tar: index.json: no image could be read: index.json manifests[0] ({OCI_MANIFEST[13:25]}) is absent"


@pytest.mark.parametrize(("content", "code"), [(Link("/dev/zero"), "member-link-escapes"), (Dir(), None), (None, None)])
def test_an_oci_layer_blob_linked_out_a_directory_or_missing_is_an_absent_layer(content: object, code: str | None) -> None:
    members = [(n, c) for n, c in OCI if n != OCI_LAYERS[0]] + ([(OCI_LAYERS[0], content)] if content is not None else [])
    archive = read(tar_of(members))
    assert (code in codes(archive.findings)) if code else not {"member-link-escapes"} & codes(archive.findings)
    image = archive.images[0]
    index = [i for i, layer in enumerate(image.layers) if layer is None]
    assert len(index) == 1 and [f.code for f in image.findings if f.code == "layer-absent"] == ["layer-absent"]


# --- directories: nothing outside the directory is read --------------------------------


def test_a_directory_whose_manifest_names_a_config_outside_it(tmp_path: Path) -> None:
    top = tmp_path / "save"
    outside = tmp_path / "secret.json"
    outside.write_bytes(dict(LEGACY)[CONFIG])
    item = {**ITEM, "Config": "../secret.json"}
    write_dir(top, [(n, json.dumps([item]).encode() if n == "manifest.json" else c) for n, c in LEGACY])
    with pytest.raises(InputError) as info:
        guarded(lambda: read_archive(str(top)))
    assert str(info.value) == f"{top}: ../secret.json: absent: manifest.json[0] names it as the image config"


def test_a_directory_with_symlink_loops_and_a_layer_linked_to_a_directory_outside(tmp_path: Path) -> None:
    top = tmp_path / "save"
    (tmp_path / "elsewhere").mkdir()
    members = [(n, c) for n, c in LEGACY if n != LAYERS[1]]
    members += [(LAYERS[1], Link(str(tmp_path / "elsewhere"))), ("loop/a", Link("b")), ("loop/b", Link("a")), ("up", Link(".."))]
    write_dir(top, members)
    archive = guarded(lambda: read_archive(str(top)))
    assert "member-link-escapes" in codes(archive.findings)
    assert absent_layers(archive) == [1]


def test_a_directory_with_a_fifo_named_as_the_layer_is_not_opened(tmp_path: Path) -> None:
    top = tmp_path / "save"
    write_dir(top, [(n, c) for n, c in LEGACY if n != LAYERS[1]])
    fifo = top / LAYERS[1]
    os.mkfifo(fifo)
    # Opening the FIFO to read it would block forever, and a hang detector counting CPU time cannot see
    # a blocked thread. So a writer waits on it: should the reader open it, the writer's open returns,
    # says so and closes, and the reader finds it empty instead of blocking.
    opened = threading.Event()

    def writer() -> None:
        fd = os.open(fifo, os.O_WRONLY)  # returns once something opens the FIFO to read it
        opened.set()
        os.close(fd)

    waiting = threading.Thread(target=writer, daemon=True)
    waiting.start()
    try:
        archive = guarded(lambda: read_archive(str(top)))
        assert not opened.is_set()
    finally:
        unblock = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # lets the writer's open return
        waiting.join()
        os.close(unblock)
    assert "member-special" in codes(archive.findings)
    assert absent_layers(archive) == [1]
