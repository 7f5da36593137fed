"""Roll-ups catch up from a watermark: at every moment they are exactly the events up to the watermark."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa

from aifinops.jobs.ingest import Ingestor
from aifinops.jobs.rollups import RollupWriter
from aifinops.store import Store
from aifinops.store.rollups import catch_up, pending, rolled_up
from aifinops.store.usage_queries import usage_totals
from tests.factories import event


def _snapshot(store: Store) -> tuple[int, int, int, int]:
    """(events up to the watermark, their input tokens, events in the hourly rollup, its input tokens), read
    in one snapshot."""
    with store.engine.connect() as conn:
        if store.dialect == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            last = conn.execute(sa.text("SELECT last_id FROM rollup_watermarks")).scalar() or 0
            events = conn.execute(
                sa.text("SELECT COUNT(*), COALESCE(SUM(input_tokens), 0) FROM usage_events WHERE id <= :w"),
                {"w": last},
            ).one()
            rollup = conn.execute(
                sa.text("SELECT COALESCE(SUM(events), 0), COALESCE(SUM(input_tokens), 0) FROM usage_rollup")
            ).one()
    return int(events[0]), int(events[1]), int(rollup[0]), int(rollup[1])


def test_deferred_ingest_is_rolled_up_by_the_read_that_needs_it(store: Store) -> None:
    Ingestor(store, defer_rollups=True).ingest([event(i) for i in range(10)], source="test")
    last, top = pending(store)
    assert top > last
    (row,) = usage_totals(store, group_by=["app"])
    assert row["events"] == 10
    assert pending(store)[0] == pending(store)[1]


def test_concurrent_ingest_and_catch_ups_never_count_an_event_twice_nor_run_ahead(store: Store) -> None:
    ingestor = Ingestor(store, defer_rollups=True)
    batches = [[event(i, input_tokens=1000 + i) for i in range(s, s + 200)] for s in range(0, 1000, 100)]
    done = threading.Event()
    seen: list[tuple[int, int, int, int]] = []

    def roll() -> None:
        while not done.is_set():
            catch_up(store, step=150)
            seen.append(_snapshot(store))

    roller = threading.Thread(target=roll)
    roller.start()
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda b: ingestor.ingest(b, source="test"), batches * 2))
    done.set()
    roller.join()
    rolled_up(store)
    assert sum(r.accepted for r in results) == 1100
    assert seen and all(s[:2] == s[2:] for s in seen)
    assert _snapshot(store) == (
        1100,
        sum(1000 + i for i in range(1100)),
        1100,
        sum(1000 + i for i in range(1100)),
    )


def test_the_writer_rolls_up_in_the_background_and_on_stop(store: Store) -> None:
    writer = RollupWriter(store, interval=0.01)
    writer.start()
    Ingestor(store, defer_rollups=True).ingest([event(i) for i in range(5)], source="test")
    writer.stop()
    last, top = pending(store)
    assert (last, top, writer.errors) == (top, top, 0)
    assert _snapshot(store)[2] == 5
