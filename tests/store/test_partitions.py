"""Usage events in monthly PostgreSQL partitions: created ahead and on demand, still once per event id."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from aifinops.store.partitions import create_partitions, ensure_partitions, months_ahead, partitions
from tests.factories import T0, event

ON_POSTGRES = pytest.mark.parametrize(
    "store", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


def _scalar(store: Store, sql: str) -> object:
    with store.reader() as conn:
        return conn.execute(sa.text(sql)).scalar_one()


@ON_POSTGRES
def test_usage_events_is_partitioned_by_month_with_the_coming_months_ready(store: Store) -> None:
    assert _scalar(store, "SELECT relkind FROM pg_class WHERE relname = 'usage_events'") == "p"
    ensure_partitions(store, months_ahead(dt.datetime.now(dt.UTC)))
    with store.reader() as conn:
        assert set(months_ahead(dt.datetime.now(dt.UTC))) <= set(partitions(conn))


@ON_POSTGRES
def test_an_event_of_any_month_gets_its_partition_at_insert(store: Store) -> None:
    far = dt.datetime(2019, 3, 31, 23, 59, tzinfo=dt.UTC)
    result = Ingestor(store).ingest(
        [event(1, ts=far), event(2, ts=far + dt.timedelta(minutes=2))], source="t"
    )
    assert result.accepted == 2
    with store.reader() as conn:
        found = partitions(conn)
    assert found[(2019, 3)] == "usage_events_y2019m03" and found[(2019, 4)] == "usage_events_y2019m04"
    assert _scalar(store, "SELECT COUNT(*) FROM usage_events_y2019m04") == 1


@ON_POSTGRES
def test_creating_partitions_twice_creates_them_once(store: Store) -> None:
    with store.session() as conn:
        first = create_partitions(conn, [(2018, 1), (2018, 2)])
        again = create_partitions(conn, [(2018, 2), (2018, 3)])
    assert (first, again) == (["usage_events_y2018m01", "usage_events_y2018m02"], ["usage_events_y2018m03"])


def test_a_resend_with_another_timestamp_is_still_a_duplicate(store: Store) -> None:
    """The event id alone is the identity: a re-send landing in another month's partition counts once."""
    ingestor = Ingestor(store)
    assert ingestor.ingest([event(1)], source="t").accepted == 1
    moved = event(1, ts=T0 + dt.timedelta(days=45))
    again = ingestor.ingest([moved, event(2)], source="t")
    assert (again.accepted, again.duplicates) == (1, 1)
    assert _scalar(store, "SELECT COUNT(*) FROM usage_events") == 2
    assert _scalar(store, "SELECT SUM(events) FROM usage_daily") == 2


@ON_POSTGRES
def test_any_insert_path_claims_the_event_id(store: Store) -> None:
    """A hand-written INSERT (or COPY) goes through the same trigger as ingest: a taken id is skipped."""
    Ingestor(store).ingest([event(1)], source="t")
    ensure_partitions(store, [(2026, 11)])
    with store.session() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO usage_events (event_id, ts, hour, attempt, provider, priority, input_tokens, "
                "cached_input_tokens, output_tokens, reasoning_tokens, requests, kind, status, source, "
                "ingested_at) SELECT event_id, ts + interval '40 days', hour, attempt, provider, priority, "
                "input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, requests, kind, status, "
                "source, ingested_at FROM usage_events"
            )
        )
    assert _scalar(store, "SELECT COUNT(*) FROM usage_events") == 1
    assert _scalar(store, "SELECT COUNT(*) FROM usage_event_ids") == 1
