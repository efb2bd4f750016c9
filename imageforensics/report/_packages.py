"""The packages each step installed, upgraded or removed, as ``inspect`` shows them (nothing when no layer holds a
package database)."""

from __future__ import annotations

from imageforensics.created_by import display_created_by
from imageforensics.model import Image
from imageforensics.packages import package_states, step_changes
from imageforensics.untrusted import escape, show_prose


def package_lines(image: Image) -> list[str]:
    """``packages by step:`` and a line per change under the step that made it; [] without package databases,
    or when they are unknown (a snapshot of a version that did not read them)."""
    states = package_states(image)
    if not states.known:
        return []
    changes = step_changes(image, states)
    if not changes and not states.problems:
        return []
    steps = {s.layer_index: s for s in image.history if s.layer_index is not None}
    final = states.after[-1] if states.after else {}
    managers: dict[str, int] = {}
    for manager, _, _ in final:
        managers[manager] = managers.get(manager, 0) + 1
    counts = ", ".join(f"{m} {n}" for m, n in sorted(managers.items()))
    lines = [f"packages    {len(final)} installed" + (f" ({counts})" if counts else "") + "; by step:"]
    for layer, layer_changes in sorted(changes.items()):
        step = steps.get(layer)
        who = (f"step {step.index} (layer {layer}) {escape(display_created_by(step.created_by)) or '(no created_by)'}"
               if step is not None else f"layer {layer} (no history step)")
        lines.append(f"  {who}:")
        for change in layer_changes:
            p = change.package
            arch = f", {escape(p.arch)}" if p.arch else ""
            lines.append(f"    {escape(change.describe())} ({p.manager}{arch})")
    for layer, database in states.problems:
        where = f"/{escape(database.path)}: " if database.path else ""
        lines.append(f"  layer {layer}: {where}{show_prose(database.problem)}")
    return lines
