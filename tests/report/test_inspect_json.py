"""``inspect --format json``: format 2, its evidence the diff JSON's, written in pieces that never hold all entries.

The pieces joined must be exactly ``json.dumps`` of the whole document (two-space
indent, sorted keys, ASCII), which the tests build here the plain way, from the
model's JSON, as the oracle.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from dataclasses import replace
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from imageforensics.audit import image_findings
from imageforensics.catalogue import REGISTRY
from imageforensics.evidence_json import evidence_json, json_int, load_evidence_json
from imageforensics.findings import Finding, Severity
from imageforensics.model import Archive, FileEntry, Image
from imageforensics.model_json import archive_to_json
from imageforensics.read import read_input
from imageforensics.report import (INSPECT_FORMAT_NAME, INSPECT_FORMAT_VERSION, INSPECT_RENDERERS, render_inspect_json,
                                   stream_inspect_json)
from imageforensics.timestamp import format_instant
from tests import modelfactory as mf

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "samples").glob("*.tar"))


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return json_int(value) if type(value) is int else value


def oracle(archive: Archive, images: tuple[Image, ...] | None = None) -> str:
    """The document built whole and dumped at once: what the pieces must join to."""
    shown = archive if images is None else replace(archive, images=images)
    doc = _plain(archive_to_json(shown, image_findings=image_findings))
    for image_doc in doc["images"]:
        for layer_doc in image_doc["layers"]:
            for entry in (layer_doc or {}).get("entries", []):
                entry["path"] = entry["path"] if entry["path"].startswith("/") else "/" + entry["path"]
                entry["mode_octal"] = format(int(entry.get("mode", 0)), "04o")
                if "mtime_ns" in entry:
                    entry["mtime"] = format_instant(int(entry["mtime_ns"]))
    for findings_doc, findings in zip([doc["findings"], *(i["findings"] for i in doc["images"])],
                                      [shown.findings, *(image_findings(i) for i in shown.images)]):
        for finding_doc, finding in zip(findings_doc, findings, strict=True):
            finding_doc["evidence"] = evidence_json(finding.code, finding.evidence)
    doc["format"], doc["format_version"] = "imageforensics-inspect", 2
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=True) + "\n"


def test_every_sample_joins_to_the_whole_document() -> None:
    assert SAMPLES
    for path in SAMPLES:
        archive = read_input(str(path))
        pieces = list(stream_inspect_json(archive, image_findings=image_findings))
        assert "".join(pieces) == oracle(archive) == render_inspect_json(archive, image_findings=image_findings)
        chosen = archive.images[-1:]
        assert render_inspect_json(archive, chosen, image_findings=image_findings) == oracle(archive, chosen)


_names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from("\udcff\udc80\x00\x1b\u202e\"\\/"),
                 min_size=1, max_size=12)
_ints = st.integers(0, 2**63 - 1) | st.sampled_from([2**53 - 1, 2**53, 2**53 + 1, 0o7777, 0o170000])


@st.composite
def entries(draw: st.DrawFn) -> FileEntry:
    kind = draw(st.sampled_from(["file", "dir", "symlink", "hardlink", "char", "whiteout", "opaque"]))
    path = draw(st.sampled_from(["", "/"])) + draw(_names)
    return FileEntry(path=path, kind=kind, size=draw(_ints | st.just(0)), mode=draw(_ints | st.just(0)),
                     uid=draw(_ints | st.just(0)), gid=draw(st.just(0) | _ints),
                     mtime_ns=draw(st.integers(-(2**63), 2**63 - 1) | st.just(0)),
                     linkname=draw(st.just("") | _names), devmajor=draw(st.just(0) | _ints),
                     xattrs=draw(st.just(()) | st.lists(st.tuples(_names, _names), max_size=2).map(tuple)),
                     content_digest=draw(st.just("") | st.just("sha256:" + "ab" * 32)))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(entries(), max_size=5), min_size=1, max_size=3), st.booleans())
def test_any_entries_join_to_the_whole_document(layers: list[list[FileEntry]], absent: bool) -> None:
    image = mf.build(mf.spec(*(mf.step(f"RUN {i}", *es) for i, es in enumerate(layers))))
    if absent:
        image = replace(image, layers=(None, *image.layers[1:]))
    archive = mf.archive(image)
    assert "".join(stream_inspect_json(archive, image_findings=image_findings)) == oracle(archive)


def _finding_with_every_evidence_form() -> Finding:
    spec = REGISTRY["inline-cache-poisoned"]
    assert spec.key("lost_steps") is not None
    return Finding(code="inline-cache-poisoned", severity=Severity.ERROR, summary="s",
                   evidence=(("lost_entries", 12), ("lost_steps", (6, 7)), ("points_at", 3), ("records", 2**60),
                             ("should", 4)))


def test_the_document_declares_its_format_and_evidence_round_trips() -> None:
    finding = _finding_with_every_evidence_form()
    archive = replace(mf.archive(mf.build(mf.spec(mf.step("RUN a", mf.file("a"))))), findings=(finding,))
    doc = json.loads(render_inspect_json(archive, image_findings=image_findings))
    assert (doc["format"], doc["format_version"]) == (INSPECT_FORMAT_NAME, INSPECT_FORMAT_VERSION) == \
        ("imageforensics-inspect", 2)
    (shown,) = doc["findings"]
    # Typed, absent facts absent, 2^60 as decimal text; and back to the same typed evidence.
    assert shown["evidence"] == {"lost_entries": 12, "lost_steps": [6, 7], "points_at": 3, "records": str(2**60),
                                 "should": 4}
    assert load_evidence_json(finding.code, shown["evidence"], "evidence") == finding.evidence
    for path in SAMPLES:
        sample = read_input(str(path))
        for image_doc, image in zip(json.loads(render_inspect_json(sample, image_findings=image_findings))["images"],
                                    sample.images):
            for f_doc, f in zip(image_doc["findings"], image_findings(image), strict=True):
                assert load_evidence_json(f.code, f_doc["evidence"], "evidence") == f.evidence


def _cli_json(*args: str) -> Any:
    done = subprocess.run([sys.executable, "-m", "imageforensics", *args, "--format", "json", "-q"], cwd=ROOT,
                          capture_output=True, check=False)
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


def test_inspect_and_diff_write_one_finding_s_evidence_alike() -> None:
    pulled = str(ROOT / "samples/tomcat-pulled.tar")
    inspected = {f["code"]: f for i in _cli_json("inspect", pulled)["images"] for f in i["findings"]}
    diffed = {f["code"]: f for f in _cli_json(pulled, str(ROOT / "samples/tomcat-cache-from.tar"))["findings"]
              if f["side"] == "A"}
    assert "inline-cache-poisoned" in inspected and "inline-cache-poisoned" in diffed
    both = inspected["inline-cache-poisoned"], diffed["inline-cache-poisoned"]
    assert both[0]["evidence"] == both[1]["evidence"] == {"lost_entries": 12, "lost_steps": [6], "points_at": 3,
                                                          "records": 6, "should": 4}
    # Paths spelled one way: /etc/..., as the diff spells them.
    assert both[0]["paths"] == both[1]["paths"] and all(p.startswith("/") for p in both[0]["paths"])


def _streamed(count: int) -> tuple[int, int, int]:
    """Bytes written, the largest piece and the peak of traced memory while ``count`` entries are written."""
    many = tuple(mf.file(f"srv/data/{n:06d}", mode=0o640, mtime=2**61 + n) for n in range(count))
    archive = mf.archive(mf.build(mf.spec(mf.step("COPY data /srv/data", *many))))
    stream = INSPECT_RENDERERS["json"].stream
    written = largest = 0
    tracemalloc.start()
    try:
        # No findings: the audit's own work is not the writing's.
        for piece in stream(archive, image_findings=lambda image: ()):
            written += len(piece)
            largest = max(largest, len(piece))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return written, largest, peak


def test_writing_many_entries_holds_no_more_than_one_at_a_time() -> None:
    small, large = _streamed(10_000), _streamed(40_000)
    for count, (written, largest, peak) in ((10_000, small), (40_000, large)):
        # The whole document is 200 bytes and more per entry; built whole, it would be held at least once.
        assert written > 200 * count
        assert peak < written // 4
        assert largest < written // 20
    # Four times the entries, not one byte more per entry held: what is held is one piece, and bounded caches.
    assert large[2] < small[2] + 30_000


def test_long_layers_join_to_the_whole_document_across_pieces() -> None:
    # Entries go out in pieces of a few hundred: lengths on and around a piece's edge.
    for count in (255, 256, 257, 512, 700):
        files = tuple(mf.file(f"d/{n:04d}", xattrs=(("user.n", str(n)),) if n % 97 == 0 else ()) for n in range(count))
        archive = mf.archive(mf.build(mf.spec(mf.step("COPY d /d", *files), mf.step("RUN x", mf.file("x")))))
        assert "".join(stream_inspect_json(archive, image_findings=image_findings)) == oracle(archive)
