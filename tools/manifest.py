#!/usr/bin/env python3
"""Record every output of the tool on every input at hand, as a manifest of digests.

A refactoring must not change what the tool prints. This runs the command
line (in process, two worker processes) on every input it finds — the
samples, tests/hostile/, the real-archive corpus in ../shared/corpus and the
interop tier's archives when they are present — in every subcommand and
format, and on pairs of them, and writes one digest per run (exit status,
stdout, stderr, and the file written by ``-o``). Two manifests compare with
``--compare``; ``--save DIR`` keeps the outputs themselves so a change can be
read.

    python3 tools/manifest.py -o /tmp/before.json
    python3 tools/manifest.py -o /tmp/after.json --compare /tmp/before.json --save /tmp/after-out

The commit a report names (``tool_version``) and temporary paths are
normalised, so the manifest of an unchanged tool is the same at every commit.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import io
import json
import multiprocessing
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import Any
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.bz2", ".tar.zst", ".json.gz", ".oci", ".zst", ".gz", ".xz")

Run = tuple[str, tuple[str, ...], bool]  # key, argv, whether argv writes -o {out}


def _is_layout_dir(path: Path) -> bool:
    return path.is_dir() and any((path / name).exists() for name in ("index.json", "oci-layout", "manifest.json"))


def _corpus_inputs(top: Path) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(top):
        here = Path(dirpath)
        if _is_layout_dir(here) and here != top:
            found.append(here)
            dirnames[:] = [d for d in dirnames if d.endswith(".oci")]
        for name in filenames:
            if name.endswith(ARCHIVE_SUFFIXES):
                found.append(here / name)
        dirnames.sort()
    return sorted(set(found))


def _real_manifest() -> tuple[Path, dict[str, Any]]:
    top = Path(os.environ.get("IMAGEFORENSICS_REAL_ARCHIVES", "/tmp/imageforensics-real"))
    manifest = top / "MANIFEST.json"
    return top, (json.loads(manifest.read_text(encoding="utf-8")) if manifest.is_file() else {})


def _real_inputs() -> list[Path]:
    """The interop tier's archives, those its pairs stage made among them."""
    top, data = _real_manifest()
    entries = [*data.get("archives", []), *data.get("pair_archives", [])]
    return sorted({top / entry["path"] for entry in entries})


def _real_pairs() -> list[tuple[Path, Path]]:
    """The interop tier's pairs (MANIFEST.json "pairs"), in both orders."""
    top, data = _real_manifest()
    pairs = [(top / p["a"]["path"], top / p["b"]["path"]) for p in data.get("pairs", [])]
    return [*pairs, *((b, a) for a, b in pairs)]


def _show(path: Path) -> str:
    try:
        return os.path.relpath(path, ROOT)
    except ValueError:
        return str(path)


def _single_runs(path: Path) -> Iterator[Run]:
    p = _show(path)
    yield f"inspect text {p}", ("inspect", p), False
    yield f"inspect json {p}", ("inspect", "--format", "json", p), False
    yield f"snapshot {p}", ("snapshot", p, "-o", "{out}.json"), True
    yield f"snapshot redacted {p}", ("snapshot", "--redact", "env,labels", p, "-o", "{out}.json.gz"), True


def _pair_runs(a: Path, b: Path, variants: bool) -> Iterator[Run]:
    pa, pb = _show(a), _show(b)
    for fmt in ("text", "json", "markdown", "html"):
        yield f"diff {fmt} {pa} {pb}", ("diff", "--format", fmt, pa, pb), False
    if variants:
        yield f"diff color {pa} {pb}", ("diff", "--color", "always", pa, pb), False
        yield f"diff ignore-timestamps {pa} {pb}", ("diff", "--ignore-timestamps", pa, pb), False
        yield f"diff max-paths {pa} {pb}", ("diff", "--max-paths", "1", "--format", "markdown", pa, pb), False
        yield f"diff ignore {pa} {pb}", ("diff", "--ignore", "/usr/*", "--ignore", "/opt/*", pa, pb), False


def _pairs(inputs: list[Path], all_pairs: bool) -> Iterator[tuple[Path, Path]]:
    if all_pairs:
        for a in inputs:
            for b in inputs:
                yield a, b
        return
    for a, b in zip(inputs, inputs[1:]):
        yield a, b
        yield b, a
    for a in inputs:
        yield a, a


def collect_runs() -> list[Run]:
    """Every run of the manifest, in a stable order."""
    samples = sorted(p for p in (ROOT / "samples").iterdir() if p.name.endswith(ARCHIVE_SUFFIXES))
    # The hostile inputs are the cases expected.json states an outcome for (their tests sit beside them).
    folder = ROOT / "tests" / "hostile"
    hostile = sorted(folder / name for name in json.loads((folder / "expected.json").read_text(encoding="utf-8")))
    corpus = _corpus_inputs(SHARED / "corpus") if (SHARED / "corpus").is_dir() else []
    real = _real_inputs()
    runs: list[Run] = []
    for group in (samples, hostile, corpus, real):
        for path in group:
            runs.extend(_single_runs(path))
    for a, b in _pairs(samples, all_pairs=True):
        runs.extend(_pair_runs(a, b, variants=True))
    for group in (corpus, real):
        for a, b in _pairs(group, all_pairs=False):
            runs.extend(_pair_runs(a, b, variants=False))
    for a, b in _real_pairs():
        runs.extend(_pair_runs(a, b, variants=False))
    for path in hostile[:]:
        runs.extend(_pair_runs(path, samples[0], variants=False))
    return runs


def _run_one(run: Run) -> tuple[str, str, dict[str, bytes]]:
    key, argv, writes = run
    sys.path.insert(0, str(ROOT))
    from imageforensics import cli
    try:
        from imageforensics.cli._build_info import build_commit
    except ImportError:  # the layout before the folders (a manifest of an older commit)
        build_commit = importlib.import_module("imageforensics.build_info").build_commit

    commit = build_commit()[:12]
    with tempfile.TemporaryDirectory() as tmp:
        out_base = os.path.join(tmp, "out")
        args = [a.replace("{out}", out_base) for a in argv]
        stdout, stderr = io.BytesIO(), io.BytesIO()
        out_w = io.TextIOWrapper(stdout, encoding="utf-8", write_through=True)
        err_w = io.TextIOWrapper(stderr, encoding="utf-8", write_through=True)
        cwd = os.getcwd()
        os.chdir(ROOT)
        try:
            with contextlib.redirect_stdout(out_w), contextlib.redirect_stderr(err_w):
                try:
                    rc = cli.main(args)
                except SystemExit as e:
                    rc = int(e.code) if isinstance(e.code, int) else 2
        finally:
            os.chdir(cwd)
        out_w.flush()
        err_w.flush()
        written = b""
        if writes:
            target = next(a for a in args if a.startswith(out_base))
            if os.path.exists(target):
                with open(target, "rb") as f:
                    written = f.read()

    def norm(data: bytes) -> bytes:
        data = data.replace(tmp.encode(), b"<tmp>")
        return data.replace(f"(commit {commit})".encode(), b"(commit <commit>)") if commit else data

    parts = {"status": str(rc).encode(), "stdout": norm(stdout.getvalue()), "stderr": norm(stderr.getvalue()),
             "file": norm(written)}
    digest = hashlib.sha256()
    for name in ("status", "stdout", "stderr", "file"):
        data = parts[name]
        digest.update(name.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    return key, digest.hexdigest(), parts


def _save(folder: Path, key: str, parts: dict[str, bytes]) -> None:
    name = hashlib.sha256(key.encode()).hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{name}.txt", "wb") as f:
        f.write(key.encode() + b"\n== status " + parts["status"] + b"\n== stderr\n")
        for part in ("stderr", "stdout", "file"):
            if part != "stderr":
                f.write(f"\n== {part}\n".encode())
            f.write(parts[part])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", required=True, help="manifest to write (JSON)")
    parser.add_argument("--compare", help="an earlier manifest: list the runs whose outputs differ")
    parser.add_argument("--save", help="folder to keep every run's outputs in (one file a run)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    runs = collect_runs()
    results: dict[str, str] = {}
    save = Path(args.save) if args.save else None
    with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
        for key, digest, parts in pool.imap_unordered(_run_one, runs, chunksize=4):
            results[key] = digest
            if save is not None:
                _save(save, key, parts)
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump(dict(sorted(results.items())), f, indent=0, sort_keys=True)
        f.write("\n")
    print(f"{len(results)} runs recorded in {args.output}")
    if args.compare:
        with open(args.compare, encoding="utf-8") as f:
            before: dict[str, str] = json.load(f)
        changed = sorted(k for k in results.keys() & before.keys() if results[k] != before[k])
        only_new = sorted(results.keys() - before.keys())
        only_old = sorted(before.keys() - results.keys())
        for k in changed:
            print(f"changed: {k}")
        for k in only_new:
            print(f"new run: {k}")
        for k in only_old:
            print(f"gone run: {k}")
        print(f"{len(changed)} changed, {len(only_new)} new, {len(only_old)} gone")
        return 1 if changed or only_old else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
