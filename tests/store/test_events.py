"""Usage events go in exactly once and the rollups always equal the events they summarize."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aifinops.domain import Outcome, TaskOutcome
from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from aifinops.store.prices import PriceStore
from tests.factories import PRICE_START, T0, event, gpt4o_prices


def _sums(store: Store, table: str) -> tuple[int, ...]:
    with store.reader() as conn:
        row = conn.execute(
            sa.text(
                "SELECT COALESCE(SUM(events),0), COALESCE(SUM(input_tokens),0), "
                "COALESCE(SUM(output_tokens),0), "
                f"COALESCE(SUM(cost_nanos),0) FROM {table}"
            )
        ).one()
    return tuple(int(v) for v in row)


def _event_sums(store: Store) -> tuple[int, ...]:
    with store.reader() as conn:
        row = conn.execute(
            sa.text(
                "SELECT COUNT(*), COALESCE(SUM(input_tokens),0), COALESCE(SUM(output_tokens),0), "
                "COALESCE(SUM(cost_nanos),0) FROM usage_events"
            )
        ).one()
    return tuple(int(v) for v in row)


def test_ingest_prices_stores_and_rolls_up(store: Store) -> None:
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    ingestor = Ingestor(store)
    result = ingestor.ingest([event(i) for i in range(30)], source="test")
    assert (result.accepted, result.duplicates, result.unpriced) == (30, 0, 0)
    # 800 × 2.5 + 200 × 1.25 + 100 × 10 per 1M tokens = 0.00325 USD per event
    assert _event_sums(store) == (30, 30_000, 3_000, 30 * 3_250_000)
    assert _sums(store, "usage_rollup") == _event_sums(store)
    assert _sums(store, "usage_daily") == _event_sums(store)


def test_resending_never_counts_twice(store: Store) -> None:
    ingestor = Ingestor(store)
    batch = [event(i) for i in range(10)]
    ingestor.ingest(batch, source="test")
    again = ingestor.ingest([*batch, event(10), *batch[:3]], source="test")
    assert (again.accepted, again.duplicates) == (1, 13)
    assert _sums(store, "usage_rollup")[0] == 11
    with store.reader() as conn:
        assert conn.execute(sa.text("SELECT SUM(events) FROM task_rollup")).scalar_one() == 11


def test_missing_price_makes_event_unpriced_not_free(store: Store) -> None:
    result = Ingestor(store).ingest([event(0, model="unknown-model")], source="test")
    assert result.unpriced == 1
    with store.reader() as conn:
        cost, reason = conn.execute(sa.text("SELECT cost_nanos, unpriced_reason FROM usage_events")).one()
    assert cost is None
    assert "unknown-model" in reason
    assert _sums(store, "usage_rollup")[3] == 0


def test_later_outcome_replaces_earlier_and_older_is_ignored(store: Store) -> None:
    ingestor = Ingestor(store)
    late = T0 + dt.timedelta(hours=2)
    ingestor.record_outcomes([TaskOutcome("t1", Outcome.FAILED, T0 + dt.timedelta(hours=1))])
    ingestor.record_outcomes(
        [TaskOutcome("t1", Outcome.SUCCEEDED, late, value_amount=Decimal("1.5"), value_currency="EUR")]
    )
    ingestor.record_outcomes([TaskOutcome("t1", Outcome.ABANDONED, T0)])
    with store.reader() as conn:
        outcome, _ended, value = conn.execute(
            sa.text("SELECT outcome, ended_at, value_nanos FROM task_outcomes")
        ).one()
    assert outcome == "succeeded"
    assert value == 1_500_000_000


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batches=st.lists(st.lists(st.integers(min_value=0, max_value=40), max_size=15), min_size=1, max_size=6)
)
def test_any_resend_pattern_keeps_rollups_equal_to_distinct_events(
    sqlite_store: Store, batches: list[list[int]]
) -> None:
    with sqlite_store.session() as conn:
        for table in ("usage_events", "usage_rollup", "usage_daily", "task_rollup"):
            conn.execute(sa.text(f"DELETE FROM {table}"))
    ingestor = Ingestor(sqlite_store)
    for batch in batches:
        ingestor.ingest([event(i, input_tokens=100 + i, cached_input_tokens=0) for i in batch], source="test")
    distinct = {i for batch in batches for i in batch}
    assert _sums(sqlite_store, "usage_rollup")[:2] == (len(distinct), sum(100 + i for i in distinct))
    assert _sums(sqlite_store, "usage_daily") == _sums(sqlite_store, "usage_rollup")


def test_concurrent_overlapping_batches_count_each_event_once(store: Store) -> None:
    from concurrent.futures import ThreadPoolExecutor

    ingestor = Ingestor(store)
    batches = [
        [event(i, app=f"app-{i % 7}") for i in range(start, start + 300)] for start in range(0, 1200, 150)
    ]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda b: ingestor.ingest(b, source="test"), batches * 2))
    assert sum(r.accepted for r in results) == 1350
    assert _sums(store, "usage_rollup") == _event_sums(store)
    assert _sums(store, "usage_daily") == _event_sums(store)
    with store.reader() as conn:
        assert conn.execute(sa.text("SELECT SUM(events) FROM task_rollup")).scalar_one() == 1350
