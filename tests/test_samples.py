"""The committed samples are exactly what tools/make_samples.py writes (byte for byte)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from tools.make_samples import ROOTFS_FILES, samples, write_samples

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def test_regenerated_samples_are_byte_identical(tmp_path: Path) -> None:
    written = write_samples(tmp_path)
    names = sorted(p.name for p in written)
    assert names == sorted(p.name for p in SAMPLES.iterdir() if p.is_file())
    for path in written:
        assert path.read_bytes() == (SAMPLES / path.name).read_bytes(), f"{path.name} differs; rerun tools/make_samples.py"


def test_samples_stay_small() -> None:
    total = sum(p.stat().st_size for p in SAMPLES.iterdir() if p.is_file())
    assert total < 1_000_000


def test_every_sample_is_listed_in_the_readme() -> None:
    text = (SAMPLES / "README.md").read_text()
    for name, _, layout, _ in samples():
        assert f"`{name}` ({layout})" in text


def _legacy_image(path: Path) -> tuple[dict, dict, dict[str, bytes]]:
    """(manifest item, config, member bytes by name) of a one-image legacy archive."""
    with tarfile.open(path) as archive:
        files = {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}  # type: ignore[union-attr]
    manifest = json.loads(files["manifest.json"])
    return manifest[0], json.loads(files[manifest[0]["Config"]]), files


def test_tomcat_pair_is_the_seed_case_in_miniature() -> None:
    pulled, cfg_a, tar_a = _legacy_image(SAMPLES / "tomcat-pulled.tar")
    bad, cfg_b, _ = _legacy_image(SAMPLES / "tomcat-cache-from.tar")
    diff_a, diff_b = cfg_a["rootfs"]["diff_ids"], cfg_b["rootfs"]["diff_ids"]
    assert len(diff_a) == 5 and diff_b == diff_a[:4]
    steps_a = [(h["created_by"], h.get("empty_layer", False)) for h in cfg_a["history"]]
    steps_b = [(h["created_by"], h.get("empty_layer", False)) for h in cfg_b["history"]]
    assert steps_a[-1] == ("COPY rootfs / # buildkit", False)
    assert steps_b[-1] == ("COPY rootfs / # buildkit", True)
    assert steps_a[:-1] == steps_b[:-1]
    # Non-empty history entries still equal the diff_ids on both sides (the 1:1 check does not fire).
    assert sum(not e for _, e in steps_a) == len(diff_a) and sum(not e for _, e in steps_b) == len(diff_b)
    created_a = [h["created"] for h in cfg_a["history"]]
    created_b = [h["created"] for h in cfg_b["history"]]
    assert created_a[:5] == created_b[:5]
    assert created_a[5:] == ["2021-02-04T15:19:27.9352723Z"] * 2
    assert created_b[4:] == ["2021-02-04T15:19:27.8456647Z"] * 3
    assert "moby.buildkit.cache.v0" in cfg_a and "moby.buildkit.cache.v0" in cfg_b
    with tarfile.open(fileobj=io.BytesIO(tar_a[pulled["Layers"][-1]])) as copy_layer:
        members = copy_layer.getmembers()
    assert sorted(m.name for m in members) == sorted(p for p, _, _ in ROOTFS_FILES)
    assert sum(m.size for m in members) == 7650
    assert "usr/local/bin/install-war-into-tomcat.sh" in [m.name for m in members]
    assert pulled["RepoTags"] == ["local/tomcat:pulled"] and bad["RepoTags"] == ["local/tomcat:bad"]
