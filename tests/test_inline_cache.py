"""The inline cache (moby.buildkit.cache.v0): decoding, the single-image check, the diff's cause."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import pytest

from imageforensics.audit import check_inline_cache, inline_cache_findings
from imageforensics.diff._engine import diff_images
from imageforensics.findings import Severity
from imageforensics.inline_cache import SHAPE_CACHE_CONFIG, decode_cache, records_json
from imageforensics.options import Limits
from imageforensics.model import Archive, Image
from imageforensics.model_json import archive_from_json, archive_to_json
from imageforensics.parse._config import inline_cache
from tests.cachekit import Step, build, encoded, v080_shift, with_cache

# The real seed's cache, as dockerd 20.10.24 wrote it (inline-cache notes §1.1).
SEED = [
    {"layers": [{"layer": 3, "createdAt": "2026-12-03T09:53:28.029413439Z"}], "digest": "sha256:544732ff", "inputs": [[{"link": 4}], [{"link": 3}]]},
    {"layers": [{"layer": 1, "createdAt": "2026-12-03T09:53:27.23825407Z"}], "digest": "sha256:6ce10396", "inputs": [[{"link": 2}]]},
    {"digest": "sha256:c6f4841e"},
    {"digest": "sha256:d982c0cb"},
    {"layers": [{"layer": 2, "createdAt": "2026-12-03T09:53:27.800145524Z"}], "digest": "sha256:fab8c3d9", "inputs": [[{"link": 1}]]},
]


def decoded(value: object, limits: Limits = Limits()):
    return inline_cache(value, source="x.tar", member="config.json", limits=limits)


# ---- decoding -------------------------------------------------------------------------


def test_the_array_shape_docker_writes_decodes_record_by_record():
    cache = decoded(encoded(SEED))
    assert cache.problem == "" and len(cache.records) == 5 and cache.shape == "records"
    top = cache.records[0]
    assert top.claim == 3 and top.parent == 4 and top.inputs[1][0].link == 3
    assert top.results[0].created_at is not None and top.results[0].created_at.raw == "2026-12-03T09:53:28.029413439Z"
    assert cache.records[2].claim is None and cache.records[2].parent is None
    assert records_json(cache) == SEED


def test_selectors_and_chains_are_kept():
    records = [{"digest": "sha256:a"}, {"digest": "sha256:b", "inputs": [[{"link": 0}], [{"link": 0}, {"selector": "sha256:s", "link": 0}]],
                                        "chains": [{"layers": [0, 2], "createdAt": "2026-01-01T00:00:00Z"}]}]
    cache = decode_cache(records)
    assert cache.records[1].inputs[1][1].selector == "sha256:s"
    assert cache.records[1].chains[0].layers == (0, 2)
    assert records_json(cache) == records


def test_the_cache_config_object_maps_indices_to_chain_depth():
    # CacheConfig: records[].layers[].layer index the object's layers, each with a parent.
    obj = {"layers": [{"blob": "sha256:x", "parent": -1}, {"blob": "sha256:y", "parent": 0}, {"blob": "sha256:z", "parent": 1}],
           "records": [{"digest": "sha256:a"}, {"digest": "sha256:b", "inputs": [[{"link": 0}]], "layers": [{"layer": 2}]}]}
    cache = decoded(encoded(obj))
    assert cache.problem == "" and cache.shape == SHAPE_CACHE_CONFIG
    assert cache.records[1].claim == 2


@pytest.mark.parametrize("value, problem", [
    (42, "moby.buildkit.cache.v0 is a number, expected a base64 string"),
    ("not base64!", "moby.buildkit.cache.v0 is not base64"),
    (base64.b64encode(b"{nope").decode(), "x.tar: config.json: the inline cache moby.buildkit.cache.v0 is not JSON"),
    (encoded("a string"), "the cache is a string, expected an array of records"),
    (encoded([1]), "records[0] is a number, expected an object"),
    (encoded([{"layers": [{"layer": "3"}]}]), "records[0].layers[0].layer is a string, expected an integer"),
    (encoded([{"inputs": [[{"link": 5}]]}]), "records[0].inputs[0][0].link 5 is out of range (1 records)"),
    (encoded([{"inputs": {"link": 0}}]), "records[0].inputs is an object, expected an array"),
    (encoded({"layers": [{"parent": 3}], "records": []}), "layers[0].parent 3 is out of range (1 layers)"),
    (encoded({"layers": [{"parent": 0}], "records": []}), "layers[0]: its parent chain loops"),
])
def test_every_malformed_cache_is_a_finding_never_an_error(value, problem):
    cache = decoded(value)
    assert cache.records == () and cache.problem.startswith(problem)
    img, _ = build([Step("RUN a")])
    (f,) = inline_cache_findings(replace(img, inline_cache=cache))
    assert f.code == "inline-cache-undecodable" and f.severity is Severity.WARNING
    assert f.evidence_value("problem") == cache.problem


def test_the_json_limits_apply_inside_the_base64():
    deep = encoded([[[[[[]]]]]])
    assert "over the 3-level limit (--max-json-depth)" in decoded(deep, Limits(max_json_depth=3)).problem
    assert "over the 10-byte JSON limit" in decoded(encoded(SEED), Limits(max_json_bytes=10)).problem


def test_snapshots_carry_the_cache_and_older_ones_load_without_it():
    img, _ = build([Step("RUN a"), Step("COPY b /b # buildkit")])
    archive = Archive(source="x.tar", layout="docker-legacy", compression="none", sha256=None, images=(img,))
    doc = json.loads(json.dumps(archive_to_json(archive)))
    assert archive_from_json(doc, "x.tar").images[0].inline_cache == img.inline_cache
    del doc["images"][0]["inline_cache"]
    assert archive_from_json(doc, "x.tar").images[0].inline_cache is None


# ---- the single-image check -----------------------------------------------------------


HEALTHY = {
    "no empty layer": ([Step("RUN a"), Step("COPY b /b # buildkit")], 1, ()),
    "empty layer first": ([Step("WORKDIR /tmp", empty=True), Step("COPY b /b # buildkit")], 1, ()),
    "empty layer in the middle": ([Step("RUN a"), Step("WORKDIR /x", empty=True), Step("COPY b /b # buildkit")], 1, (1,)),
    "empty layer last": ([Step("COPY b /b # buildkit"), Step("RUN true", empty=True)], 1, ()),
    "two empty layers": ([Step("RUN a"), Step("WORKDIR /x", empty=True), Step("RUN true", empty=True), Step("COPY b /b # buildkit")], 1, ()),
    "FROM scratch": ([Step("COPY a / # buildkit"), Step("COPY b /b # buildkit")], 0, ()),
    "dropped empty layer (standalone BuildKit)": ([Step("RUN a"), Step("RUN true", layer=False), Step("COPY b /b # buildkit")], 1, ()),
    "two base layers": ([Step("ADD x.tgz / # buildkit"), Step("WORKDIR /x", empty=True)], 2, ()),
}


@pytest.mark.parametrize("name", sorted(HEALTHY))
def test_a_healthy_cache_gets_a_neutral_info(name):
    steps, base, meta = HEALTHY[name]
    img, _ = build(steps, base_layers=base, metadata_after=meta)
    (f,) = inline_cache_findings(img)
    assert f.code == "inline-cache" and f.severity is Severity.INFO
    assert f.summary == f"carries a BuildKit inline cache (moby.buildkit.cache.v0) of {len(steps) + 1} records, consistent with its layers"


def test_a_multi_stage_copy_from_is_healthy():
    # The build stage's records stay as link targets without layers (notes §1.1, multistage).
    img, records = build([Step("WORKDIR /tmp", empty=True), Step("COPY /out/ /app/ # buildkit")])
    records = records + [{"digest": "sha256:build-run", "inputs": [[{"link": 0}]]}, {"digest": "sha256:checksum"}]
    records[2]["inputs"].append([{"link": 4}, {"selector": "sha256:a5bc", "link": 3}])
    assert check_inline_cache(with_cache(img, records)).kind == "healthy"


def test_the_real_seed_shape_poisoned_names_the_step_and_predicts_the_damage():
    steps = [Step("RUN /bin/sh -c mkdir -p /opt/tomcat # buildkit"), Step("WORKDIR /opt/tomcat", empty=True),
             Step("COPY rootfs / # buildkit", entries=("etc", "etc/app", "etc/app/app.conf"))]
    img, records = build(steps, metadata_after=(1,))
    poisoned = with_cache(img, v080_shift(img, records))
    (f,) = inline_cache_findings(poisoned)
    assert f.code == "inline-cache-poisoned" and f.severity is Severity.ERROR
    assert f.step_a == 4 and f.paths == ("/etc", "/etc/app", "/etc/app/app.conf")
    assert (f.evidence_value("points_at"), f.evidence_value("should"), f.evidence_value("lost_steps")) == (2, 3, (4,))
    assert "the top record (step 4 `COPY rootfs /`) points at layer 2 (step 2 `WORKDIR /opt/tomcat`'s) where it should point at 3" in f.summary
    # One example in the summary; the paths, which --max-paths cuts, list them all.
    assert f.summary.endswith("A `--cache-from` build from this image will mark step 4 `COPY rootfs /` empty_layer "
                              "and lose its 3 entries: e.g. /etc")


def test_k_empty_layers_below_flip_k_steps():
    img, records = build([Step("RUN a"), Step("WORKDIR /x", empty=True), Step("RUN true", empty=True), Step("COPY b /b # buildkit", entries=("b",))])
    (f,) = inline_cache_findings(with_cache(img, v080_shift(img, records)))
    assert f.evidence_value("lost_steps") == (3, 4) and f.evidence_value("points_at") == 2
    assert "will mark 2 steps empty_layer (step 3 `RUN true`, step 4 `COPY b /b`" in f.summary


def test_an_empty_first_step_claiming_the_base_layer_is_poisoned():
    img, records = build([Step("WORKDIR /tmp", empty=True), Step("COPY a /a # buildkit"), Step("COPY b /b # buildkit")])
    shifted = v080_shift(img, records)
    check = check_inline_cache(with_cache(img, shifted))
    assert check is not None and check.kind == "poisoned" and [s.index for s in check.lost_steps] == [3]


def corrupt_rebuild(source: Image) -> Image:
    """What a `--cache-from` build from a poisoned source gives (notes §4): short chain, surplus steps flipped, times filled."""
    check = check_inline_cache(source)
    assert check is not None and check.points_at is not None
    kept = check.points_at + 1
    ended = next(s for s in source.history if s.layer_index == check.points_at)
    history = []
    for s in source.history:
        if s.index > ended.index:
            s = replace(s, created=ended.created, empty_layer=True if s.layer_index is not None else s.empty_layer, layer_index=None)
        history.append(s)
    return replace(source, image_id=source.image_id.__class__.sha256("1" * 64), diff_ids=source.diff_ids[:kept],
                   layers=source.layers[:kept], layer_refs=source.layer_refs[:kept], history=tuple(history), created=ended.created)


def seed_pair() -> tuple[Image, Image, Image]:
    steps = [Step("RUN a # buildkit"), Step("WORKDIR /opt/tomcat", empty=True), Step("COPY rootfs / # buildkit", entries=("etc", "etc/a"))]
    healthy, records = build(steps, metadata_after=(1,))
    poisoned = with_cache(healthy, v080_shift(healthy, records))
    poisoned = replace(poisoned, image_id=poisoned.image_id.__class__.sha256("2" * 64))
    return healthy, poisoned, corrupt_rebuild(poisoned)


def test_the_corrupt_rebuild_says_it_carries_the_poison_on():
    _, _, corrupt = seed_pair()
    (f,) = inline_cache_findings(corrupt)
    assert f.code == "inline-cache-poison-carried" and f.severity is Severity.ERROR and f.step_a == 4
    assert f.summary.startswith("carries a poisoned BuildKit inline cache on: the record of step 4 `COPY rootfs /` claims layer 2")
    assert "A `--cache-from` build from this image reproduces it" in f.summary


# ---- the diff -------------------------------------------------------------------------


def archive(img: Image) -> Archive:
    return Archive(source="x.tar", layout="docker-legacy", compression="none", sha256=None, images=(img,))


def verdict(a: Image, b: Image) -> str:
    return diff_images(archive(a), a, archive(b), b).verdict


def test_the_verdict_names_the_poisoned_cache_in_both_orders():
    _, poisoned, corrupt = seed_pair()
    forward = verdict(poisoned, corrupt)
    assert forward.startswith("B is missing content that A has")
    assert ("Cause: B was built from A's poisoned inline cache: A's top record, for step 4 `COPY rootfs /`, points at layer 2 "
            "where it should point at 3, so the `--cache-from` build's chain ended at layer 2 (step 2 `WORKDIR /opt/tomcat`) "
            "and marked step 4 `COPY rootfs /` empty_layer; B's steps 3–4 carry the created time of step 2") in forward
    backward = verdict(corrupt, poisoned)
    assert "Cause: A was built from B's poisoned inline cache: B's top record" in backward


def test_against_the_healthy_source_the_rebuild_carries_the_cause():
    healthy, _, corrupt = seed_pair()
    for text, r, s in ((verdict(healthy, corrupt), "B", "A"), (verdict(corrupt, healthy), "A", "B")):
        assert f"Cause: {r} was built from a poisoned inline cache and carries it on ({s}'s own cache is healthy)" in text


def test_when_only_the_cache_differs_the_verdict_says_so():
    healthy, poisoned, _ = seed_pair()
    text = verdict(healthy, poisoned)
    assert text.startswith("same content with metadata differences: the same layer content; only the BuildKit inline cache differs")
    assert "written differently" not in text
    assert ": A layer 3, B layer 2" in text


def test_a_healthy_image_against_itself_has_no_cache_cause():
    healthy, _, _ = seed_pair()
    assert "Cause" not in verdict(healthy, healthy)
