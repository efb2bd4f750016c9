"""tools/bench.py: its archive pairs come from the seed alone, are reused, and its table has every case.

Nothing here times anything (the benchmark is a measurement, not a test):
these tests keep the tool working as the synthetic writer and the CLI evolve.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import shutil
import subprocess
import tarfile
import sys
from pathlib import Path

import pytest

from tools import bench
from tools.fuzz import limit_cpu

REPO = Path(__file__).resolve().parents[1]
TINY = 0.0005  # 1 MiB big archives, 200-file many archives


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.tar"))}


def test_pairs_depend_only_on_the_seed(tmp_path: Path) -> None:
    for name in ("big", "many"):
        bench.generate(name, tmp_path / "one", 7, TINY)
        bench.generate(name, tmp_path / "two", 7, TINY)
        bench.generate(name, tmp_path / "other", 8, TINY)
    one, two = _digests(tmp_path / "one"), _digests(tmp_path / "two")
    assert len(one) == 4 and one == two
    other = _digests(tmp_path / "other")
    # Another seed: other bytes in every archive.
    assert set(one.values()).isdisjoint(other.values())
    # A and B of one case differ (one layer, or a few files).
    assert one["big-s7-x0.0005-a.tar"] != one["big-s7-x0.0005-b.tar"]
    assert one["many-s7-x0.0005-a.tar"] != one["many-s7-x0.0005-b.tar"]


def test_complete_pairs_are_reused_and_partial_ones_rewritten(tmp_path: Path) -> None:
    bench.generate("big", tmp_path, 1, TINY)
    a = tmp_path / "big-s1-x0.0005-a.tar"
    b = tmp_path / "big-s1-x0.0005-b.tar"
    a.write_bytes(b"not regenerated")
    (tmp_path / (b.name + ".done")).unlink()  # as if interrupted while writing B
    b.write_bytes(b"partial")
    bench.generate("big", tmp_path, 1, TINY)
    assert a.read_bytes() == b"not regenerated"
    assert b.stat().st_size > 1 << 20


def test_the_many_floor_lists_the_nested_layer_entries(tmp_path: Path) -> None:
    bench.generate("many", tmp_path, 1, TINY)
    archive = tmp_path / "many-s1-x0.0005-a.tar"
    out = subprocess.run([sys.executable, "-c", bench.LIST_SCRIPT, str(archive)], capture_output=True, text=True,
                         check=True).stdout
    # 200 files and 20 directories in the layers, plus the outer archive's members.
    assert int(out) > 220


def _needs(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed")


def _assert_ratio(ours: float, floor: float, ratio: float) -> None:
    assert ours > 0 and floor > 0
    # The cells are rounded (3 decimals for times, 2 for the ratio): the
    # ratio is the first median over the second within what rounding allows.
    low, high = (ours - 0.0005) / (floor + 0.0005), (ours + 0.0005) / (floor - 0.0005)
    assert low - 0.005 <= ratio <= high + 0.005


def test_the_table_has_a_row_per_case(tmp_path: Path) -> None:
    _needs("openssl", "tar", "sh")
    out = subprocess.run([sys.executable, str(REPO / "tools" / "bench.py"), str(tmp_path), "--scale", str(TINY),
                          "--reps", "1", "--cases", "big,many,uneven,inspect"],
                         capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert lines[0].startswith("# python3 tools/bench.py")
    rows = {line.split()[0]: line.split() for line in lines[4:]}
    assert list(rows) == ["big", "big/json", "many", "many/tar", "uneven", "inspect", "inspect/json"]
    for row in rows.values():
        _assert_ratio(float(row[1]), float(row[2]), float(row[3]))
    # A second floor compares the same runs of ours with another command; a
    # variant of ours (another format) is compared with our main run.
    assert rows["many/tar"][1] == rows["many"][1] and rows["many/tar"][2] != rows["many"][2]
    assert rows["big/json"][2] == rows["big"][1]
    assert rows["inspect/json"][2] == rows["inspect"][1]
    # Our runs kept their bytecode in OUTDIR, as an installed package keeps it (even under PYTHONDONTWRITEBYTECODE).
    assert list((tmp_path / "pycache").rglob("imageforensics/cli/_main*.pyc"))


def test_our_runs_cache_bytecode_in_outdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    env = bench.ours_env(tmp_path)
    assert "PYTHONDONTWRITEBYTECODE" not in env and env["PYTHONPYCACHEPREFIX"] == str(tmp_path / "pycache")


def test_outdir_inside_the_repository_is_refused(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "bench.py"), str(REPO / "bench-out")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "outside the repository" in proc.stderr
    assert not (REPO / "bench-out").exists()


def test_profile_read_breaks_down_each_digest():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    sample = root / "samples" / "tomcat-pulled.tar"
    if not sample.is_file():
        pytest.skip("samples not generated")
    out = subprocess.run([sys.executable, str(root / "tools" / "profile_read.py"), str(sample)],
                         capture_output=True, text=True, preexec_fn=functools.partial(limit_cpu, 120))
    assert out.returncode == 0, out.stderr
    for line in ("as is (archive + diff_id + content digests)", "without any digest", "content digests cost",
                 "archive digest costs", "diff_id/blob digests cost"):
        assert line in out.stdout


def test_a_case_whose_floor_tool_is_missing_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no openssl, no gzip, no tar
    for name in ("big", "gzip", "uneven", "inspect"):
        assert bench.make_case(name, tmp_path, 1, TINY) is None
    err = capsys.readouterr().err
    assert "big skipped: its floor needs openssl, not on PATH" in err
    assert "uneven skipped: its floor needs openssl, not on PATH" in err
    many = bench.make_case("many", tmp_path, 1, TINY)
    assert many is not None and many.others == ()  # its first floor is this Python; the GNU tar one is left out
    assert "many/tar skipped: its floor needs sh, tar, not on PATH" in capsys.readouterr().err


def test_the_ls_case_lists_every_entry_of_its_archive(tmp_path: Path) -> None:
    bench.generate("ls", tmp_path, 1, TINY)
    case = bench.make_case("ls", tmp_path, 1, TINY)
    assert case is not None and case.entries == 500
    listed = subprocess.run(case.ours, capture_output=True, check=True, cwd=REPO).stdout.decode().splitlines()
    files = [line for line in listed if line.startswith("-")]
    assert len(files) == case.entries


def test_the_render_benchmark_has_a_row_per_format_and_size(capsys: pytest.CaptureFixture[str]) -> None:
    from tools import bench

    assert bench.main(["render", "--entries", "800", "--reps", "1"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if not line.startswith(("#", "format"))]
    assert [(r[0], r[1]) for r in rows] == [(f, n) for f in ("text", "markdown", "html", "json")
                                            for n in ("100", "200", "400", "800")]


def _diff_ids(archive: Path) -> list[str]:
    """The diff_ids an archive's config declares (read with tarfile, not with the package)."""
    with tarfile.open(archive) as tar:
        def member(name: str) -> bytes:
            handle = tar.extractfile(name)
            assert handle is not None
            return handle.read()
        (manifest,) = json.loads(member("manifest.json"))
        diff_ids: list[str] = json.loads(member(manifest["Config"]))["rootfs"]["diff_ids"]
        return diff_ids


UNEVEN = 0.008  # a 17 MB archive against a 1 MiB one


def test_the_uneven_pair_is_a_big_archive_against_a_small_one_every_layer_differing(tmp_path: Path) -> None:
    _needs("openssl")
    bench.generate("uneven", tmp_path, 1, UNEVEN)
    case = bench.make_case("uneven", tmp_path, 1, UNEVEN)
    assert case is not None
    big, small = (Path(arg) for arg in case.ours[-2:])
    assert case.floor == ["openssl", "dgst", "-sha256", str(big), str(small)]
    # Big's A at twice the scale and at an eighth of it (the scaling table's files at those sizes).
    assert big.name == "big-s1-x0.016-a.tar" and small.name == "big-s1-x0.001-a.tar"
    assert big.stat().st_size > 15 * small.stat().st_size
    big_ids, small_ids = _diff_ids(big), _diff_ids(small)
    assert len(big_ids) == len(small_ids) == 4 and set(big_ids).isdisjoint(small_ids)
    proc = subprocess.run(case.ours, capture_output=True, cwd=REPO)
    assert proc.returncode == 1, proc.stderr  # they differ


def test_the_inspect_case_inspects_the_big_side_of_uneven_in_text_and_json(tmp_path: Path) -> None:
    _needs("openssl")
    bench.generate("inspect", tmp_path, 1, UNEVEN)
    case = bench.make_case("inspect", tmp_path, 1, UNEVEN)
    assert case is not None
    archive = tmp_path / "big-s1-x0.016-a.tar"
    assert archive.exists() and not (tmp_path / "big-s1-x0.001-a.tar").exists()  # only what inspect needs
    assert case.floor == ["openssl", "dgst", "-sha256", str(archive)]
    text = subprocess.run(case.ours, capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert str(archive) in text
    (as_json,) = case.others
    assert as_json.ours and as_json.argv == case.ours + ["--format", "json"]
    report = json.loads(subprocess.run(as_json.argv, capture_output=True, check=True, cwd=REPO).stdout)
    assert len(report["images"]) == 1


def test_the_tar_floor_lists_every_header_the_tarfile_floor_lists(tmp_path: Path) -> None:
    _needs("tar", "sh")
    bench.generate("many", tmp_path, 1, TINY)
    case = bench.make_case("many", tmp_path, 1, TINY)
    assert case is not None and [other.row for other in case.others] == ["many/tar"]
    archives = [tmp_path / "many-s1-x0.0005-a.tar", tmp_path / "many-s1-x0.0005-b.tar"]
    listing = tmp_path / "listing.txt"
    subprocess.run(["sh", "-c", bench.tar_listing_script(archives, str(listing))], check=True)
    counted = subprocess.run([sys.executable, "-c", bench.LIST_SCRIPT, *map(str, archives)], capture_output=True,
                             text=True, check=True).stdout
    lines = listing.read_text().splitlines()
    assert len(lines) == int(counted)
    # The 200 files of each archive (at TINY) are among the lines: the layer tars were listed too.
    assert sum(1 for line in lines if line.startswith("-") and " srv/l" in line) == 400


def test_sizes_parse_with_binary_units() -> None:
    assert bench.parse_size("8G") == 8 << 30
    assert bench.parse_size("512MiB") == 512 << 20
    assert bench.parse_size("1.5g") == 3 << 29
    assert bench.parse_size("4k") == 4096
    assert bench.parse_size("1048576") == 1 << 20
    for bad in ("", "G", "8X", "-1G", "1 GB extra"):
        with pytest.raises(Exception, match="not a size"):
            bench.parse_size(bad)


def test_the_scaling_sizes_stop_at_the_limits() -> None:
    points = bench.scaling_points(bench.SCALING_BYTES, bench.SCALING_ENTRIES, 2 << 30, 400_000)
    assert [(p.name, p.scale) for p in points] == [("big", 0.125), ("big", 0.5), ("big", 2.0),
                                                   ("many", 0.0625), ("many", 0.25), ("many", 1.0)]
    everything = bench.scaling_points(bench.SCALING_BYTES, bench.SCALING_ENTRIES, 8 << 30, 3_200_000)
    assert [p.scale for p in everything] == [0.125, 0.5, 2.0, 8.0, 0.0625, 0.25, 1.0, 4.0, 8.0]
    # 0 leaves a case out.
    assert {p.name for p in bench.scaling_points(bench.SCALING_BYTES, bench.SCALING_ENTRIES, 0, 400_000)} == {"many"}
    # The default cases' pairs are the scaling table's at 1 GiB and 400,000 entries.
    (big,) = bench.scaling_points((1 << 30,), (), 8 << 30, 0)
    (many,) = bench.scaling_points((), (bench.MANY_ENTRIES,), 0, 3_200_000)
    assert big.scale == many.scale == 1.0


def _regular_files(archive: Path) -> int:
    count = 0
    with tarfile.open(archive) as outer:
        for member in outer:
            if member.name.endswith("/layer.tar"):
                handle = outer.extractfile(member)
                assert handle is not None
                with tarfile.open(fileobj=handle) as layer:
                    count += sum(1 for entry in layer if entry.isreg())
    return count


def test_the_scaling_table_has_a_row_per_size_of_archives_as_large_as_it_says(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _needs("openssl", "tar", "sh")
    commands: list[list[str]] = []

    def runs(argv: list[str], *, ok: tuple[int, ...] = (0,), env: dict[str, str] | None = None) -> bench.Run:
        """Our runs take 2 s and 30 MB + 1000 B per entry of the pair (its scale is in the names), floors 0.5 s or 4 s."""
        commands.append(argv)
        if argv[1:3] == ["-m", "imageforensics"]:
            named = re.search(r"-x([^-]+)-a\.tar", " ".join(argv))
            assert named is not None
            scale = float(named.group(1))
            return bench.Run(2.0, 3.0, 30_000_000 + 1000 * round(scale * bench.MANY_ENTRIES))
        return bench.Run(4.0 if "tarfile" in " ".join(argv) else 0.5, 1.0, 5_000_000)

    monkeypatch.setattr(bench, "timed", runs)
    assert bench.main(["scaling", str(tmp_path), "--sizes", "1M,4M", "--entries", "400,1600", "--reps", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "# python3 tools/bench.py scaling " + f"{tmp_path} --sizes 1M,4M --entries 400,1600 --reps 1"
    rows = [line.split() for line in lines[4:]]
    # case, size, ours, floor, ratio, RSS (2 cells), µs/entry (wall, CPU), B/entry, ΔB/entry
    assert [row[:11] for row in rows] == [
        ["big", "1MiB", "2.000", "0.500", "4.00", "30.4", "MB", "-", "-", "-", "-"],  # scale 1/1024: 391 "entries"
        ["big", "4MiB", "2.000", "0.500", "4.00", "31.6", "MB", "-", "-", "-", "-"],
        ["many", "400", "2.000", "4.000", "0.50", "30.4", "MB", "5000.00", "7500.00", "76000", "-"],
        ["many/tar", "400", "2.000", "0.500", "4.00", "30.4", "MB", "5000.00", "7500.00", "76000", "-"],
        ["many", "1,600", "2.000", "4.000", "0.50", "31.6", "MB", "1250.00", "1875.00", "19750", "1000"],
        ["many/tar", "1,600", "2.000", "0.500", "4.00", "31.6", "MB", "1250.00", "1875.00", "19750", "1000"],
    ]
    # Each size: a warm-up and one timed run of every command (the json variant of big is the cases' own).
    assert sum(1 for argv in commands if "--format" in argv) == 0
    assert len(commands) == 2 * (2 + 2 + 3 + 3)
    # The archives measured are as large as the rows say: big's layers hold the size, many's the entries.
    for size in (1, 4):
        for side in "ab":
            archive = tmp_path / f"big-s1-x{size / 1024:.12g}-{side}.tar"
            assert size << 20 <= archive.stat().st_size < (size << 20) + (64 << 10)
    for entries in (400, 1600):
        for side in "ab":
            assert _regular_files(tmp_path / f"many-s1-x{entries / bench.MANY_ENTRIES:.12g}-{side}.tar") == entries // 2
