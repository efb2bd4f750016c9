"""The diff's filters (diffoci's --ignore-* and --semantic): what they leave out, and that the verdict follows."""

from __future__ import annotations

import copy
import io
from pathlib import Path

import pytest

from imageforensics.catalogue import REGISTRY, Category
from imageforensics.diff._engine import diff_images
from imageforensics.diff._filters import CONTAINER_INVISIBLE, CONTAINER_VISIBLE, without_config_keys
from imageforensics.model import RunConfig
from imageforensics.options import ConfigKey, DiffOptions
from imageforensics.read import read_input
from imageforensics.read._archive import read_stream
from tests.archivekit import Img, layer_tar, legacy, tar_of

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
BASE_CONFIG = {"Env": ["PATH=/usr/bin", "BUILD_NO=6"], "Cmd": ["sh"], "ExposedPorts": {"8080/tcp": {}},
               "Labels": {"build-date": "2024-01-01", "vendor": "acme"}}


def image(*, config=None, files=None, created_by="COPY app /app # buildkit", created="2024-01-01T00:00:00Z",
          container_config=None) -> Img:
    """One image: a base layer, an app layer, and a config the caller may change."""
    layers = [layer_tar({"etc/base": b"base\n"}, dirs=("etc",)), layer_tar(files or {"app/a.txt": b"hello"})]
    extra: dict[str, object] = {"config": config if config is not None else copy.deepcopy(BASE_CONFIG)}
    if container_config is not None:
        extra["container_config"] = container_config
    return Img(layers=layers, tags=["local/app:1"], created=created, extra=extra, history=[
        {"created": created, "created_by": "/bin/sh -c #(nop) ADD file:abc in / "},
        {"created": created, "created_by": '/bin/sh -c #(nop)  ENV BUILD_NO=6', "empty_layer": True},
        {"created": created, "created_by": created_by},
    ])


def diff(img_a: Img, img_b: Img, options: DiffOptions = DiffOptions()):
    a = read_stream(io.BytesIO(tar_of(legacy([img_a]))), "a.tar")
    b = read_stream(io.BytesIO(tar_of(legacy([img_b]))), "b.tar")
    return diff_images(a, a.images[0], b, b.images[0], options)


def with_config(**changes) -> dict:
    config = copy.deepcopy(BASE_CONFIG)
    config.update(changes)
    return config


def test_a_label_ignored_by_key_leaves_nothing_even_where_the_classic_builder_repeats_it():
    labels_b = {"build-date": "2024-02-02", "vendor": "acme"}
    a = image(container_config={"Labels": BASE_CONFIG["Labels"]})
    b = image(config=with_config(Labels=labels_b), container_config={"Labels": labels_b})
    assert diff(a, b).exit_status == 1
    ignored = diff(a, b, DiffOptions(ignore_config=(ConfigKey.parse("Labels.build-date"),)))
    assert ignored.exit_status == 0, ignored.verdict
    assert ignored.verdict.startswith("identical after ignores")
    assert [f.code for f in ignored.findings if f.code in ("config-differs", "config-json-differs")] == []
    assert ("ignore_config", "Labels.build-date") in ignored.options


def test_ignoring_one_label_still_reports_another():
    b = image(config=with_config(Labels={"build-date": "2024-02-02", "vendor": "other"}))
    report = diff(image(), b, DiffOptions(ignore_config=(ConfigKey.parse("Labels.build-date"),)))
    assert report.exit_status == 1
    (found,) = [f for f in report.findings if f.code == "config-differs"]
    assert found.evidence_value("changed") == "vendor"


def test_ignore_labels_and_ignore_env_leave_the_other_config_compared():
    b = image(config=with_config(Labels={"x": "y"}, Env=["PATH=/usr/bin", "BUILD_NO=7"]))
    both = DiffOptions(ignore_config=(ConfigKey("labels"), ConfigKey("env")))
    assert diff(image(), b, both).exit_status == 0
    assert diff(image(), b, DiffOptions(ignore_config=(ConfigKey("labels"),))).exit_status == 1
    only_build_no = DiffOptions(ignore_config=(ConfigKey("labels"), ConfigKey.parse("Env.BUILD_NO")))
    assert diff(image(), b, only_build_no).exit_status == 0
    cmd_too = image(config=with_config(Labels={"x": "y"}, Cmd=["bash"]))
    assert diff(image(), cmd_too, both).exit_status == 1


def test_history_text_is_ignored_but_content_is_not():
    spelled = image(created_by="/bin/sh -c #(nop) COPY dir:0123 in /app ")
    assert diff(image(), spelled).findings  # the spellings differ
    ignored = diff(image(), spelled, DiffOptions(ignore_history=True))
    assert not [f for f in ignored.findings if f.code in ("step-changed", "created-by-spelling", "step-metadata-differs")]
    assert all("created_by" not in row.marks for row in ignored.steps)
    changed = image(created_by="/bin/sh -c #(nop) COPY dir:0123 in /app ", files={"app/a.txt": b"other"})
    assert diff(image(), changed, DiffOptions(ignore_history=True)).exit_status == 1


def test_mode_and_owner_are_ignored_only_when_asked():
    a, b = read_input(str(SAMPLES / "mode-a.tar")), read_input(str(SAMPLES / "mode-b.tar"))

    def status(**options: bool) -> int:
        return diff_images(a, a.images[0], b, b.images[0], DiffOptions(**options)).exit_status

    assert status() == 1
    assert status(ignore_file_mode=True) == 1  # the owner still differs
    assert status(ignore_file_owner=True) == 1  # the mode still differs
    assert status(ignore_file_mode=True, ignore_file_owner=True) == 0


def test_semantic_ignores_what_a_container_cannot_see():
    b = image(config=with_config(Labels={"build-date": "2030-01-01"}), created="2030-01-01T00:00:00Z",
              created_by="/bin/sh -c #(nop) COPY dir:0123 in /app ")
    assert diff(image(), b).exit_status == 1
    semantic = diff(image(), b, DiffOptions().with_semantic())
    assert semantic.exit_status == 0, semantic.verdict
    assert all(f.code not in CONTAINER_INVISIBLE for f in semantic.findings)


@pytest.mark.parametrize("change", [
    {"files": {"app/a.txt": b"other"}},
    {"config": with_config(Cmd=["bash"])},
    {"config": with_config(Env=["PATH=/usr/bin", "BUILD_NO=7"])},
])
def test_semantic_still_sees_files_and_the_runtime_config(change):
    report = diff(image(), image(**change), DiffOptions().with_semantic())
    assert report.exit_status == 1, report.verdict


def test_every_pair_code_is_placed_for_semantic():
    pair_codes = {spec.code for spec in REGISTRY.values()
                  if spec.category not in (Category.INTEGRITY, Category.TIME_SIGNAL)}
    assert CONTAINER_VISIBLE | CONTAINER_INVISIBLE == pair_codes
    assert not CONTAINER_VISIBLE & CONTAINER_INVISIBLE


def test_config_keys_parse_as_the_config_json_spells_them():
    assert ConfigKey.parse("Labels.build-date") == ConfigKey("labels", "build-date")
    assert ConfigKey.parse("config.labels.a.b") == ConfigKey("labels", "a.b")
    assert ConfigKey.parse("ExposedPorts.8080") == ConfigKey("exposed_ports", "8080/tcp")
    assert str(ConfigKey.parse("env.API_KEY")) == "Env.API_KEY"
    for bad in ("Colour", "Cmd.x", "Labels."):
        with pytest.raises(ValueError):
            ConfigKey.parse(bad)


def test_without_config_keys_removes_exactly_the_key():
    config = RunConfig(env=("A=1", "B=2"), labels=(("a", "1"), ("b", "2")), exposed_ports=("80/tcp", "81/tcp"),
                       cmd=("sh",))
    assert without_config_keys(config, [ConfigKey("env", "A")]).env == ("B=2",)
    assert without_config_keys(config, [ConfigKey("labels", "b")]).labels == (("a", "1"),)
    assert without_config_keys(config, [ConfigKey("exposed_ports", "80/tcp")]).exposed_ports == ("81/tcp",)
    assert without_config_keys(config, [ConfigKey("cmd")]).cmd is None
    assert without_config_keys(config, [ConfigKey("cmd")]).env == config.env


@pytest.mark.parametrize("options", [
    DiffOptions().with_semantic(),
    DiffOptions(ignore_history=True),
    DiffOptions(ignore_config=(ConfigKey("labels"), ConfigKey.parse("Env.BUILD_NO"))),
], ids=["semantic", "history", "config"])
@pytest.mark.parametrize("change", [
    {"config": with_config(Labels={"x": "y"})},
    {"created_by": "/bin/sh -c #(nop) COPY dir:0123 in /app "},
    {"config": with_config(Env=["PATH=/usr/bin", "BUILD_NO=7"])},
    {"files": {"app/a.txt": b"other"}},
], ids=["labels", "history", "env", "files"])
def test_the_filtered_verdict_does_not_depend_on_argument_order(options, change):
    forward, backward = diff(image(), image(**change), options), diff(image(**change), image(), options)
    assert forward.exit_status == backward.exit_status
    assert forward.verdict_kind == backward.verdict_kind
