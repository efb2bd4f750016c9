"""Parametrisation over the archives made by tools/real-archives.sh; everything skips without them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.interop.interop_truth import load_manifest, real_dir, skip_reason

from imageforensics.model import Archive
from imageforensics.read._archive import read_archive

def _skip_param() -> Any:
    return pytest.param(None, marks=pytest.mark.skip(reason=skip_reason()), id="no-real-archives")


def archive_params(manifest: dict[str, Any] | None) -> list[Any]:
    """One param per archive."""
    if manifest is None:
        return [_skip_param()]
    return [pytest.param(entry, id=entry["path"]) for entry in manifest["archives"]]


def image_params(manifest: dict[str, Any] | None, report: str | None = None) -> list[Any]:
    """One param per (archive, image) pair: (archive entry, image entry, position); only
    images that have ``report`` when one is named."""
    if manifest is None:
        return [_skip_param()]
    out = []
    for entry in manifest["archives"]:
        for i, image in enumerate(entry["images"]):
            if report is None or report in image["reports"]:
                out.append(pytest.param((entry, image, i), id=f"{entry['path']}[{image['name']}]"))
    return out


# Fixture name -> the tool report its images must have.
IMAGE_FIXTURES = {
    "real_image": None,
    "real_image_docker": "docker_inspect",
    "real_image_podman": "podman_history",
    "real_image_umoci": "umoci_stat",
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise `real_archive` and `real_image*` from MANIFEST.json (a skipped param when absent)."""
    wanted = [name for name in ("real_archive", *IMAGE_FIXTURES) if name in metafunc.fixturenames]
    if not wanted:
        return
    manifest = load_manifest()
    for name in wanted:
        if name == "real_archive":
            metafunc.parametrize(name, archive_params(manifest))
        else:
            metafunc.parametrize(name, image_params(manifest, IMAGE_FIXTURES[name]))


@pytest.fixture(scope="session")
def manifest() -> dict[str, Any]:
    """MANIFEST.json, or skip."""
    m = load_manifest()
    if m is None:
        pytest.skip(skip_reason())
    return m


@pytest.fixture(scope="session")
def read() -> Callable[[str], Archive]:
    """read_archive of a path relative to the archives folder, each archive read once per session."""
    cache: dict[str, Archive] = {}

    def read_rel(rel: str) -> Archive:
        if rel not in cache:
            cache[rel] = read_archive(str(Path(real_dir()) / rel))
        return cache[rel]

    return read_rel
