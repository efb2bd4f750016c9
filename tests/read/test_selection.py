"""Choosing one image: ``a.tar:name:tag``, ``a.tar@N`` (skopeo's spelling) and ``--platform``."""

from __future__ import annotations

import io

import pytest

from tests.archivekit import Img, containerd, legacy, oci, simple_image, tar_of
from imageforensics.errors import SelectionError
from imageforensics.model import Archive
from imageforensics.read._archive import read_stream
from imageforensics.read._selection import parse_input_spec, parse_platform, reference_matches, select_image


def archive_of(members: list) -> Archive:
    return read_stream(io.BytesIO(tar_of(members)), "x.tar")


@pytest.fixture
def two_images() -> Archive:
    return archive_of(legacy([simple_image("local/app:1", "a"), simple_image("local/app:2", "b")]))


@pytest.fixture
def two_platforms() -> Archive:
    amd = simple_image("local/m:1", "a")
    arm = Img(layers=amd.layers[:1], history=amd.history[:2], tags=["local/m:1"], architecture="arm64", variant="v8")
    arm7 = Img(layers=amd.layers[:1], history=amd.history[:2], tags=["local/m:1"], architecture="arm", variant="v7")
    return archive_of(oci([amd, arm, arm7], nested=True))


def test_parse_input_spec_plain_path_reference_and_index(tmp_path):
    path = tmp_path / "a.tar"
    path.write_bytes(b"")
    assert parse_input_spec(str(path)) == (str(path), None, None)
    assert parse_input_spec(f"{path}:local/app:1") == (str(path), "local/app:1", None)
    assert parse_input_spec(f"{path}:registry.example:5000/app:1") == (str(path), "registry.example:5000/app:1", None)
    assert parse_input_spec(f"{path}@2") == (str(path), None, 2)
    assert parse_input_spec("-") == ("-", None, None)


def test_an_existing_path_with_a_colon_or_at_sign_wins(tmp_path):
    odd = tmp_path / "we:ird@1"
    odd.write_bytes(b"")
    assert parse_input_spec(str(odd)) == (str(odd), None, None)


def test_missing_file_with_reference_still_splits(tmp_path):
    missing = tmp_path / "nope.tar"
    assert parse_input_spec(f"{missing}:x:1") == (str(missing), "x:1", None)
    assert parse_input_spec(f"{missing}@3") == (str(missing), None, 3)


def test_one_image_needs_no_choice():
    archive = archive_of(legacy([simple_image("local/app:1")]))
    assert select_image(archive, reference=None, index=None, platform=None) is archive.images[0]


def test_several_images_need_a_choice_and_the_error_lists_them(two_images):
    with pytest.raises(SelectionError) as info:
        select_image(two_images, reference=None, index=None, platform=None)
    message = str(info.value)
    assert message.startswith("x.tar: holds several images; add :name:tag or @N, or --platform os/arch[/variant] to choose one of: ")
    assert "@0 local/app:1 linux/amd64" in message and "@1 local/app:2 linux/amd64" in message
    assert "\n" not in message


def test_select_by_reference_and_by_index(two_images):
    assert select_image(two_images, reference="local/app:2", index=None, platform=None) is two_images.images[1]
    assert select_image(two_images, reference="docker.io/local/app:2", index=None, platform=None) is two_images.images[1]
    assert select_image(two_images, reference=None, index=0, platform=None) is two_images.images[0]


def test_unknown_reference_and_out_of_range_index(two_images):
    with pytest.raises(SelectionError, match=r"^x.tar:local/app:3: no image has this reference; choose one of: @0 local/app:1"):
        select_image(two_images, reference="local/app:3", index=None, platform=None)
    with pytest.raises(SelectionError, match=r"^x.tar@5: there are 2 image\(s\), @0 to @1: "):
        select_image(two_images, reference=None, index=5, platform=None)


def test_platform_choice(two_platforms):
    with pytest.raises(SelectionError) as info:
        select_image(two_platforms, reference="local/m:1", index=None, platform=None)
    assert "linux/amd64" in str(info.value) and "linux/arm64/v8" in str(info.value) and "linux/arm/v7" in str(info.value)
    chosen = select_image(two_platforms, reference=None, index=None, platform="linux/arm64")
    assert str(chosen.platform) == "linux/arm64/v8"
    assert str(select_image(two_platforms, reference=None, index=None, platform="linux/arm/v7").platform) == "linux/arm/v7"
    with pytest.raises(SelectionError, match="no image for platform linux/s390x; platforms here: "):
        select_image(two_platforms, reference=None, index=None, platform="linux/s390x")
    with pytest.raises(SelectionError, match="expected os/arch or os/arch/variant"):
        select_image(two_platforms, reference=None, index=None, platform="linux")


def test_containerd_names_select_the_image():
    archive = archive_of(containerd([simple_image("library/app:1")]))
    image = archive.images[0]
    for ref in ("library/app:1", "docker.io/library/app:1", "app:1", "1"):
        assert select_image(archive, reference=ref, index=None, platform=None) is image


def test_reference_matching_rules():
    assert reference_matches("alpine", "docker.io/library/alpine:latest")
    assert reference_matches("alpine:3.10", "alpine:3.10")
    assert not reference_matches("alpine:3.11", "alpine:3.10")
    assert not reference_matches("example.com/alpine:1", "alpine:1")
    assert parse_platform("linux/arm/v7").variant == "v7"


def test_an_archive_without_images():
    empty = Archive(source="e", layout="oci-dir", compression="none", sha256=None, images=())
    with pytest.raises(SelectionError, match="^e: holds no image"):
        select_image(empty, reference=None, index=None, platform=None)


def test_selection_error_escapes_hostile_references(two_images):
    with pytest.raises(SelectionError) as info:
        select_image(two_images, reference="x\x1b[31m", index=None, platform=None)
    assert "\x1b" not in str(info.value)
