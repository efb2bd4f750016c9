"""The real layer tars of the corpus in ../shared/corpus, read by read_layer (skipped when absent).

Expected listings, modes and times are those INDEX.md gives or tarfile reads independently.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
from decimal import Decimal
from pathlib import Path

import pytest

from imageforensics.model import Digest, Layer
from imageforensics.read._layer_blob import read_layer

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
TEST_TARS = "GoogleContainerTools__container-diff/util/testTars/"
ZSTD = shutil.which("zstd")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def codes(layer: Layer) -> list[str]:
    return [code for code, _ in layer.anomalies]


def corpus_file(relative: str) -> Path:
    path = CORPUS / relative
    if not path.exists():
        pytest.skip(f"corpus file absent: {relative}")
    return path


def read_corpus(relative: str) -> tuple[Layer, bytes]:
    path = corpus_file(relative)
    data = path.read_bytes()
    with path.open("rb") as raw:
        layer = read_layer(raw, archive=path.name, member=path.name)
    assert layer.blob_digest == Digest.sha256(sha(data))
    return layer, data


@pytest.mark.parametrize(
    ("name", "listing"),
    [
        ("la-croix1.tar", [("file", "passionfruit.txt"), ("file", "lime.txt"), ("file", "peach-pear.txt")]),
        ("la-croix2.tar", [("file", "passionfruit.txt"), ("file", "lime.txt"), ("dir", "nest"), ("file", "peach-pear.txt"), ("file", "nest/f1.txt")]),
        ("la-croix-update.tar", [("file", "lime.txt")]),
        ("la-croix-dir-update.tar", [("dir", "nest"), ("file", "nest/f2.txt")]),
        ("la-croix-wh.tar", [("dir", "nest2"), ("whiteout", "lime.txt"), ("whiteout", "nest"), ("file", "nest2/hello")]),
        ("la-croix3-actual/nested-dir.tar", [("file", "f2.txt")]),
    ],
)
def test_corpus_container_diff_tars(name: str, listing: list[tuple[str, str]]) -> None:
    layer, data = read_corpus(TEST_TARS + name)
    assert [(e.kind, e.path) for e in layer.entries] == listing
    assert layer.diff_id == Digest.sha256(sha(data)) and layer.readable and layer.anomalies == ()
    # INDEX.md: "PAX atime records" -- PAX mtimes carry fractions; compare exactly.
    with tarfile.open(corpus_file(TEST_TARS + name)) as tar:
        for entry, info in zip(layer.entries, [m for m in tar.getmembers() if not m.name.split("/")[-1].startswith(".wh.")]):
            text = info.pax_headers.get("mtime")
            if text is not None:
                assert entry.mtime_ns == int(Decimal(text) * 10**9)


def test_corpus_nested_tar_is_content_not_listed() -> None:
    layer, _ = read_corpus(TEST_TARS + "la-croix3.tar")
    with tarfile.open(corpus_file(TEST_TARS + "la-croix3.tar")) as tar:
        handle = tar.extractfile("nested-dir.tar")
        assert handle is not None
        nested = handle.read()
    by_path = {e.path: e for e in layer.entries}
    assert by_path["nested-dir.tar"].content_digest == "sha256:" + sha(nested)
    assert by_path["nested-dir.tar"].mtime_ns % 10**9 != 0
    assert len(layer.entries) == 6


def test_corpus_regclient_whiteout_and_opaque() -> None:
    layer, _ = read_corpus("regclient__regclient/testdata/layer-wh.tar")
    assert [(e.kind, e.path) for e in layer.entries] == [
        ("file", "layer1.txt"), ("whiteout", "layer2.txt"), ("file", "layer3.txt"),
        ("dir", "exdir"), ("opaque", "exdir"),
    ]
    plain, _ = read_corpus("regclient__regclient/testdata/layer.tar")
    assert [e.path for e in plain.entries] == ["layer1.txt", "layer2.txt", "layer3.txt"]


def test_corpus_trivy_walker() -> None:
    layer, _ = read_corpus("aquasecurity__trivy/pkg/fanal/walker/testdata/test.tar")
    marks = [(e.kind, e.path) for e in layer.entries if e.kind in ("whiteout", "opaque")]
    assert marks == [("opaque", "etc"), ("whiteout", "foo/foo")]


@pytest.mark.parametrize(("n", "duplicated"), [(0, True), (1, True), (2, False), (3, False)])
def test_corpus_moby_collisions(n: int, duplicated: bool) -> None:
    layer, _ = read_corpus(f"moby__moby/daemon/builder/remotecontext/internal/tarsum/testdata/collision/collision-{n}.tar")
    assert [e.path for e in layer.entries] == (["file", "file"] if duplicated else ["file"])
    assert codes(layer) == (["duplicate-path"] if duplicated else [])
    if duplicated:
        assert layer.entries[0].content_digest != layer.entries[1].content_digest


def test_corpus_moby_xattr() -> None:
    layer, _ = read_corpus("moby__moby/daemon/builder/remotecontext/internal/tarsum/testdata/xattr/layer.tar")
    (entry,) = layer.entries
    assert [name for name, _ in entry.xattrs] == ["security.capability"]
    with tarfile.open(corpus_file("moby__moby/daemon/builder/remotecontext/internal/tarsum/testdata/xattr/layer.tar")) as tar:
        raw = tar.getmembers()[0].pax_headers["SCHILY.xattr.security.capability"].encode("utf-8", "surrogateescape")
    assert entry.xattrs[0][1] == "".join(f"\\x{b:02x}" if not 0x20 <= b < 0x7F else chr(b) for b in raw)


def test_corpus_osv_scalibr_escape() -> None:
    layer, _ = read_corpus("google__osv-scalibr/artifact/image/unpack/testdata/escape.tar")
    assert [(e.kind, e.path) for e in layer.entries] == [
        ("file", "escape/poc.txt"), ("symlink", "usr/share/doc/a/copyright"), ("symlink", "trampoline"),
        ("symlink", "usr/share/doc/b/copyright"), ("symlink", "escape"), ("symlink", "usr/share/doc/c/copyright"),
    ]
    assert codes(layer).count("absolute-name") == 6
    assert all(e.mtime_ns == 0 for e in layer.entries)
    assert layer.entries[4].linkname.endswith("../../tmp")  # recorded, never followed


def test_corpus_ggcr_content_tar_and_zst() -> None:
    layer, data = read_corpus("google__go-containerregistry/pkg/v1/tarball/testdata/content.tar")
    assert [(e.kind, e.path, e.mode, e.mtime_ns) for e in layer.entries] == [
        ("file", "bat", 0o555, 0), ("file", "baz", 0o555, 0),
    ]
    if ZSTD is None:
        pytest.skip("the zstd program is not installed")
    zst, blob = read_corpus("google__go-containerregistry/pkg/crane/testdata/content.tar.zst")
    crane_tar = corpus_file("google__go-containerregistry/pkg/crane/testdata/content.tar").read_bytes()
    assert zst.compression == "zstd" and len(blob) == 147
    assert zst.diff_id == Digest.sha256(sha(crane_tar))
    assert zst.entries == read_corpus("google__go-containerregistry/pkg/crane/testdata/content.tar")[0].entries


def test_corpus_zero_byte_layer_of_emptylayer_tar() -> None:
    path = corpus_file("moby__moby/integration-cli/testdata/emptyLayer.tar")
    with tarfile.open(path) as outer:
        infos = [m for m in outer.getmembers() if m.name.endswith("layer.tar")]
        layers = {}
        for info in infos:
            handle = outer.extractfile(info)
            assert handle is not None
            layers[info.size] = read_layer(handle, archive=path.name, member=info.name)  # type: ignore[arg-type]
    # INDEX.md: "one layer.tar is a 0-byte file (not even a valid tar)".
    assert not layers[0].readable and layers[0].problem == "not a tar archive (0 bytes)"
    assert layers[0].blob_digest == Digest.sha256(sha(b"")) and layers[0].empty_kind == ""
    # The 2013 scratch base: one "./" entry (the root, not listed) and no end block.
    assert layers[512].readable and layers[512].entries == ()
    assert layers[512].anomalies == (("no-end-marker", "offset 512"),)
    assert [e.path for e in layers[10240].entries] == ["tmp", "tmp/foo"]
