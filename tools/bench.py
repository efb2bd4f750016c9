"""Benchmark ``python3 -m imageforensics A B`` against floors measured on the same files in the same run (issue 6).

Usage::

    python3 tools/bench.py OUTDIR [--seed S] [--reps N] [--cases big,many,gzip,peer] [--scale F]
    python3 tools/bench.py render [--entries 400000] [--reps N]

OUTDIR (outside the repository, e.g. /tmp/bench) receives deterministic
archive pairs generated from the seed with tools/synth.py; they are reused
when present (a ``.done`` marker is written after each complete pair).

Cases (sizes at ``--scale 1``):

- ``big``: two 1 GiB docker-legacy archives of a few large files, one layer
  differs. Floor: ``openssl dgst -sha256 A B``.
- ``many``: two archives of 200,000 small files across 20 layers, a few
  hundred files differ. Floor: Python's own ``tarfile`` listing every member
  of both archives in stream mode (``r|``), the layer tars nested inside
  listed too (``r|`` over each member), nothing else.
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
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

GIB = 1 << 30
CASES = ("big", "many", "gzip", "peer", "deep", "wide", "ls")
DEFAULT_CASES = ("big", "many", "gzip", "peer")
DEEP_FILES = 40_000
WIDE_DIRS = 1_000_000
LS_FILES = 1_000_000
# The programs each floor runs (peer: diffoscope, looked up where it is used).
FLOOR_TOOLS = {"big": ("openssl",), "gzip": ("gzip", "openssl", "sh")}
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
    return f"{name}-s{seed}-x{scale:g}"


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


def make_case(name: str, out: Path, seed: int, scale: float) -> Case | None:
    """Describe how to time one (already generated) case; None when its tool is missing."""
    tag = _tag(name, seed, scale)
    a, b = out / f"{tag}-a.tar", out / f"{tag}-b.tar"
    missing = [tool for tool in FLOOR_TOOLS.get(name, ()) if shutil.which(tool) is None]
    if missing:
        print(f"bench: {name} skipped: its floor needs {', '.join(missing)}, not on PATH", file=sys.stderr)
        return None
    if name == "big":
        return Case(name, ours_argv(a, b), ["openssl", "dgst", "-sha256", str(a), str(b)],
                    "openssl dgst -sha256 A B", "<= 0.75, RSS <= 100 MB")
    if name == "many":
        count = _many_count(scale, 200_000)
        return Case(name, ours_argv(a, b), [sys.executable, "-c", LIST_SCRIPT, str(a), str(b)],
                    "tarfile r| listing (nested)", "<= 1.0, RSS <= 1 KB/entry", entries=2 * count)
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
class Result:
    """Medians of one case."""

    case: Case
    ours: list[Run]
    floor: list[Run]

    @property
    def ratio(self) -> float:
        """Our median wall time over the floor's."""
        return statistics.median(r.wall for r in self.ours) / statistics.median(r.wall for r in self.floor)


def measure(case: Case, reps: int) -> Result:
    """Warm up once each, then ``reps`` alternating runs (the order flips every repetition)."""
    if case.name != "peer":  # diffoscope takes minutes; its first run is a timed one
        timed(case.floor, ok=(0, 1))
    timed(case.ours, ok=case.ok_status, env=case.env)
    ours: list[Run] = []
    floor: list[Run] = []
    if case.name == "peer":
        reps = min(reps, PEER_REPS)
    for rep in range(reps):
        order = [("ours", case.ours), ("floor", case.floor)]
        if rep % 2:
            order.reverse()
        for which, argv in order:
            run = timed(argv, ok=case.ok_status if which == "ours" else (0, 1),
                        env=case.env if which == "ours" else None)
            (ours if which == "ours" else floor).append(run)
            print(f"bench: {case.name} rep {rep + 1} {which}: {run.wall:.3f}s wall {run.cpu:.3f}s cpu "
                  f"{run.rss / 1e6:.1f} MB", file=sys.stderr, flush=True)
    return Result(case, ours, floor)


def table(results: list[Result]) -> str:
    """One table: case, our median, floor median, ratio, our peak RSS (and CPU medians, for a loaded machine).

    The CPU columns (user + sys of the child, every thread) do not depend on
    what else runs on the machine; on a busy machine the wall-time ratio
    also measures the competition for cores.
    """
    head = ("case", "ours (s)", "floor (s)", "ratio", "target", "our peak RSS", "ours cpu (s)", "floor cpu (s)",
            "cpu ratio", "floor")
    rows = [head]
    for r in results:
        rss = max(run.rss for run in r.ours)
        rss_text = f"{rss / 1e6:.1f} MB"
        if r.case.entries:
            rss_text += f" ({rss / r.case.entries:.0f} B/entry)"
        rows.append((
            r.case.name,
            f"{statistics.median(x.wall for x in r.ours):.3f}",
            f"{statistics.median(x.wall for x in r.floor):.3f}",
            f"{r.ratio:.2f}",
            r.case.target,
            rss_text,
            f"{statistics.median(x.cpu for x in r.ours):.3f}",
            f"{statistics.median(x.cpu for x in r.floor):.3f}",
            f"{statistics.median(x.cpu for x in r.ours) / statistics.median(x.cpu for x in r.floor):.2f}",
            r.case.floor_label,
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


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
    parser = argparse.ArgumentParser(prog="bench.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", type=Path, help="folder for the generated archives (outside the repository)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions of each side (default 5)")
    parser.add_argument("--cases", default=",".join(DEFAULT_CASES),
                        help=f"comma-separated subset of {','.join(CASES)} (default {','.join(DEFAULT_CASES)})")
    parser.add_argument("--scale", type=float, default=1.0, help="size factor, e.g. 0.05 for a quick run")
    parser.add_argument("--generate-only", action="store_true", help="only write (or reuse) the archives")
    args = parser.parse_args(argv)
    out = args.outdir.resolve()
    if out == REPO or REPO in out.parents:
        parser.error("OUTDIR must be outside the repository")
    out.mkdir(parents=True, exist_ok=True)
    names = [c.strip() for c in args.cases.split(",") if c.strip()]
    for name in names:
        if name not in CASES:
            parser.error(f"unknown case {name!r}; expected some of {','.join(CASES)}")
    if args.generate_only:
        for name in names:
            generate(name, out, args.seed, args.scale)
        return 0
    # Generated in a child process, so this one stays small (see the module docstring).
    subprocess.run([sys.executable, __file__, str(out), "--generate-only", "--cases", ",".join(names),
                    "--seed", str(args.seed), "--scale", str(args.scale)], check=True)
    results = []
    for name in names:
        case = make_case(name, out, args.seed, args.scale)
        if case is not None:
            results.append(measure(dataclasses.replace(case, env=ours_env(out)), args.reps))
    load = os.getloadavg()
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"# python3 tools/bench.py {shlex.join(sys.argv[1:]) if argv is None else shlex.join(argv)}")
    print(f"# {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"{args.reps} reps, medians; ratio = ours / floor (wall); "
          f"RSS includes the measuring process's own peak of {own / 1e6:.1f} MB")
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
