"""Database errors: transient ones are retried or reported as such, bad values as bad input, never the SQL."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
import sqlalchemy as sa

from aifinops.domain import PricedUsage
from aifinops.errors import StoreDataError, StoreUnavailableError
from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from aifinops.store.events import EventStore, event_row, event_values, sqlite_time
from aifinops.store.tables import usage_events
from tests.factories import event

ON_POSTGRES = pytest.mark.parametrize(
    "store", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
NOW = dt.datetime(2026, 10, 2, tzinfo=dt.UTC)
UNPRICED = PricedUsage(cost=None, currency=None, price_ids={}, unpriced_reason="test")


def _row(store: Store, i: int, **changes: object) -> tuple[object, ...]:
    sqlite = store.dialect == "sqlite"
    values = event_values(
        event(i), UNPRICED, source="test", ingested_at=sqlite_time(NOW) if sqlite else NOW, sqlite=sqlite
    )
    row = dict(zip([c.name for c in usage_events.columns if c.name != "id"], values, strict=True))
    return tuple((row | changes).values())


def test_a_value_the_database_cannot_hold_is_a_data_error_without_sql_or_values(store: Store) -> None:
    with pytest.raises(StoreDataError) as caught:
        EventStore(store).insert([_row(store, 1, quantity_nanos=2**70, unit="x")], source="test", now=NOW)
    message = str(caught.value)
    assert "INSERT" not in message and "e1" not in message and str(2**70) not in message
    assert "usage_events" not in message


def test_an_unreachable_database_is_unavailable_and_names_no_password() -> None:
    store = Store("postgresql://aifinops:s3cret@127.0.0.1:9/nowhere")
    with pytest.raises(StoreUnavailableError) as caught, store.reader() as conn:
        conn.execute(sa.text("SELECT 1"))
    assert "s3cret" not in str(caught.value)
    assert caught.value.retry_after > 0


@ON_POSTGRES  # SQLite has one writer at a time: no deadlocks
def test_a_deadlock_in_the_events_insert_is_retried(store: Store) -> None:
    """Another writer holds e2 and then wants e1, which our batch [e1, e2] took first: PostgreSQL aborts our
    transaction as the deadlock victim, and the insert runs again once the other writer is done."""
    other_holds_e2 = threading.Event()
    other_error: list[BaseException] = []

    def other_writer() -> None:
        try:
            with store.engine.begin() as conn:
                conn.execute(sa.insert(usage_events), [event_row(event(2), UNPRICED, source="t", now=NOW)])
                other_holds_e2.set()
                time.sleep(0.3)  # our batch inserts e1, then waits for e2
                conn.execute(sa.insert(usage_events), [event_row(event(1), UNPRICED, source="t", now=NOW)])
        except BaseException as exc:
            other_error.append(exc)
            other_holds_e2.set()

    thread = threading.Thread(target=other_writer)
    thread.start()
    assert other_holds_e2.wait(10)
    result = Ingestor(store).ingest([event(1), event(2)], source="test")
    thread.join(10)
    assert other_error == []
    assert (result.accepted, result.duplicates) == (0, 2)
    with store.reader() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM usage_events")).scalar_one() == 2
