"""Fuzz the reader with mutated archives: every input must give a model or one of the project's errors.

    python3 tools/fuzz.py campaign --inputs 100000 --jobs 2 --out DIR   # structure-aware (see --help)
    python3 tools/fuzz.py N [--seed S] [--save DIR] [--workers 2] [--timeout 20] [--cpu-seconds S] [--rss-mb 1536]

The structure-aware campaign (``campaign``, ``replay``, ``mutators``;
tools/mutators.py) is described by ``STRUCTURED_HELP`` below. The older
engine (``fuzz.py N``): inputs are built from the sample archives and a few synthetic ones (every
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
import contextlib
import dataclasses
import functools
import io
import json
import math
import os
import random
import re
import resource
import signal
import sys
import threading
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, cast

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


def _worker(conn: Any, theirs: Any, seed: int, rss_mb: int, diff: bool, cpu_seconds: float | None = None) -> None:
    from imageforensics.read._archive import read_stream

    theirs.close()  # the campaign's end, inherited by the fork (see _structured_worker)

    limit = rss_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    seeds = seed_archives()
    models: dict[str, Any] = {}
    while True:
        try:
            index = conn.recv()
        except EOFError:
            return
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


# --- the worker pool both campaigns run on ------------------------------------------------


def run_pool(indices: Iterator[int], jobs: int, worker: Callable[..., None], args: tuple[Any, ...], *,
             timeout: float | None, on_result: Callable[[Any], None],
             on_lost: Callable[[int | None, int | None], None]) -> None:
    """Feed ``indices`` one at a time to ``jobs`` forked ``worker`` processes until all are done.

    A worker is called as ``worker(its_end, campaign_end, *args)``: it receives
    an index, or None to stop, and sends one result per index, which goes to
    ``on_result``. A worker that dies (the memory cap, its CPU limit) or holds
    one index over ``timeout`` seconds is killed and replaced; ``on_lost`` gets
    the index it held (None when it had none yet) and its exit code (None when
    the pool killed it for the time).
    """
    import multiprocessing
    from multiprocessing.connection import Connection, wait

    ctx = multiprocessing.get_context("fork")
    procs: dict[Connection, tuple[Any, int | None, float]] = {}

    def launch() -> None:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=worker, args=(child, parent, *args), daemon=True)
        proc.start()
        child.close()
        procs[parent] = (proc, None, 0.0)
        feed(parent)

    def feed(conn: Connection) -> None:
        proc, _, _ = procs[conn]
        index = next(indices, None)
        if index is None:
            conn.send(None)
            proc.join(5)
            del procs[conn]
            return
        conn.send(index)
        procs[conn] = (proc, index, time.monotonic())

    for _ in range(jobs):
        launch()
    while procs:
        # wait() returns those of the objects it was given that are ready: our pipes.
        for conn in cast("list[Connection]", wait(list(procs), timeout=0.5)):
            try:
                result = conn.recv()
            except (EOFError, OSError):
                proc, held, _ = procs.pop(conn)
                proc.join(1)
                on_lost(held, proc.exitcode)
                launch()
                continue
            on_result(result)
            feed(conn)
        now = time.monotonic()
        for conn, (proc, held, since) in list(procs.items()):
            if held is not None and timeout is not None and now - since > timeout:
                proc.kill()
                proc.join(5)
                del procs[conn]
                on_lost(held, None)
                launch()


def campaign(count: int, *, seed: int, workers: int, timeout: float | None, rss_mb: int, save: str | None,
             out: Callable[[str], None] = print, diff: bool = True, cpu_seconds: float | None = None) -> Counter[str]:
    """Run ``count`` inputs over ``workers`` processes; returns the outcome counts.

    An input is a hang after ``timeout`` seconds (None: never) or ``cpu_seconds`` of CPU time (None: never).
    """
    seeds = seed_archives()
    totals: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    crashes: Counter[str] = Counter()
    slowest = (0.0, -1)
    began = time.monotonic()
    done = 0

    def result(sent: Any) -> None:
        nonlocal done, slowest
        # What _worker sends for each input.
        index, kind, detail, how, took = cast("tuple[int, str, str, str, float]", sent)
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
        if done % 5000 == 0:
            out(f"... {done} inputs, {time.monotonic() - began:.0f} s, {dict(totals)}")

    def lost(held: int | None, exitcode: int | None) -> None:
        nonlocal done
        if exitcode is None:
            assert held is not None
            totals["hang"] += 1
            data, how = input_for(seeds, seed, held)
            path = _save(save, held, data, f"hang (over {timeout} s)\n{how}\n")
            out(f"HANG #{held}: over {timeout} s [{how}] {path}")
            done += 1
            return
        # The worker died (killed by the memory limit in C code, say, or by its CPU limit).
        hang = exitcode == -signal.SIGXCPU
        totals["hang" if hang else "died"] += 1
        if held is None:
            # It died before taking an input: there is none to save.
            out(f"DIED while starting: exit {exitcode}")
            return
        data, how = input_for(seeds, seed, held)
        why = f"hang (over {cpu_seconds} CPU s)" if hang else f"worker died (exit {exitcode})"
        path = _save(save, held, data, f"{why}\n{how}\n")
        out(f"HANG #{held}: over {cpu_seconds} CPU s [{how}] {path}" if hang else f"DIED #{held}: exit {exitcode}: {how}")
        done += 1

    run_pool(iter(range(count)), workers, _worker, (seed, rss_mb, diff, cpu_seconds), timeout=timeout,
             on_result=result, on_lost=lost)
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


# --- the structure-aware campaign -------------------------------------------------------

REAL_ARCHIVES = Path(os.environ.get("IMAGEFORENSICS_REAL_ARCHIVES", "/tmp/imageforensics-real"))
# What each outcome of the structure-aware campaign means (the summary's columns, in this order).
OUTCOMES = {
    "clean": "a model, or the project's one-line error naming the input",
    "crash": "a traceback or an 'internal error' line",
    "hang": "over the time or CPU bound of one input",
    "died": "the worker died (the memory cap, a signal)",
    "identical-with-error": "diff said identical (exit 0) though a side has an ERROR integrity finding",
    "unnamed-error": "an error of more than one line, or one that names neither input",
}


@dataclasses.dataclass(frozen=True)
class SeedArchive:
    """An input the campaign mutates: its name in the reports and where it is on disk (the diff reads it)."""

    name: str
    path: Path


def structured_seeds(real: Path | None = REAL_ARCHIVES) -> list[SeedArchive]:
    """The samples, the checked-in hostile inputs, and (when present) one real archive per tool and layout."""
    found = [SeedArchive(f"samples/{p.name}", p) for p in sorted((ROOT / "samples").glob("*.tar"))]
    hostile = ROOT / "tests" / "hostile"
    found += [SeedArchive(f"hostile/{p.name}", p) for p in sorted(hostile.iterdir())
              if p.is_file() and p.suffix not in (".py", ".json") and p.name != "__init__.py"]
    if real is not None and (real / "MANIFEST.json").is_file():
        kinds: set[tuple[str, str]] = set()
        for entry in json.loads((real / "MANIFEST.json").read_text()).get("archives", []):
            path = real / entry["path"]
            kind = (entry["path"].split("/")[0], entry.get("layout", "") + entry.get("compression", ""))
            if entry.get("kind") == "file" and path.is_file() and kind not in kinds:
                kinds.add(kind)
                found.append(SeedArchive(f"real/{entry['path']}", path))
    return found


@dataclasses.dataclass(frozen=True)
class StructuredInput:
    """Input ``index`` of campaign ``seed``: its bytes, the mutator that made them, from which seed, and how."""

    data: bytes
    mutator: str
    seed: SeedArchive
    what: str


def structured_input(seeds: Sequence[SeedArchive], seed: int, index: int, *,
                     cache: dict[str, bytes] | None = None) -> StructuredInput:
    """Always the same bytes for the same (seed, index): the mutators take turns, each seeded by both."""
    from tools.mutators import MUTATORS, classic

    names = list(MUTATORS)
    mutator = names[index % len(names)]
    rng = random.Random(f"{seed}:{index}:{mutator}")
    # The real archives are a hundred times the samples' size, and the hostile inputs are mostly
    # rejected early (or are bombs, slow by design): one input in sixteen comes from a real archive,
    # three in sixteen from a hostile one, the rest from the samples.
    groups = [[s for s in seeds if s.name.startswith(prefix)] for prefix in ("real/", "hostile/", "samples/")]
    draw = rng.random()
    wanted = groups[0] if draw < 1 / 16 else groups[1] if draw < 4 / 16 else groups[2]
    origin = rng.choice(wanted or [s for group in groups for s in group])
    data = cache.get(origin.name) if cache is not None else None
    if data is None:
        data = origin.path.read_bytes()
        if cache is not None:
            cache[origin.name] = data
    fn = MUTATORS[mutator][0]
    mutant = fn(rng, data)
    if mutant is None:
        mutant, mutator = classic(rng, data), "classic"
    return StructuredInput(mutant.data, mutator, origin, mutant.what)


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What the oracle made of one input: an outcome of OUTCOMES and its detail (the line that shows it)."""

    outcome: str
    detail: str = ""


def _integrity_errors(archive: Any) -> list[str]:
    """The codes of an archive's ERROR findings that break its integrity (its own, and every image's audit).

    Those are the ones (``breaks_integrity`` in the catalogue: a digest, size or
    reference that fails) by which the archive does not hold the image it
    claims, so a diff may never call it identical. Other ERRORs of an image's
    audit (a poisoned inline cache, a write through a symlink) are its own
    problems: two copies of such an image are identical, and the report shows
    them.
    """
    from imageforensics.audit import image_findings
    from imageforensics.catalogue import code_spec
    from imageforensics.findings import Severity

    findings = list(archive.findings)
    for image in archive.images:
        findings += image_findings(image)
    return sorted({f.code for f in findings if f.severity is Severity.ERROR and code_spec(f.code).breaks_integrity})


def _error_verdict(exc: BaseException, names: Sequence[str]) -> Verdict:
    """What the command line makes of an exception: clean for one line naming an input, else a failure.

    The command line prints an ``ImageForensicsError`` as one line
    (``imageforensics: MESSAGE``), ``RecursionError``/``MemoryError`` as one
    line that names no input, and anything else as "internal error".
    """
    from imageforensics.untrusted import show_prose

    if isinstance(exc, ImageForensicsError):
        line = show_prose(str(exc))
        if "\n" in line:
            return Verdict("unnamed-error", f"{line.count(chr(10)) + 1} lines: {line[:300]!r}")
        if not any(name in line for name in names):
            return Verdict("unnamed-error", f"{type(exc).__name__}: {line[:300]}")
        return Verdict("clean", "error")
    if isinstance(exc, RecursionError):
        return Verdict("unnamed-error", "RecursionError (input too deeply nested)")
    last = traceback.format_exception_only(type(exc), exc)[-1].strip()
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ is not None else None
    at = f" at {Path(where.filename).name}:{where.lineno} {where.name}" if where is not None else ""
    return Verdict("crash", f"internal error: {last[:240]}{at}")


def judge(data: bytes, seed: SeedArchive, work: Path, *, index: int = 0,
          seed_models: dict[str, Any] | None = None) -> Verdict:
    """Do what ``imageforensics inspect`` and ``imageforensics diff`` against the seed do, and classify.

    The input is written to ``work`` (a folder of this process's own) and read
    by ``read_input``, as the command line reads it; ``inspect`` renders every
    image as text and the whole model as JSON; ``diff`` selects the image as
    the command line does and renders the report (in a format that turns with
    ``index``, as does the argument order: odd inputs diff the seed first).
    ``seed_models`` caches each seed's model (None when it is not readable).
    """
    from imageforensics import audit, diff_images, read_input, render, select_image
    from imageforensics.report import INSPECT_RENDERERS

    mutant = work / "mutant.tar"
    mutant.write_bytes(data)
    try:
        archive = read_input(str(mutant))
        for renderer in INSPECT_RENDERERS.values():
            renderer.render(archive, None, image_findings=audit.image_findings)
    except MemoryError:
        return Verdict("died", "MemoryError")
    except Exception as exc:  # noqa: BLE001 - classified as the command line would show it
        return _error_verdict(exc, [mutant.name])
    cache: dict[str, Any] = {} if seed_models is None else seed_models
    if seed.name not in cache:
        try:
            cache[seed.name] = read_input(str(seed.path))
        except ImageForensicsError:
            cache[seed.name] = None
    before = cache[seed.name]
    if before is None:
        return Verdict("clean", "model")
    own, seeds = _integrity_errors(archive), _integrity_errors(before)
    sides = [(before, seed.path.name), (archive, mutant.name)]
    if index % 2 == 0:
        sides.reverse()
    try:
        (a, _), (b, _) = sides
        image_a, image_b = select_image(a), select_image(b)
        report = diff_images(a, image_a, b, image_b)
        render(report, ("text", "json", "markdown", "html")[index % 4])
    except MemoryError:
        return Verdict("died", "MemoryError")
    except Exception as exc:  # noqa: BLE001 - as above
        return _error_verdict(exc, [mutant.name, seed.path.name])
    if report.exit_status == 0 and (own or seeds):
        holders = [f"{what}: {', '.join(codes)}" for what, codes in (("input", own), ("seed", seeds)) if codes]
        return Verdict("identical-with-error", f"exit 0 with ERROR findings ({'; '.join(holders)})")
    return Verdict("clean", "model")


def _structured_worker(conn: Any, theirs: Any, seed: int, rss_mb: int, cpu_seconds: float | None, real: str | None) -> None:
    import tempfile

    # The campaign's end of the pipe, inherited by the fork: closed, so that the worker sees
    # the end of the pipe (and exits) when the campaign dies.
    theirs.close()
    limit = rss_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    seeds = structured_seeds(Path(real) if real else None)
    cache: dict[str, bytes] = {}
    seed_models: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="imageforensics-fuzz-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as tmp:
        while True:
            try:
                index = conn.recv()
            except EOFError:
                return
            if index is None:
                return
            made = structured_input(seeds, seed, index, cache=cache)
            if cpu_seconds is not None:
                limit_cpu(cpu_seconds)
            start = time.monotonic()
            try:
                verdict = judge(made.data, made.seed, Path(tmp), index=index, seed_models=seed_models)
            except MemoryError:
                verdict = Verdict("died", "MemoryError")
            except Exception as exc:  # noqa: BLE001 - the oracle itself failing is a finding too
                verdict = Verdict("crash", f"oracle: {type(exc).__name__}: {exc}")
            conn.send((index, made.mutator, verdict.outcome, verdict.detail, time.monotonic() - start))


def save_failure(out: Path, seed: int, index: int, made: StructuredInput, verdict: Verdict) -> Path:
    """Keep a failing input and how to replay it: ``OUT/OUTCOME/MUTATOR-sSEED-iINDEX.tar`` and ``.txt``."""
    folder = out / verdict.outcome
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{made.mutator}-s{seed}-i{index}.tar"
    path.write_bytes(made.data)
    path.with_suffix(".txt").write_text(
        f"outcome: {verdict.outcome}\ndetail: {verdict.detail}\nmutator: {made.mutator}\nseed archive: {made.seed.name}\n"
        f"what: {made.what}\nreplay: python3 tools/fuzz.py replay --seed {seed} --index {index}\n"
        f"replay the file: python3 tools/fuzz.py replay {path} --against {made.seed.path}\n", encoding="utf-8")
    return path


def structured_campaign(count: int, *, seed: int, jobs: int, out: Path | None, timeout: float | None = 120.0,
                        cpu_seconds: float | None = 30.0, rss_mb: int = 1536, start: int = 0,
                        real: Path | None = REAL_ARCHIVES, say: Callable[[str], None] = print) -> dict[str, Counter[str]]:
    """Inputs ``start`` .. ``start + count - 1`` over ``jobs`` processes; outcome counts per mutator.

    An input is a hang after ``timeout`` seconds of wall time or ``cpu_seconds``
    of CPU time (the kernel's limit; load on the machine cannot trip it).
    Failures are saved under ``out`` (``save_failure``).
    """
    from tools.mutators import MUTATORS

    seeds = structured_seeds(real)
    table: dict[str, Counter[str]] = {name: Counter() for name in [*MUTATORS]}
    classes: Counter[tuple[str, str, str]] = Counter()
    began = time.monotonic()
    done = 0

    def record(index: int, mutator: str | None, verdict: Verdict) -> None:
        nonlocal done
        done += 1
        made = None
        if mutator is None or verdict.outcome != "clean":
            made = structured_input(seeds, seed, index)
            mutator = made.mutator
        table.setdefault(mutator, Counter())[verdict.outcome] += 1
        if verdict.outcome != "clean" and made is not None:
            path = save_failure(out, seed, index, made, verdict) if out is not None else None
            classes[(verdict.outcome, mutator, verdict.detail[:100])] += 1
            say(f"{verdict.outcome.upper()} #{index} [{mutator}] {verdict.detail[:160]} {path or ''}")
        if done % 2000 == 0:
            rate = done / max(time.monotonic() - began, 1e-9)
            say(f"... {done} inputs, {time.monotonic() - began:.0f} s ({rate:.1f}/s)")

    def result(sent: Any) -> None:
        index, mutator, outcome, detail, _took = cast("tuple[int, str, str, str, float]", sent)
        record(index, mutator, Verdict(outcome, detail))

    def lost(held: int | None, exitcode: int | None) -> None:
        if held is None:
            return
        if exitcode is None:
            record(held, None, Verdict("hang", f"over {timeout:g} s"))
        elif exitcode == -signal.SIGXCPU:
            record(held, None, Verdict("hang", f"over {cpu_seconds} CPU s"))
        else:
            record(held, None, Verdict("died", f"worker exit {exitcode}"))

    run_pool(iter(range(start, start + count)), jobs, _structured_worker,
             (seed, rss_mb, cpu_seconds, str(real) if real else None), timeout=timeout, on_result=result, on_lost=lost)
    elapsed = time.monotonic() - began
    say(f"command: python3 tools/fuzz.py campaign --inputs {count} --seed {seed} --jobs {jobs}"
        + (f" --start {start}" if start else "") + (f" --out {out}" if out else ""))
    say(f"ran: {done} inputs in {elapsed:.0f} s ({done / max(elapsed, 1e-9):.1f}/s), {len(seeds)} seed archives")
    say(summary_table(table))
    for (outcome, mutator, detail), n in classes.most_common():
        say(f"  {n} x {outcome} [{mutator}] {detail}")
    return table


def summary_table(table: dict[str, Counter[str]]) -> str:
    """Inputs per mutator and their outcomes, as an aligned text table with a total row."""
    columns = list(OUTCOMES)
    rows = [[name, str(sum(c.values()))] + [str(c[o]) for o in columns] for name, c in table.items()]
    total: Counter[str] = Counter()
    for c in table.values():
        total.update(c)
    rows.append(["total", str(sum(total.values()))] + [str(total[o]) for o in columns])
    head = ["mutator", "inputs", *columns]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]

    def line(r: list[str]) -> str:
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))

    return "\n".join([line(head), *(line(r) for r in rows)])


def structured_main(argv: list[str]) -> int:
    """``fuzz.py campaign`` and ``fuzz.py replay``: the structure-aware campaign's command line."""
    parser = argparse.ArgumentParser(prog="tools/fuzz.py", description=STRUCTURED_HELP,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("campaign", help="run the structure-aware campaign")
    run.add_argument("--inputs", type=int, default=100000, help="how many inputs (default 100000)")
    run.add_argument("--seed", type=int, default=1, help="campaign seed (input i of seed S is always the same)")
    run.add_argument("--start", type=int, default=0, help="first input index (to split a campaign)")
    run.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    run.add_argument("--out", type=Path, help="save failing inputs here, by outcome")
    run.add_argument("--timeout", type=float, default=120.0, help="wall seconds before an input is a hang (default 120)")
    run.add_argument("--cpu-seconds", type=float, default=30.0, help="CPU seconds before an input is a hang (default 30)")
    run.add_argument("--rss-mb", type=int, default=1536, help="address-space cap of each worker in MiB (default 1536)")
    run.add_argument("--no-real", action="store_true", help="leave out the real archives even when present")
    replay = sub.add_parser("replay", help="run one input again: by --seed/--index, or a saved FILE --against its seed")
    replay.add_argument("file", nargs="?", type=Path, help="a saved input")
    replay.add_argument("--against", type=Path, help="the seed archive the saved input is diffed against")
    replay.add_argument("--seed", type=int, default=1)
    replay.add_argument("--index", type=int)
    replay.add_argument("--cpu-seconds", type=float, default=30.0, help="CPU seconds before it is a hang (default 30)")
    sub.add_parser("mutators", help="list the mutators")
    args = parser.parse_args(argv)
    if args.command == "mutators":
        from tools.mutators import MUTATORS

        for name, (fn, keeps) in MUTATORS.items():
            print(f"{name:18} {(fn.__doc__ or '').splitlines()[0]}" + (f" [keeps the {keeps}]" if keeps else ""))
        return 0
    if args.command == "replay":
        import tempfile

        if args.file is not None:
            if args.against is None:
                parser.error("replay FILE needs --against SEED_ARCHIVE")
            data, origin, how = args.file.read_bytes(), SeedArchive(args.against.name, args.against), str(args.file)
            # A saved input's name ends in its index, which chose the argument order and the format.
            named = re.search(r"-i([0-9]+)$", args.file.stem)
            if args.index is None and named:
                args.index = int(named.group(1))
        elif args.index is not None:
            made = structured_input(structured_seeds(), args.seed, args.index)
            data, origin, how = made.data, made.seed, f"[{made.mutator}] {made.seed.name}: {made.what}"
        else:
            parser.error("replay needs FILE --against SEED or --seed S --index I")
        # The kernel's CPU limit, not a watchdog thread: a regular expression in C (tarfile's
        # CVE-2024-6232) holds the GIL, so no thread of ours runs until it is done.
        print(f"(a hang ends this process with SIGXCPU after {args.cpu_seconds:g} s of CPU time)", file=sys.stderr, flush=True)
        limit_cpu(args.cpu_seconds)
        with tempfile.TemporaryDirectory() as tmp:
            verdict = judge(data, origin, Path(tmp), index=args.index or 0)
        print(f"{verdict.outcome}: {verdict.detail} {how}")
        return 0 if verdict.outcome == "clean" else 1
    table = structured_campaign(args.inputs, seed=args.seed, jobs=args.jobs, out=args.out, timeout=args.timeout,
                                cpu_seconds=args.cpu_seconds, rss_mb=args.rss_mb, start=args.start,
                                real=None if args.no_real else REAL_ARCHIVES, say=lambda line: print(line, flush=True))
    return 0 if all(set(c) <= {"clean"} for c in table.values()) else 1


STRUCTURED_HELP = """\
Structure-aware fuzzing of the command line (tools/mutators.py): tar header fields with checksums
re-fixed and PAX/global headers in the outer archive and inside layers, JSON fields, descriptors,
members moved or duplicated, trailing data, symlink-then-child and forward hardlinks; after a change
to a layer or a JSON member the digest chain is re-fixed so the change reaches the deep parsers.

Each input runs `imageforensics inspect` and `imageforensics diff` against its seed in-process and is
classified: clean, crash (traceback, internal error), hang, died (memory cap), identical-with-error
(exit 0 while a side has an ERROR integrity finding), unnamed-error (not one line naming the input).

  python3 tools/fuzz.py campaign --inputs 100000 --jobs 2 --out DIR    # the campaign; exit 1 on any failure
  python3 tools/fuzz.py replay --seed 1 --index 4711                   # rebuild one input and judge it again
  python3 tools/fuzz.py replay DIR/crash/layer-pax-s1-i4711.tar --against samples/same-oci.tar
  python3 tools/fuzz.py mutators                                       # the mutators and what they keep intact

The older engine (random bytes and type swaps over the reader alone) is `python3 tools/fuzz.py N`.
"""


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
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("campaign", "replay", "mutators"):
        return structured_main(argv)
    if argv and argv[0] in ("-h", "--help"):
        print(STRUCTURED_HELP)
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
