"""The collector is paused while layers are listed, by a count that two inputs read at once share."""

from __future__ import annotations

import gc
import threading

import pytest

from imageforensics.collector import paused_collector


@pytest.fixture(autouse=True)
def _collector_restored():  # type: ignore[no-untyped-def]
    was = gc.isenabled()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


def test_off_inside_back_on_after() -> None:
    gc.enable()
    with paused_collector():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_back_on_after_an_exception() -> None:
    gc.enable()
    with pytest.raises(ValueError), paused_collector():
        raise ValueError("a layer went wrong")
    assert gc.isenabled()


def test_left_off_when_it_was_off_before() -> None:
    gc.disable()
    with paused_collector():
        pass
    assert not gc.isenabled()


def test_two_threads_overlapping_it_stays_off_until_the_last_ends() -> None:
    gc.enable()
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[bool] = []

    def first() -> None:
        with paused_collector():
            first_in.set()
            second_in.wait(10)
        first_out.set()

    def second() -> None:
        first_in.wait(10)
        with paused_collector():
            second_in.set()
            first_out.wait(10)
            seen.append(gc.isenabled())  # the first listing ended: this one still holds the pause
        seen.append(gc.isenabled())

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert seen == [False, True]
    assert gc.isenabled()
