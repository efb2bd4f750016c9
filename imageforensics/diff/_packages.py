"""Installed packages that differ between two images, attributed to the step in each that brought them.

For each package whose final state differs (installed in one image only, or
another version in each), the step that brought its present version in each
image is the one the runtime's databases say changed it (``packages``). The
packages are grouped by that pair of steps, one ``packages-differ`` finding
per pair: "step 3 `RUN apk-install.sh nginx` installed nginx 1.18.0-r1 in A,
1.20.1-r3 in B". Packages matching ``DiffOptions.ignore_packages`` or of
managers ``package_types`` leaves out are not compared. Pure.
"""

from __future__ import annotations

import fnmatch

from imageforensics.created_by import display_created_by
from imageforensics.findings import Finding, Severity, evidence
from imageforensics.model import HistoryStep, Image, Package
from imageforensics.options import DiffOptions
from imageforensics.packages import PackageKey, last_changed_by, package_states
from imageforensics.untrusted import escape


def _step_of(image: Image, layer: int | None) -> HistoryStep | None:
    if layer is None:
        return None
    return next((s for s in image.history if s.layer_index == layer), None)


def _label(step: HistoryStep | None, layer: int | None) -> str:
    if step is None:
        return f"layer {layer}" if layer is not None else "no step"
    return f"step {step.index} `{display_created_by(step.created_by, 'summary')}`"


def _shown(p: Package | None) -> str:
    return escape(p.version) if p is not None else "not installed"


def _side(p: Package | None, letter: str, label: str, layer: int | None) -> str:
    """``1.18.0-r1 in A (from step 3 `…`)``, ``not in B (removed by step 4 `…`)``, ``not in B``."""
    if p is not None:
        return f"{_shown(p)} in {letter} (from {label})"
    return f"not in {letter}" + (f" (removed by {label})" if layer is not None else "")


def package_findings(image_a: Image, image_b: Image, options: DiffOptions = DiffOptions()) -> list[Finding]:
    """One ``packages-differ`` finding per pair of steps whose packages differ; [] when either side's are unknown."""
    states_a, states_b = package_states(image_a), package_states(image_b)
    if not (states_a.known and states_b.known):
        return []
    final_a = states_a.after[-1] if states_a.after else {}
    final_b = states_b.after[-1] if states_b.after else {}
    if final_a == final_b:
        return []
    types = set(options.package_types)
    ignored = options.ignore_packages

    def compared(k: PackageKey) -> bool:
        return (not types or k[0] in types) and not any(fnmatch.fnmatchcase(k[1], pattern) for pattern in ignored)

    by_a, by_b = last_changed_by(states_a), last_changed_by(states_b)
    groups: dict[tuple[int | None, int | None], list[PackageKey]] = {}
    for k in sorted(final_a.keys() | final_b.keys()):
        if final_a.get(k) != final_b.get(k) and compared(k):
            groups.setdefault((by_a.get(k), by_b.get(k)), []).append(k)
    out = []
    for (layer_a, layer_b), keys in sorted(groups.items(), key=lambda g: (g[0][0] if g[0][0] is not None else -1,
                                                                           g[0][1] if g[0][1] is not None else -1)):
        step_a, step_b = _step_of(image_a, layer_a), _step_of(image_b, layer_b)
        changes = [f"{escape(k[1])}{':' + escape(k[2]) if k[2] else ''} ({k[0]}): {_shown(final_a.get(k))} in A, "
                   f"{_shown(final_b.get(k))} in B" for k in keys]
        first = keys[0]
        more = f" and {len(keys) - 1} more package(s)" if len(keys) > 1 else ""
        pa, pb = final_a.get(first), final_b.get(first)
        label_a, label_b = _label(step_a, layer_a), _label(step_b, layer_b)
        if pa is not None and pb is not None and label_a == label_b:
            summary = f"{label_a} installed {escape(first[1])} {_shown(pa)} in A, {_shown(pb)} in B{more}"
        else:
            summary = (f"{escape(first[1])} {_side(pa, 'A', label_a, layer_a)}, "
                       f"{_side(pb, 'B', label_b, layer_b)}{more}")
        unit = step_a or step_b
        out.append(Finding(code="packages-differ", severity=Severity.WARNING, summary=summary,
                           step_a=step_a.index if step_a is not None else None,
                           step_b=step_b.index if step_b is not None else None,
                           created_by=unit.created_by if unit is not None else "",
                           evidence=evidence(count=len(keys), **{f"change_{i + 1:03d}": c for i, c in enumerate(changes)})))
    return out
