"""Tricks in the outer archive's own tar and compression: each is a finding with its evidence, or one line.

The checked-in files of tests/hostile/ (tools/make_hostile.py) carry their
outcomes as codes; here each class is read from memory and the evidence a
reviewer sees is asserted: what is hidden after the end marker, which link
names a later member, which member has a negative size, what a global
header holds. Inside a layer the same tricks are layer anomalies (see
read/test_runtime_rules.py).
"""

from __future__ import annotations

import bz2
import io
import lzma

import pytest

from imageforensics.errors import InputError
from imageforensics.findings import Finding, Severity
from imageforensics.model import Archive
from imageforensics.read._archive import read_stream
from tools import make_hostile as hostile
from tools.fuzz import guarded

CLEAN = hostile.WHOLE


def read(data: bytes) -> Archive:
    return guarded(lambda: read_stream(io.BytesIO(data), "t.tar"))  # type: ignore[arg-type]


def anomalies(archive: Archive) -> dict[str, Finding]:
    return {str(f.evidence_value("anomaly")): f for f in archive.findings if f.code == "archive-anomaly"}


def test_a_clean_archive_has_no_tar_finding() -> None:
    archive = read(CLEAN)
    assert anomalies(archive) == {} and not [f for f in archive.findings if f.code.startswith("member-link")]


def test_a_manifest_hidden_after_the_end_marker_is_named() -> None:
    data = hostile.CASES["outer-trailing-manifest.tar"][0]()
    archive = read(data)
    finding = anomalies(archive)["trailing-data"]
    end = len(CLEAN) - 1024
    assert finding.severity == Severity.WARNING
    assert finding.evidence_value("first") == (
        f"{len(data) - end - 512} bytes after the end-of-archive block at offset {end}; the first non-zero block,"
        f" at offset {len(CLEAN)}, is a tar header of 'manifest.json'")
    # What docker load reads is still the first manifest: one image, the clean one.
    assert [image.image_id for image in archive.images] == [image.image_id for image in read(CLEAN).images]


@pytest.mark.parametrize("padding", [512, 10240 - 1024, 64 * 1024])
def test_zero_padding_after_the_end_marker_is_no_finding(padding: int) -> None:
    assert anomalies(read(CLEAN + bytes(padding))) == {}


def test_non_zero_bytes_that_are_no_header_are_still_reported() -> None:
    finding = anomalies(read(CLEAN + bytes(700) + b"\x01"))["trailing-data"]
    assert str(finding.evidence_value("first")).endswith("is not a tar header")


@pytest.mark.parametrize(("kind", "pack"), [("gzip", hostile.stored_gz), ("bzip2", lambda d: bz2.compress(d, 9)),
                                            ("xz", lambda d: lzma.compress(d, preset=0))])
def test_junk_after_the_outer_compressed_stream_is_a_finding(kind: str, pack) -> None:  # type: ignore[no-untyped-def]
    archive = read(pack(CLEAN) + b"junk!")
    finding = anomalies(archive)["trailing-garbage"]
    assert finding.evidence_value("first") == f"5 bytes after the {kind} stream"
    assert anomalies(read(pack(CLEAN))) == {}


def test_a_negative_size_is_an_error_finding_and_the_member_reads_as_empty() -> None:
    archive = read(hostile.CASES["outer-negative-size.tar"][0]())
    finding = anomalies(archive)["negative-size"]
    assert finding.severity == Severity.ERROR and finding.evidence_value("first") == "extra.bin (-1)"
    assert len(archive.images) == 1


def test_a_hardlink_to_a_later_member_is_not_followed() -> None:
    archive = read(hostile.CASES["outer-hardlink-forward.tar"][0]())
    (link,) = [f for f in archive.findings if f.code == "member-link-forward"]
    assert (link.path, link.evidence_value("target")) == (hostile.SECOND, "later/layer.tar")
    image = archive.images[0]
    assert image.layers[1] is None


def test_a_hardlink_to_an_earlier_member_is_followed() -> None:
    members = [(n, c) for n, c in hostile.LEG if n != hostile.SECOND]
    data = hostile.tar([("earlier/layer.tar", dict(hostile.LEG)[hostile.SECOND])] + members
                       + [(hostile.SECOND, ("hardlink", "earlier/layer.tar"))])
    archive = read(data)
    assert not [f for f in archive.findings if f.code.startswith("member-link")]
    assert archive.images[0].layers[1] is not None


def test_a_global_header_in_the_outer_archive_renames_nothing() -> None:
    archive = read(hostile.CASES["outer-pax-global-path.tar"][0]())
    finding = anomalies(archive)["pax-global-header"]
    assert finding.evidence_value("first") == "path=manifest.json, size=0"
    assert [image.image_id for image in archive.images] == [image.image_id for image in read(CLEAN).images]


@pytest.mark.parametrize("name", ["outer-sparse-bad-numbers.tar", "outer-pax-mtime-digits.tar", "outer-pax-digits.tar"])
def test_bad_numbers_in_outer_extended_headers_are_one_line_errors(name: str) -> None:
    make, want = hostile.CASES[name]
    with pytest.raises(InputError) as info:
        read(make())
    assert str(info.value) == str(want["error"]).replace("{path}", "t.tar")
    assert "\n" not in str(info.value) and "ValueError" not in str(info.value)


@pytest.mark.parametrize("records", [
    hostile.pax_record("GNU.sparse.major", "1") + hostile.pax_record("GNU.sparse.minor", "0"),  # the "map" is a tar header
    hostile.pax_record("GNU.sparse.map", "1,2,3") + hostile.pax_record("GNU.sparse.numblocks", "1"),
    hostile.pax_record("GNU.sparse.numblocks", "-1") + hostile.pax_record("GNU.sparse.map", "0,1"),
    hostile.pax_record("uid", "9" * 5000),
])
def test_malformed_sparse_or_number_records_of_an_outer_member_are_one_line_errors(records: bytes) -> None:
    # The extended header describes the first layer member.
    with pytest.raises(InputError) as info:
        read(hostile._pax_outer(records))
    assert str(info.value).startswith(f"t.tar: after {hostile.CONFIG_NAME}: expected a tar header (invalid extended header at offset 1024: ")
    assert "\n" not in str(info.value) and len(str(info.value)) < 300
