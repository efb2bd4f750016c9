"""Deterministic writer of synthetic container image archives (standard library only).

Describe images with the frozen spec values (``Entry``, ``Layer``, ``Step``,
``Config``, ``ImageSpec``, ``ArchiveSpec``), then write them in any layout of
FORMATS.md::

    spec = ArchiveSpec(images=(ImageSpec(layers=(Layer(entries=(Entry("etc/motd", data=b"hi\\n"),)),),
                                         history=(Step(created="2021-02-04T15:19:27Z", created_by="COPY motd /"),),
                                         references=("local/x:1",)),))
    data = build_archive(spec, layout="docker-legacy")           # bytes, in memory
    write_archive(spec, path, layout="docker-oci-containerd")      # streamed to a file
    truth = archive_truth(spec, layout="oci-archive")              # what a reader must find

The same spec always gives the same bytes: fixed mtimes, gzip headers with
mtime 0, JSON encoded as Go encodes it, no clock or environment involved.
Large layers (``PseudoRandom`` data) stream: an archive of many gigabytes is
written without holding it in memory.
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from tools.synthlayouts import (
    LAYOUT_NAMES, ArchiveSpec, ImageTruth, PreparedImage, cimage_members, chain_ids, crane_members,
    full_name, legacy_members, prepare_image, split_reference,
)
from tools.synthoci import containerd_members, graphdriver_members, oci_archive_members, oci_files
from tools.synthspec import (
    DEFAULT_PATH, Config, Entry, ImageSpec, Layer, Step, go_json, layer_tar_chunks, render_config,
)
from tools.synthtar import (
    DIR, SYM, PseudoRandom, TarMember, compressed_chunks, data_chunks, tar_chunks, write_chunks, zstd_program,
)

__all__ = [
    "ArchiveSpec", "Config", "DEFAULT_PATH", "Entry", "ImageSpec", "ImageTruth", "LAYOUTS", "Layer",
    "ORDERS", "OUTER_COMPRESSIONS", "TAR_LAYOUTS", "PreparedImage", "PseudoRandom", "Step", "archive_truth",
    "big_image", "build_archive", "chain_ids", "many_files_image", "expected_diff_ids", "expected_image_id", "full_name", "go_json",
    "layer_tar_bytes", "prepare", "render_config", "pre_v110_archive", "split_reference", "write_archive", "write_extracted", "write_oci_dir",
    "zstd_available",
]

LAYOUTS = LAYOUT_NAMES
TAR_LAYOUTS = tuple(name for name in LAYOUT_NAMES if name != "oci-dir")
ORDERS = ("as-written", "reversed", "shuffled", "manifest-first")
OUTER_COMPRESSIONS = ("none", "gzip", "bzip2", "xz", "zstd")
_METADATA = ("manifest.json", "index.json", "repositories", "oci-layout")

_WRITERS: dict[str, Callable[[list[PreparedImage], ArchiveSpec], tuple[list[TarMember], list[ImageTruth]]]] = {
    "docker-legacy": legacy_members,
    "docker-containers-image": cimage_members,
    "docker-crane": crane_members,
    "docker-oci-graphdriver": graphdriver_members,
    "docker-oci-containerd": containerd_members,
    "oci-archive": oci_archive_members,
}


def zstd_available() -> bool:
    """True when the zstd program is installed (needed for zstd layers or outer zstd)."""
    return zstd_program() is not None


def prepare(spec: ArchiveSpec) -> list[PreparedImage]:
    """Hash every layer and render every config once (large layers are streamed, not kept)."""
    return [prepare_image(image) for image in spec.images]


def expected_diff_ids(image: ImageSpec) -> tuple[str, ...]:
    """The diff_ids of an image's layers, hashed independently from the bytes written."""
    return prepare_image(image).diff_ids


def expected_image_id(image: ImageSpec) -> str:
    """``sha256:<hex>`` of the config bytes written for an image."""
    return prepare_image(image).image_id


def layer_tar_bytes(layer: Layer) -> bytes:
    """The uncompressed tar of one layer (small layers only)."""
    return b"".join(layer_tar_chunks(layer))


def _order(members: list[TarMember], order: str, seed: int) -> list[TarMember]:
    if order == "as-written":
        return members
    if order == "reversed":
        return members[::-1]
    if order == "shuffled":
        shuffled = list(members)
        random.Random(seed).shuffle(shuffled)
        return shuffled
    if order == "manifest-first":
        first = [m for m in members if m.name in _METADATA]
        return first + [m for m in members if m.name not in _METADATA]
    raise ValueError(f"unknown member order {order!r}; expected one of {ORDERS}")


def archive_members(spec: ArchiveSpec, layout: str, *, order: str = "as-written", seed: int = 0,
                    prepared: list[PreparedImage] | None = None) -> tuple[list[TarMember], list[ImageTruth]]:
    """The outer tar members of an archive, in the requested order, with the truth per image."""
    if layout not in _WRITERS:
        raise ValueError(f"unknown tar layout {layout!r}; expected one of {TAR_LAYOUTS}")
    members, truths = _WRITERS[layout](prepared if prepared is not None else prepare(spec), spec)
    return _order(members, order, seed), truths


def archive_chunks(spec: ArchiveSpec, layout: str, *, compression: str = "none", order: str = "as-written",
                   seed: int = 0, prepared: list[PreparedImage] | None = None) -> Iterator[bytes]:
    """The archive's bytes, streamed (outer compression applied)."""
    members, _ = archive_members(spec, layout, order=order, seed=seed, prepared=prepared)
    yield from compressed_chunks(tar_chunks(members), compression)


def build_archive(spec: ArchiveSpec, layout: str = "docker-legacy", *, compression: str = "none",
                  order: str = "as-written", seed: int = 0) -> bytes:
    """The whole archive as bytes (for small specs and tests)."""
    return b"".join(archive_chunks(spec, layout, compression=compression, order=order, seed=seed))


def archive_truth(spec: ArchiveSpec, layout: str = "docker-legacy") -> list[ImageTruth]:
    """Per image, what a reader must find in this layout (ids, diff_ids, blobs, references)."""
    prepared = prepare(spec)
    if layout == "oci-dir":
        return oci_files(prepared, spec)[1]
    return archive_members(spec, layout, prepared=prepared)[1]


def write_archive(spec: ArchiveSpec, path: str | os.PathLike[str], layout: str = "docker-legacy", *,
                  compression: str = "none", order: str = "as-written", seed: int = 0) -> list[ImageTruth]:
    """Stream an archive to ``path`` (a directory for ``oci-dir``) without holding it in memory."""
    prepared = prepare(spec)
    if layout == "oci-dir":
        return write_oci_dir(spec, path, prepared=prepared)
    members, truths = archive_members(spec, layout, order=order, seed=seed, prepared=prepared)
    target = Path(path)
    if compression == "zstd":
        _write_zstd(tar_chunks(members), target)
    else:
        with open(target, "wb") as out:
            write_chunks(compressed_chunks(tar_chunks(members), compression), out)
    return truths


def _write_zstd(chunks: Iterator[bytes], target: Path) -> None:
    program = zstd_program()
    if program is None:
        raise RuntimeError("zstd compression needs the zstd program on PATH")
    with open(target, "wb") as out:
        proc = subprocess.Popen([program, "-q", "-c", "-3", "--no-progress"], stdin=subprocess.PIPE, stdout=out)
        assert proc.stdin is not None
        stdin: BinaryIO = proc.stdin  # type: ignore[assignment]
        write_chunks(chunks, stdin)
        stdin.close()
        if proc.wait() != 0:
            raise RuntimeError(f"zstd failed with status {proc.returncode}")


def write_oci_dir(spec: ArchiveSpec, path: str | os.PathLike[str], *,
                  prepared: list[PreparedImage] | None = None) -> list[ImageTruth]:
    """Write an OCI image layout directory under ``path`` (created; must not hold other files)."""
    files, truths = oci_files(prepared if prepared is not None else prepare(spec), spec)
    root = Path(path)
    for name, blob in files:
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as out:
            write_chunks(blob.chunks(), out)
    return truths


def write_extracted(spec: ArchiveSpec, path: str | os.PathLike[str], layout: str = "docker-legacy") -> list[ImageTruth]:
    """Write a tar layout's members as files under ``path`` (an extracted ``docker save``).

    Symlinks are created as symlinks (their targets stay inside ``path``), so
    the result is what ``tar -xf`` of the archive gives.
    """
    members, truths = archive_members(spec, layout)
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    for m in members:
        target = root / m.name.rstrip("/")
        if m.typeflag == DIR:
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if m.typeflag == SYM:
            os.symlink(m.linkname, target)
        else:
            with open(target, "wb") as out:
                write_chunks(m.source(), out)
    return truths


def pre_v110_archive(spec: ArchiveSpec) -> bytes:
    """A pre-1.10 ``docker save`` (FORMATS.md A1): ``repositories`` plus the ``<id>/json`` chain, no manifest.json."""
    members, _ = archive_members(spec, "docker-legacy")
    kept = [m for m in members if m.name != "manifest.json" and not m.name.endswith(".json")]
    return b"".join(tar_chunks(kept))


def pseudo_random_bytes(size: int, seed: int = 0) -> bytes:
    """``size`` deterministic pseudo-random bytes (small sizes; use PseudoRandom to stream)."""
    return b"".join(data_chunks(PseudoRandom(size, seed)))


# --------------------------------------------------------------------------- generated workloads (issue 6 bench)

_BENCH_TIME = "2024-01-01T00:00:00Z"


def big_image(total_bytes: int, *, files: int = 4, layers: int = 2, seed: int = 0, variant_layer: int | None = None,
              reference: str = "bench/big:a") -> ImageSpec:
    """An image of a few large pseudo-random files spread over ``layers`` layers (streamed, never in memory).

    ``variant_layer`` changes the data seed of that one layer, so two images
    built with and without it differ in exactly one layer.
    """
    per_layer = max(1, files // layers)
    size = max(1, total_bytes // (per_layer * layers))
    out = []
    for i in range(layers):
        layer_seed = seed * 1000 + i + (500 if variant_layer == i else 0)
        out.append(Layer(entries=tuple(
            Entry(f"data/layer{i}/file{j}.bin", data=PseudoRandom(size, layer_seed * 100 + j), mtime_ns=1_700_000_000 * 10**9)
            for j in range(per_layer))))
    history = tuple(Step(created=_BENCH_TIME, created_by=f"COPY data{i} /data/layer{i} # buildkit",
                         comment="buildkit.dockerfile.v0") for i in range(layers))
    return ImageSpec(layers=tuple(out), history=history, config=Config(created=_BENCH_TIME), references=(reference,))


def many_files_image(files: int, *, layers: int = 20, seed: int = 0, changed: int = 0, file_size: int = 64,
                     reference: str = "bench/many:a") -> ImageSpec:
    """``files`` small files over ``layers`` layers; ``changed`` of them (spread evenly) get different bytes."""
    per_layer = max(1, files // layers)
    step = max(1, files // changed) if changed else 0
    out = []
    n = 0
    for i in range(layers):
        entries = [Entry(f"srv/l{i:02d}", kind="dir", mtime_ns=1_700_000_000 * 10**9)]
        for j in range(per_layer):
            salt = b"changed" if step and n % step == 0 else b""
            data = hashlib.blake2b(b"%d:%d:%d%s" % (seed, i, j, salt), digest_size=32).digest()
            entries.append(Entry(f"srv/l{i:02d}/d{j // 256:03d}/f{j:06d}", data=(data * (file_size // 32 + 1))[:file_size],
                                 mtime_ns=1_700_000_000 * 10**9))
            n += 1
        out.append(Layer(entries=tuple(entries)))
    history = tuple(Step(created=_BENCH_TIME, created_by=f"COPY part{i} /srv/l{i:02d} # buildkit",
                         comment="buildkit.dockerfile.v0") for i in range(layers))
    return ImageSpec(layers=tuple(out), history=history, config=Config(created=_BENCH_TIME), references=(reference,))
