"""Building the optimizer's daily call groups ahead of reads: completed UTC days only, newest first, each
equal to the events' own groups; a day built meanwhile by another thread is not built twice."""

from __future__ import annotations

import datetime as dt
import threading

import sqlalchemy as sa

from aifinops.engine.usage_buckets import EPOCH
from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from aifinops.store.optimize_days import OptimizeDayStore, build_completed_days
from aifinops.store.optimize_queries import call_groups, day_groups, stale_days
from aifinops.store.optimize_tables import optimize_days
from aifinops.store.prices import PriceStore
from aifinops.store.retention import _NAME
from tests.factories import PRICE_START, T0, event, gpt4o_prices

DAY = dt.timedelta(days=1)
FIRST = (T0 - EPOCH) // DAY


def _load(store: Store, days: int = 3) -> None:
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    events = [
        event(d * 10 + i, ts=T0 + d * DAY + dt.timedelta(hours=i), task_id=f"t{d}", step=i, request_hash="h")
        for d in range(days)
        for i in range(d + 2)
    ]
    Ingestor(store).ingest(events, source="test")


def _built(store: Store) -> dict[int, tuple[int, dt.datetime]]:
    o = optimize_days.c
    with store.reader() as conn:
        return {int(r[0]): (int(r[1]), r[2]) for r in conn.execute(sa.select(o.day, o.events, o.built_at))}


def _key(row: dict[str, object]) -> tuple[str, ...]:
    return tuple(str(row[k]) for k in sorted(row))


def test_completed_days_are_built_newest_first_and_today_is_left_to_the_read(store: Store) -> None:
    _load(store)
    now = T0 + 2 * DAY + dt.timedelta(hours=12)  # the third day is today
    assert build_completed_days(store, now=now) == 1
    assert set(_built(store)) == {FIRST + 1}
    assert build_completed_days(store, now=now, limit=5) == 1
    assert set(_built(store)) == {FIRST, FIRST + 1}
    assert build_completed_days(store, now=now, limit=5) == 0  # today is not complete
    assert stale_days(store, FIRST, FIRST + 2) == {}
    for day in (FIRST, FIRST + 1):
        start = EPOCH + day * DAY
        built = sorted(map(_key, day_groups(store, day, day + 1)))
        assert built == sorted(map(_key, call_groups(store, start, start + DAY)))


def test_a_late_event_makes_a_completed_day_built_again(store: Store) -> None:
    _load(store, days=2)
    now = T0 + 5 * DAY
    assert build_completed_days(store, now=now, limit=5) == 2
    Ingestor(store).ingest([event(99, ts=T0 + dt.timedelta(hours=20), task_id="late")], source="test")
    assert build_completed_days(store, now=now, limit=5) == 1
    assert _built(store)[FIRST][0] == 3
    assert sum(int(r["calls"]) for r in day_groups(store, FIRST, FIRST + 1)) == 3


def test_days_before_the_retention_horizon_are_not_built(store: Store) -> None:
    from aifinops.store.tables import usage_retention

    _load(store)
    with store.session() as conn:  # as a retention run that dropped the first day's events leaves it
        conn.execute(
            usage_retention.insert().values(name=_NAME, horizon=T0 + DAY, keep_months=1, applied_at=T0)
        )
    assert build_completed_days(store, now=T0 + 10 * DAY, limit=5) == 2
    assert set(_built(store)) == {FIRST + 1, FIRST + 2}


def test_a_day_built_by_another_thread_meanwhile_is_not_built_again(store: Store) -> None:
    _load(store, days=1)
    stale = stale_days(store, FIRST, FIRST + 1)
    builders = [
        threading.Thread(target=OptimizeDayStore(store).build, args=(stale,), kwargs={"now": T0 + k * DAY})
        for k in (1, 2)
    ]
    for b in builders:
        b.start()
    for b in builders:
        b.join()
    ((events, built_at),) = _built(store).values()
    assert events == 2
    assert built_at in (T0 + DAY, T0 + 2 * DAY)
    assert _key_totals(store) == (2, 2)


def test_a_day_already_built_from_as_many_events_is_left_as_it_is(store: Store) -> None:
    _load(store, days=1)
    stale = stale_days(store, FIRST, FIRST + 1)
    OptimizeDayStore(store).build(stale, now=T0 + DAY)
    OptimizeDayStore(store).build(stale, now=T0 + 2 * DAY)  # a read that found the day stale before
    assert _built(store) == {FIRST: (2, T0 + DAY)}


def _key_totals(store: Store) -> tuple[int, int]:
    rows = day_groups(store, FIRST, FIRST + 1)
    return sum(int(r["calls"]) for r in rows), sum(int(r["calls"]) for r in call_groups(store, T0, T0 + DAY))
