"""Every image archive in ../shared/corpus against the facts in its INDEX.md.

Expected values were established with an independent stdlib script (tarfile,
json, hashlib: configs re-hashed, diff_ids recomputed, index.json walked by
hand) and checked against INDEX.md; they are written out here, not taken from
the reader. The tests skip when ../shared is absent.
"""

from __future__ import annotations

import dataclasses

import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from imageforensics.audit import image_findings
from imageforensics.errors import InputError
from imageforensics.model import Archive, Digest
from imageforensics.read._archive import read_archive

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CORPUS = SHARED / "corpus"

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is absent")


@dataclass(frozen=True)
class Img:
    image_id: str  # first 12 hex digits of sha256(config bytes)
    references: tuple[str, ...]
    layers: int
    history: int
    platform: str
    created: str


@dataclass(frozen=True)
class Case:
    layout: str
    compression: str
    images: list[Img]
    # Exactly these WARNING/ERROR codes (archive and images together); these INFO codes at least.
    problems: frozenset[str] = field(default_factory=frozenset)
    info: frozenset[str] = field(default_factory=frozenset)


def corpus_path(rel: str) -> str:
    return str(CORPUS / rel)


_CACHE: dict[str, Archive] = {}


def read(rel: str) -> Archive:
    if rel not in _CACHE:
        _CACHE[rel] = read_archive(corpus_path(rel))
    return _CACHE[rel]


CASES: dict[str, Case] = {
    'P3GLEG__Whaler/testdata/test-image.tar': Case('docker-oci-containerd', 'none', [
        Img('f1f77a0f96b7', ('hello-world:latest', 'docker.io/library/hello-world:latest', 'latest'), 1, 2, 'linux/arm64/v8', '2025-01-21T23:32:32Z'),
    ]),
    'anchore__stereoscope/pkg/image/oci/testdata/multiplatform_oci_dir': Case('oci-dir', 'none', [
        Img('549248a7ac95', ('docker.io/library/multi-platform:latest', 'latest'), 1, 2, 'linux/amd64', '2026-03-18T21:53:53.898642864Z'),
        Img('3cd6022503ce', ('docker.io/library/multi-platform:latest', 'latest'), 1, 2, 'linux/arm64', '2026-03-18T21:53:53.913994519Z'),
    ]),
    'anchore__stereoscope/pkg/image/oci/testdata/valid-oci.tar': Case('oci-archive', 'none', [
        Img('61ee19e869a5', ('sample:latest',), 1, 1, 'linux/amd64', '2024-02-07T09:02:36.826417009Z'),
    ]),
    'anchore__stereoscope/pkg/image/oci/testdata/valid_oci_dir': Case('oci-dir', 'none', [
        Img('61ee19e869a5', ('latest', '1.0'), 1, 1, 'linux/amd64', '2024-02-07T09:02:36.826417009Z'),
    ]),
    'aquasecurity__trivy/pkg/fanal/test/testdata/alpine-310.tar.gz': Case('docker-legacy', 'gzip', [
        Img('af341ccd2df8', ('alpine:3.10',), 1, 2, 'linux/amd64', '2020-01-23T16:53:06.686519038Z'),
    ]),
    'aquasecurity__trivy/pkg/fanal/test/testdata/alpine-311.tar.gz': Case('docker-legacy', 'gzip', [
        Img('a187dde48cd2', ('alpine:3.11',), 1, 2, 'linux/amd64', '2020-03-23T21:19:34.196162891Z'),
    ]),
    'aquasecurity__trivy/pkg/fanal/test/testdata/test.oci': Case('oci-dir', 'none', [
        Img('b23a8f6569ae', (), 1, 2, 'linux/amd64', '2020-01-03T01:21:37.263809283Z'),
    ]),
    'aquasecurity__trivy/pkg/fanal/test/testdata/test_image_tag.oci': Case('oci-dir', 'none', [
        Img('b23a8f6569ae', ('0.0.1',), 1, 2, 'linux/amd64', '2020-01-03T01:21:37.263809283Z'),
    ]),
    'containers__image/docker/archive/fixtures/almostempty.tar': Case('docker-legacy', 'none', [
        Img('9d7f147c0d0c', ('emptyimage:latest',), 1, 1, 'linux/amd64', '2017-02-07T19:02:14.382332032Z'),
    ]),
    'containers__image/oci/layout/fixtures/delete_image_multiple_images': Case('oci-dir', 'none', [
        Img('913cf3a39d37', ('latest', '3.18.3', '3', '3.18'), 1, 2, 'linux/amd64', '2023-08-07T19:20:20.894140623Z'),
        Img('aab808b283c3', ('latest', '3.18.3'), 1, 2, 'linux/386', '2023-08-07T19:38:27.007952531Z'),
        Img('df11bc189ade', ('3.17.5',), 1, 2, 'linux/amd64', '2023-08-07T19:20:26.426857961Z'),
        Img('f732172ad8d2', ('3.16.7',), 1, 2, 'linux/amd64', '2023-08-07T19:20:31.99661329Z'),
        Img('7ffdfe7d2762', ('3.16.7',), 1, 2, 'linux/386', '2023-08-07T19:38:34.915445772Z'),
        Img('913cf3a39d37', ('1.0.0',), 1, 2, 'linux/amd64', '2023-08-07T19:20:20.894140623Z'),
    ]),
    'containers__image/oci/layout/fixtures/delete_image_only_one_image': Case('oci-dir', 'none', [
        Img('a527179158cd', ('latest',), 1, 2, 'linux/amd64', '2019-08-20T20:19:55.211423266Z'),
    ]),
    'containers__image/oci/layout/fixtures/delete_image_shared_blobs_dir': Case('oci-dir', 'none', [
        Img('a527179158cd', ('latest',), 1, 2, 'linux/amd64', '2019-08-20T20:19:55.211423266Z'),
    ]),
    'containers__image/oci/layout/fixtures/delete_image_two_identical_references': Case('oci-dir', 'none', [
        Img('a527179158cd', ('1.0.0',), 1, 2, 'linux/amd64', '2019-08-20T20:19:55.211423266Z'),
        Img('ce229a4eb579', ('1.0.0',), 1, 2, 'linux/amd64', '2019-08-20T20:20:55.211423266Z'),
    ]),
    'containers__podman/test/e2e/testdata/oci-name-only.tar.gz': Case('oci-archive', 'gzip', [
        Img('5c8aca8137ac', ('pretty-empty:latest',), 1, 1, 'linux/amd64', '2018-07-26T23:48:37.966006178Z'),
    ]),
    'containers__podman/test/e2e/testdata/oci-non-docker-name.tar.gz': Case('oci-archive', 'gzip', [
        Img('5c8aca8137ac', ('UPPERCASE-IS-INVALID',), 1, 1, 'linux/amd64', '2018-07-26T23:48:37.966006178Z'),
    ]),
    'containers__podman/test/e2e/testdata/oci-registry-name.tar.gz': Case('oci-archive', 'gzip', [
        Img('5c8aca8137ac', ('example.com/empty:latest',), 1, 1, 'linux/amd64', '2018-07-26T23:48:37.966006178Z'),
    ]),
    'containers__podman/test/e2e/testdata/oci-unnamed.tar.gz': Case('oci-archive', 'gzip', [
        Img('5c8aca8137ac', (), 1, 1, 'linux/amd64', '2018-07-26T23:48:37.966006178Z'),
    ]),
    'containers__skopeo/systemtest/testdata/docker-two-images.tar.xz': Case('docker-legacy', 'xz', [
        Img('ec9293436c2e', ('example.com/empty:latest',), 1, 1, 'linux/amd64', '2018-07-26T23:48:37.966006178Z'),
        Img('5a7ef13e1893', ('example.com/empty/but:different',), 1, 2, 'linux/amd64', '2018-07-27T00:03:57.398267222Z'),
    ]),
    'google__go-containerregistry/pkg/v1/layout/testdata/test_gc_index': Case('oci-dir', 'none', [
        Img('6e0b05049ed9', ('1', '3', '4'), 1, 1, 'linux/amd64', '1970-01-01T00:00:00Z'),
    ]),
    'google__go-containerregistry/pkg/v1/layout/testdata/test_index': Case('oci-dir', 'none', [
        Img('6e0b05049ed9', ('1', '3', '4'), 1, 1, 'linux/amd64', '1970-01-01T00:00:00Z'),
        Img('930705ce23e3', ('2',), 1, 1, 'linux/amd64', '1970-01-01T00:00:00Z'),
    ]),
    'google__go-containerregistry/pkg/v1/layout/testdata/test_index_one_image': Case('oci-dir', 'none', [
        Img('381d958b5558', (), 1, 1, 'linux/amd64', '2020-04-12T10:58:48.626858334Z'),
    ]),
    'google__go-containerregistry/pkg/v1/mutate/testdata/overwritten_file.tar': Case('docker-legacy', 'none', [
        Img('68f6eb746cdb', ('bazel/pkg/v1/mutate:overwritten_file',), 3, 3, 'linux/amd64', '1970-01-01T00:00:00Z'),
    ]),
    'google__go-containerregistry/pkg/v1/mutate/testdata/source_image.tar': Case('docker-legacy', 'none', [
        Img('6e0b05049ed9', ('bazel/pkg/v1/mutate:source_image',), 1, 1, 'linux/amd64', '1970-01-01T00:00:00Z'),
    ]),
    'google__go-containerregistry/pkg/v1/mutate/testdata/source_image_with_empty_layer_history.tar': Case('docker-legacy', 'none', [
        Img('05b5ec129058', ('bazel/pkg/v1/mutate:source_image',), 1, 2, 'linux/amd64', '1970-01-01T00:00:00Z'),
    ]),
    'google__go-containerregistry/pkg/v1/mutate/testdata/whiteout_dir.tar': Case('docker-crane', 'none', [
        Img('92f1e3d53acd', ('localhost:5000/whiteout:latest',), 4, 4, 'linux/amd64', '2026-01-13T23:52:36.256360939Z'),
    ]),
    'google__go-containerregistry/pkg/v1/mutate/testdata/whiteout_image.tar': Case('docker-legacy', 'none', [
        Img('decb630649c3', ('bazel/pkg/v1/mutate:whiteout_image',), 3, 3, 'linux/amd64', '1970-01-01T00:00:00Z'),
    ]),
    'google__go-containerregistry/pkg/v1/tarball/testdata/hello-world-v25.tar': Case('docker-oci-graphdriver', 'none', [
        Img('ee301c921b8a', (), 1, 2, 'linux/arm64', '2023-05-02T16:49:27Z'),
    ]),
    'google__go-containerregistry/pkg/v1/tarball/testdata/test_bundle.tar': Case('docker-legacy', 'none', [
        Img('930705ce23e3', ('test_image_2',), 1, 1, 'linux/amd64', '1970-01-01T00:00:00Z'),
        Img('6e0b05049ed9', ('test_image_1',), 1, 1, 'linux/amd64', '1970-01-01T00:00:00Z'),
    ]),
    'google__go-containerregistry/pkg/v1/tarball/testdata/test_image_1.tar': Case('docker-legacy', 'none', [
        Img('6e0b05049ed9', ('bazel/v1/tarball:test_image_1',), 1, 1, 'linux/amd64', '1970-01-01T00:00:00Z'),
    ]),
    'google__go-containerregistry/pkg/v1/tarball/testdata/test_image_2.tar': Case('docker-legacy', 'none', [
        Img('930705ce23e3', ('bazel/v1/tarball:test_image_2',), 1, 1, 'linux/amd64', '1970-01-01T00:00:00Z'),
    ]),
    'google__go-containerregistry/pkg/v1/tarball/testdata/test_link.tar': Case('docker-legacy', 'none', [
        Img('6e0b05049ed9', ('bazel/v1/tarball:test_image_1',), 1, 1, 'linux/amd64', '1970-01-01T00:00:00Z'),
        Img('d4c9adacde69', ('bazel/v1/tarball:test_image_3',), 2, 2, 'linux/amd64', '2021-04-21T02:24:18.084891075Z'),
    ]),
    'google__go-containerregistry/pkg/v1/tarball/testdata/test_load_manifest.tar': Case('docker-legacy', 'none', [
        Img('6e0b05049ed9', ('bazel/v1/tarball:test_image_1',), 1, 1, 'linux/amd64', '1970-01-01T00:00:00Z'),
    ]),
    'wagoodman__dive/.data/test-docker-image.tar': Case('docker-legacy', 'none', [
        Img('75ae28b8ebf8', ('dive-test:latest',), 14, 15, 'linux/amd64', '2018-12-28T20:44:23.030424642Z'),
    ]),
    'wagoodman__dive/.data/test-kaniko-image.tar': Case('docker-crane', 'none', [
        Img('ae16a51058a7', ('dive-test:kaniko-latest',), 14, 15, 'linux/amd64', '2021-03-07T21:28:00.8934496Z'),
    ]),
    'wagoodman__dive/.data/test-oci-gzip-image.tar': Case('oci-archive', 'none', [
        Img('3eaccc100f86', (), 1, 1, 'linux/arm64', '2025-01-26T22:54:00.500849935+01:00'),
    ]),
    'wagoodman__dive/.data/test-oci-uncompressed-image.tar': Case('oci-archive', 'none', [
        Img('3eaccc100f86', (), 1, 1, 'linux/arm64', '2025-01-26T22:54:00.500849935+01:00'),
    ]),
    'wagoodman__dive/.data/test-oci-estargz-image.tar': Case('oci-archive', 'none', [
        Img('5c153971f5fe', (), 1, 1, 'linux/arm64', '2025-01-26T22:54:00.500849935+01:00'),
    ]),
    'wagoodman__dive/.data/test-oci-zstd-image.tar': Case('oci-archive', 'none', [
        Img('3eaccc100f86', (), 1, 1, 'linux/arm64', '2025-01-26T22:54:00.500849935+01:00'),
    ]),
    'regclient__regclient/testdata/testrepo': Case('oci-dir', 'none', [
        Img('92e1351053a2', ('b1',), 1, 2, 'linux/amd64', '2020-01-01T00:00:00Z'),
        Img('92351a10d8ae', ('b1',), 1, 2, 'linux/arm64', '2020-01-01T00:00:00Z'),
        Img('187f89fb0852', ('b1',), 1, 2, 'linux/arm/v7', '2020-01-01T00:00:00Z'),
        Img('917a47e590b9', ('b1',), 1, 2, 'linux/arm/v6', '2020-01-01T00:00:00Z'),
        Img('79f0b6d4f769', ('b2',), 1, 2, 'linux/amd64', '2020-01-01T00:00:00Z'),
        Img('72ef9867e70f', ('b2',), 1, 2, 'linux/arm64', '2020-01-01T00:00:00Z'),
        Img('93eeda5d097c', ('b2',), 1, 2, 'linux/arm/v7', '2020-01-01T00:00:00Z'),
        Img('b4972303e3b2', ('b2',), 1, 2, 'linux/arm/v6', '2020-01-01T00:00:00Z'),
        Img('bb4828702bed', ('b3',), 1, 2, 'linux/amd64', '2020-01-01T00:00:00Z'),
        Img('3812057c3fcf', ('b3',), 1, 2, 'linux/arm64', '2020-01-01T00:00:00Z'),
        Img('2c0bee668dfa', ('b3',), 1, 2, 'linux/arm/v7', '2020-01-01T00:00:00Z'),
        Img('a7df0b904212', ('b3',), 1, 2, 'linux/arm/v6', '2020-01-01T00:00:00Z'),
        Img('03d7b3c657a4', ('v1',), 2, 8, 'linux/amd64', '2021-01-01T00:00:00Z'),
        Img('cffb7c92259a', ('v1',), 2, 8, 'linux/arm64', '2021-01-01T00:00:00Z'),
        Img('265cf623914b', ('v2',), 3, 9, 'linux/amd64', '2021-01-01T00:00:00Z'),
        Img('1b2d7646f08d', ('v2',), 3, 9, 'linux/arm64', '2021-01-01T00:00:00Z'),
        Img('6146077b4bee', ('v2',), 3, 9, 'linux/arm/v7', '2021-01-01T00:00:00Z'),
        Img('2097cbe98aab', ('v3', 'sha256-7ceb9b6bcc274697d0c38be6214b50cec79d601bc61708747d3f6cb772f6c6fa.6fe828b32b9b4572.meta'), 5, 11, 'linux/amd64', '2021-01-01T00:00:00Z'),
        Img('602521dbab20', ('v3', 'sha256-7ceb9b6bcc274697d0c38be6214b50cec79d601bc61708747d3f6cb772f6c6fa.6fe828b32b9b4572.meta'), 5, 11, 'linux/arm64', '2021-01-01T00:00:00Z'),
        Img('adc1ef638916', ('v3', 'sha256-7ceb9b6bcc274697d0c38be6214b50cec79d601bc61708747d3f6cb772f6c6fa.6fe828b32b9b4572.meta'), 5, 11, 'linux/arm/v7', '2021-01-01T00:00:00Z'),
        Img('0da9b7d747f2', ('v3', 'sha256-7ceb9b6bcc274697d0c38be6214b50cec79d601bc61708747d3f6cb772f6c6fa.6fe828b32b9b4572.meta'), 5, 11, 'linux/arm/v6', '2021-01-01T00:00:00Z'),
    ]),
    'google__osv-scalibr/artifact/image/layerscanning/image/testdata/basic.tar': Case('docker-legacy', 'none', [
        Img('cef245375554', ('basic:latest',), 2, 2, 'linux/amd64', '2024-11-10T20:30:32.797419312Z'),
    ]),
    'google__osv-scalibr/artifact/image/layerscanning/image/testdata/multiple-files.tar': Case('docker-legacy', 'none', [
        Img('07628f196cad', ('multiple-files:latest',), 2, 2, 'linux/amd64', '2024-11-11T16:07:20.947547588Z'),
    ]),
    'google__osv-scalibr/artifact/image/layerscanning/image/testdata/overwrite-file.tar': Case('docker-legacy', 'none', [
        Img('86ee30779ba1', ('overwrite-file:latest',), 2, 2, 'linux/amd64', '2024-11-11T06:23:58.478105276Z'),
    ]),
    'google__osv-scalibr/artifact/image/layerscanning/image/testdata/single-file.tar': Case('docker-legacy', 'none', [
        Img('d81c0ab84dc2', ('single-file:latest',), 1, 1, 'linux/amd64', '2024-11-10T20:40:16.268279201Z'),
    ]),
    'google__osv-scalibr/artifact/image/layerscanning/image/testdata/symlink-attack.tar': Case('docker-legacy', 'none', [
        Img('486f648acb41', ('symlink-attack:latest',), 1, 1, 'linux/amd64', '2025-01-10T19:25:36.65027104Z'),
    ]),
    'google__osv-scalibr/artifact/image/layerscanning/image/testdata/symlink-basic.tar': Case('docker-legacy', 'none', [
        Img('2a92a3c5e77b', ('symlink-basic:latest',), 1, 1, 'linux/amd64', '2025-01-10T14:48:16.945299563Z'),
    ]),
    'google__osv-scalibr/artifact/image/layerscanning/image/testdata/symlink-cycle.tar': Case('docker-legacy', 'none', [
        Img('373315c77960', ('symlink-cycle:latest',), 1, 1, 'linux/amd64', '2025-01-10T16:59:44.084933017Z'),
    ]),
    'google__osv-scalibr/artifact/image/layerscanning/image/testdata/symlink-dangling.tar': Case('docker-legacy', 'none', [
        Img('67d1cadc6211', ('dangling-symlinks:latest',), 2, 2, 'linux/amd64', '2024-02-22T22:10:55.433230511Z'),
    ]),
    'google__osv-scalibr/artifact/image/layerscanning/image/testdata/symlink-depth-exceeded.tar': Case('docker-legacy', 'none', [
        Img('2ef1f326cc51', ('symlink-depth-exceeded:latest',), 1, 1, 'linux/amd64', '2025-01-10T17:00:10.669321582Z'),
    ]),
    'google__osv-scalibr/artifact/image/layerscanning/image/testdata/two-files.tar': Case('docker-legacy', 'none', [
        Img('c4931f7f128b', ('two-files:latest',), 2, 2, 'linux/amd64', '2024-09-09T15:24:28.179405915Z'),
    ]),
    'google__osv-scalibr/artifact/image/tar/testdata/basic.tar': Case('docker-legacy', 'none', [
        Img('f3a1c7b396f6', ('basic:latest',), 2, 2, 'linux/amd64', '2024-05-12T20:09:52.409336618Z'),
    ]),
    'google__osv-scalibr/artifact/image/unpack/testdata/basic.tar': Case('docker-legacy', 'none', [
        Img('f3a1c7b396f6', ('basic:latest',), 2, 2, 'linux/amd64', '2024-05-12T20:09:52.409336618Z'),
    ]),
    'google__osv-scalibr/artifact/image/unpack/testdata/dangling-symlinks.tar': Case('docker-legacy', 'none', [
        Img('67d1cadc6211', ('dangling-symlinks:latest',), 2, 2, 'linux/amd64', '2024-02-22T22:10:55.433230511Z'),
    ]),
    'google__osv-scalibr/artifact/image/unpack/testdata/permissions.tar': Case('docker-legacy', 'none', [
        Img('7be4ef56c97b', ('permissions:latest',), 1, 1, 'linux/amd64', '2024-04-18T17:25:24.922379533Z'),
    ]),
    'google__osv-scalibr/artifact/image/unpack/testdata/symlinks.tar': Case('docker-legacy', 'none', [
        Img('3d88044e75a2', ('symlinks:latest',), 2, 2, 'linux/amd64', '2024-09-30T21:24:18.704182182Z'),
    ]),
}

# Audit expectations that differ from "no warnings or errors"; each is explained by INDEX.md.
AUDIT: dict[str, tuple[set[str], set[str]]] = {
    # linux/arm64/v8 only: 22 of 23 nested-index manifests (other platforms, attestations) are absent.
    "P3GLEG__Whaler/testdata/test-image.tar": (set(), {"blob-absent"}),
    # Placeholder layer blobs ("insert binary content here"), hand-edited config sizes.
    "containers__image/oci/layout/fixtures/delete_image_multiple_images": ({"layer-unreadable", "descriptor-size-mismatch"}, set()),
    "containers__image/oci/layout/fixtures/delete_image_only_one_image": ({"layer-unreadable", "descriptor-size-mismatch"}, set()),
    "containers__image/oci/layout/fixtures/delete_image_shared_blobs_dir": ({"layer-unreadable", "descriptor-size-mismatch"}, {"blob-elsewhere"}),
    "containers__image/oci/layout/fixtures/delete_image_two_identical_references": ({"layer-unreadable"}, set()),
    "containers__skopeo/systemtest/testdata/docker-two-images.tar.xz": (set(), {"image-parent"}),
    "google__go-containerregistry/pkg/v1/layout/testdata/test_gc_index": (set(), {"media-type-mismatch", "blob-unreferenced", "time-epoch"}),
    "google__go-containerregistry/pkg/v1/layout/testdata/test_index": (set(), {"media-type-mismatch", "time-epoch"}),
    "google__go-containerregistry/pkg/v1/mutate/testdata/overwritten_file.tar": (set(), {"layer-empty", "time-epoch"}),
    "google__go-containerregistry/pkg/v1/mutate/testdata/whiteout_image.tar": (set(), {"layer-empty", "time-epoch"}),
    "google__go-containerregistry/pkg/v1/mutate/testdata/source_image_with_empty_layer_history.tar": ({"image-id-mismatch"}, {"time-epoch"}),
    "google__go-containerregistry/pkg/v1/tarball/testdata/hello-world-v25.tar": (set(), {"index-manifests-null", "blob-unreferenced", "layer-sources"}),
    "google__go-containerregistry/pkg/v1/tarball/testdata/test_bundle.tar": (set(), {"layer-sources"}),
    "google__go-containerregistry/pkg/v1/tarball/testdata/test_link.tar": (set(), {"image-parent"}),
    "wagoodman__dive/.data/test-kaniko-image.tar": (set(), {"time-zero"}),
    # The estargz TOC sits after the tar's end-of-archive block.
    "wagoodman__dive/.data/test-oci-estargz-image.tar": ({"layer-anomaly"}, set()),
    "regclient__regclient/testdata/testrepo": (set(), {"artifact-skipped", "attestation-skipped"}),
}


def _codes(archive: Archive) -> tuple[set[str], set[str]]:
    findings = list(archive.findings) + [f for image in archive.images for f in image_findings(image)]
    problems = {f.code for f in findings if f.severity.name != "INFO"}
    info = {f.code for f in findings if f.severity.name == "INFO"}
    return problems, info


@pytest.mark.parametrize("rel", sorted(CASES))
def test_corpus_archive_reads_with_the_indexed_facts(rel):
    case = CASES[rel]
    archive = read(rel)
    assert (archive.layout, archive.compression) == (case.layout, case.compression)
    got = [
        Img(i.image_id.hex[:12], i.references, len(i.layers), len(i.history), str(i.platform), i.created.raw if i.created else "")
        for i in archive.images
    ]
    assert got == case.images
    for image in archive.images:
        # Reconciliation: non-empty steps are matched 1:1, in order, onto the layers.
        matched = [s.layer_index for s in image.history if s.layer_index is not None]
        assert matched == list(range(len(matched)))
    problems, info = _codes(archive)
    want_problems, want_info = AUDIT.get(rel, (set(), set()))
    assert problems == want_problems
    assert want_info <= info


@pytest.mark.parametrize("rel", sorted(r for r, c in CASES.items() if "layer-unreadable" not in AUDIT.get(r, (set(), set()))[0]))
def test_corpus_layers_verify_against_their_diff_ids(rel):
    for image in read(rel).images:
        assert len(image.layers) == len(image.diff_ids)
        for layer, declared in zip(image.layers, image.diff_ids):
            assert layer is not None and layer.readable
            assert layer.diff_id == declared


def test_corpus_archives_hash():
    for rel in CASES:
        archive = read(rel)
        copy = dataclasses.replace(archive, images=tuple(dataclasses.replace(i) for i in archive.images))
        assert copy == archive and hash(copy) == hash(archive)


# ---- the oddities INDEX.md names -------------------------------------------------


def test_test_link_parent_and_symlinked_layer():
    archive = read("google__go-containerregistry/pkg/v1/tarball/testdata/test_link.tar")
    first, second = archive.images
    (parent,) = [f for f in second.findings if f.code == "image-parent"]
    assert parent.evidence_value("parent") == str(first.image_id)  # as manifest.json writes it
    # The 2nd image's first <id>/layer.tar is a symlink to the 1st image's layer.tar.
    assert second.layer_refs[0] != first.layer_refs[0]
    assert second.layers[0] == first.layers[0]
    assert second.layers[0] is not None and second.layers[0].member == first.layer_refs[0]


def test_skopeo_two_images_xz_parent_and_symlink():
    archive = read("containers__skopeo/systemtest/testdata/docker-two-images.tar.xz")
    first, second = archive.images
    assert [f.evidence_value("parent") for f in second.findings if f.code == "image-parent"] == ["sha256:ec9293436c2e66da44edb9efb8d41f6b13baf62283ebe846468bc992d76d7951"]
    assert second.layers[0] == first.layers[0]
    # The 2nd image adds only an ENV: an empty_layer step on top of the shared layer.
    assert [s.empty_layer for s in second.history] == [False, True]


def test_hand_edited_config_gives_an_image_id_mismatch():
    archive = read("google__go-containerregistry/pkg/v1/mutate/testdata/source_image_with_empty_layer_history.tar")
    (image,) = archive.images
    (f,) = [f for f in image.findings if f.code == "image-id-mismatch"]
    assert f.evidence_value("claimed") == Digest.parse("sha256:6e0b05049ed9c17d02e1a55e80d6599dbfcce7f4f4b022e3c673e685789c470e")
    assert f.evidence_value("actual") == Digest.parse("sha256:05b5ec1290589606ce19fabb1fb331f004acd9f618b9b4e813721be1a03a0712")
    assert image.image_id == f.evidence_value("actual")
    # The empty CMD step comes first; the one layer belongs to the second step.
    assert [(s.empty_layer, s.layer_index) for s in image.history] == [(True, None), (False, 0)]


def test_whaler_absent_platform_blobs_are_information():
    archive = read("P3GLEG__Whaler/testdata/test-image.tar")
    (absent,) = [f for f in archive.findings if f.code == "blob-absent"]
    assert absent.severity.name == "INFO"
    assert (absent.evidence_value("absent"), absent.evidence_value("listed"), absent.evidence_value("attestations")) == (22, 23, 10)
    (image,) = archive.images
    assert image.layers[0] is not None and image.layers[0].compression == "gzip"
    assert str(image.manifest_digest) == "sha256:a3f53a068794afb31f76ae82f79c71db0fb05a3ec960c62cd15027e214d7dc7f"


def test_hello_world_v25_untagged_graphdriver_save():
    rel = "google__go-containerregistry/pkg/v1/tarball/testdata/hello-world-v25.tar"
    archive = read(rel)
    (image,) = archive.images
    assert image.references == ()
    unreferenced = {f.path: f.evidence_value("what") for f in archive.findings if f.code == "blob-unreferenced"}
    # Checked by hand: one is the OCI manifest index.json does not list, the other the legacy v1 json.
    with tarfile.open(corpus_path(rel)) as tf:
        for name, what in unreferenced.items():
            value = json.load(tf.extractfile(name))  # type: ignore[arg-type]
            assert ("layers" in value) == (what == "manifest") and ("id" in value) == (what == "v1-json")
    assert sorted(unreferenced.values()) == ["manifest", "v1-json"]
    assert [f.evidence_value("count") for f in image.findings if f.code == "layer-sources"] == [1]


def test_kaniko_zero_times_and_crane_names():
    archive = read("wagoodman__dive/.data/test-kaniko-image.tar")
    (image,) = archive.images
    assert image.config_member == "sha256:ae16a51058a758c7963b2f9b23d1acfa201ce9cbefc8cb93845f8cd934fb144d"
    (zero,) = [f for f in image_findings(image) if f.code == "time-zero"]
    assert zero.evidence_value("steps") == tuple(range(2, 15))
    assert all(layer is not None and layer.compression == "gzip" for layer in image.layers)
    assert all(s.author == "kaniko" for s in image.history[2:])


def test_dive_docker_image_hardlinks_and_one_empty_step():
    (image,) = read("wagoodman__dive/.data/test-docker-image.tar").images
    base = image.layers[0]
    assert base is not None and base.entry_count == 415
    assert sum(1 for e in base.entries if e.kind == "hardlink") == 392
    assert [s.index for s in image.history if s.empty_layer] == [1]


@pytest.mark.parametrize("rel", [
    "google__go-containerregistry/pkg/v1/mutate/testdata/overwritten_file.tar",
    "google__go-containerregistry/pkg/v1/mutate/testdata/whiteout_image.tar",
])
def test_all_zero_top_layer_is_an_entry_less_10240_byte_tar(rel):
    (image,) = read(rel).images
    (f,) = [f for f in image_findings(image) if f.code == "layer-empty"]
    assert f.evidence_value("layer") == 2
    assert str(image.diff_ids[2]) == "sha256:84ff92691f909a05b224e1c56abb4864f01b4f8e3c854e4bb4c7baf1d3f6d652"


def test_placeholder_layers_are_unreadable_not_fatal():
    archive = read("containers__image/oci/layout/fixtures/delete_image_multiple_images")
    unreadable = [f for image in archive.images for f in image_findings(image) if f.code == "layer-unreadable"]
    assert len(unreadable) == len(archive.images) == 6
    (size,) = [f for f in archive.findings if f.code == "descriptor-size-mismatch"]
    assert (size.evidence_value("declared"), size.evidence_value("actual")) == (585, 584)


def test_estargz_toc_after_the_end_of_archive_block():
    (image,) = read("wagoodman__dive/.data/test-oci-estargz-image.tar").images
    assert [f.evidence_value("anomaly") for f in image_findings(image) if f.code == "layer-anomaly"] == ["trailing-data"]


def test_one_manifest_under_two_references_is_one_image():
    (image,) = read("anchore__stereoscope/pkg/image/oci/testdata/valid_oci_dir").images
    assert image.references == ("latest", "1.0")


def test_artifact_only_layouts_hold_no_image():
    for rel, config_type in [
        ("google__go-containerregistry/pkg/v1/layout/testdata/test_index_media_type", "application/vnd.cncf.helm.config.v1+json"),
        ("regclient__regclient/testdata/external", "application/vnd.oci.empty.v1+json"),
    ]:
        archive = read(rel)
        assert archive.images == ()
        artifacts = [f for f in archive.findings if f.code == "artifact-skipped"]
        assert artifacts and {f.evidence_value("config_type") for f in artifacts} == {config_type}


# ---- malformed inputs: one-line errors ----------------------------------------------

NOT_AN_IMAGE = "not an image archive: expected manifest.json (docker save) or index.json (OCI layout), found "

MALFORMED = {
    "google__go-containerregistry/pkg/v1/tarball/testdata/no_manifest.tar":
        "manifest.json: absent: this looks like a docker save (repositories, <id>.json config, <id>/layer.tar) with manifest.json removed; without it nothing says which config and layers form an image",
    "google__go-containerregistry/pkg/v1/tarball/testdata/null_manifest.tar":
        "manifest.json: expected a JSON array of images, found null",
    "moby__moby/integration-cli/testdata/emptyLayer.tar":
        "manifest.json: absent: this is a pre-1.10 docker save (repositories + <id>/json chain only), which has no image config and no diff_ids to read; load it into Docker and save it again",
    "aquasecurity__trivy/pkg/fanal/test/testdata/test_bad_index_json.oci":
        "index.json: image index is not JSON (Expecting value: line 1, column 1)",
    "aquasecurity__trivy/pkg/fanal/test/testdata/test_index_json_dir.oci":
        "index.json: expected image index (JSON), found a directory",
    "aquasecurity__trivy/pkg/fanal/test/testdata/test_invalid_oci_image.oci":
        "index.json: no image could be read: index.json manifests[0] (bad744871f99) is absent",
    "aquasecurity__trivy/pkg/fanal/test/testdata/test_no_valid_manifests.oci":
        "index.json: expected a manifests array in the image index, found none",
    "anchore__stereoscope/pkg/image/oci/testdata/valid_manifest":
        "index.json: no image could be read: index.json manifests[0]: points at f67dcc5fc786, which expected manifest or index (JSON), found an empty file",
    "anchore__stereoscope/pkg/image/oci/testdata/invalid_file":
        "index.json: expected image index (JSON), found an empty file",
    "wagoodman__dive/.data/test-gzip-image.tar": NOT_AN_IMAGE + "README.md",
    "wagoodman__dive/.data/test-estargz-image.tar": NOT_AN_IMAGE + "README.md",
    "wagoodman__dive/.data/test-zstd-image.tar": NOT_AN_IMAGE + "README.md",
    "wagoodman__dive/.data/test-uncompressed-image.tar": NOT_AN_IMAGE + "README.md",
    "google__osv-scalibr/artifact/image/layerscanning/image/testdata/empty.tar": NOT_AN_IMAGE + "no members",
    "regclient__regclient/testdata/layer.tar": NOT_AN_IMAGE + "layer1.txt, layer2.txt, layer3.txt",
    "google__go-containerregistry/pkg/v1/tarball/testdata/content.tar": NOT_AN_IMAGE + ", bat, baz",
}


@pytest.mark.parametrize("rel", sorted(MALFORMED))
def test_malformed_corpus_input_gives_its_one_line_error(rel):
    with pytest.raises(InputError) as info:
        read_archive(corpus_path(rel))
    assert str(info.value) == f"{corpus_path(rel)}: {MALFORMED[rel]}"


def test_every_corpus_finding_uses_an_audit_code():
    from imageforensics.catalogue import Category, code_spec

    for rel in CASES:
        problems, info = _codes(read(rel))
        assert all(code_spec(c).category in (Category.INTEGRITY, Category.TIME_SIGNAL) for c in problems | info), rel
