"""Usage events read back on SQLite and PostgreSQL: per-day token and request sums, tasks by id prefix."""

from __future__ import annotations

import datetime as dt

from aifinops.domain import EventKind
from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from aifinops.store.event_queries import (
    DayRequests,
    DayTokens,
    count_tasks_with_prefix,
    daily_requests,
    daily_token_sums,
)
from aifinops.store.price_queries import read_prices, read_prices_by_id
from aifinops.store.prices import PriceStore
from tests.factories import PRICE_START, T0, event, gpt4o_prices

DAY = T0.date()


def _ingest(store: Store) -> None:
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    late = T0 + dt.timedelta(days=1, hours=23)
    Ingestor(store).ingest(
        [
            event(0, region="eastus2"),
            event(1, region="eastus2", app="app-b"),
            event(2, region="eastus2", ts=late, task_id="other-1"),
            event(3, region="eastus2", ts=late + dt.timedelta(days=1)),  # outside the days read
            event(
                4,
                kind=EventKind.RETRIEVAL,
                model=None,
                deployment=None,
                input_tokens=0,
                output_tokens=0,
                cached_input_tokens=0,
                requests=2,
            ),
        ],
        source="test",
    )


def test_token_sums_per_day_region_deployment_and_prices(store: Store) -> None:
    _ingest(store)
    sums = daily_token_sums(store, DAY, DAY + dt.timedelta(days=2))
    ids = tuple(p.price_id for p in read_prices(store))  # input, cached input, output, as saved
    assert len(ids) == 3
    assert sorted(sums, key=lambda s: (s.day, s.region or "")) == [
        DayTokens(DAY, None, None, (None, None, None), 0, 0, 0),
        DayTokens(DAY, "eastus2", "d-4o", ids, 2000, 400, 200),
        DayTokens(DAY + dt.timedelta(days=1), "eastus2", "d-4o", ids, 1000, 200, 100),
    ]


def test_request_sums_per_day_app_and_kind(store: Store) -> None:
    _ingest(store)
    requests = daily_requests(store, DAY, DAY + dt.timedelta(days=1))
    assert sorted(requests, key=lambda r: (r.app or "", r.kind or "")) == [
        DayRequests(DAY, "app-a", "chat", 1),
        DayRequests(DAY, "app-a", "retrieval", 2),
        DayRequests(DAY, "app-b", "chat", 1),
    ]


def test_tasks_are_counted_by_id_prefix_with_wildcards_taken_literally(store: Store) -> None:
    _ingest(store)
    assert count_tasks_with_prefix(store, "t") == 2  # t0 (events 0 and 1) and t1 (events 3 and 4)
    assert count_tasks_with_prefix(store, "other-") == 1
    assert count_tasks_with_prefix(store, "%") == 0 and count_tasks_with_prefix(store, "_0") == 0


def test_prices_are_read_by_id(store: Store) -> None:
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    saved = read_prices(store)
    found = read_prices_by_id(store, [saved[2].price_id or 0, saved[0].price_id or 0, 10**6])
    assert found == {p.price_id: p for p in (saved[0], saved[2])}


def test_a_day_is_one_row_however_many_hours_its_events_fall_in(store: Store) -> None:
    """Day buckets are whole days: events at 00:00, 05:00 and 23:00 of a day sum into one row (a true
    division of the hour by 24 would give each hour a row of its own)."""
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    hours = (0, 5, 23)
    Ingestor(store).ingest(
        [event(i, ts=T0 + dt.timedelta(hours=h), app="app-a") for i, h in enumerate(hours)], source="test"
    )
    sums = daily_token_sums(store, DAY, DAY + dt.timedelta(days=1))
    assert [(s.day, s.input_tokens) for s in sums] == [(DAY, 1000 * len(hours))]
    requests = daily_requests(store, DAY, DAY + dt.timedelta(days=1))
    assert requests == [DayRequests(DAY, "app-a", "chat", len(hours))]
