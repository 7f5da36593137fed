"""The serve roll-up writer builds the optimizer's call groups of completed UTC days in the background."""

from __future__ import annotations

import datetime as dt
import time

from aifinops.engine.usage_buckets import EPOCH
from aifinops.jobs.ingest import Ingestor
from aifinops.jobs.rollups import RollupWriter
from aifinops.store import Store
from aifinops.store.optimize_queries import stale_days
from aifinops.store.prices import PriceStore
from tests.factories import PRICE_START, T0, event, gpt4o_prices

DAY = dt.timedelta(days=1)


def _wait_for(done: object, seconds: float = 60.0) -> None:
    """Wait (not a timed assertion: the deadline only ends a hung test) until ``done()``."""
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.02)


def test_the_writer_builds_every_stale_completed_day_one_per_tick(store: Store) -> None:
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    Ingestor(store, defer_rollups=True).ingest([event(i, ts=T0 + i * DAY) for i in range(4)], source="test")
    writer = RollupWriter(store, interval=0.01, days_interval=0)
    writer.start()
    try:
        _wait_for(lambda: writer.days_built >= 4 or writer.errors)
    finally:
        writer.stop()
    first = (T0 - EPOCH) // DAY
    assert (writer.days_built, writer.errors) == (4, 0)
    assert stale_days(store, first, first + 4) == {}


def test_the_writer_builds_no_day_when_told_not_to(store: Store) -> None:
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    Ingestor(store).ingest([event(0)], source="test")
    writer = RollupWriter(store, interval=0.01, days_interval=None)
    writer.start()
    _wait_for(lambda: False, seconds=0.2)
    writer.stop()
    first = (T0 - EPOCH) // DAY
    assert writer.days_built == 0
    assert stale_days(store, first, first + 1) == {first: 1}
