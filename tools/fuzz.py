"""Fuzz the reader with mutated archives: every input must give a model or one of the project's errors.

    python3 tools/fuzz.py N [--seed S] [--save DIR] [--workers 2] [--timeout 20] [--cpu-seconds S] [--rss-mb 1536]

Inputs are built from the sample archives and a few synthetic ones (every
layout, gzip and zstd layers, nested indexes) by the mutation engine of
tools/mutate.py, seeded: input ``i`` of seed ``S`` is always the same bytes.

Each input runs what ``imageforensics inspect`` runs (the reader, the inspect
text of every image, the model JSON) and, when it gives a model, what
``imageforensics diff`` runs against the unmutated seed (every report format). The campaign uses worker processes
(a memory limit set with ``resource.setrlimit``, killed and counted as a hang
after ``--timeout`` seconds, or after ``--cpu-seconds`` of CPU time on one input,
which load on the machine cannot trip) and prints how many inputs ran, gave models,
gave errors (by class) and anything else; crashing and hanging inputs are
saved to ``--save`` so that they can be replayed (``--replay FILE``).
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import math
import os
import random
import resource
import signal
import sys
import threading
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any, Callable, cast

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from imageforensics.errors import ImageForensicsError  # noqa: E402
from imageforensics.options import Limits, ReadOptions  # noqa: E402
from tools.mutate import mutate_archive  # noqa: E402

SOURCE = "fuzz.tar"


@functools.lru_cache(maxsize=1)
def seed_archives() -> list[tuple[str, bytes]]:
    """The inputs mutations start from: every sample, plus synthetic archives of every layout (built once)."""
    seeds = [(p.name, p.read_bytes()) for p in sorted((ROOT / "samples").glob("*.tar"))]
    seeds.extend(synthetic_seeds())
    return seeds


def synthetic_seeds() -> list[tuple[str, bytes]]:
    """Small synthetic archives (tools/synth) with what the samples lack: zstd, devices, nested indexes."""
    from tools.synth import ArchiveSpec, Config, Entry, ImageSpec, Layer, Step, build_archive, zstd_available

    def image(n: int, compression: str) -> ImageSpec:
        entries = (
            Entry("etc/conf", data=b"x=%d\n" % n), Entry("bin/tool", data=bytes(range(256)) * 3, mode=0o755),
            Entry("bin/link", kind="hardlink", linkname="bin/tool"), Entry("dev/null", kind="char", devmajor=1, devminor=3),
            Entry("lib/.wh.old", kind="whiteout"), Entry("var/cache", kind="opaque"), Entry("s", kind="symlink", linkname="../x"),
        )
        layers = (Layer(entries=entries[: 3 + n], compression=compression), Layer())
        history = (Step(created="2024-01-02T03:04:05.123456789Z", created_by="COPY . / # buildkit"),
                   Step(created="2024-01-02T03:04:06Z", created_by="ENV A=1", empty_layer=True),
                   Step(created_by="RUN true # buildkit"))
        return ImageSpec(layers=layers, history=history, references=(f"local/app:{n}",),
                         config=Config(architecture=("amd64", "arm64")[n % 2], labels=(("n", str(n)),)))

    zstd = "zstd" if zstd_available() else "gzip"
    two = ArchiveSpec(images=(image(0, "gzip"), image(1, zstd)), nested_index=True, attestations=True,
                      absent_platforms=("linux/ppc64le",))
    one = ArchiveSpec(images=(image(2, "none"),))
    return [
        ("synth-oci.tar", build_archive(ArchiveSpec(images=two.images, attestations=True), "oci-archive")),
        ("synth-containerd.tar", build_archive(two, "docker-oci-containerd", order="shuffled", seed=3)),
        ("synth-graphdriver.tar", build_archive(one, "docker-oci-graphdriver")),
        ("synth-cimage.tar", build_archive(one, "docker-containers-image", order="reversed")),
        ("synth-crane.tar", build_archive(ArchiveSpec(images=(image(3, "gzip"),)), "docker-crane")),
    ]


def input_for(seeds: list[tuple[str, bytes]], seed: int, index: int) -> tuple[bytes, str]:
    """Input ``index`` of campaign ``seed``: always the same bytes, and how they were made."""
    rng = random.Random(f"{seed}:{index}")
    name, data = seeds[rng.randint(0, len(seeds) - 1)]
    mutated, steps = mutate_archive(data, rng)
    return mutated, f"{name}: " + "; ".join(steps)


# --- running one input ---------------------------------------------------------------


class Hang(AssertionError):
    """An input used more CPU time than the hang detector's generous bound."""


def guarded(fn: Callable[[], Any], cpu_seconds: float = 20.0) -> Any:
    """``fn()`` on a daemon thread: its result or exception, or Hang once the process has used
    ``cpu_seconds`` of CPU time since the call.

    A hang detector with a generous bound, not a speed test. It counts CPU time,
    not wall-clock time, so a loaded machine cannot turn a slow run into a hang
    (the reader loops on data; nothing it reads in memory blocks). A stuck
    thread is left behind (it cannot be killed), but the caller learns of the hang.
    """
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    began = time.process_time()
    thread = threading.Thread(target=run, name="guarded", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.05)
        if thread.is_alive() and time.process_time() - began > cpu_seconds:
            raise Hang(f"no result after {cpu_seconds:g} s of CPU time")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def inspect_pipeline(data: bytes, limits: Limits = Limits(), *, on_member: Callable[[str], None] | None = None) -> Any:
    """What ``imageforensics inspect`` does with an input: read it, render every image and the model JSON.

    ``on_member`` is the reader's own hook, told each member it starts (a test plants a bug there).
    """
    from imageforensics.audit import image_findings
    from imageforensics.model_json import archive_to_json
    from imageforensics.read._archive import read_stream
    from imageforensics.report._inspect import render_inspect_text

    archive = read_stream(io.BytesIO(data), SOURCE, ReadOptions(limits=limits), on_member=on_member)
    for image in archive.images or (None,):
        render_inspect_text(archive, image, image_findings=image_findings)
    json.dumps(archive_to_json(archive, image_findings=image_findings), sort_keys=True, ensure_ascii=False)
    return archive


def diff_pipeline(before: Any, after: Any) -> None:
    """What ``imageforensics diff`` does with two read archives: diff their first images, render every format."""
    from imageforensics.diff._engine import diff_images
    from imageforensics.report._html import render_html
    from imageforensics.report._json import render_json
    from imageforensics.report._markdown import render_markdown
    from imageforensics.report._text import render_text

    if not before.images or not after.images:
        return
    report = diff_images(before, before.images[0], after, after.images[0])
    render_text(report)
    render_json(report)
    render_markdown(report)
    render_html(report)


def classify(data: bytes, limits: Limits = Limits(), against: Any = None, *,
             on_member: Callable[[str], None] | None = None) -> tuple[str, str]:
    """("model", ""), ("error", error class), or ("crash"/"memory", the traceback's last lines).

    With ``against`` (the model of the unmutated seed), a model is also diffed against it.
    ``on_member`` as for :func:`inspect_pipeline`.
    """
    try:
        archive = inspect_pipeline(data, limits, on_member=on_member)
        if against is not None:
            diff_pipeline(against, archive)
    except ImageForensicsError as exc:
        if "\n" in str(exc):
            return "crash", f"multi-line error message: {type(exc).__name__}: {exc!r}"
        return "error", type(exc).__name__
    except MemoryError:
        return "memory", "MemoryError"
    except BaseException as exc:  # noqa: BLE001 - anything else is what we are looking for
        if isinstance(exc, KeyboardInterrupt):
            raise
        lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
        return "crash", "".join(lines[-6:])
    return "model", ""


def limit_cpu(seconds: float) -> None:
    """Let this process use at most ``seconds`` more CPU time: the kernel then ends it with SIGXCPU.

    A bound that load on the machine cannot trip, for a process (each input of
    a worker, a test's subprocess: pass ``functools.partial(limit_cpu, s)`` as
    ``preexec_fn``). Only the soft limit moves, so it can be set again for the
    next input; no core file is written.
    """
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(usage.ru_utime + usage.ru_stime + seconds)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    _, core_hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (0, core_hard))
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


# --- the campaign -------------------------------------------------------------------


def _worker(conn: Any, seed: int, rss_mb: int, diff: bool, cpu_seconds: float | None = None) -> None:
    from imageforensics.read._archive import read_stream

    limit = rss_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    seeds = seed_archives()
    models: dict[str, Any] = {}
    while True:
        index = conn.recv()
        if index is None:
            return
        data, how = input_for(seeds, seed, index)
        against = None
        if diff:
            name = how.split(":", 1)[0]
            if name not in models:
                models[name] = read_stream(io.BytesIO(dict(seeds)[name]), name)
            against = models[name]
        if cpu_seconds is not None:
            limit_cpu(cpu_seconds)
        start = time.monotonic()
        kind, detail = classify(data, against=against)
        conn.send((index, kind, detail, how, time.monotonic() - start))


def _save(folder: str | None, index: int, data: bytes, text: str) -> str:
    if not folder:
        return ""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"input-{index}.tar")
    with open(path, "wb") as f:
        f.write(data)
    with open(path + ".txt", "w", encoding="utf-8") as f:
        f.write(text)
    return path


def campaign(count: int, *, seed: int, workers: int, timeout: float | None, rss_mb: int, save: str | None,
             out: Callable[[str], None] = print, diff: bool = True, cpu_seconds: float | None = None) -> Counter[str]:
    """Run ``count`` inputs over ``workers`` processes; returns the outcome counts.

    An input is a hang after ``timeout`` seconds (None: never) or ``cpu_seconds`` of CPU time (None: never).
    """
    import multiprocessing
    from multiprocessing.connection import Connection, wait

    ctx = multiprocessing.get_context("fork")
    seeds = seed_archives()
    totals: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    crashes: Counter[str] = Counter()
    slowest = (0.0, -1)
    pending = iter(range(count))
    procs: dict[Connection, tuple[Any, int | None, float]] = {}

    def start() -> None:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(child, seed, rss_mb, diff, cpu_seconds), daemon=True)
        proc.start()
        child.close()
        procs[parent] = (proc, None, 0.0)
        feed(parent)

    def feed(conn: Any) -> None:
        proc, _, _ = procs[conn]
        index = next(pending, None)
        if index is None:
            conn.send(None)
            proc.join(5)
            del procs[conn]
            return
        conn.send(index)
        procs[conn] = (proc, index, time.monotonic())

    began = time.monotonic()
    for _ in range(workers):
        start()
    done = 0
    while procs:
        # wait() returns those of the objects it was given that are ready: our pipes.
        ready = cast("list[Connection]", wait(list(procs), timeout=0.5))
        for conn in ready:
            try:
                # What _worker sends for each input.
                index, kind, detail, how, took = cast("tuple[int, str, str, str, float]", conn.recv())
            except (EOFError, OSError):
                # The worker died (killed by the memory limit in C code, say, or by its CPU limit).
                proc, held, _ = procs.pop(conn)
                proc.join(1)
                hang = proc.exitcode == -signal.SIGXCPU
                totals["hang" if hang else "died"] += 1
                if held is None:
                    # It died before taking an input: there is none to save.
                    out(f"DIED while starting: exit {proc.exitcode}")
                else:
                    data, how = input_for(seeds, seed, held)
                    why = f"hang (over {cpu_seconds} CPU s)" if hang else f"worker died (exit {proc.exitcode})"
                    path = _save(save, held, data, f"{why}\n{how}\n")
                    out(f"HANG #{held}: over {cpu_seconds} CPU s [{how}] {path}" if hang else f"DIED #{held}: exit {proc.exitcode}: {how}")
                    done += 1
                start()
                continue
            done += 1
            totals[kind] += 1
            slowest = max(slowest, (took, index))
            if kind == "error":
                errors[detail] += 1
            elif kind != "model":
                first = detail.strip().splitlines()[-1] if detail.strip() else kind
                crashes[first[:120]] += 1
                data, _ = input_for(seeds, seed, index)
                path = _save(save, index, data, f"{kind}\n{how}\n\n{detail}")
                out(f"{kind.upper()} #{index}: {first} [{how}] {path}")
            feed(conn)
        now = time.monotonic()
        for conn, (proc, held, since) in list(procs.items()):
            if held is not None and timeout is not None and now - since > timeout:
                proc.kill()
                proc.join(5)
                del procs[conn]
                totals["hang"] += 1
                data, how = input_for(seeds, seed, held)
                path = _save(save, held, data, f"hang (over {timeout} s)\n{how}\n")
                out(f"HANG #{held}: over {timeout} s [{how}] {path}")
                done += 1
                start()
        if done and done % 5000 == 0 and ready:
            out(f"... {done} inputs, {time.monotonic() - began:.0f} s, {dict(totals)}")
    out(f"command: python3 tools/fuzz.py {count} --seed {seed} --workers {workers}"
        + ("" if timeout is None else f" --timeout {timeout:g}") + ("" if cpu_seconds is None else f" --cpu-seconds {cpu_seconds:g}")
        + f" --rss-mb {rss_mb}" + ("" if diff else " --no-diff"))
    out(f"ran: {sum(totals.values())} inputs in {time.monotonic() - began:.0f} s ({len(seeds)} seed archives)")
    out(f"models: {totals['model']}")
    out(f"errors: {totals['error']} ({', '.join(f'{k}: {v}' for k, v in sorted(errors.items())) or 'none'})")
    out(f"crashes: {totals['crash']}  memory: {totals['memory']}  hangs: {totals['hang']}  died: {totals['died']}")
    for first, n in crashes.most_common():
        out(f"  {n} x {first}")
    out(f"slowest input: #{slowest[1]} in {slowest[0]:.2f} s")
    return totals


def main(argv: list[str] | None = None) -> int:
    """Command line of the campaign; exit status 1 when anything but models and errors came out."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("count", type=int, help="how many mutated inputs to run")
    parser.add_argument("--seed", type=int, default=1, help="campaign seed (input i of seed S is always the same)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds before an input counts as a hang (default 20)")
    parser.add_argument("--cpu-seconds", type=float, help="CPU seconds before an input counts as a hang (load cannot trip it)")
    parser.add_argument("--rss-mb", type=int, default=1536, help="address-space limit of each worker in MiB (default 1536)")
    parser.add_argument("--save", metavar="DIR", help="save crashing and hanging inputs here")
    parser.add_argument("--no-diff", action="store_true", help="only read and inspect (by default a model is also diffed against its seed)")
    parser.add_argument("--replay", metavar="FILE", help="run one saved input in this process and show the outcome")
    args = parser.parse_args(argv)
    if args.replay:
        kind, detail = classify(Path(args.replay).read_bytes())
        print(kind, detail)
        return 0 if kind in ("model", "error") else 1
    totals = campaign(args.count, seed=args.seed, workers=args.workers, timeout=args.timeout,
                      rss_mb=args.rss_mb, save=args.save, out=lambda line: print(line, flush=True), diff=not args.no_diff,
                      cpu_seconds=args.cpu_seconds)
    return 0 if set(totals) <= {"model", "error"} else 1


if __name__ == "__main__":
    sys.exit(main())
