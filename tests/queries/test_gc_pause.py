"""The garbage-collector pause around bulk reads: off inside, back on after (errors too), nested pauses."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from aifinops.queries.gc_pause import gc_paused_for_bulk_objects


@pytest.fixture(autouse=True)
def _collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


def test_the_collector_is_off_inside_and_on_after() -> None:
    with gc_paused_for_bulk_objects():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_an_error_inside_still_turns_the_collector_back_on() -> None:
    with pytest.raises(ValueError, match="boom"), gc_paused_for_bulk_objects():
        raise ValueError("boom")
    assert gc.isenabled()


def test_only_the_outermost_pause_turns_it_back_on() -> None:
    with gc_paused_for_bulk_objects():
        with gc_paused_for_bulk_objects():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_switched_off_before_stays_off() -> None:
    gc.disable()
    with gc_paused_for_bulk_objects():
        pass
    assert not gc.isenabled()
