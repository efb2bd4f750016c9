"""Model JSON and snapshots: exact round trip, no file contents, redaction, hostile snapshots, same findings."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imageforensics.errors import SnapshotError
from imageforensics.options import Limits
from imageforensics.model import Archive, Digest, FileEntry, HistoryStep, Image, Layer, Platform, RunConfig
from imageforensics.model_json import archive_from_json, archive_to_json
from imageforensics.snapshot import STORED_AUDIT_CODES, load_snapshot, write_snapshot
from imageforensics.timestamp import Timestamp
from tests.reportfactory import findings, hostile_text

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"

# --- strategies over the whole model -------------------------------------------

_small = st.integers(0, 2**40)
_hex = st.binary(min_size=32, max_size=32).map(lambda b: b.hex())
digests = st.one_of(_hex.map(Digest.sha256), _hex.map(lambda h: Digest("sha512", h * 2)))
_pairs = st.lists(st.tuples(hostile_text, hostile_text), max_size=3).map(tuple)
_strs = st.lists(hostile_text, max_size=3).map(tuple)
_opt_strs = st.one_of(st.none(), _strs)
timestamps = st.one_of(st.none(), st.builds(Timestamp.parse, hostile_text),
                       st.builds(Timestamp, hostile_text, st.one_of(st.none(), st.integers())))
entries = st.builds(FileEntry, path=hostile_text, kind=st.sampled_from(["file", "dir", "symlink", "whiteout", "x"]),
                    size=_small, mode=st.integers(0, 0o177777), uid=_small, gid=_small,
                    mtime_ns=st.integers(-(2**63), 2**63), linkname=hostile_text, devmajor=_small,
                    devminor=_small, xattrs=_pairs, content_digest=hostile_text)
layers = st.builds(Layer, member=hostile_text, blob_digest=digests, diff_id=st.one_of(st.none(), digests),
                   compression=st.sampled_from(["none", "gzip", "zstd"]), size=_small, uncompressed_size=_small,
                   entries=st.lists(entries, max_size=4).map(tuple), readable=st.booleans(), problem=hostile_text,
                   empty_kind=hostile_text, anomalies=_pairs)
steps = st.builds(HistoryStep, index=_small, created=timestamps, created_by=hostile_text, author=hostile_text,
                  comment=hostile_text, empty_layer=st.booleans(), layer_index=st.one_of(st.none(), _small))
run_configs = st.builds(RunConfig, env=_opt_strs, cmd=_opt_strs, entrypoint=_opt_strs, working_dir=hostile_text,
                        user=hostile_text, exposed_ports=_strs, volumes=_strs, labels=_pairs,
                        stop_signal=hostile_text, healthcheck=hostile_text, shell=_opt_strs, on_build=_opt_strs)
# An image holds what parsing observed; the audit codes it held before are dropped on load (test below).
image_findings = findings.filter(lambda f: f.code not in STORED_AUDIT_CODES)
images = st.builds(Image, image_id=digests, config_member=hostile_text, manifest_digest=st.one_of(st.none(), digests),
                   references=_strs, platform=st.builds(Platform, os=hostile_text, architecture=hostile_text,
                                                        variant=hostile_text, os_version=hostile_text,
                                                        os_features=_strs),
                   created=timestamps, author=hostile_text, history=st.lists(steps, max_size=3).map(tuple),
                   diff_ids=st.lists(digests, max_size=3).map(tuple),
                   layers=st.lists(st.one_of(st.none(), layers), max_size=3).map(tuple), layer_refs=_strs,
                   run_config=run_configs, docker_version=hostile_text, has_inline_cache=st.booleans(),
                   findings=st.lists(image_findings, max_size=2).map(tuple))
archives = st.builds(Archive, source=hostile_text, layout=hostile_text, compression=hostile_text,
                     sha256=st.one_of(st.none(), digests), images=st.lists(images, max_size=2).map(tuple),
                     findings=st.lists(findings, max_size=2).map(tuple), size=_small, notes=_strs)


# --- model JSON ------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(archives)
def test_model_json_round_trip_is_exact(archive: Archive) -> None:
    text = json.dumps(archive_to_json(archive), sort_keys=True, ensure_ascii=True)
    assert archive_from_json(json.loads(text), source=archive.source) == archive


def _full_entry() -> FileEntry:
    return FileEntry(path="usr/bin/tool", kind="file", size=7, mode=0o755, uid=1, gid=2, mtime_ns=3,
                     linkname="x", devmajor=4, devminor=5, xattrs=(("user.a", "b"),), content_digest="sha256:00")


def test_every_model_field_is_written() -> None:
    """A field added to the model but not to modeljson would be lost silently: not so."""
    digest = Digest.sha256("0" * 64)
    layer = Layer(member="m", blob_digest=digest, diff_id=digest, compression="gzip", size=1, uncompressed_size=2,
                  entries=(_full_entry(),))
    image = Image(image_id=digest, config_member="c", manifest_digest=None, references=(), platform=Platform(),
                  created=None, author="", history=(HistoryStep(index=0, created=None),), diff_ids=(digest,),
                  layers=(layer,), layer_refs=("m",), run_config=RunConfig())
    archive = Archive(source="s", layout="l", compression="none", sha256=None, images=(image,))
    doc = archive_to_json(archive)
    checks: list[tuple[type, dict[str, Any]]] = [
        (Archive, doc), (Image, doc["images"][0]), (Layer, doc["images"][0]["layers"][0]),
        (FileEntry, doc["images"][0]["layers"][0]["entries"][0]), (HistoryStep, doc["images"][0]["history"][0]),
        (RunConfig, doc["images"][0]["run_config"]), (Platform, doc["images"][0]["platform"]),
    ]
    for cls, written in checks:
        # A field outside equality (Layer.location: where the bytes were read; Layer.kept: file bytes
        # kept for `cat` from a stream) is a reading aid, left out on purpose: a snapshot holds no contents.
        assert {f.name for f in dataclasses.fields(cls) if f.compare} == set(written), cls.__name__
    assert [f.name for f in dataclasses.fields(Layer) if not f.compare] == ["location", "kept"]


def test_entries_omit_defaults_but_keep_values() -> None:
    minimal = archive_to_json(Archive(source="s", layout="l", compression="none", sha256=None, images=()))
    assert minimal["images"] == []
    from imageforensics.model_json import entry_json, load_entry

    assert entry_json(FileEntry(path="etc", kind="dir")) == {"path": "etc", "kind": "dir"}
    assert load_entry(entry_json(_full_entry()), "e") == _full_entry()


# --- snapshots ------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(archives)
def test_snapshot_round_trip(archive: Archive) -> None:
    data = write_snapshot(archive)
    assert data == write_snapshot(archive)  # deterministic
    loaded = load_snapshot(data, source="a.json")
    assert loaded.images == archive.images and loaded.findings == archive.findings
    assert (loaded.layout, loaded.compression, loaded.sha256, loaded.size) == \
        (archive.layout, archive.compression, archive.sha256, archive.size)
    assert loaded.source == "a.json" and loaded.notes[: len(archive.notes)] == archive.notes
    assert load_snapshot(gzip.compress(data, mtime=0), source="a.json.gz").images == archive.images


def _sample(name: str) -> Archive:
    from imageforensics.read._archive import read_archive

    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"samples/{name} not generated")
    return read_archive(str(path))


def _file_contents(path: Path) -> list[bytes]:
    """Contents of the regular files in every layer of a docker-legacy sample, read in memory."""
    out = []
    with tarfile.open(path) as outer:
        for member in outer.getmembers():
            if member.isfile() and member.name.endswith("layer.tar"):
                raw = outer.extractfile(member)
                assert raw is not None
                with tarfile.open(fileobj=io.BytesIO(raw.read())) as layer:
                    for entry in layer.getmembers():
                        f = layer.extractfile(entry) if entry.isfile() else None
                        if f is not None:
                            out.append(f.read())
    return out


def test_snapshot_of_a_sample_holds_metadata_and_digests_but_no_contents() -> None:
    archive = _sample("tomcat-pulled.tar")
    data = write_snapshot(archive)
    doc = json.loads(data)
    assert doc["format"] == "imageforensics-snapshot" and doc["format_version"] == 2
    assert doc["redacted"] == []
    contents = [c for c in _file_contents(SAMPLES / "tomcat-pulled.tar") if len(c) >= 24]
    assert contents, "the sample has files with contents"
    for content in contents:
        assert content not in data
        assert f"sha256:{hashlib.sha256(content).hexdigest()}".encode() in data
    assert load_snapshot(data, source="a.json").images == archive.images


def _with_config(archive: Archive) -> Archive:
    config = RunConfig(env=("PATH=/usr/bin", "DB_PASSWORD=hunter2-secret", "BARE"),
                       labels=(("org.example.token", "tok-123456789"), ("version", "1.0")))
    image = dataclasses.replace(archive.images[0], run_config=config)
    return dataclasses.replace(archive, images=(image,) + archive.images[1:])


def test_redaction_replaces_values_keeps_keys_and_says_so() -> None:
    archive = _with_config(_sample("tomcat-pulled.tar"))
    data = write_snapshot(archive, redact=frozenset({"env", "labels"}))
    assert b"hunter2-secret" not in data and b"tok-123456789" not in data and b"/usr/bin" not in data
    loaded = load_snapshot(data, source="a.json")
    config = loaded.images[0].run_config
    digest = hashlib.sha256(b"hunter2-secret").hexdigest()
    assert config.env == (f"PATH=redacted:sha256:{hashlib.sha256(b'/usr/bin').hexdigest()}",
                          f"DB_PASSWORD=redacted:sha256:{digest}", "BARE")
    assert [k for k, _ in config.labels] == ["org.example.token", "version"]
    assert config.labels[1][1] == "redacted:sha256:" + hashlib.sha256(b"1.0").hexdigest()
    assert json.loads(data)["redacted"] == ["env", "labels"]
    assert any(n.startswith("redacted: env, labels") for n in loaded.notes)
    # Only what was asked for.
    env_only = load_snapshot(write_snapshot(archive, redact=frozenset({"env"})), source="a.json")
    assert env_only.images[0].run_config.labels == archive.images[0].run_config.labels
    assert any(n.startswith("redacted: env ") for n in env_only.notes)
    with pytest.raises(ValueError):
        write_snapshot(archive, redact=frozenset({"cmd"}))


def _valid_doc() -> dict[str, Any]:
    digest = Digest.sha256("ab" * 32)
    layer = Layer(member="l.tar", blob_digest=digest, diff_id=digest, compression="none", size=1,
                  uncompressed_size=1, entries=(FileEntry(path="a", kind="file", size=1),))
    image = Image(image_id=digest, config_member="c.json", manifest_digest=None, references=("x:y",),
                  platform=Platform(os="linux"), created=Timestamp.parse("2021-01-01T00:00:00Z"), author="",
                  history=(HistoryStep(index=0, created=None, created_by="ADD"),), diff_ids=(digest,),
                  layers=(layer,), layer_refs=("l.tar",), run_config=RunConfig())
    archive = Archive(source="a.tar", layout="docker-legacy", compression="none", sha256=digest, images=(image,))
    return json.loads(write_snapshot(archive))  # type: ignore[no-any-return]


@pytest.mark.parametrize("data, member, expected", [
    (b"", None, "not JSON"),
    (b"\xff\xfe{", None, "not UTF-8"),
    (b"[1, 2]", None, "not an imageforensics snapshot"),
    (b'{"format": "other"}', None, "not an imageforensics snapshot"),
    (b"[" * 200_000, None, "nested too deeply"),
    (gzip.compress(b"{}" * 50, mtime=0)[:-8] + b"\0" * 8, None, "gzip data is corrupt"),  # bad CRC
    (gzip.compress(b'{"format": 1}')[:-12], None, "truncated"),
    (gzip.compress(b"{}") + b"junk", None, "after the gzip stream"),
])
def test_broken_snapshots_give_one_line_errors(data: bytes, member: str | None, expected: str) -> None:
    with pytest.raises(SnapshotError) as caught:
        load_snapshot(data, source="s.json")
    assert caught.value.archive == "s.json" and caught.value.member == member
    assert expected in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("mutate, member", [
    (lambda d: d.update(format_version=99), "format_version"),
    (lambda d: d.update(redacted=["passwords"]), "redacted"),
    (lambda d: d["archive"]["images"][0].update(image_id="sha256:xyz"), "archive.images[0].image_id"),
    (lambda d: d["archive"]["images"][0]["layers"][0]["entries"][0].update(size="1"),
     "archive.images[0].layers[0].entries[0].size"),
    (lambda d: d["archive"]["images"][0]["layers"][0]["entries"][0].update(owner="root"),
     "archive.images[0].layers[0].entries[0].owner"),
    (lambda d: d["archive"]["images"][0]["history"][0].update(empty_layer=None),
     "archive.images[0].history[0].empty_layer"),
    (lambda d: d["archive"]["images"][0]["run_config"].pop("env"), "archive.images[0].run_config.env"),
    (lambda d: d["archive"].update(images={}), "archive.images"),
])
def test_hostile_snapshot_fields_are_named(mutate: Any, member: str) -> None:
    doc = _valid_doc()
    mutate(doc)
    with pytest.raises(SnapshotError) as caught:
        load_snapshot(json.dumps(doc).encode(), source="s.json")
    assert caught.value.member == member


def test_duplicate_keys_and_bombs_are_refused() -> None:
    text = json.dumps(_valid_doc())
    with pytest.raises(SnapshotError, match="each key once"):
        load_snapshot(text.replace('"format":', '"format": "x", "format":', 1).encode(), source="s.json")
    bomb = gzip.compress(b" " * 5_000_000, mtime=0)
    with pytest.raises(SnapshotError, match="inflates to more than"):
        load_snapshot(bomb, source="s.json", limits=Limits(max_json_bytes=1000))


_JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5), st.just([]), st.just({}),
                         st.just([["a"]]))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, prefix + (i,))
    return out


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_value_swapped_loads_or_gives_a_snapshot_error(data: st.DataObject) -> None:
    doc = _valid_doc()
    path = data.draw(st.sampled_from(_paths(doc)[1:]))
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = data.draw(_JSON_VALUES)
    try:
        load_snapshot(json.dumps(doc).encode(), source="s.json")
    except SnapshotError as e:
        assert e.archive == "s.json" and "\n" not in str(e)


# --- the same findings from a snapshot as from its archive ---------------------

SAMPLE_PAIRS = [("tomcat-pulled.tar", "tomcat-cache-from.tar"), ("same-legacy.tar", "same-oci.tar"),
                ("timestamps-a.tar", "timestamps-b.tar"), ("whiteout-a.tar", "whiteout-b.tar"),
                ("opaque-a.tar", "opaque-b.tar"), ("mode-a.tar", "mode-b.tar"), ("platform-a.tar", "platform-b.tar")]


@pytest.mark.parametrize("name_a, name_b", SAMPLE_PAIRS)
def test_snapshots_diff_like_their_archives(name_a: str, name_b: str) -> None:
    from imageforensics.diff._engine import diff_images
    from imageforensics.read._selection import select_image

    def first(archive: Archive) -> Image:
        return select_image(archive, reference=None, index=None, platform=None)

    a, b = _sample(name_a), _sample(name_b)
    snap_a = load_snapshot(gzip.compress(write_snapshot(a), mtime=0), source=a.source)
    snap_b = load_snapshot(write_snapshot(b), source=b.source)
    want = diff_images(a, first(a), b, first(b))
    for x, y in ((snap_a, snap_b), (snap_a, b), (a, snap_b)):
        got = diff_images(x, first(x), y, first(y))
        assert (got.verdict_kind, got.verdict, got.findings, got.steps) == \
            (want.verdict_kind, want.verdict, want.findings, want.steps)


def test_snapshots_of_every_readable_corpus_archive_are_exact() -> None:
    """Real archives from many tools: the snapshot's model equals the archive's, so its findings do too."""
    from imageforensics.errors import ImageForensicsError
    from imageforensics.read._archive import read_archive

    corpus = ROOT.parent / "shared" / "corpus"
    if not corpus.is_dir():
        pytest.skip("../shared/corpus is absent")
    inputs = [p for p in sorted(corpus.rglob("*")) if (p.is_file() and p.suffix not in (".md", ".txt", ".json")
                                                      and p.stat().st_size <= 4_000_000)
              or (p.is_dir() and (p / "index.json").is_file())]
    checked = 0
    for path in inputs:
        try:
            archive = read_archive(str(path))
        except ImageForensicsError:
            continue  # not an image archive, or a malformed one: the reader's tests cover those
        loaded = load_snapshot(gzip.compress(write_snapshot(archive), mtime=0), source=archive.source)
        assert (loaded.images, loaded.findings, loaded.layout) == (archive.images, archive.findings,
                                                                   archive.layout), path
        checked += 1
    assert checked >= 20


# --- the audit is computed, not stored ------------------------------------------

OLD_SNAPSHOTS = ROOT / "tests" / "old-snapshots"


def _as_old_snapshots_hold(archive: Archive) -> Archive:
    """The archive as a snapshot of the old format can hold it: that format kept no decoded inline cache
    and no package databases, so nothing about the cache or the packages can be said from such a snapshot."""
    def unknown(layer: Layer | None) -> Layer | None:
        return None if layer is None else dataclasses.replace(layer, package_databases=None)

    return dataclasses.replace(archive, images=tuple(
        dataclasses.replace(i, inline_cache=None, layers=tuple(unknown(layer) for layer in i.layers))
        for i in archive.images))


def _first(archive: Archive) -> Image:
    from imageforensics.read._selection import select_image

    return select_image(archive, reference=None, index=None, platform=None)


def _diff(a: Archive, b: Archive) -> Any:
    from imageforensics.diff._engine import diff_images

    report = diff_images(a, _first(a), b, _first(b))
    return (report.verdict_kind, report.verdict, report.findings, report.steps)


def _old_doc(name: str) -> dict[str, Any]:
    return json.loads(gzip.decompress((OLD_SNAPSHOTS / f"{name}.json.gz").read_bytes()))  # type: ignore[no-any-return]


def _audit_codes() -> set[str]:
    """The codes the single-image audit (audit.py) emits, read from its source."""
    import re

    from imageforensics import audit

    return set(re.findall(r'_f\(\s*"([a-z0-9-]+)"', Path(audit.__file__).read_text(encoding="utf-8")))


def _parse_codes() -> set[str]:
    """The codes parsing emits (parse/), read from its sources."""
    import re

    from imageforensics import parse

    folder = Path(parse.__file__).parent
    return {code for path in folder.glob("*.py")
            for code in re.findall(r'code="([a-z0-9-]+)"|_finding\(\s*"([a-z0-9-]+)"|"([a-z0-9-]+)",\s*(?:ERROR|WARNING|INFO)',
                                   path.read_text(encoding="utf-8")) for code in code if code}


def test_the_codes_dropped_on_load_are_the_audits_never_what_parsing_observes() -> None:
    audit_codes = _audit_codes()
    assert len(audit_codes) > 15
    assert STORED_AUDIT_CODES <= audit_codes
    assert _parse_codes() and not STORED_AUDIT_CODES & _parse_codes()


@pytest.mark.parametrize("name", ["tomcat-cache-from", "tomcat-pulled", "platform-a"])
def test_a_snapshot_holds_what_parsing_observed_and_no_audit(name: str) -> None:
    from imageforensics.audit import image_findings

    archive = _sample(f"{name}.tar")
    doc = json.loads(write_snapshot(archive))
    stored = {f["code"] for image in doc["archive"]["images"] for f in image["findings"]}
    assert not stored & _audit_codes()
    # What the earlier format held beyond the audit is still there (platform-a: its LayerSources).
    old = {f["code"] for image in _old_doc(name)["archive"]["images"] for f in image["findings"]}
    assert stored == old - STORED_AUDIT_CODES
    # The audit is recomputed from the loaded model: the same as the archive's.
    loaded = load_snapshot(write_snapshot(archive), source=archive.source)
    assert [image_findings(i) for i in loaded.images] == [image_findings(i) for i in archive.images]


@pytest.mark.parametrize("name", ["tomcat-cache-from", "tomcat-pulled", "platform-a"])
def test_an_old_snapshot_with_its_audit_stored_loads_as_its_archive_and_diffs_like_it(name: str) -> None:
    from imageforensics.audit import image_findings
    from imageforensics.report._inspect import render_inspect_all

    archive = _as_old_snapshots_hold(_sample(f"{name}.tar"))
    data = (OLD_SNAPSHOTS / f"{name}.json.gz").read_bytes()
    old = load_snapshot(data, source=archive.source)
    # Written from the same path as the old one, so that their notes name the same archive.
    taken_from = dataclasses.replace(archive, source=_old_doc(name)["archive"]["source"])
    new = load_snapshot(write_snapshot(taken_from), source=archive.source)
    assert old.images == archive.images == new.images
    assert _diff(old, archive) == _diff(archive, archive) == _diff(archive, old)
    assert _diff(old, archive)[0] == "identical"
    assert render_inspect_all(old, image_findings=image_findings) == render_inspect_all(new, image_findings=image_findings)


def test_an_old_snapshot_from_a_version_without_a_check_diffs_against_its_archive_as_identical() -> None:
    """The reason the audit is not stored: the old snapshot's missing check is recomputed, not reported as a difference."""
    archive = _as_old_snapshots_hold(_sample("tomcat-cache-from.tar"))
    doc = _old_doc("tomcat-cache-from")
    (image,) = doc["archive"]["images"]
    # As a version that did not yet flag a COPY step marked empty_layer would have written it.
    assert "fs-step-marked-empty" in {f["code"] for f in image["findings"]}
    image["findings"] = [f for f in image["findings"] if f["code"] != "fs-step-marked-empty"]
    without = load_snapshot(json.dumps(doc).encode(), source=archive.source)
    assert _diff(without, archive) == _diff(archive, archive)
    # Identical; the image's own problem (recomputed for the snapshot) is said once, for both.
    assert _diff(without, archive)[:3] == ("identical", _diff(archive, archive)[1], _diff(archive, archive)[2])
    assert [(f.code, f.side) for f in _diff(without, archive)[2]] == [("fs-step-marked-empty", "")]
    # And against another archive it diffs as its archive does, the recomputed WARNING included.
    other = _as_old_snapshots_hold(_sample("tomcat-pulled.tar"))
    assert _diff(other, without) == _diff(other, archive)
    assert "fs-step-marked-empty" in {f.code for f in _diff(other, without)[2]}


def test_an_old_snapshot_whose_check_was_worded_otherwise_has_this_versions_audit() -> None:
    """A stored finding that this version's check no longer gives exactly is dropped, not shown beside the new one."""
    from imageforensics.audit import image_findings

    archive = _as_old_snapshots_hold(_sample("tomcat-pulled.tar"))
    doc = _old_doc("tomcat-pulled")
    (image,) = doc["archive"]["images"]
    (inline,) = [f for f in image["findings"] if f["code"] == "inline-cache"]
    inline["summary"] = "inline cache found"  # as an earlier version might have put it
    older = load_snapshot(json.dumps(doc).encode(), source=archive.source)
    assert [image_findings(i) for i in older.images] == [image_findings(i) for i in archive.images]
    assert _diff(older, archive) == _diff(archive, archive)
