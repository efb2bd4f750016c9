"""Hostile JSON members: manifest.json, index.json, OCI manifests and configs that are broken on purpose.

Each case asserts its exact outcome: the one-line error (naming the archive,
the member and what was expected) or the finding. Cases already covered in
read/test_archive.py (manifest ``null``, non-UTF-8 manifest, 100,000-level manifest,
duplicate manifest keys) are not repeated.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tracemalloc

import pytest

from tests.archivekit import hexof, js, legacy, oci, sha, simple_image, tar_of
from imageforensics.errors import ImageForensicsError, InputError, LimitError
from imageforensics.options import Limits, ReadOptions
from imageforensics.model import Archive
from imageforensics.read._archive import read_stream
from tools.fuzz import guarded

IMG = simple_image()
CONFIG = IMG.config()
CFG_NAME = f"{hexof(CONFIG)}.json"
LEGACY = legacy([IMG])
OCI = oci([IMG])
OCI_INDEX = dict(OCI)["index.json"]
IDX = "application/vnd.oci.image.index.v1+json"


def read(data: bytes, limits: Limits = Limits()) -> Archive:
    return guarded(lambda: read_stream(io.BytesIO(data), "t.tar", ReadOptions(limits=limits)))  # type: ignore[arg-type]


def replaced(members: list, name: str, data: bytes) -> bytes:
    assert name in dict(members)
    return tar_of([(n, data if n == name else c) for n, c in members])


def error_of(data: bytes, limits: Limits = Limits(), kind: type[InputError] = InputError) -> str:
    with pytest.raises(kind) as info:
        read(data, limits)
    text = str(info.value)
    assert "\n" not in text
    return text


def config_with(**fields: object) -> bytes:
    value = json.loads(CONFIG)
    for key, v in fields.items():
        if v is ...:
            del value[key]
        else:
            value[key] = v
    return js(value)


CFG = f"t.tar: {CFG_NAME}"


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("manifest.json", b"[{", "t.tar: manifest.json: manifest.json is not JSON (Expecting property name enclosed in double quotes: line 1, column 3)"),
        ("manifest.json", b"{}", "t.tar: manifest.json: expected a JSON array of images, found an object"),
        ("manifest.json", b"[]", "t.tar: manifest.json: lists no images (an empty array)"),
        ("manifest.json", b"", "t.tar: manifest.json: expected manifest.json (JSON), found an empty file"),
        ("manifest.json", b"[5]", "t.tar: manifest.json: item 0: expected an object with Config and Layers, found a number"),
        ("manifest.json", js([{"Layers": []}]), "t.tar: manifest.json: item 0: expected Config to name the config member, found null"),
        ("manifest.json", js([{"Config": 7, "Layers": []}]), "t.tar: manifest.json: item 0: expected Config to name the config member, found a number"),
        ("manifest.json", js([{"Config": CFG_NAME, "Layers": "a/layer.tar"}]), "t.tar: manifest.json: item 0: Layers: expected an array of strings, found a string"),
        ("manifest.json", js([{"Config": CFG_NAME, "Layers": [1]}]), "t.tar: manifest.json: item 0: Layers: expected an array of strings, found an array"),
        ("manifest.json", js([{"Config": CFG_NAME, "RepoTags": {"a": 1}}]), "t.tar: manifest.json: item 0: RepoTags: expected an array of strings, found an object"),
        (CFG_NAME, b"null", f"{CFG}: expected the image config to be a JSON object, found null"),
        (CFG_NAME, b"[]", f"{CFG}: expected the image config to be a JSON object, found an array"),
        (CFG_NAME, b"{bad", f"{CFG}: image config is not JSON (Expecting property name enclosed in double quotes: line 1, column 2)"),
        (CFG_NAME, b'{"a": NaN}', f"{CFG}: image config is not JSON (NaN is not JSON)"),
        (CFG_NAME, b'{"a":"\xff"}', f"{CFG}: image config is not UTF-8 (byte 6)"),
        (CFG_NAME, config_with(rootfs=...), f"{CFG}: expected rootfs.diff_ids in the image config (it is REQUIRED), found no rootfs object"),
        (CFG_NAME, config_with(rootfs={"type": "layers", "diff_ids": "x"}), f"{CFG}: expected rootfs.diff_ids to be an array of digests, found a string"),
        (CFG_NAME, config_with(rootfs={"type": "layers", "diff_ids": ["sha256:xyz"]}), f"{CFG}: rootfs.diff_ids[0] is not a digest ("),
        (CFG_NAME, b"[" * 100_000 + b"]" * 100_000, f"{CFG}: image config nests 100000 levels deep, over the 200-level limit (--max-json-depth)"),
    ],
    ids=lambda v: v[:20] if isinstance(v, str) else v[:12].decode("latin-1"),
)
def test_legacy_json_members(name: str, data: bytes, expected: str) -> None:
    kind = LimitError if "(--max-" in expected else InputError
    assert error_of(replaced(LEGACY, name, data), kind=kind).startswith(expected)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"null", "t.tar: index.json: expected the image index to be a JSON object, found null"),
        (b"[1", "t.tar: index.json: image index is not JSON (Expecting ',' delimiter: line 1, column 3)"),
        (b'{"schemaVersion":2}', "t.tar: index.json: expected a manifests array in the image index, found none"),
        (b'{"manifests":"x"}', "t.tar: index.json: expected manifests to be an array, found a string"),
        (b'{"manifests":[]}', "t.tar: index.json: lists no manifests (an empty array)"),
        (b'{"manifests":[5]}', "t.tar: index.json: no image could be read: index.json manifests[0]: a number, expected a descriptor object"),
        (b'{"manifests":[{"digest":"sha256:zz"}]}', "t.tar: index.json: no image could be read: index.json manifests[0]: has no valid digest (mediaType absent)"),
        (b'{"manifests":[], "a":"\xfe"}', "t.tar: index.json: image index is not UTF-8 (byte 22)"),
        (b"[" * 100_000 + b"]" * 100_000, "t.tar: index.json: image index nests 100000 levels deep, over the 200-level limit (--max-json-depth)"),
        (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "t.tar: index.json: image index nests 100000 levels deep, over the 200-level limit (--max-json-depth)"),
    ],
    ids=lambda v: "" if isinstance(v, str) else v[:16].decode("latin-1"),
)
def test_index_json(data: bytes, expected: str) -> None:
    kind = LimitError if "(--max-" in expected else InputError
    assert error_of(replaced(OCI, "index.json", data), kind=kind) == expected


def test_a_deep_document_whose_text_is_cut_short_is_still_a_depth_error() -> None:
    # 100,000 levels opened and never closed: the parser stops at its depth before the missing end.
    msg = error_of(replaced(OCI, "index.json", b'{"manifests":' + b"[" * 100_000), kind=LimitError)
    assert msg == "t.tar: index.json: image index nests 100001 levels deep, over the 200-level limit (--max-json-depth)"


def test_nesting_below_the_default_limit_is_read_and_the_limit_can_be_raised() -> None:
    deep = config_with(config={"Labels": {"x": "y"}, "Healthcheck": json.loads("[" * 150 + "]" * 150)})
    members = [(n, c) for n, c in LEGACY if n not in ("manifest.json", CFG_NAME)]
    manifest = json.loads(dict(LEGACY)["manifest.json"])
    manifest[0]["Config"] = f"{hexof(deep)}.json"
    data = tar_of(members + [(f"{hexof(deep)}.json", deep), ("manifest.json", js(manifest))])
    assert read(data).images[0].run_config.healthcheck.startswith("[[[")
    msg = error_of(data, Limits(max_json_depth=100), kind=LimitError)
    assert msg == f"t.tar: {hexof(deep)}.json: image config nests 152 levels deep, over the 100-level limit (--max-json-depth)"


def test_duplicate_keys_in_a_config_are_a_finding_naming_the_member() -> None:
    doubled = CONFIG.replace(b'"os"', b'"os":"plan9","os"', 1)
    archive = read(replaced(LEGACY, CFG_NAME, doubled))
    dup = [f for f in archive.findings if f.code == "json-duplicate-key"]
    assert len(dup) == 1 and dup[0].path == CFG_NAME and dup[0].evidence_value("keys") == "os"
    assert archive.images[0].platform.os == "linux"  # the last value wins, as in Go
    # The bytes changed, so the name no longer matches: that is a finding too.
    assert "image-id-mismatch" in {f.code for f in archive.images[0].findings}


def test_duplicate_keys_in_index_json_are_a_finding() -> None:
    doubled = OCI_INDEX.replace(b'"manifests"', b'"manifests":[],"manifests"', 1)
    archive = read(replaced(OCI, "index.json", doubled))
    assert [f.evidence_value("keys") for f in archive.findings if f.code == "json-duplicate-key"] == ["manifests"]
    assert len(archive.images) == 1


def test_optional_config_fields_of_the_wrong_type_are_findings() -> None:
    data = replaced(LEGACY, CFG_NAME, config_with(history="x", created=5, author=[], config=[1], os=None))
    image = read(data).images[0]
    invalid = sorted(f.evidence_value("field") for f in image.findings if f.code == "config-field-invalid")
    assert invalid == ["author", "config", "created", "history"]
    assert image.history == () and image.created is None and image.author == ""


def test_a_long_string_over_a_small_json_limit_names_the_member() -> None:
    big = config_with(author="a" * 5000)
    msg = error_of(replaced(LEGACY, CFG_NAME, big), Limits(max_json_bytes=4096), kind=LimitError)
    assert msg == f"{CFG}: image config is {len(big)} bytes, over the 4096-byte JSON limit (--max-json-bytes)"


def test_an_oci_manifest_over_the_json_limit_is_an_error_not_a_finding() -> None:
    manifest_name = [n for n, c in OCI if n.startswith("blobs/") and b"image.manifest.v1" in c[:100]][0]
    msg = error_of(tar_of(OCI), Limits(max_json_bytes=len(dict(OCI)[manifest_name]) - 1), kind=LimitError)
    assert msg.startswith(f"t.tar: {manifest_name}: manifest or index is ") and msg.endswith("(--max-json-bytes)")


def test_escaped_quotes_in_an_unterminated_string_are_read_in_linear_time() -> None:
    # Regression: a string pattern with an escape group rescanned from every \" (quadratic:
    # 64 KB took minutes). The guard is a hang detector, not a speed test.
    msg = error_of(replaced(LEGACY, "manifest.json", b'["' + b'\\"' * 500_000))
    assert msg == "t.tar: manifest.json: manifest.json is not JSON (Unterminated string starting at: line 1, column 2)"


class _LazyTar(io.RawIOBase):
    """A tar holding one member of ``size`` bytes, generated as it is read (never held in memory)."""

    def __init__(self, name: str, size: int, head: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size = size
        self._header = info.tobuf(tarfile.USTAR_FORMAT)
        self._head = head
        self._size = size
        self._pos = 0
        pad = -size % 512
        self._total = len(self._header) + size + pad + 1024
        self._filler = b"a" * (1 << 16)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self._total - self._pos, 1 << 16)
        out = bytearray()
        while len(out) < n:
            p = self._pos + len(out)
            start = len(self._header)
            if p < start:
                out += self._header[p : start][: n - len(out)]
            elif p < start + len(self._head):
                out += self._head[p - start :][: n - len(out)]
            elif p < start + self._size:
                out += self._filler[: min(n - len(out), start + self._size - p)]
            else:
                out += bytes(n - len(out))
        buffer[:n] = out
        self._pos += n
        return n


def test_default_json_limit_is_enforced_while_streaming_a_100_mb_manifest() -> None:
    size = 100 << 20
    stream = io.BufferedReader(_LazyTar("manifest.json", size, b'[{"Config": "'))
    tracemalloc.start()
    try:
        with pytest.raises(LimitError) as info:
            guarded(lambda: read_stream(stream, "big.tar"))  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(info.value) == f"big.tar: manifest.json: manifest.json is {size} bytes, over the {Limits().max_json_bytes}-byte JSON limit (--max-json-bytes)"
    assert peak < 32 << 20, f"{peak} bytes held while reading a {size}-byte member"


# --- index loops and fan-out --------------------------------------------------------


def _index(children: list[bytes], repeat: int = 1, **annotations: str) -> bytes:
    desc = [{"mediaType": IDX, "digest": sha(c), "size": len(c), **({"annotations": annotations} if annotations else {})} for c in children]
    return js({"schemaVersion": 2, "mediaType": IDX, "manifests": desc * repeat})


def _layout(top: bytes, blobs: list[bytes]) -> bytes:
    members = [("oci-layout", js({"imageLayoutVersion": "1.0.0"}))]
    members += [(f"blobs/sha256/{hexof(b)}", b) for b in dict.fromkeys(blobs)]
    members.append(("index.json", js({"schemaVersion": 2, "manifests": [{"mediaType": IDX, "digest": sha(top), "size": len(top)}]})))
    return tar_of(members)


def test_an_index_listing_the_same_child_index_many_times_at_every_level_is_not_walked_exponentially() -> None:
    # 3 descriptors per level, 30 levels: 3**30 paths through the same 30 blobs.
    # Regression: each path was walked (3**14 took minutes). Kept under the nesting limit of 16.
    image_members = dict(OCI)
    manifest = [c for c in image_members.values() if b"image.manifest.v1" in c[:100]][0]
    child = js({"schemaVersion": 2, "mediaType": IDX, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest), "size": len(manifest)}]})
    blobs = [child]
    for _ in range(15):
        child = _index([child], repeat=3)
        blobs.append(child)
    members = [(n, c) for n, c in OCI if n != "index.json"] + [(f"blobs/sha256/{hexof(b)}", b) for b in blobs]
    members.append(("index.json", js({"schemaVersion": 2, "manifests": [{"mediaType": IDX, "digest": sha(child), "size": len(child)}]})))
    archive = read(tar_of(members))
    assert len(archive.images) == 1
    assert str(archive.images[0].image_id) == sha(CONFIG)


def test_index_fan_out_with_distinct_names_on_every_path_hits_a_limit() -> None:
    child = js({"schemaVersion": 2, "mediaType": IDX, "manifests": []})
    blobs = [child]
    for level in range(15):
        desc = [{"mediaType": IDX, "digest": sha(child), "size": len(child), "annotations": {"org.opencontainers.image.ref.name": f"n{level}-{k}"}} for k in range(4)]
        child = js({"schemaVersion": 2, "mediaType": IDX, "manifests": desc})
        blobs.append(child)
    msg = error_of(_layout(child, blobs), kind=LimitError)
    assert msg.startswith("t.tar: index.json: ") and "descriptors" in msg


def test_an_index_that_contains_itself_is_a_finding() -> None:
    # A blob cannot name its own digest, but two indexes can name each other only by
    # digest too; a self-loop is reachable through a symlinked blob name.
    index = js({"schemaVersion": 2, "mediaType": IDX, "manifests": [{"mediaType": IDX, "digest": sha(b"loop"), "size": 4}]})
    members = [("oci-layout", js({"imageLayoutVersion": "1.0.0"})), (f"blobs/sha256/{hexof(index)}", index)]
    from tests.archivekit import Link

    members.append((f"blobs/sha256/{hexof(b'loop')}", Link(hexof(index))))
    members.append(("index.json", js({"schemaVersion": 2, "manifests": [{"mediaType": IDX, "digest": sha(index), "size": len(index)}]})))
    with pytest.raises(ImageForensicsError) as info:
        read(tar_of(members))
    assert "\n" not in str(info.value) and str(info.value).startswith("t.tar: index.json: no image could be read:")


# --- OCI manifests and configs (renamed to their new digest, so the mutation is what is read) ---

OCI_MANIFEST_NAME = [n for n, c in OCI if b"image.manifest.v1" in c[:100]][0]
OCI_MANIFEST = json.loads(dict(OCI)[OCI_MANIFEST_NAME])
OCI_CONFIG_NAME = f"blobs/sha256/{hexof(CONFIG)}"


def _index_to(manifest: bytes) -> bytes:
    index = json.loads(OCI_INDEX)
    index["manifests"][0].update(digest=sha(manifest), size=len(manifest))
    return js(index)


def with_oci_manifest(data: bytes) -> bytes:
    rest = [(n, c) for n, c in OCI if n not in (OCI_MANIFEST_NAME, "index.json")]
    return tar_of(rest + [(f"blobs/sha256/{hexof(data)}", data), ("index.json", _index_to(data))])


def with_oci_config(data: bytes) -> bytes:
    manifest = js({**OCI_MANIFEST, "config": {**OCI_MANIFEST["config"], "digest": sha(data), "size": len(data)}})
    rest = [(n, c) for n, c in OCI if n not in (OCI_MANIFEST_NAME, "index.json", OCI_CONFIG_NAME)]
    return tar_of(rest + [(f"blobs/sha256/{hexof(data)}", data), (f"blobs/sha256/{hexof(manifest)}", manifest), ("index.json", _index_to(manifest))])


NO_IMAGE = "t.tar: index.json: no image could be read: index.json manifests[0]"


_NO_CONFIG = js({k: v for k, v in OCI_MANIFEST.items() if k != "config"})
_LAYERS_STRING = js({**OCI_MANIFEST, "layers": "x"})


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"null", "{NO_IMAGE}: points at {short}, which is null, not a manifest or index object"),
        (b'{"schemaVersion":', "{NO_IMAGE}: points at {short}, which manifest or index is not JSON (Expecting value: line 1, column 18)"),
        (b'{"a":"\xff"}', "{NO_IMAGE}: points at {short}, which manifest or index is not UTF-8 (byte 6)"),
        (_NO_CONFIG, "{NO_IMAGE} ({short}): manifest has no config descriptor"),
        (_LAYERS_STRING, "{NO_IMAGE} ({short}): manifest layers is a string, expected an array"),
    ],
    ids=["null", "invalid", "non-utf8", "no-config", "layers-string"],
)
def test_oci_manifest_blobs(data: bytes, expected: str) -> None:
    assert error_of(with_oci_manifest(data)) == expected.format(NO_IMAGE=NO_IMAGE, short=hexof(data)[:12])


def test_oci_manifest_nested_100000_levels_is_a_limit_error_naming_the_blob() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    msg = error_of(with_oci_manifest(deep), kind=LimitError)
    assert msg == f"t.tar: blobs/sha256/{hexof(deep)}: manifest or index nests 100000 levels deep, over the 200-level limit (--max-json-depth)"


def test_oci_manifest_layer_descriptors_of_the_wrong_type_are_absent_layers() -> None:
    archive = read(with_oci_manifest(js({**OCI_MANIFEST, "layers": [5, OCI_MANIFEST["layers"][1]]})))
    image = archive.images[0]
    assert image.layers[0] is None and image.layers[1] is not None
    assert {"layer-absent"} <= {f.code for f in image.findings}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"null", "is not an image config (no rootfs)"),
        (b"{x", "image config is not JSON (Expecting property name enclosed in double quotes: line 1, column 2)"),
        (js({"os": "linux", "architecture": "amd64"}), "is not an image config (no rootfs)"),
    ],
    ids=["null", "invalid", "no-rootfs"],
)
def test_oci_config_blobs(data: bytes, expected: str) -> None:
    manifest = js({**OCI_MANIFEST, "config": {**OCI_MANIFEST["config"], "digest": sha(data), "size": len(data)}})
    assert error_of(with_oci_config(data)) == f"{NO_IMAGE} ({hexof(manifest)[:12]}) config: {expected}"


def test_numbers_where_the_spec_requires_strings_are_findings() -> None:
    from pathlib import Path

    from imageforensics.audit import image_findings
    from imageforensics.read._sources import read_input
    from tools.fuzz import guarded

    here = Path(__file__).parent
    config = guarded(lambda: read_input(str(here / "config-numbers-for-strings.tar")))
    found = [f for f in (*config.findings, *image_findings(config.images[0])) if f.code in ("json-value-not-string", "config-field-invalid")]
    assert sorted((f.code, f.evidence_value("field")) for f in found) == [
        ("config-field-invalid", "config.Env"), ("json-value-not-string", "config.Labels.a")]
    index = guarded(lambda: read_input(str(here / "index-annotation-number.tar")))
    found = [f for f in index.findings if f.code == "json-value-not-string"]
    assert [(f.evidence_value("field"), f.evidence_value("found")) for f in found] == [
        ("annotations.org.opencontainers.image.ref.name", "a number")]
