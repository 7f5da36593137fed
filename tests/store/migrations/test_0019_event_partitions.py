"""Migration 0019: usage events rebuilt into monthly partitions on PostgreSQL and back, rows and ids kept."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from aifinops.store.partitions import partitions
from tests.factories import T0, event

REVISION = "0019_event_partitions"


@pytest.fixture
def downgraded(store: Store) -> Iterator[Store]:
    """The store; the test goes below this revision, and the fixture always ends back at the heads."""
    yield store
    command.upgrade(store._alembic_config(), "heads")


def _events(store: Store) -> list[tuple[Any, ...]]:
    with store.reader() as conn:
        return [tuple(r) for r in conn.execute(sa.text("SELECT * FROM usage_events ORDER BY id"))]


def test_a_round_trip_keeps_every_event_and_its_identity(downgraded: Store) -> None:
    store = downgraded
    spread = [event(i, ts=T0 + dt.timedelta(days=20 * i)) for i in range(6)]  # October to February
    Ingestor(store).ingest(spread, source="t")
    stored = _events(store)
    command.downgrade(store._alembic_config(), "0020_citus_layout@-1")  # the revision above it first
    command.downgrade(store._alembic_config(), f"{REVISION}@-1")
    assert REVISION not in store.current_heads()
    assert _events(store) == stored
    if store.dialect == "postgresql":
        with store.reader() as conn:
            assert partitions(conn) == {}
            unique = sa.inspect(conn).get_unique_constraints("usage_events")
        assert [u["column_names"] for u in unique] == [["event_id"]]
    command.upgrade(store._alembic_config(), "heads")
    assert _events(store) == stored
    if store.dialect == "postgresql":
        with store.reader() as conn:
            months = set(partitions(conn))
        assert {(2026, 10), (2026, 11), (2026, 12), (2027, 1), (2027, 2)} <= months
    again = Ingestor(store).ingest([*spread, event(99)], source="t")
    assert (again.accepted, again.duplicates) == (1, 6)
    after = _events(store)
    assert after[:-1] == stored and after[-1][0] > stored[-1][0]  # the id sequence went on
