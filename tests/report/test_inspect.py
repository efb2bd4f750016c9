"""``inspect`` text: identity, one row per history step with its matched layer, then the audit."""

from __future__ import annotations

import io

from tests.archivekit import Img, gz, hexof, layer_tar, legacy, oci, simple_image, tar_of
from imageforensics.audit import image_findings
from imageforensics.findings import Finding, Severity
from imageforensics.model import Archive
from imageforensics.read._archive import read_stream
from imageforensics.report._common import human_size
from imageforensics.report._inspect import render_inspect_text


def read(members: list) -> Archive:
    return read_stream(io.BytesIO(tar_of(members)), "x.tar")


def test_header_rows_and_findings():
    img = simple_image("local/app:1")
    img.history.append({"created": "2021-03-11T15:19:28Z", "created_by": "RUN surplus"})
    archive = read(legacy([img]))
    image = archive.images[0]
    text = render_inspect_text(archive, image, image_findings=image_findings, width=120)
    lines = text.splitlines()
    assert lines[0] == "input       x.tar"
    assert lines[1] == "format      docker-archive (docker save, Docker <= 24) [docker-legacy]"
    assert "references  local/app:1" in lines
    assert f"image ID    {image.image_id}" in lines
    assert "platform    linux/amd64" in lines
    assert "created     2021-03-11T15:19:27.9352723Z" in lines
    stored = sum(layer.size for layer in image.layers if layer is not None)
    assert stored == 2 * 10240  # two tarfile-written layers, each padded to one 10 KiB record
    assert f"layers      2, {human_size(stored)} stored; 2 diff_ids; 4 history steps" in lines
    rows = [l for l in lines if l[:4].strip().isdigit()]
    assert len(rows) == 4
    # step 0: its layer L0 with the short diff_id, size and entry count; step 1 empty; step 3 surplus.
    assert rows[0].split()[:4] == ["0", "2021-03-11T15:19:20Z", "no", "L0"]
    assert f"L0 {image.diff_ids[0].short} {human_size(10240)} 2 ent" in rows[0]
    assert rows[1].split()[:4] == ["1", "2021-03-11T15:19:21Z", "yes", "-"]
    assert rows[1].endswith('CMD ["sh"]')
    assert rows[2].split()[:5] == ["2", "2021-03-11T15:19:27.9352723Z", "no", "L1", image.diff_ids[1].short]
    assert rows[2].endswith("COPY app /app")
    assert "(no layer)" in rows[3]
    assert any(l.startswith("findings (") for l in lines)
    assert any("history-surplus" in l for l in lines)


def test_the_findings_shown_are_those_given_for_the_image():
    # The audit is computed by the caller (the CLI passes audit.image_findings): the text shows exactly those.
    archive = read(legacy([simple_image()]))
    given = Finding(code="time-backwards", severity=Severity.WARNING, summary="what the caller computed")
    text = render_inspect_text(archive, archive.images[0], image_findings=lambda image: (given,), width=120)
    assert "findings (1):\n  WARNING  time-backwards  what the caller computed\n" in text
    assert "findings: none" in render_inspect_text(archive, archive.images[0], image_findings=lambda image: (), width=120)


def test_narrow_width_puts_created_by_on_its_own_line():
    archive = read(legacy([simple_image()]))
    text = render_inspect_text(archive, archive.images[0], image_findings=image_findings, width=80)
    lines = text.splitlines()
    i = next(k for k, l in enumerate(lines) if l.startswith("   2  2021-03-11T15:19:27.9352723Z"))
    assert lines[i + 1].strip() == "COPY app /app"
    table = lines[next(k for k, l in enumerate(lines) if l.startswith("STEP")):i + 2]
    assert all(len(l) <= 80 for l in table)


def test_untrusted_strings_are_escaped_never_emitted_raw():
    img = simple_image("evil/\x1b[31mred:1")
    img.history[2]["created_by"] = "RUN echo \x1b]0;pwned\x07 \u202egnp.exe"
    archive = read(legacy([img]))
    text = render_inspect_text(archive, archive.images[0], image_findings=image_findings, width=200)
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "evil/\\x1b[31mred:1" in text
    assert "\\u202e" in text


def test_absent_layer_and_archive_findings():
    img = simple_image()
    members = oci([img])
    missing = f"blobs/sha256/{hexof(gz(img.layers[1]))}"
    archive = read([(n, c) for n, c in members if n != missing])
    text = render_inspect_text(archive, archive.images[0], image_findings=image_findings, width=160)
    assert f"L1 {archive.images[0].diff_ids[1].short} absent" in text
    assert "layer-absent" in text


def test_no_image():
    archive = Archive(source="d", layout="oci-dir", compression="none", sha256=None, images=(), notes=("no image, only 1 artifact(s): see the findings",))
    text = render_inspect_text(archive, None, image_findings=image_findings)
    assert "image       none (this input holds no image; see the findings)" in text
    assert text.endswith("note: no image, only 1 artifact(s): see the findings\n")


def test_several_images_say_which_one():
    archive = read(legacy([simple_image("a:1", "a"), simple_image("b:1", "b")]))
    assert "image       @1 of 2 in this archive" in render_inspect_text(archive, archive.images[1], image_findings=image_findings)


def test_history_without_steps_lists_unmatched_layers():
    img = Img(layers=[layer_tar({"a": b"1"})], history=[])
    archive = read(legacy([img]))
    text = render_inspect_text(archive, archive.images[0], image_findings=image_findings)
    assert "history     (none: the config has no history)" in text
    assert f"  layer L0 {archive.images[0].diff_ids[0].short} {human_size(10240)} 1 ent: no history step" in text


def test_several_images_share_one_archive_header():
    from imageforensics.report._inspect import render_inspect_all

    archive = read(legacy([simple_image("local/one:1"), simple_image("local/two:1")]))
    text = render_inspect_all(archive, image_findings=image_findings)
    assert text.count("\ninput ") + text.startswith("input ") == 1
    assert "image       @0 of 2 in this archive" in text and "image       @1 of 2 in this archive" in text
    assert text.count("archive findings") == (1 if archive.findings else 0)
    only_second = render_inspect_all(archive, (archive.images[1],), image_findings=image_findings)
    assert "@1 of 2" in only_second and "@0 of 2" not in only_second
