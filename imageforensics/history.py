"""History steps and layers: which layer each step of the config's history recorded.

One rule for the reader, which stores the answer in ``HistoryStep.layer_index``,
and for the diff, which needs it for models nobody reconciled (FORMATS.md A4).
Pure functions over model values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from imageforensics.model import HistoryStep


def layer_indexes(steps: Sequence[HistoryStep], layer_count: int) -> tuple[int | None, ...]:
    """The layer each step recorded, or None: empty steps have none, surplus steps none left.

    Entries with ``empty_layer`` not true map 1:1, in order, onto the first
    ``layer_count`` layers (moby image_history.go; c/image docker_schema2.go).
    """
    out: list[int | None] = []
    next_layer = 0
    for step in steps:
        if step.empty_layer:
            out.append(None)
            continue
        out.append(next_layer if next_layer < layer_count else None)
        next_layer += 1
    return tuple(out)


def reconcile(steps: Sequence[HistoryStep], layer_count: int) -> tuple[HistoryStep, ...]:
    """The steps with ``layer_index`` set as ``layer_indexes`` matches them to ``layer_count`` layers."""
    return tuple(replace(step, layer_index=index) for step, index in zip(steps, layer_indexes(steps, layer_count)))
