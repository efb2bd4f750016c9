"""Every safety limit is enforced, names the option that raises it, is documented, and can be raised.

Other hostile tests hit each limit with a hostile input; this file checks the
set as a whole: the error of each limit in one archive, the README's table
against ``Limits()``, and the CLI options end to end.
"""

from __future__ import annotations

import functools
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.archivekit import js, layer_tar, legacy, oci, simple_image, tar_of
from imageforensics.cli._main import build_parser, limits_from_args
from imageforensics.errors import InputError, LimitError
from imageforensics.options import Limits, ReadOptions, fixed_caps, settable_limits
from imageforensics.read._archive import read_stream
from tools.fuzz import guarded, limit_cpu

ROOT = Path(__file__).resolve().parents[2]
IMG = simple_image()


def limit_error(data: bytes, limits: Limits) -> str:
    with pytest.raises(LimitError) as info:
        guarded(lambda: read_stream(io.BytesIO(data), "t.tar", ReadOptions(limits=limits)))  # type: ignore[arg-type]
    return str(info.value)


def test_layers_per_image_in_a_docker_save_and_an_oci_manifest() -> None:
    assert limit_error(tar_of(legacy([IMG])), Limits(max_layers=1)) == "t.tar: manifest.json: item 0 has 2 layers, over the 1-layer limit (--max-layers)"
    msg = limit_error(tar_of(oci([IMG])), Limits(max_layers=1))
    assert msg.startswith("t.tar: blobs/sha256/") and msg.endswith(": manifest has 2 layers, over the 1-layer limit (--max-layers)")


def test_members_per_archive_follow_the_layer_limit() -> None:
    limits = Limits(max_layers=1)
    assert limits.max_members == 16 + 4096
    members = [(f"junk/{i}", b"") for i in range(limits.max_members + 1)]
    msg = limit_error(tar_of(members), limits)
    assert msg == "t.tar: junk/4112: more than 4112 members in the archive (16 per layer allowed by --max-layers, plus 4096)"


def test_member_name_length_in_the_outer_archive() -> None:
    msg = limit_error(tar_of([("d/" * 100 + "x", b"")]), Limits(max_path_bytes=64))
    assert msg == "t.tar: " + "d/" * 40 + "…: member name longer than 64 bytes (--max-path-bytes)"


def test_json_members_held_together_are_bounded() -> None:
    members = [(f"doc{i}.json", js({"pad": "x" * 900})) for i in range(30)]
    msg = limit_error(tar_of(members), Limits(max_json_bytes=4096))
    assert msg.endswith("the archive's JSON members together exceed 8192 bytes (twice --max-json-bytes)")


def test_each_limit_has_a_cli_option_with_its_default() -> None:
    inspect = build_parser().parse_args(["inspect", "x.tar"])
    assert limits_from_args(inspect) == Limits()
    assert [f.metadata["flag"] for f in settable_limits()] == [
        "--max-json-bytes", "--max-json-depth", "--max-layers", "--max-entries", "--max-total-entries", "--max-path-bytes",
        "--max-expansion"]


@pytest.mark.parametrize("command", ["diff", "inspect", "snapshot"])
def test_every_settable_limit_is_in_the_help_of_every_command(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps long help lines
    for limit in settable_limits():
        m = limit.metadata
        assert f"{m['flag']} {m['metavar']} {m['help']} (default {limit.default})" in text, limit.name


@pytest.mark.parametrize("argv", [["inspect", "x.tar"], ["snapshot", "x.tar", "-o", "s.json"], ["diff", "a.tar", "b.tar"]])
def test_an_option_sets_its_limit_and_only_that(argv: list[str]) -> None:
    assert limits_from_args(build_parser().parse_args([*argv, "--max-layers", "7"])) == Limits(max_layers=7)
    assert limits_from_args(build_parser().parse_args([*argv, "--max-entries", "9", "--max-expansion", "3"])) == Limits(
        max_entries_per_layer=9, max_expansion_ratio=3)


def _shown(value: int, unit: str) -> str:
    """A fixed cap's value as the README writes it."""
    if unit == "bytes":
        return f"{value >> 20} MiB" if value % (1 << 20) == 0 else f"{value >> 10} KiB" if value % 1024 == 0 else f"{value:,} bytes"
    return f"{value:,}" + (f" {unit}" if unit else "")


def test_the_readme_documents_every_default() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Safety limits") :]
    section = section[: section.index("\n## ", 1)]
    lines = section.splitlines()
    d = Limits()
    rows = {
        "max_json_bytes": f"{d.max_json_bytes >> 20} MiB",
        "max_json_depth": f"{d.max_json_depth} levels",
        "max_layers": f"{d.max_layers}",
        "max_entries_per_layer": f"{d.max_entries_per_layer:,}",
        "max_entries_total": f"{d.max_entries_total:,}",
        "max_path_bytes": f"{d.max_path_bytes >> 10} KiB",
        "max_expansion_ratio": f"{d.max_expansion_ratio} × compressed + {d.expansion_allowance >> 20} MiB",
    }
    assert list(rows) == [f.name for f in settable_limits()]
    for limit in settable_limits():
        option = f"`{limit.metadata['flag']} {limit.metadata['metavar']}`"
        line = [row for row in lines if option in row]
        assert len(line) == 1 and f"| {rows[limit.name]} |" in line[0], option
    # The fixed caps: one row each, its description and value as Limits declares them.
    for cap in fixed_caps():
        row = f"| {cap.metadata['fixed']} | {_shown(getattr(d, cap.name), cap.metadata['unit'])} |"
        assert lines.count(row) == 1, row
    assert len([row for row in lines if row.startswith("| ")]) == 2 + len(settable_limits()) + len(fixed_caps())


def _inspect(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "imageforensics", "inspect", *args], capture_output=True, text=True, cwd=ROOT,
                          preexec_fn=functools.partial(limit_cpu, 120))


def test_cli_limits_are_errors_by_default_and_lift_when_raised(tmp_path: Path) -> None:
    img = simple_image()
    img.layers[1] = layer_tar({f"f{i}": b"" for i in range(30)})
    path = tmp_path / "a.tar"
    path.write_bytes(tar_of(legacy([img])))
    low = _inspect("--max-entries", "10", "--max-layers", "5", str(path))
    assert low.returncode == 2 and low.stdout == ""
    assert low.stderr.startswith(f"imageforensics: {path}: ") and low.stderr.endswith(": layer has more than 10 entries (raise the limit with --max-entries)\n")
    assert low.stderr.count("\n") == 1
    high = _inspect("--max-entries", "100", "--max-layers", "5", "--format", "json", str(path))
    assert high.returncode == 0, high.stderr
    model = json.loads(high.stdout)
    assert json.dumps(model).count('"/f29"') == 1  # inspect spells paths as the diff does


def _pax_header(record_key: str, size: int) -> bytes:
    """A PAX extended header block holding one record of about ``size`` bytes."""
    import tarfile

    body = f" {record_key}=".encode() + b"a" * size + b"\n"
    length = len(body) + len(str(len(body)))
    length = len(body) + len(str(length))
    record = str(length).encode() + body
    info = tarfile.TarInfo("././@PaxHeader")
    info.type = tarfile.XHDTYPE
    info.size = len(record)
    return info.tobuf(tarfile.USTAR_FORMAT) + record + bytes(-len(record) % 512)


def test_a_huge_extended_header_in_the_outer_archive_is_refused_before_it_is_read() -> None:
    # Regression: tarfile read a 300 MB PAX header whole (2 GB of memory, 10 s) and went on.
    data = _pax_header("comment", 3 << 20) + tar_of(legacy([IMG]))
    msg = limit_error(data, Limits())
    assert msg == "t.tar: tar extended header of 3146240 bytes at offset 512 is over the 1179648-byte limit (twice --max-path-bytes plus 1 MiB)"
    assert len(guarded(lambda: read_stream(io.BytesIO(data), "t.tar", ReadOptions(limits=Limits(max_path_bytes=2 << 20)))).images) == 1  # type: ignore[arg-type]


def test_a_sparse_member_of_the_outer_archive_larger_than_a_chunk_is_read() -> None:
    import tarfile

    from imageforensics.read._archive import CHUNK

    payload = js({"pad": "x" * (3 * CHUNK)})
    info = tarfile.TarInfo("GNUSparseFile.0/notes.json")
    info.size = len(payload)
    info.pax_headers = {"GNU.sparse.map": f"0,{len(payload)}", "GNU.sparse.realsize": str(len(payload)),
                        "GNU.sparse.name": "notes.json", "GNU.sparse.numblocks": "1"}
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        tf.addfile(info, io.BytesIO(payload))
    raw = out.getvalue()
    members_tar = tar_of(legacy([IMG]), end_marker=False)
    archive = guarded(lambda: read_stream(io.BytesIO(members_tar + raw), "t.tar"))  # type: ignore[arg-type]
    # Read through tarfile (it fills sparse holes) in chunks: no read over the extended-header cap.
    assert len(archive.images) == 1


def test_an_old_gnu_sparse_map_of_endless_extension_blocks_in_the_outer_archive_is_refused() -> None:
    # Regression: tarfile listed every run of the map in memory (97 MB of blocks: 900 MB, 22 s).
    import tarfile

    info = tarfile.TarInfo("sparse")
    info.type = tarfile.GNUTYPE_SPARSE
    header = bytearray(info.tobuf(tarfile.GNU_FORMAT)[:512])
    header[482] = 1  # isextended
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\x00 " % sum(header)
    block = bytearray(512)
    for i in range(21):
        block[i * 24 : i * 24 + 24] = b"%011o\x00%011o\x00" % (i + 1, 1)
    block[504] = 1
    data = bytes(header) + bytes(block) * 5000 + tar_of(legacy([IMG]))
    with pytest.raises(InputError) as info_:
        guarded(lambda: read_stream(io.BytesIO(data), "t.tar"))  # type: ignore[arg-type]
    assert str(info_.value) == "t.tar: not a tar archive (sparse map has more than 100000 runs)"


def test_a_sparse_member_of_the_outer_archive_with_terabytes_of_holes_is_refused() -> None:
    # Regression: tarfile filled the holes with zeros as they were read (2 GB: 4 s; 1 TB: hours).
    import tarfile

    payload = b"aaaaabbbbb"
    info = tarfile.TarInfo("GNUSparseFile.0/blob")
    info.size = len(payload)
    real = 1 << 40
    info.pax_headers = {"GNU.sparse.map": f"0,5,{real - 5},5", "GNU.sparse.realsize": str(real),
                        "GNU.sparse.name": "blob", "GNU.sparse.numblocks": "2"}
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        tf.addfile(info, io.BytesIO(payload))
    msg = limit_error(tar_of(legacy([IMG]), end_marker=False) + out.getvalue(), Limits())
    assert msg == f"t.tar: blob: sparse member has {real - 10} bytes of holes for 10 stored bytes (raise the limit with --max-expansion)"


def test_entries_of_all_the_layers_of_an_input_are_bounded() -> None:
    img = simple_image()
    img.layers[0] = layer_tar({f"a{i}": b"" for i in range(6)})
    img.layers[1] = layer_tar({f"b{i}": b"" for i in range(6)})
    data = tar_of(legacy([img]))
    # Each layer is within the per-layer limit; together they are not.
    msg = limit_error(data, Limits(max_entries_per_layer=6, max_entries_total=10))
    assert msg.endswith("the layers of this input hold more than 10 entries (raise the limit with --max-total-entries)")
    archive = guarded(lambda: read_stream(io.BytesIO(data), "t.tar", ReadOptions(limits=Limits(max_entries_per_layer=6, max_entries_total=12))))  # type: ignore[arg-type]
    assert [len(layer.entries) for layer in archive.images[0].layers if layer is not None] == [6, 6]
