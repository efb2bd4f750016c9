"""Benchmark ``python3 -m imageforensics A B`` against floors measured on the same files in the same run (issue 6).

Usage::

    python3 tools/bench.py OUTDIR [--seed S] [--reps N] [--cases big,many,gzip,peer,uneven,inspect] [--scale F]
    python3 tools/bench.py scaling OUTDIR [--seed S] [--reps N] [--max-bytes 8G] [--max-entries 3200000]
    python3 tools/bench.py render [--entries 400000] [--reps N]

OUTDIR (outside the repository, e.g. /tmp/bench) receives deterministic
archive pairs generated from the seed with tools/synth.py; they are reused
when present (a ``.done`` marker is written after each complete pair).

Cases (sizes at ``--scale 1``):

- ``big``: two 1 GiB docker-legacy archives of a few large files, one layer
  differs. Floor: ``openssl dgst -sha256 A B``. Its row ``big/json`` times
  ``--format json`` of the same pair against our text diff (every format
  should cost what the text costs).
- ``many``: two archives of 200,000 small files across 20 layers, a few
  hundred files differ. Floor: Python's own ``tarfile`` listing every member
  of both archives in stream mode (``r|``), the layer tars nested inside
  listed too (``r|`` over each member), nothing else. Its row ``many/tar``
  has GNU tar for floor: ``tar -tvf`` of each archive, and ``tar -tvi`` of
  its layer tars (``tar -xO`` of the members named ``*.tar``, concatenated).
- ``uneven``: a 2 GiB archive (4 layers of 512 MiB) against a 128 MiB one
  of the same shape, every layer differing: the big side is all the work
  (both cores should serve it). Floor: ``openssl dgst -sha256 A B``. The two
  archives are big's A at scales 2 and 1/8 (shared with ``scaling``).
- ``inspect``: ``inspect`` of uneven's 2 GiB archive. Floor: ``openssl dgst
  -sha256 A``. Its row ``inspect/json`` times ``inspect --format json``
  against the text inspect.
- ``gzip``: the big pair as a Docker 25+ (containerd) layout with gzip layers.
  Floor: ``gzip -dc`` of each layer piped to ``openssl dgst -sha256``, plus
  ``openssl dgst -sha256`` of the compressed blobs.
- ``deep`` (not run by default): 40,000 files more than 256 directories
  deep in one layer, a few differ (the merged filesystem's work must stay
  linear in the entries). Floor: the ``tarfile`` listing of ``many``.
- ``wide`` (not run by default): 5 layers of 1,000,000 empty directories
  each, one layer differs in one name: memory per entry of the model and the
  merged filesystems. Floor: the ``tarfile`` listing of ``many``.
- ``peer``: diffoscope on a medium pair (5,000 small files over 20 layers),
  when ``diffoscope`` is on PATH; at most 3 repetitions (it is slow). Every
  differing layer has another member name in the two archives (docker and
  OCI name layers by digest), so diffoscope looks inside them only with
  its fuzzy matching, which needs ``tlsh`` (Debian: python3-tlsh);
  without it, it compares little more than the member lists.

Ours and the floor run alternately (the order flips every repetition) after
one untimed warm-up of each; the table gives medians, their ratio, and our
peak RSS (``ru_maxrss`` of the child from ``os.wait4``). Our runs keep their
compiled bytecode in OUTDIR/pycache (``PYTHONPYCACHEPREFIX``; the warm-up
writes it), as an installed package has it from pip, even where the
environment sets ``PYTHONDONTWRITEBYTECODE``: otherwise every run would
compile the whole package first. This is a measurement, not a test: nothing
here fails a build.

``scaling`` runs ``big`` at 128 MiB, 512 MiB, 2 GiB and 8 GiB per archive
and ``many`` at 25,000, 100,000, 400,000, 1,600,000 and 3,200,000 file
entries (both archives together, 1 in about 670 differs), at most
``--max-bytes`` and ``--max-entries`` (``0`` leaves the case out;
``--sizes`` and ``--entries`` give other lists), and prints one table: our
time, the floor's, their ratio, our peak RSS, and for ``many`` the
microseconds (wall and CPU) and bytes of RSS per entry (and the RSS's growth per entry
from the size before, which leaves the interpreter's own out), so that
flat time per entry and bounded memory can be read off. Its archives are the same files as the
cases' at the matching ``--scale`` (``big`` at 1 GiB and ``many`` at
400,000 entries are the default cases' pairs); about 21 GiB for all the
big sizes, 5.5 GB for all the many ones.

``render`` times every report format on a report built in memory
(``tools/large_report.py``) of 1/8, 1/4, 1/2 and all of ``--entries`` path
entries, and takes each rendering's peak of Python allocations
(``tracemalloc``), so that the time and memory per entry show whether
rendering stays linear.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

GIB = 1 << 30
CASES = ("big", "many", "gzip", "peer", "uneven", "inspect", "deep", "wide", "ls")
DEFAULT_CASES = ("big", "many", "gzip", "peer", "uneven", "inspect")
DEEP_FILES = 40_000
WIDE_DIRS = 1_000_000
LS_FILES = 1_000_000
# The programs each floor runs (peer: diffoscope, looked up where it is used).
FLOOR_TOOLS = {"big": ("openssl",), "gzip": ("gzip", "openssl", "sh"), "uneven": ("openssl",), "inspect": ("openssl",)}
# The GNU tar floor of many (a second floor: the case runs without it when tar is missing).
TAR_FLOOR_TOOLS = ("sh", "tar")
# uneven: its big side is big's A at twice the scale, its small side big's A at an eighth.
UNEVEN_BIG, UNEVEN_SMALL = 2.0, 1 / 8
# scaling: bytes of each big archive's layers, file entries of both many archives together.
SCALING_BYTES = (128 << 20, 512 << 20, 2 * GIB, 8 * GIB)
SCALING_ENTRIES = (25_000, 100_000, 400_000, 1_600_000, 3_200_000)
MANY_ENTRIES = 400_000  # file entries of the many pair at --scale 1
SCALING_REPS = 3
PEER_FILES = 5_000
PEER_REPS = 3
# Python's own tarfile, listing every member of each archive in stream mode,
# and every member of the layer tars nested in it (also in stream mode).
LIST_SCRIPT = r"""
import sys, tarfile
count = 0
for path in sys.argv[1:]:
    with tarfile.open(path, "r|") as outer:
        for member in outer:
            count += 1
            if member.isreg() and member.name.endswith(".tar"):
                with tarfile.open(fileobj=outer.extractfile(member), mode="r|") as inner:
                    for entry in inner:
                        count += 1
print(count)
"""


@dataclass(frozen=True)
class Run:
    """One timed child process: wall seconds, CPU seconds (user + sys), peak RSS in bytes."""

    wall: float
    cpu: float
    rss: int


@dataclass(frozen=True)
class Other:
    """A further command timed with a case, in turn with its other runs: a second floor, or a variant of ours.

    A floor (``ours`` False) gets its own row comparing our run with it; a
    variant (``ours`` True, e.g. another output format) is our program run
    otherwise, and its row compares it with our main run.
    """

    row: str
    argv: list[str]
    label: str
    target: str
    ours: bool = False


@dataclass(frozen=True)
class Case:
    """A generated pair and how to time it."""

    name: str
    ours: list[str]
    floor: list[str]
    floor_label: str
    target: str
    entries: int = 0  # file entries in both archives (for memory per entry)
    ok_status: tuple[int, ...] = (0, 1)
    env: dict[str, str] | None = None  # for our runs; None: this process's environment
    others: tuple[Other, ...] = ()


def timed(argv: list[str], *, ok: tuple[int, ...] = (0,), env: dict[str, str] | None = None) -> Run:
    """Run ``argv`` to completion; its wall time, CPU time and peak RSS (from wait4's rusage)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO, env=env)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    if proc.returncode not in ok:
        raise SystemExit(f"bench: {shlex.join(argv)} exited {proc.returncode}: {err.decode(errors='replace')[-2000:]}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024)


# --------------------------------------------------------------------------- generation


def _generate(path: Path, make: Callable[[Path], None]) -> None:
    """Write ``path`` once (via a temporary name), or reuse it when its marker says it is complete."""
    marker = path.with_name(path.name + ".done")
    if marker.exists() and path.exists():
        return
    print(f"bench: generating {path}", file=sys.stderr, flush=True)
    tmp = path.with_name(path.name + ".partial")
    if tmp.is_dir():
        shutil.rmtree(tmp)
    make(tmp)
    os.replace(tmp, path)
    marker.write_text("complete\n")


def _write(spec_image: object, layout: str) -> Callable[[Path], None]:
    def make(target: Path) -> None:
        from tools.synth import ArchiveSpec, write_archive

        write_archive(ArchiveSpec(images=(spec_image,)), target, layout)  # type: ignore[arg-type]
    return make


def _big_specs(seed: int, scale: float, compression: str = "none") -> tuple[object, object]:
    from tools.synth import big_image

    total = max(1 << 20, int(GIB * scale))
    # A few large files: 4 files in 4 layers; B's layer 2 holds other bytes.
    a = big_image(total, files=4, layers=4, seed=seed, reference="bench/big:a")
    b = big_image(total, files=4, layers=4, seed=seed, variant_layer=2, reference="bench/big:b")
    if compression != "none":
        a = dataclasses.replace(a, layers=tuple(dataclasses.replace(l, compression=compression) for l in a.layers))
        b = dataclasses.replace(b, layers=tuple(dataclasses.replace(l, compression=compression) for l in b.layers))
    return a, b


def _many_specs(seed: int, scale: float, files: int = 200_000) -> tuple[object, object, int]:
    from tools.synth import many_files_image

    count = _many_count(scale, files)
    changed = max(3, int(300 * scale)) if files == 200_000 else max(3, count // 600)
    a = many_files_image(count, layers=20, seed=seed, changed=0, reference="bench/many:a")
    b = many_files_image(count, layers=20, seed=seed, changed=changed, reference="bench/many:b")
    return a, b, count


def _deep_specs(seed: int, scale: float) -> tuple[object, object, int]:
    from tools.synth import Entry, ImageSpec, Layer

    count = max(100, int(DEEP_FILES * scale))
    deep = "/".join(["p"] * 300)

    def image(changed: bool, reference: str) -> object:
        entries = tuple(Entry(f"{deep}/{i % 97}/f{i}", data=b"%d:%d%s" % (seed, i, b"!" if changed and i % 1000 == 5 else b""))
                        for i in range(count))
        return ImageSpec(layers=(Layer(entries=entries),), references=(reference,))
    return image(False, "bench/deep:a"), image(True, "bench/deep:b"), count


def _wide_specs(seed: int, scale: float) -> tuple[object, object, int]:
    from tools.synth import Entry, ImageSpec, Layer

    count = max(100, int(WIDE_DIRS * scale))

    def image(changed: bool, reference: str) -> object:
        layers = tuple(Layer(entries=tuple(Entry(f"l{i}/d{j // 1000:04d}/{j:07d}" + ("x" if changed and i == 4 and j == 7 else ""),
                                                 kind="dir") for j in range(count)))
                       for i in range(5))
        return ImageSpec(layers=layers, references=(reference,))
    return image(False, f"bench/wide:a{seed}"), image(True, f"bench/wide:b{seed}"), 5 * count


def _blob_files(spec_image: object, folder: Path) -> list[Path]:
    """The compressed layer blobs of an image, written as files (for the gzip floor); reused when present."""
    done = folder / ".done"
    if not done.exists():
        from tools.synth import ArchiveSpec, prepare

        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        (prepared,) = prepare(ArchiveSpec(images=(spec_image,)))  # type: ignore[arg-type]
        for i, layer in enumerate(prepared.layers):
            with open(folder / f"layer{i}.gz", "wb") as out:
                for chunk in layer.blob.chunks():
                    out.write(chunk)
        done.write_text("complete\n")
    return sorted(folder.glob("layer*.gz"))


def _tag(name: str, seed: int, scale: float) -> str:
    return f"{name}-s{seed}-x{scale:.12g}"


def ours_argv(a: Path, b: Path) -> list[str]:
    """Our diff, as a user runs it."""
    return [sys.executable, "-m", "imageforensics", str(a), str(b)]


def ours_env(out: Path) -> dict[str, str]:
    """Our runs' environment: bytecode compiled once into OUTDIR/pycache, as pip does at install."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(out / "pycache")
    return env


def _many_count(scale: float, files: int) -> int:
    return max(200, int(files * scale))


def generate(name: str, out: Path, seed: int, scale: float) -> None:
    """Write (or reuse) the pair of one case, and the gzip floor's blob files."""
    out.mkdir(parents=True, exist_ok=True)
    tag = _tag(name, seed, scale)
    if name in ("big", "gzip"):
        layout = "docker-legacy" if name == "big" else "docker-oci-containerd"
        sa, sb = _big_specs(seed, scale, "none" if name == "big" else "gzip")
        _generate(out / f"{tag}-a.tar", _write(sa, layout))
        _generate(out / f"{tag}-b.tar", _write(sb, layout))
        if name == "gzip":
            _blob_files(sa, out / f"{tag}-a.blobs")
            _blob_files(sb, out / f"{tag}-b.blobs")
    elif name in ("many", "peer"):
        # peer: a medium pair, 5,000 small files over 20 layers (scaled), a few differ.
        sa, sb, _ = _many_specs(seed, scale, 200_000 if name == "many" else PEER_FILES)
        _generate(out / f"{tag}-a.tar", _write(sa, "docker-legacy"))
        _generate(out / f"{tag}-b.tar", _write(sb, "docker-legacy"))
    elif name in ("deep", "wide"):
        sa, sb, _ = (_deep_specs if name == "deep" else _wide_specs)(seed, scale)
        _generate(out / f"{tag}-a.tar", _write(sa, "docker-legacy"))
        _generate(out / f"{tag}-b.tar", _write(sb, "docker-legacy"))
    elif name == "ls":
        # ls: one image of 1,000,000 entries over 20 layers, its merged filesystem listed.
        sa, _, _ = _many_specs(seed, scale, LS_FILES)
        _generate(out / f"{tag}-a.tar", _write(sa, "docker-legacy"))
    elif name in ("uneven", "inspect"):
        # big's A at other scales: the same files as scaling's big archives of these sizes.
        for factor in ((UNEVEN_BIG, UNEVEN_SMALL) if name == "uneven" else (UNEVEN_BIG,)):
            _generate(_uneven_path(out, seed, scale, factor), _write(_big_specs(seed, scale * factor)[0], "docker-legacy"))


def _uneven_path(out: Path, seed: int, scale: float, factor: float) -> Path:
    """The archive of big's A at ``scale * factor`` (uneven's two sides, inspect's one input)."""
    return out / f"{_tag('big', seed, scale * factor)}-a.tar"


def tar_listing_script(archives: list[Path], listing: str = os.devnull) -> str:
    """GNU tar listing every header of the archives, the layer tars nested in them too (the second floor of many).

    ``tar -tvf`` lists an archive's own members; ``tar -xO`` of the members
    named ``*.tar`` streams the layer tars one after the other, which
    ``tar -tvi`` (reading past each one's end-of-archive blocks) lists. The
    lines go to ``listing`` (appended).
    """
    parts = []
    sink = shlex.quote(listing)
    for path in archives:
        quoted = shlex.quote(str(path))
        parts.append(f"tar -tvf {quoted} >>{sink} && "
                     f"tar -xOf {quoted} --wildcards --wildcards-match-slash '*.tar' | tar -tvif - >>{sink}")
    return " && ".join(parts)


def _missing(tools: tuple[str, ...]) -> list[str]:
    return [tool for tool in tools if shutil.which(tool) is None]


def make_case(name: str, out: Path, seed: int, scale: float) -> Case | None:
    """Describe how to time one (already generated) case; None when its tool is missing."""
    tag = _tag(name, seed, scale)
    a, b = out / f"{tag}-a.tar", out / f"{tag}-b.tar"
    missing = _missing(FLOOR_TOOLS.get(name, ()))
    if missing:
        print(f"bench: {name} skipped: its floor needs {', '.join(missing)}, not on PATH", file=sys.stderr)
        return None
    if name == "big":
        as_json = Other("big/json", ours_argv(a, b) + ["--format", "json"], "our text diff of the same pair",
                        "<= 1.0 (costs what text costs)", ours=True)
        return Case(name, ours_argv(a, b), ["openssl", "dgst", "-sha256", str(a), str(b)],
                    "openssl dgst -sha256 A B", "<= 0.70, RSS <= 100 MB", others=(as_json,))
    if name == "many":
        count = _many_count(scale, 200_000)
        others: tuple[Other, ...] = ()
        missing = _missing(TAR_FLOOR_TOOLS)
        if missing:
            print(f"bench: many/tar skipped: its floor needs {', '.join(missing)}, not on PATH", file=sys.stderr)
        else:
            others = (Other("many/tar", ["sh", "-c", tar_listing_script([a, b])],
                            "GNU tar -tvf of both, layers nested (tar -xO '*.tar' | tar -tvi)", "<= 3.0"),)
        return Case(name, ours_argv(a, b), [sys.executable, "-c", LIST_SCRIPT, str(a), str(b)],
                    "tarfile r| listing (nested)", "<= 0.40, RSS <= 600 B/entry", entries=2 * count, others=others)
    if name == "uneven":
        big, small = _uneven_path(out, seed, scale, UNEVEN_BIG), _uneven_path(out, seed, scale, UNEVEN_SMALL)
        return Case(name, ours_argv(big, small), ["openssl", "dgst", "-sha256", str(big), str(small)],
                    "openssl dgst -sha256 A B", "<= 0.75")
    if name == "inspect":
        big = _uneven_path(out, seed, scale, UNEVEN_BIG)
        inspect = [sys.executable, "-m", "imageforensics", "inspect", str(big)]
        as_json = Other("inspect/json", inspect + ["--format", "json"], "our text inspect of the same archive",
                        "<= 1.0 (costs what text costs)", ours=True)
        return Case(name, inspect, ["openssl", "dgst", "-sha256", str(big)], "openssl dgst -sha256 A", "<= 0.75",
                    ok_status=(0,), others=(as_json,))
    if name in ("deep", "wide"):
        count = max(100, int(DEEP_FILES * scale)) if name == "deep" else 5 * max(100, int(WIDE_DIRS * scale))
        return Case(name, ours_argv(a, b), [sys.executable, "-c", LIST_SCRIPT, str(a), str(b)],
                    "tarfile r| listing (nested)", "linear in the entries" if name == "deep" else "RSS <= 1 KB/entry",
                    entries=2 * count)
    if name == "gzip":
        blobs = sorted((out / f"{tag}-a.blobs").glob("layer*.gz")) + sorted((out / f"{tag}-b.blobs").glob("layer*.gz"))
        script = "".join(f"gzip -dc {shlex.quote(str(p))} | openssl dgst -sha256 && " for p in blobs)
        script += "openssl dgst -sha256 " + " ".join(shlex.quote(str(p)) for p in blobs)
        return Case(name, ours_argv(a, b), ["sh", "-c", script],
                    "gzip -dc | openssl dgst; openssl dgst of blobs", "<= 1.0")
    if name == "peer":
        diffoscope = shutil.which("diffoscope")
        if diffoscope is None:
            print("bench: peer skipped: diffoscope is not on PATH", file=sys.stderr)
            return None
        count = _many_count(scale, PEER_FILES)
        return Case(name, ours_argv(a, b), [diffoscope, "--no-progress", "--text", os.devnull, str(a), str(b)],
                    "diffoscope A B", "<= 0.05 (20x faster)", entries=2 * count)
    if name == "ls":
        count = _many_count(scale, LS_FILES)
        return Case(name, [sys.executable, "-m", "imageforensics", "ls", str(a), "--long"],
                    [sys.executable, "-c", LIST_SCRIPT, str(a)], "tarfile r| listing (nested)",
                    "<= 1.0, RSS <= 600 B/entry", entries=count, ok_status=(0,))
    raise SystemExit(f"bench: unknown case {name!r}; expected some of {','.join(CASES)}")


# --------------------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Row:
    """One line of a table: the runs of one command against another's, timed in turn in the same run."""

    name: str
    measured: list[Run]
    against: list[Run]
    label: str  # what ``against`` is
    target: str
    entries: int

    @property
    def ratio(self) -> float:
        """The measured command's median wall time over the other's."""
        return statistics.median(r.wall for r in self.measured) / statistics.median(r.wall for r in self.against)

    @property
    def rss(self) -> int:
        """The measured command's peak RSS over its runs."""
        return max(run.rss for run in self.measured)


@dataclass(frozen=True)
class Result:
    """The runs of one case: ours, the floor's, and each further command's (by its row name)."""

    case: Case
    ours: list[Run]
    floor: list[Run]
    others: dict[str, list[Run]] = dataclasses.field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """Our median wall time over the floor's."""
        return statistics.median(r.wall for r in self.ours) / statistics.median(r.wall for r in self.floor)

    def rows(self) -> list[Row]:
        """The case's own row, then one per further command (a variant of ours against our main run)."""
        case = self.case
        rows = [Row(case.name, self.ours, self.floor, case.floor_label, case.target, case.entries)]
        for other in case.others:
            runs = self.others[other.row]
            measured, against = (runs, self.ours) if other.ours else (self.ours, runs)
            rows.append(Row(other.row, measured, against, other.label, other.target, case.entries))
        return rows


def measure(case: Case, reps: int) -> Result:
    """Warm up once each, then ``reps`` runs of every command in turn (the order rotates every repetition)."""
    commands = [("ours", case.ours, True), ("floor", case.floor, False)]
    commands += [(other.row, other.argv, other.ours) for other in case.others]

    def run(argv: list[str], ours: bool) -> Run:
        return timed(argv, ok=case.ok_status if ours else (0, 1), env=case.env if ours else None)

    for key, argv, ours in commands:
        if case.name != "peer" or ours:  # diffoscope takes minutes; its first run is a timed one
            run(argv, ours)
    runs: dict[str, list[Run]] = {key: [] for key, _, _ in commands}
    if case.name == "peer":
        reps = min(reps, PEER_REPS)
    for rep in range(reps):
        turn = rep % len(commands)
        for key, argv, ours in commands[turn:] + commands[:turn]:
            result = run(argv, ours)
            runs[key].append(result)
            print(f"bench: {case.name} rep {rep + 1} {key}: {result.wall:.3f}s wall {result.cpu:.3f}s cpu "
                  f"{result.rss / 1e6:.1f} MB", file=sys.stderr, flush=True)
    ours_runs, floor_runs = runs.pop("ours"), runs.pop("floor")
    return Result(case, ours_runs, floor_runs, runs)


def _median(runs: list[Run], what: str) -> float:
    """The median wall or CPU seconds of some runs."""
    return statistics.median(run.wall if what == "wall" else run.cpu for run in runs)


def _columns(rows: Sequence[tuple[str, ...]]) -> str:
    """Rows as aligned columns, the first one the head, underlined."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def table(results: list[Result]) -> str:
    """One table: row, our median, floor median, ratio, our peak RSS (and CPU medians, for a loaded machine).

    The CPU columns (user + sys of the child, every thread) do not depend on
    what else runs on the machine; on a busy machine the wall-time ratio
    also measures the competition for cores.
    """
    head = ("case", "ours (s)", "floor (s)", "ratio", "target", "our peak RSS", "ours cpu (s)", "floor cpu (s)",
            "cpu ratio", "floor")
    lines = [head]
    for row in (row for r in results for row in r.rows()):
        rss_text = f"{row.rss / 1e6:.1f} MB"
        if row.entries:
            rss_text += f" ({row.rss / row.entries:.0f} B/entry)"
        lines.append((
            row.name,
            f"{_median(row.measured, 'wall'):.3f}",
            f"{_median(row.against, 'wall'):.3f}",
            f"{row.ratio:.2f}",
            row.target,
            rss_text,
            f"{_median(row.measured, 'cpu'):.3f}",
            f"{_median(row.against, 'cpu'):.3f}",
            f"{_median(row.measured, 'cpu') / _median(row.against, 'cpu'):.2f}",
            row.label,
        ))
    return _columns(lines)


# --------------------------------------------------------------------------- scaling


@dataclass(frozen=True)
class Point:
    """One size of the scaling table: a case at a scale."""

    name: str  # big or many
    scale: float


def parse_size(text: str) -> int:
    """Bytes from ``8G``, ``512MiB``, ``1.5g`` or a plain number (binary multiples)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", text, re.IGNORECASE)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (expected e.g. 8G, 512MiB or 1048576)")
    return int(float(match.group(1)) * 1024 ** " kmgt".index(match.group(2).lower() or " "))


def _numbers(kind: Callable[[str], int]) -> Callable[[str], tuple[int, ...]]:
    def parse(text: str) -> tuple[int, ...]:
        return tuple(kind(part) for part in text.split(",") if part.strip())
    return parse


def scaling_points(sizes: tuple[int, ...], entries: tuple[int, ...], max_bytes: int, max_entries: int) -> list[Point]:
    """The big sizes (bytes per archive) and many sizes (file entries of both archives) within the limits."""
    points = [Point("big", size / GIB) for size in sizes if size <= max_bytes]
    return points + [Point("many", n / MANY_ENTRIES) for n in entries if n <= max_entries]


def _bytes_text(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return f"{n}B"


def scaling_table(results: list[tuple[Point, Result]]) -> str:
    """One table over the sizes: our time and the floor's, their ratio, peak RSS, and per entry for many."""
    head = ("case", "size", "ours (s)", "floor (s)", "ratio", "our peak RSS", "µs/entry", "cpu µs/entry", "B/entry",
            "ΔB/entry", "ours cpu (s)", "floor cpu (s)", "cpu ratio", "floor")
    lines = [head]
    previous: dict[str, Row] = {}  # the row of the same name at the size before
    for point, result in results:
        size = (_bytes_text(max(1 << 20, int(GIB * point.scale))) if point.name == "big"
                else f"{result.case.entries:,}")
        for row in result.rows():
            ours = _median(row.measured, "wall")
            per_entry = point.name == "many" and row.entries > 0
            before = previous.get(row.name)
            growth = "-"
            if per_entry and before is not None and row.entries > before.entries:
                growth = f"{(row.rss - before.rss) / (row.entries - before.entries):.0f}"
            previous[row.name] = row
            lines.append((
                row.name,
                size,
                f"{ours:.3f}",
                f"{_median(row.against, 'wall'):.3f}",
                f"{row.ratio:.2f}",
                f"{row.rss / 1e6:.1f} MB",
                f"{ours / row.entries * 1e6:.2f}" if per_entry else "-",
                f"{_median(row.measured, 'cpu') / row.entries * 1e6:.2f}" if per_entry else "-",
                f"{row.rss / row.entries:.0f}" if per_entry else "-",
                growth,
                f"{_median(row.measured, 'cpu'):.3f}",
                f"{_median(row.against, 'cpu'):.3f}",
                f"{_median(row.measured, 'cpu') / _median(row.against, 'cpu'):.2f}",
                row.label,
            ))
    return _columns(lines)


def _generate_in_child(out: Path, names: list[str], seed: int, scale: float) -> None:
    """Write (or reuse) the pairs in a child process, so that this one stays small."""
    subprocess.run([sys.executable, __file__, str(out), "--generate-only", "--cases", ",".join(names),
                    "--seed", str(seed), "--scale", repr(scale)], check=True)


def scaling_main(argv: list[str]) -> int:
    """Time big and many at growing sizes; print one table of the time, memory and time per entry."""
    parser = argparse.ArgumentParser(prog="bench.py scaling", description="big and many at sizes x4")
    parser.add_argument("outdir", type=Path, help="folder for the generated archives (outside the repository)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reps", type=int, default=SCALING_REPS,
                        help=f"timed repetitions of each side (default {SCALING_REPS})")
    parser.add_argument("--max-bytes", type=parse_size, default=SCALING_BYTES[-1],
                        help="largest big archive (bytes of its layers), e.g. 2G; 0 leaves big out (default 8G)")
    parser.add_argument("--max-entries", type=int, default=SCALING_ENTRIES[-1],
                        help="largest many pair (file entries of both archives); 0 leaves many out "
                             f"(default {SCALING_ENTRIES[-1]})")
    parser.add_argument("--sizes", type=_numbers(parse_size), default=SCALING_BYTES,
                        help="comma-separated big sizes instead of 128M,512M,2G,8G")
    parser.add_argument("--entries", type=_numbers(int), default=SCALING_ENTRIES,
                        help="comma-separated many sizes instead of " + ",".join(map(str, SCALING_ENTRIES)))
    args = parser.parse_args(argv)
    out = _outdir(parser, args.outdir)
    results = []
    for point in scaling_points(args.sizes, args.entries, args.max_bytes, args.max_entries):
        _generate_in_child(out, [point.name], args.seed, point.scale)
        os.sync()  # the archive just written is on disk before the timing starts, not flushed during it
        case = make_case(point.name, out, args.seed, point.scale)
        if case is None:
            continue
        floors = tuple(other for other in case.others if not other.ours)  # the format variants are the cases' own
        results.append((point, measure(dataclasses.replace(case, env=ours_env(out), others=floors), args.reps)))
    print(f"# python3 tools/bench.py scaling {shlex.join(argv)}")
    print(_machine_line(args.reps) + "; µs/entry = our median wall (and CPU) time per file entry of both archives; "
          "B/entry = our peak RSS per entry (the interpreter's own 30 MB included), "
          "ΔB/entry = its growth per entry added since the size before")
    print(scaling_table(results))
    return 0


def _outdir(parser: argparse.ArgumentParser, given: Path) -> Path:
    out = given.resolve()
    if out == REPO or REPO in out.parents:
        parser.error("OUTDIR must be outside the repository")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _machine_line(reps: int) -> str:
    load = os.getloadavg()
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return (f"# {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
            f"{reps} reps, medians; ratio = ours / floor (wall); "
            f"RSS includes the measuring process's own peak of {own / 1e6:.1f} MB")


def render_main(argv: list[str]) -> int:
    """Time and measure the renderers on reports of growing size; print one row per format and size."""
    import tracemalloc

    from imageforensics.report import render
    from tools.large_report import large_report

    parser = argparse.ArgumentParser(prog="bench.py render", description="rendering time and memory per entry")
    parser.add_argument("--entries", type=int, default=400_000)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    sizes = [args.entries // 8, args.entries // 4, args.entries // 2, args.entries]
    print(f"# python3 tools/bench.py render {shlex.join(argv)}")
    print("# medians of the time; peak = tracemalloc's peak during one rendering (the report itself excluded)")
    print(f"{'format':<9} {'entries':>9} {'time':>9} {'µs/entry':>9} {'peak':>10} {'B/entry':>8} {'output':>10}")
    for fmt in ("text", "markdown", "html", "json"):
        for n in sizes:
            report = large_report(n)
            times = []
            for _ in range(args.reps):
                start = time.perf_counter()
                out = render(report, fmt)
                times.append(time.perf_counter() - start)
            tracemalloc.start()
            out = render(report, fmt)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            t = statistics.median(times)
            print(f"{fmt:<9} {n:>9,} {t:>8.3f}s {t / n * 1e6:>9.2f} {peak / 1e6:>8.1f}MB {peak / n:>8.0f} "
                  f"{len(out):>10,}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Generate (or reuse) the pairs, time them, print the table."""
    given = sys.argv[1:] if argv is None else argv
    if given[:1] == ["render"]:
        return render_main(given[1:])
    if given[:1] == ["scaling"]:
        return scaling_main(given[1:])
    parser = argparse.ArgumentParser(prog="bench.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", type=Path, help="folder for the generated archives (outside the repository)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions of each side (default 5)")
    parser.add_argument("--cases", default=",".join(DEFAULT_CASES),
                        help=f"comma-separated subset of {','.join(CASES)} (default {','.join(DEFAULT_CASES)})")
    parser.add_argument("--scale", type=float, default=1.0, help="size factor, e.g. 0.05 for a quick run")
    parser.add_argument("--generate-only", action="store_true", help="only write (or reuse) the archives")
    args = parser.parse_args(argv)
    out = _outdir(parser, args.outdir)
    names = [c.strip() for c in args.cases.split(",") if c.strip()]
    for name in names:
        if name not in CASES:
            parser.error(f"unknown case {name!r}; expected some of {','.join(CASES)}")
    if args.generate_only:
        for name in names:
            generate(name, out, args.seed, args.scale)
        return 0
    _generate_in_child(out, names, args.seed, args.scale)
    results = []
    for name in names:
        case = make_case(name, out, args.seed, args.scale)
        if case is not None:
            results.append(measure(dataclasses.replace(case, env=ours_env(out)), args.reps))
    print(f"# python3 tools/bench.py {shlex.join(given)}")
    print(_machine_line(args.reps))
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
