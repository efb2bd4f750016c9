"""Mutated archives never crash or hang the reader: a model, or one of the project's own errors.

The mutation engine is tools/mutate.py (truncation, bit flips, tar header
fields, members reordered/duplicated/dropped/renamed/turned into links,
JSON values swapped for other types, layer entries mutated, double
compression, bombs). Here hypothesis drives every choice the engine makes,
over synthetic archives of every layout (tests/strategies.py) and the
samples; a CI-sized slice of the seeded campaign runs too. Each input runs
what ``imageforensics inspect`` runs (reader, inspect text, model JSON)
under a hang detector of 20 seconds of CPU time (load on the machine cannot trip it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imageforensics.errors import ImageForensicsError
from tests.strategies import archives
from tools import fuzz, mutate

SAMPLES = sorted((Path(__file__).resolve().parents[2] / "samples").glob("*.tar"))


class DrawChooser:
    """The engine's choices (randint, choice, random) drawn by hypothesis, so failures shrink."""

    def __init__(self, data: st.DataObject) -> None:
        self._data = data

    def randint(self, a: int, b: int) -> int:
        return int(self._data.draw(st.integers(a, b)))

    def choice(self, seq: Sequence[Any]) -> Any:
        return seq[self.randint(0, len(seq) - 1)]

    def random(self) -> float:
        return self.randint(0, 999) / 1000


def outcome(data: bytes) -> str:
    """"model" or "error"; anything else (another exception, a hang) fails the test."""
    try:
        fuzz.guarded(lambda: fuzz.inspect_pipeline(data), cpu_seconds=20)
    except ImageForensicsError as exc:
        assert "\n" not in str(exc)
        return "error"
    return "model"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(built=archives(), data=st.data())
def test_mutated_synthetic_archives_give_a_model_or_our_error(built: Any, data: st.DataObject) -> None:
    mutated, _ = mutate.mutate_archive(built.data, DrawChooser(data))
    assert outcome(mutated) in ("model", "error")


@pytest.mark.skipif(not SAMPLES, reason="samples/ not present")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_mutated_samples_give_a_model_or_our_error(data: st.DataObject) -> None:
    chooser = DrawChooser(data)
    sample = chooser.choice(SAMPLES)
    mutated, _ = mutate.mutate_archive(sample.read_bytes(), chooser)
    assert outcome(mutated) in ("model", "error")


def test_a_slice_of_the_seeded_campaign() -> None:
    seeds = fuzz.seed_archives()
    results = [fuzz.classify(fuzz.input_for(seeds, 20240601, i)[0]) for i in range(200)]
    bad = [(i, r) for i, r in enumerate(results) if r[0] not in ("model", "error")]
    assert bad == []
    kinds = {r[0] for r in results}
    assert kinds == {"model", "error"}  # the engine both keeps archives readable and breaks them


def test_the_same_seed_and_index_give_the_same_input() -> None:
    seeds = fuzz.seed_archives()
    assert fuzz.input_for(seeds, 3, 17) == fuzz.input_for(seeds, 3, 17)
    assert fuzz.input_for(seeds, 3, 17)[0] != fuzz.input_for(seeds, 3, 18)[0]


def test_the_engine_finds_a_planted_crash() -> None:
    # A reader bug of the kind fuzzing is for: an unexpected exception on an odd member name,
    # planted in the reader's pass through its own hook (told each member as it starts).
    def buggy(name: str) -> None:
        if name.startswith("/") or ".." in name:
            raise IndexError("planted bug")

    seeds = fuzz.seed_archives()
    found = next((i for i in range(300) if fuzz.classify(fuzz.input_for(seeds, 7, i)[0], on_member=buggy)[0] == "crash"), None)
    assert found is not None
    kind, detail = fuzz.classify(fuzz.input_for(seeds, 7, found)[0], on_member=buggy)
    assert kind == "crash" and "IndexError: planted bug" in detail
    assert fuzz.classify(fuzz.input_for(seeds, 7, found)[0])[0] in ("model", "error")  # the bug, not the input


def test_the_hang_detector_reports_a_hang() -> None:
    import functools
    import signal
    import subprocess
    import sys
    import threading

    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            pass

    with pytest.raises(fuzz.Hang):
        fuzz.guarded(spin, cpu_seconds=0.2)
    stop.set()
    # It counts CPU time: half a second of waiting (as on a loaded machine) is not a hang.
    assert fuzz.guarded(lambda: threading.Event().wait(0.5) or "done", cpu_seconds=0.2) == "done"
    # A process given a CPU limit is ended by the kernel once it has used it.
    ended = subprocess.run([sys.executable, "-c", "while True: pass"], preexec_fn=functools.partial(fuzz.limit_cpu, 1))
    assert ended.returncode == -signal.SIGXCPU


def test_the_campaign_counts_models_errors_and_saves_nothing_when_clean(tmp_path: Path) -> None:
    lines: list[str] = []
    totals = fuzz.campaign(12, seed=5, workers=2, timeout=None, cpu_seconds=60, rss_mb=2048, save=str(tmp_path), out=lines.append)
    assert sum(totals.values()) == 12 and set(totals) <= {"model", "error"}
    assert any(line.startswith("ran: 12 inputs") for line in lines)
    assert not list(tmp_path.iterdir())

