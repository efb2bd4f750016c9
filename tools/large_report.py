"""A large diff report built in memory, for the rendering benchmark and the browser check.

``large_report(entries)`` is a 40-step pair in which B diverges from step 20
(created times drift), step 30's COPY is wrongly empty in B (its paths
missing), and steps 24 and 25 change files (modes, content) and directory
mtimes: ``entries`` path entries in all, spread over those findings, with the
per-path details the diff records (the first 20 of each). Deterministic.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imageforensics.digest import Digest  # noqa: E402
from imageforensics.findings import Finding, Severity, evidence  # noqa: E402
from imageforensics.path_change import PathChange  # noqa: E402
from imageforensics.report import InputSide, LayerSide, Report, StepRow  # noqa: E402
from imageforensics.timestamp import NS, Timestamp  # noqa: E402

_T0 = 1_767_225_600 * NS  # 2026-01-01T00:00:00Z
_DETAILS = 20


def _sha(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _stamp(ns: int) -> Timestamp:
    seconds, frac = divmod(ns, NS)
    import time

    raw = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + (f".{frac:09d}".rstrip("0") if frac else "") + "Z"
    return Timestamp.parse(raw)


def _steps(n: int) -> tuple[StepRow, ...]:
    rows = []
    for i in range(n):
        created_by = f"RUN /bin/sh -c build-step-{i} --with-a-long-argument-list /opt/app/{i} # buildkit"
        if i == 30:
            created_by = "COPY rootfs / # buildkit"
        ta = _stamp(_T0 + i * 37 * NS)
        tb = ta if i < 20 else _stamp(_T0 + 20 * 37 * NS - NS // 3)
        layer = LayerSide(diff_id=_sha(f"layer {i}"), size=1_000 * (i + 1) ** 3, entries=10 * (i + 1))
        lb = layer if i not in (24, 25, 30) else (LayerSide(diff_id=_sha(f"layer {i} b"), size=layer.size + 517,
                                                            entries=layer.entries) if i != 30 else None)
        marks = (("created",) if tb != ta else ()) + (("empty_layer", "layer") if lb != layer else ())
        match = "content" if lb != layer else ("metadata" if marks else "same")
        assert ta.ns is not None and tb.ns is not None
        rows.append(StepRow(index_a=i, index_b=i, created_by_a=created_by, created_by_b=created_by,
                            created_a=ta, created_b=tb, drift_ns=tb.ns - ta.ns, empty_layer_a=False,
                            empty_layer_b=i == 30, layer_a=layer, layer_b=lb, match=match, marks=marks))
    return tuple(rows)


def large_report(entries: int = 400_000, steps: int = 40) -> Report:
    """The report of a large pair with ``entries`` paths in its findings (see the module)."""
    rows = _steps(steps)
    missing = tuple(f"/opt/app/data/{i // 1000:04d}/file-{i:07d}.dat" for i in range(entries // 2))
    changed = tuple(f"/srv/www/{i // 500:04d}/page-{i:07d}.html" for i in range(entries // 4))
    dirs = tuple(f"/srv/cache/{i:07d}" for i in range(entries - len(missing) - len(changed)))
    copy = "COPY rootfs / # buildkit"
    mode_details = {f"change_{k:03d}": (PathChange(p, "mode", 0o644, 0o755),)
                    for k, p in enumerate(changed[:_DETAILS], 1)}
    mtime_details = {f"change_{k:03d}": (PathChange(p, "mtime", _T0, _T0 + 28 * NS),)
                     for k, p in enumerate(dirs[:_DETAILS], 1)}
    findings = (
        Finding(code="step-wrongly-empty", severity=Severity.ERROR, step_a=30, step_b=30, created_by=copy,
                summary=f"step 30 `COPY rootfs /` carries a layer ({len(missing):,} entries) in A but is marked "
                        "empty_layer in B",
                evidence=evidence(layer_size_a=rows[30].layer_a.size if rows[30].layer_a else 0,
                                  entries_a=len(missing), diff_id_a=Digest.parse(_sha("layer 30")),
                                  empty_layer_b=True, state_b="marked empty_layer")),
        Finding(code="paths-missing", severity=Severity.ERROR, side="B", step_a=30, step_b=30, created_by=copy,
                summary=f"{len(missing):,} paths written by step 30 `COPY rootfs /` in A are missing from B, "
                        f"e.g. {missing[0]}", paths=missing, evidence=evidence(count=len(missing))),
        Finding(code="paths-changed", severity=Severity.WARNING, step_a=24, step_b=24, created_by=rows[24].created_by_a,
                summary=f"{len(changed):,} paths written by step 24 in A differ (mode {len(changed)})",
                paths=changed, evidence=evidence(count=len(changed), fields=(("mode", len(changed)),), **mode_details)),
        Finding(code="paths-mtime-differ", severity=Severity.INFO, step_a=25, step_b=25,
                created_by=rows[25].created_by_a,
                summary=f"{len(dirs):,} paths written by step 25 in A differ (mtime {len(dirs)})",
                paths=dirs, evidence=evidence(count=len(dirs), fields=(("mtime", len(dirs)),), **mtime_details)),
        Finding(code="timestamp-drift", severity=Severity.WARNING, step_a=20, step_b=20,
                created_by=rows[20].created_by_a,
                summary="history diverges from step 20: created -333 ms in B",
                evidence=evidence(created_a=rows[20].created_a, created_b=rows[20].created_b,
                                  drift_ns=rows[20].drift_ns, drifted_steps=steps - 20,
                                  drifts=tuple((r.index_a, r.drift_ns) for r in rows[20:]))),
    )

    def side(label: str) -> InputSide:
        return InputSide(source=f"/home/user/images/large-{label.lower()}.tar", layout="docker-legacy",
                         compression="none", archive_sha256=_sha(f"archive {label}"), image_id=_sha(f"image {label}"),
                         references=(f"local/large:{label.lower()}",), platform="linux/amd64", layer_count=steps,
                         history_count=steps, created=(rows[-1].created_a if label == "A" else rows[-1].created_b).raw
                         if rows[-1].created_a and rows[-1].created_b else "")

    return Report(tool_version="0.1.0", a=side("A"), b=side("B"), verdict_kind="missing-content",
                  verdict=f"B is missing content that A has: step 30 `COPY rootfs /` is marked empty_layer in B; "
                          f"{len(missing):,} paths of A are absent from B. History diverges from step 20 "
                          "(created -333 ms in B). Pattern: a BuildKit cache import that lost a layer "
                          "(moby/buildkit#1981, #2198; moby/moby#41219).",
                  findings=findings, steps=rows)
