"""configshape: how a config's JSON is written, and the diff naming what else makes two image IDs differ."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import pytest

from imageforensics.config_shape import config_shape, shape_changes
from imageforensics.findings import Severity
from imageforensics.options import Limits
from imageforensics.diff._engine import diff_images
from imageforensics.read._archive import read_stream
from imageforensics.snapshot import load_snapshot, write_snapshot
from tools.synth import ArchiveSpec, Config, Entry, ImageSpec, Layer, Step, build_archive, expected_diff_ids, render_config

BASE = ImageSpec(layers=(Layer(entries=(Entry("etc/app.conf", data=b"x"),)),),
                 history=(Step(created="2024-01-01T00:00:00Z", created_by="COPY app.conf /etc/"),),
                 config=Config(env=("PATH=/usr/bin", "TOKEN=hunter2"), cmd=("app",), created="2024-01-01T00:00:00Z"))


def with_config(edit) -> ImageSpec:  # type: ignore[no-untyped-def]
    """BASE with its rendered config JSON changed by ``edit`` (a function of the parsed object)."""
    config = json.loads(render_config(BASE, expected_diff_ids(BASE)))
    edit(config)
    return replace(BASE, config_raw=json.dumps(config).encode())


def read(image: ImageSpec):  # type: ignore[no-untyped-def]
    archive = read_stream(io.BytesIO(build_archive(ArchiveSpec(images=(image,)))), "x.tar")
    return archive, archive.images[0]


def diff(a: ImageSpec, b: ImageSpec):  # type: ignore[no-untyped-def]
    (archive_a, image_a), (archive_b, image_b) = read(a), read(b)
    return diff_images(archive_a, image_a, archive_b, image_b)


def test_shape_fingerprints_every_path_without_values() -> None:
    config = {"architecture": "amd64", "config": {"Env": ["TOKEN=hunter2"], "OnBuild": None, "Tty": False},
              "container": "3f2a", "container_config": {"Env": ["TOKEN=hunter2"], "Cmd": ["/bin/sh", "-c", "make"]},
              "moby.buildkit.buildinfo.v1": "e30=", "history": [], "rootfs": {"type": "layers", "diff_ids": []}}
    shape = dict(config_shape(config))
    assert list(shape) == sorted(shape)
    # Compared fields: only whether they are null, empty or set.
    assert (shape["config.Env"], shape["config.OnBuild"], shape["history"], shape["architecture"]) == (
        "set", "null", "empty", "set")
    # Every other path: its type and a digest, walked into objects; arrays are one leaf.
    assert shape["config.Tty"].startswith("boolean ") and shape["container"].startswith("string ")
    assert shape["container_config.Cmd"].startswith("array ") and "rootfs.type" not in shape
    assert "hunter2" not in json.dumps(shape) and "make" not in json.dumps(shape)
    assert dict(config_shape({**config, "container": "9e1b"}))["container"] != shape["container"]


@pytest.mark.parametrize("limits", [Limits(), Limits(max_config_paths=3)])
def test_shape_of_a_huge_config_is_capped_with_a_digest_of_the_rest(limits: Limits) -> None:
    shape = config_shape({"labels_elsewhere": {f"k{i:06d}": i for i in range(10_000)}}, limits)
    cap = limits.max_config_paths
    assert len(shape) == cap and shape[-1][0] == "…" and shape[-1][1].startswith(f"{10_000 - cap + 1} more paths ")
    assert [path for path, _ in shape[:2]] == ["labels_elsewhere.k000000", "labels_elsewhere.k000001"]


def test_changes_name_null_against_absent_and_unmodelled_keys_only() -> None:
    a = (("config.Env", "set"), ("config.OnBuild", "null"), ("container", "string 1"), ("config.Tty", "boolean 2"))
    b = (("config.Env", "empty"), ("container", "number 3"), ("variant_x", "string 4"), ("config.Tty", "boolean 5"))
    assert shape_changes(a, b) == [
        # config.Env: a value against nothing is a config-differs finding already, not repeated here.
        ("config.OnBuild", "null in A, absent in B"),
        ("config.Tty", "values differ"),
        ("container", "string in A, number in B"),
        ("variant_x", "only in B"),
    ]


def test_onbuild_null_against_absent_is_why_the_image_ids_differ() -> None:
    a = with_config(lambda c: c["config"].__setitem__("OnBuild", None))
    b = with_config(lambda c: c["config"].pop("OnBuild", None))  # as skopeo's OCI conversion writes it
    report = diff(a, b)
    # null and absent mean the same to every runtime: a note, never the verdict's headline.
    assert not [f for f in report.findings if f.code == "config-json-differs"]
    [f] = [f for f in report.findings if f.code == "config-json-equivalent"]
    assert f.severity == Severity.INFO and f.paths == ("config.OnBuild",)
    assert "config.OnBuild null in A, absent in B" in f.summary and "every runtime reads the same" in f.summary
    assert "OnBuild" not in report.verdict and report.verdict_kind == "metadata"
    assert report.exit_status == 1


@pytest.mark.parametrize("value,word", [(None, "null"), ("", "''"), ([], "[]"), ({}, "{}"), (False, "false"), (0, "0")])
def test_an_unmodelled_key_absent_against_a_zero_value_is_runtime_equivalent(value: object, word: str) -> None:
    a = with_config(lambda c: c["config"].__setitem__("AttachStdin", value))
    b = with_config(lambda c: c["config"].pop("AttachStdin", None))
    for report, how in ((diff(a, b), f"{word} in A, absent in B"), (diff(b, a), f"absent in A, {word} in B")):
        assert not [f for f in report.findings if f.code == "config-json-differs"]
        [f] = [f for f in report.findings if f.code == "config-json-equivalent"]
        assert f.paths == ("config.AttachStdin",) and f.evidence_value("path_001") == ("config.AttachStdin", how)


def test_an_unmodelled_key_absent_against_a_value_still_differs() -> None:
    a = with_config(lambda c: c["config"].__setitem__("AttachStdin", True))
    b = with_config(lambda c: c["config"].pop("AttachStdin", None))
    [f] = [f for f in diff(a, b).findings if f.code == "config-json-differs"]
    assert f.paths == ("config.AttachStdin",) and f.evidence_value("path_001") == ("config.AttachStdin", "only in A")
    assert not [f for f in diff(a, b).findings if f.code == "config-json-equivalent"]


def test_keys_no_field_compares_are_named() -> None:
    a = with_config(lambda c: c.update(container="3f2a", container_config={"Cmd": ["make"]}))
    b = with_config(lambda c: c.update(container="9e1b"))
    [f] = [f for f in diff(a, b).findings if f.code == "config-json-differs"]
    assert f.paths == ("container", "container_config.Cmd")
    assert f.evidence_value("path_001") == ("container", "values differ")
    assert f.evidence_value("path_002") == ("container_config.Cmd", "only in A")


def test_the_same_values_written_differently_are_said_to_be() -> None:
    config = json.loads(render_config(BASE, expected_diff_ids(BASE)))
    a = replace(BASE, config_raw=json.dumps(config, sort_keys=True).encode())
    b = replace(BASE, config_raw=json.dumps(config, indent=2).encode())
    report = diff(a, b)
    assert not [f for f in report.findings if f.code == "config-json-differs"]
    assert report.verdict.startswith("same content with metadata differences: the same layer content; the configs "
                                     "hold the same values written differently")


def test_snapshots_keep_the_shape_and_older_ones_without_it_load() -> None:
    archive, image = read(with_config(lambda c: c["config"].__setitem__("OnBuild", None)))
    assert image.config_shape and load_snapshot(write_snapshot(archive), source="s.json").images == archive.images
    doc = json.loads(write_snapshot(archive))
    del doc["archive"]["images"][0]["config_shape"]
    older = load_snapshot(json.dumps(doc).encode(), source="old.json")
    assert older.images[0].config_shape == ()
    # Unknown on one side: nothing is claimed about the JSON.
    report = diff_images(older, older.images[0], *read(with_config(lambda c: c["config"].pop("OnBuild", None))))
    assert not [f for f in report.findings if f.code == "config-json-differs"]
    assert "fields not compared" in report.verdict


def test_a_redacted_snapshot_carries_no_env_value_even_from_container_config() -> None:
    archive, _ = read(with_config(lambda c: c.update(container_config={"Env": ["TOKEN=hunter2"]})))
    assert b"hunter2" not in write_snapshot(archive, redact=frozenset({"env"}))
