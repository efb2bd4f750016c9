"""The structure-aware mutators of tools/fuzz.py reach what they aim at, and the campaign classifies and saves.

Each mutator runs on the samples and on synthetic archives of every layout.
A mutator that claims to re-fix the digest chain must give an archive the
reader takes without any digest finding (a broken fix-up would be stopped by
blob-digest-mismatch, diff-id-mismatch, image-id-mismatch or
descriptor-size-mismatch, and never reach the parser it aims at); one that
works inside a layer must leave the outer archive readable and change that
layer's diff_id; one that changes an outer header must leave the header's
checksum right. A tiny deterministic campaign then runs every mutator, and
planted failures come out classified, saved under the mutator's name and
seed, and rebuilt byte for byte from (seed, index).
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import time
from pathlib import Path

import pytest

import imageforensics
from imageforensics.errors import ImageForensicsError, SelectionError
from imageforensics.read import read_stream
from tools import fuzz, mutators
from tools.mutators import MUTATORS, RawTar, checksum_ok

DIGEST_CODES = {"blob-digest-mismatch", "diff-id-mismatch", "image-id-mismatch", "descriptor-size-mismatch"}
ROUNDS = 6
# The content digest of the file symlink-child writes below its symlink.
PLANTED = "sha256:" + hashlib.sha256(b"root::0:0::/root:/bin/sh\n").hexdigest()


def _codes(data: bytes) -> set[str] | None:
    """Every finding code of the archive and its images, or None when it does not read."""
    try:
        archive = read_stream(io.BytesIO(data), "mutant.tar")
    except ImageForensicsError:
        return None
    codes = {f.code for f in archive.findings}
    for image in archive.images:
        codes |= {f.code for f in imageforensics.audit.image_findings(image)}
    return codes


def _diff_ids(data: bytes) -> set[str]:
    archive = read_stream(io.BytesIO(data), "mutant.tar")
    return {str(d) for image in archive.images for d in image.diff_ids}


def _seeds() -> list[tuple[str, bytes]]:
    return [(s.name, s.path.read_bytes()) for s in fuzz.structured_seeds(None) if s.name.startswith("samples/")] + [
        (name, data) for name, data in fuzz.synthetic_seeds()]


@pytest.mark.parametrize("name", sorted(MUTATORS))
def test_each_mutator_is_deterministic_and_keeps_what_it_claims(name: str) -> None:
    fn, keeps = MUTATORS[name]
    made = 0
    for k, (seed_name, data) in enumerate(_seeds()):
        for r in range(ROUNDS if k < 3 else 1):
            mutant = fn(random.Random(f"t:{name}:{k}:{r}"), data)
            again = fn(random.Random(f"t:{name}:{k}:{r}"), data)
            if mutant is None:
                assert again is None
                continue
            made += 1
            assert again is not None and again.data == mutant.data and again.what == mutant.what
            assert mutant.data != data, (seed_name, mutant.what)
            for offset in mutant.headers:
                assert checksum_ok(mutant.data[offset:offset + 512]), (seed_name, mutant.what)
            if keeps in ("chain", "outer"):
                codes = _codes(mutant.data)
                # A layer mutation leaves the outer archive whole; a JSON one may break the JSON it aims at.
                if name != "json-field":
                    assert codes is not None, (seed_name, mutant.what)
                assert not (codes or set()) & DIGEST_CODES, (seed_name, mutant.what, codes)
            if name.startswith("layer-") or name == "symlink-child":
                # The change reached a layer's tar: some diff_id is new.
                assert _diff_ids(mutant.data) - _diff_ids(data), (seed_name, mutant.what)
    assert made >= 3, f"{name} changed too few seeds"


def test_a_layer_changed_without_the_fix_up_is_stopped_by_a_digest_finding() -> None:
    # The check above has teeth: the same change without relink() gives a digest finding.
    data = (fuzz.ROOT / "samples" / "same-oci.tar").read_bytes()
    tar = RawTar.parse(data)
    assert tar is not None
    layer = mutators.layers(tar)[0]
    inner = RawTar.parse(layer.tar)
    assert inner is not None
    inner.entries.reverse()
    layer.entry.set_data(mutators.compress(inner.dump(), layer.kind))
    broken = _codes(tar.dump())
    assert broken is not None and broken & DIGEST_CODES
    fixed = RawTar.parse(data)
    assert fixed is not None
    mutators.replace_layer(fixed, mutators.layers(fixed)[0], inner.dump())
    codes = _codes(fixed.dump())
    assert codes is not None and not codes & DIGEST_CODES


def test_raw_tar_round_trips_every_seed_byte_for_byte() -> None:
    for name, data in _seeds():
        tar = RawTar.parse(data)
        assert tar is not None and tar.dump() == data, name


def test_numbers_in_headers_encode_as_go_and_gnu_tar_read_them() -> None:
    assert mutators.parse_number(mutators.base256(-1, 12)) == -1
    assert mutators.parse_number(mutators.base256(-512, 12)) == -512
    assert mutators.parse_number(mutators.base256(1 << 70, 12)) == 1 << 70
    assert mutators.parse_number(mutators.octal(0o755, 8)) == 0o755
    assert mutators.number_field(8 ** 11, 12)[:1] == b"\x80"
    body = mutators.pax_body([(b"path", b"a" * 95), (b"mtime", b"1" * 4295), (b"path", b"b")])
    assert mutators.pax_records(body) == [(b"path", b"a" * 95), (b"mtime", b"1" * 4295), (b"path", b"b")]


def _planted(monkeypatch: pytest.MonkeyPatch, marker: bytes, exc: BaseException) -> None:
    real = imageforensics.read_input

    def buggy(path: str, *args: object, **kwargs: object) -> object:
        if marker in Path(path).read_bytes():
            raise exc
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(imageforensics, "read_input", buggy)


def test_the_oracle_tells_crashes_and_unnamed_errors_from_clean_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seed = fuzz.SeedArchive("samples/same-oci.tar", fuzz.ROOT / "samples" / "same-oci.tar")
    data = seed.path.read_bytes()
    assert fuzz.judge(data, seed, tmp_path) == fuzz.Verdict("clean", "model")
    assert fuzz.judge(b"not a tar" * 100, seed, tmp_path) == fuzz.Verdict("clean", "error")
    _planted(monkeypatch, b"crash-me", IndexError("planted"))
    verdict = fuzz.judge(data + b"crash-me", seed, tmp_path)
    assert verdict.outcome == "crash" and "IndexError: planted" in verdict.detail
    _planted(monkeypatch, b"unnamed", SelectionError("expected something"))
    assert fuzz.judge(data + b"unnamed", seed, tmp_path).outcome == "unnamed-error"
    _planted(monkeypatch, b"named", SelectionError("mutant.tar: expected something"))
    assert fuzz.judge(data + b"named", seed, tmp_path) == fuzz.Verdict("clean", "error")


def test_a_tiny_campaign_runs_every_mutator_and_saves_failures_to_replay(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A bug planted in the reader (the forked workers inherit it): a layer holding root's passwd line crashes it.
    real = imageforensics.read_input

    def buggy(path: str, *args: object, **kwargs: object) -> object:
        archive = real(path, *args, **kwargs)  # type: ignore[arg-type]
        if any(e.content_digest == PLANTED for image in archive.images for layer in image.layers if layer is not None
               for e in layer.entries):
            raise IndexError("planted")
        return archive

    monkeypatch.setattr(imageforensics, "read_input", buggy)
    lines: list[str] = []
    count = 3 * len(MUTATORS)
    table = fuzz.structured_campaign(count, seed=9, jobs=2, out=tmp_path, timeout=None, cpu_seconds=60, real=None,
                                     say=lines.append)
    assert sum(sum(c.values()) for c in table.values()) == count
    assert all(sum(table[name].values()) >= 1 for name in MUTATORS if name != "descriptor")
    assert any(line.startswith(f"ran: {count} inputs") for line in lines)
    assert any(line.startswith("total") for line in "\n".join(lines).splitlines())
    # Only the planted crashes (a real one the campaign finds is saved as well, and replays as well).
    crashes = sorted((tmp_path / "crash").glob("symlink-child-*.tar"))
    assert table["symlink-child"]["crash"] >= 1 and crashes
    seeds = fuzz.structured_seeds(None)
    for path in crashes:
        mutator, seed, index = path.stem.rsplit("-", 2)
        assert seed == "s9" and mutator in MUTATORS
        made = fuzz.structured_input(seeds, 9, int(index[1:]))
        assert made.mutator == mutator and made.data == path.read_bytes()
        text = path.with_suffix(".txt").read_text()
        assert f"mutator: {mutator}" in text and f"replay: python3 tools/fuzz.py replay --seed 9 --index {index[1:]}" in text
        assert "IndexError: planted" in text


def _pool_worker(conn, theirs, fail_at: int, stall_at: int) -> None:
    theirs.close()
    while (index := conn.recv()) is not None:
        if index == fail_at:
            os._exit(3)
        if index == stall_at:
            time.sleep(60)
        conn.send(index * 10)


def test_the_pool_replaces_a_worker_that_dies_or_stalls_and_finishes_every_input() -> None:
    results: list[int] = []
    lost: list[tuple[int | None, int | None]] = []
    fuzz.run_pool(iter(range(8)), 2, _pool_worker, (3, 5), timeout=1.0, on_result=results.append,
                  on_lost=lambda held, code: lost.append((held, code)))
    assert sorted(results) == [0, 10, 20, 40, 60, 70]
    assert sorted(lost, key=str) == [(3, 3), (5, None)]
