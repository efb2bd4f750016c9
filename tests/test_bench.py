"""tools/bench.py: its archive pairs come from the seed alone, are reused, and its table has every case.

Nothing here times anything (the benchmark is a measurement, not a test):
these tests keep the tool working as the synthetic writer and the CLI evolve.
"""

from __future__ import annotations

import functools
import hashlib
import subprocess
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


def test_the_table_has_a_row_per_case(tmp_path: Path) -> None:
    if not Path("/usr/bin/openssl").exists() and subprocess.run(["which", "openssl"], capture_output=True).returncode:
        pytest.skip("openssl is not installed")
    out = subprocess.run([sys.executable, str(REPO / "tools" / "bench.py"), str(tmp_path), "--scale", str(TINY),
                          "--reps", "1", "--cases", "big,many"], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert lines[0].startswith("# python3 tools/bench.py")
    rows = {line.split()[0]: line.split() for line in lines[4:]}
    assert set(rows) == {"big", "many"}
    for row in rows.values():
        ours, floor, ratio = float(row[1]), float(row[2]), float(row[3])
        assert ours > 0 and floor > 0
        # The cells are rounded (3 decimals for times, 2 for the ratio): the
        # ratio is our median over the floor's within what rounding allows.
        low, high = (ours - 0.0005) / (floor + 0.0005), (ours + 0.0005) / (floor - 0.0005)
        assert low - 0.005 <= ratio <= high + 0.005
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
    monkeypatch.setenv("PATH", str(tmp_path))  # no openssl, no gzip
    assert bench.make_case("big", tmp_path, 1, TINY) is None
    assert bench.make_case("gzip", tmp_path, 1, TINY) is None
    assert "big skipped: its floor needs openssl, not on PATH" in capsys.readouterr().err
    assert bench.make_case("many", tmp_path, 1, TINY) is not None  # its floor is this Python


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
