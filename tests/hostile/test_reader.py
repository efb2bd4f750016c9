"""Hostile archives at the reader: each gives a model with findings or one project error, never anything else."""

from __future__ import annotations

import gzip
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.archivekit import Link, cimage, containerd, crane, graphdriver, hexof, js, legacy, oci, simple_image, tar_of
from imageforensics.audit import image_findings
from imageforensics.errors import ImageForensicsError, InputError, LimitError
from imageforensics.options import Limits, ReadOptions
from imageforensics.model import Archive
from imageforensics.read._archive import read_stream


def read(members: list, **kw: object) -> Archive:
    return read_stream(io.BytesIO(tar_of(members)), "h.tar", **kw)  # type: ignore[arg-type]


def with_config(config: bytes) -> list:
    return [("c.json", config), ("manifest.json", js([{"Config": "c.json", "RepoTags": ["h:1"], "Layers": []}]))]


@pytest.mark.parametrize("config,expected", [
    (b"null", "h.tar: c.json: expected the image config to be a JSON object, found null"),
    (b"[]", "h.tar: c.json: expected the image config to be a JSON object, found an array"),
    (js({"rootfs": {"diff_ids": {}}}), "h.tar: c.json: expected rootfs.diff_ids to be an array of digests, found an object"),
    (js({"rootfs": {"diff_ids": [1]}}), "h.tar: c.json: rootfs.diff_ids[0] is not a digest (digest must be a string, not int)"),
    (b"\xef\xbb\xbf{}", "h.tar: c.json: image config is not JSON (Unexpected UTF-8 BOM (decode using utf-8-sig): line 1, column 1)"),
    (b"{", "h.tar: c.json: image config is not JSON (Expecting property name enclosed in double quotes: line 1, column 2)"),
])
def test_broken_configs_give_one_line_errors(config, expected):
    with pytest.raises(InputError) as info:
        read(with_config(config))
    assert str(info.value) == expected


def test_wrong_types_in_optional_fields_are_findings():
    config = js({"rootfs": {"type": "layers", "diff_ids": []}, "history": "yes", "created": 5, "os": ["linux"], "config": {"Env": "A=1", "Cmd": [1]}})
    (image,) = read(with_config(config)).images
    fields = sorted(f.evidence_value("field") for f in image.findings if f.code == "config-field-invalid")
    assert fields == ["config.Cmd", "created", "history", "os"]
    assert image.history == () and image.created is None and image.run_config.env == ("A=1",) and image.run_config.cmd is None


def test_deeply_nested_config_hits_the_depth_limit():
    deep = b'{"rootfs":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(LimitError, match="nests 100001 levels deep"):
        read(with_config(deep))


def test_huge_json_string_over_the_size_limit():
    big = js({"rootfs": {"type": "layers", "diff_ids": []}, "author": "x" * 5000})
    with pytest.raises(LimitError, match=r"^h.tar: c.json: image config is 5\d\d\d bytes, over the 1000-byte JSON limit \(--max-json-bytes\)$"):
        read(with_config(big), options=ReadOptions(limits=Limits(max_json_bytes=1000)))


def test_too_many_layers():
    members = with_config(js({"rootfs": {"type": "layers", "diff_ids": []}}))
    members[-1] = ("manifest.json", js([{"Config": "c.json", "Layers": ["x"] * 5}]))
    with pytest.raises(LimitError, match="item 0 has 5 layers, over the 4-layer limit"):
        read(members, options=ReadOptions(limits=Limits(max_layers=4)))


def test_config_symlink_out_of_the_archive():
    members = [("c.json", Link("/etc/passwd")), ("manifest.json", js([{"Config": "c.json", "Layers": []}]))]
    with pytest.raises(InputError) as info:
        read(members)
    assert str(info.value) == "h.tar: c.json: absent (member-link-escapes): manifest.json[0] names it as the image config"


def test_member_names_with_control_characters_are_escaped_in_errors():
    with pytest.raises(InputError) as info:
        read([("evil\x1b[2Jname", b"hello")])
    assert "\x1b" not in str(info.value) and "evil\\x1b[2Jname" in str(info.value)


def test_a_layer_keeps_its_member_name_exactly_and_findings_quote_it_once():
    # The model holds names as the archive spells them; only outputs show them.
    name = "odd\\dir\x1b/layer.tar"
    members = [m for m in legacy([simple_image()]) if m[0] != "repositories"]
    first = next(n for n, _ in members if n.endswith("/layer.tar"))
    renamed: list = []
    for n, c in members:
        if n == first:
            renamed.append((name, b"not a tar"))
        elif n == "manifest.json":
            renamed.append((n, c.replace(first.encode(), js(name)[1:-1])))  # type: ignore[union-attr]
        else:
            renamed.append((n, c))
    image = read(renamed).images[0]
    assert image.layers[0] is not None and image.layers[0].member == name
    unreadable = next(f for f in image_findings(image) if f.code == "layer-unreadable")
    assert "(odd\\\\dir\\x1b/layer.tar)" in unreadable.summary
    assert unreadable.evidence_value("member") == name


def test_outer_gzip_bomb_is_a_limit_error():
    bomb = gzip.compress(bytes(64 * 1024 * 1024), compresslevel=9)
    with pytest.raises(LimitError):
        read_stream(io.BytesIO(bomb), "bomb.tar.gz", ReadOptions(limits=Limits(max_expansion_ratio=10, expansion_allowance=1024 * 1024)))


def test_an_archive_compressed_twice_is_not_an_image_but_not_a_crash():
    twice = gzip.compress(gzip.compress(tar_of(legacy([simple_image()]))))
    with pytest.raises(InputError):
        read_stream(io.BytesIO(twice), "twice.tar.gz.gz")


BASES = [tar_of(build([simple_image("a:1", "a"), simple_image("b:1", "b")])) for build in (legacy, cimage, crane, graphdriver, containerd, oci)]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(BASES)))
    kind = draw(st.sampled_from(["flip", "truncate", "splice", "json"]))
    if kind == "flip":
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
    elif kind == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif kind == "splice":
        i = draw(st.integers(0, len(data) - 1))
        data[i:i + draw(st.integers(1, 64))] = draw(st.binary(min_size=1, max_size=64))
    else:
        text = bytes(data)
        for old, new in [(b'"Layers":[', b'"Layers":[null,'), (b'"diff_ids":[', b'"diff_ids":[{},'), (b'"history":[', b'"history":[7,'),
                         (b'"manifests":[', b'"manifests":[{},'), (b'"size":', b'"size":-'), (b'"digest":"sha256:', b'"digest":"sha512:')]:
            if draw(st.booleans()):
                text = text.replace(old, new, 1)
        data = bytearray(text)
    return bytes(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated())
def test_mutated_archives_give_a_model_or_a_project_error(data):
    try:
        archive = read_stream(io.BytesIO(data), "m.tar")
    except ImageForensicsError as e:
        assert "\n" not in str(e)
        return
    hash(archive)


def test_many_json_members_cannot_exhaust_memory():
    members = [(f"blobs/sha256/{i:064x}", b"[" + b"1," * 300 + b"1]") for i in range(20)]
    with pytest.raises(LimitError, match=r"JSON members together exceed 2000 bytes"):
        read(members + [("index.json", b"{}")], options=ReadOptions(limits=Limits(max_json_bytes=1000)))


def test_member_count_is_bounded():
    members = [(f"f{i}", b"") for i in range(16 * 2 + 4096 + 1)]
    with pytest.raises(LimitError, match=r"^h.tar: f4128: more than 4128 members in the archive"):
        read(members, options=ReadOptions(limits=Limits(max_layers=2)))


MEMBER_SETS = [build([simple_image("a:1", "a"), simple_image("b:1", "b")]) for build in (legacy, cimage, crane, graphdriver, containerd, oci)]
ODD_VALUES = [None, True, 0, -1, 1.5, "", "x", "sha256:" + "0" * 64, "../../etc/passwd", "/abs", [], [None], {}, {"a": 1}, "\x1b[31m", 10**30]


def _swap(value: object, path: list[int], replacement: object) -> object:
    """Replace the value reached by following ``path`` (indexes into keys/items) with ``replacement``."""
    if not path or not isinstance(value, (dict, list)) or not value:
        return replacement
    if isinstance(value, dict):
        key = sorted(value)[path[0] % len(value)]
        value[key] = _swap(value[key], path[1:], replacement)
    else:
        i = path[0] % len(value)
        value[i] = _swap(value[i], path[1:], replacement)
    return value


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    members=st.sampled_from(MEMBER_SETS),
    which=st.integers(0, 40),
    # Small indexes: JSON documents here are shallow and have few keys.
    path=st.lists(st.integers(0, 7), min_size=1, max_size=3),
    replacement=st.sampled_from(ODD_VALUES),
)
def test_json_values_swapped_for_other_types_give_a_model_or_a_project_error(members, which, path, replacement):
    """Every JSON document (manifest.json, index.json, manifests, configs) with one value replaced by another type."""
    import json

    json_members = [i for i, (_, c) in enumerate(members) if isinstance(c, bytes) and c[:1] in (b"{", b"[")]
    # The top-level documents steer everything else: give them more of the examples.
    top = [i for i in json_members if members[i][0] in ("manifest.json", "index.json")]
    json_members = top * 4 + json_members
    i = json_members[which % len(json_members)]
    name, content = members[i]
    mutated = list(members)
    mutated[i] = (name, json.dumps(_swap(json.loads(content), path, replacement)).encode())
    try:
        archive = read(mutated)
    except ImageForensicsError as e:
        assert "\n" not in str(e)
        return
    hash(archive)


def _paths(value: object, depth: int = 0) -> list[list[int]]:
    """Index paths to every value down to three levels (keys sorted, first two items of lists)."""
    if depth == 3 or not isinstance(value, (dict, list)) or not value:
        return []
    children = sorted(value) if isinstance(value, dict) else list(range(min(2, len(value))))
    out = []
    for k, child in enumerate(children):
        inner = value[child]  # type: ignore[index]
        out.append([k])
        out.extend([k] + rest for rest in _paths(inner, depth + 1))
    return out


SINGLE_SETS = [build([simple_image("a:1", "a")]) for build in (legacy, cimage, crane, graphdriver, containerd, oci)]


@pytest.mark.parametrize("layout", range(len(SINGLE_SETS)))
def test_every_field_of_every_json_document_replaced_by_each_odd_type(layout):
    """Exhaustive companion of the property above: each field, down to three levels, gets each odd type."""
    import json

    members = SINGLE_SETS[layout]
    reads = 0
    for i, (name, content) in enumerate(members):
        if not (isinstance(content, bytes) and content[:1] in (b"{", b"[")):
            continue
        for path in _paths(json.loads(content)):
            for replacement in (None, -1, "x", {}):
                mutated = list(members)
                mutated[i] = (name, json.dumps(_swap(json.loads(content), path, replacement)).encode())
                reads += 1
                try:
                    hash(read(mutated))
                except ImageForensicsError as e:
                    assert "\n" not in str(e)
    assert reads > 100
