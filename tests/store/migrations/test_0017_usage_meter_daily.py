"""Migration 0017: the daily meter rollup filled from the stored events as ingest fills it (both stores)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from aifinops.store.meter_tables import METER_KEY, METER_SUMS
from aifinops.store.prices import PriceStore
from tests.factories import PRICE_START, T0, event, gpt4o_prices

REVISION = "0017_usage_meter_daily"


@pytest.fixture
def migrated(store: Store) -> Iterator[Store]:
    yield store
    command.upgrade(store._alembic_config(), "heads")


def _rows(store: Store) -> list[tuple[Any, ...]]:
    cols = ", ".join(METER_KEY + METER_SUMS)
    with store.reader() as conn:
        return [
            tuple(r) for r in conn.execute(sa.text(f"SELECT {cols} FROM usage_meter_daily ORDER BY {cols}"))
        ]


def test_upgrade_fills_the_meter_rollup_from_the_events(migrated: Store) -> None:
    store = migrated
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    events = [
        event(
            i,
            ts=T0 + dt.timedelta(hours=7 * i),
            attempt=1 + i % 2,
            resource_id=None if i % 3 else "/subscriptions/s/accounts/a",
            model="gpt-4o" if i % 4 else "unknown-model",
            region="eastus" if i % 5 else None,
        )
        for i in range(40)
    ]
    Ingestor(store).ingest(events, source="test")
    ingested = _rows(store)
    assert sum(r[len(METER_KEY)] for r in ingested) == 40
    command.downgrade(store._alembic_config(), REVISION)  # 0027 first: it rebuilds the rollup on 0017's
    command.downgrade(store._alembic_config(), f"{REVISION}@-1")
    assert REVISION not in store.current_heads()
    command.upgrade(store._alembic_config(), "heads")
    assert _rows(store) == ingested
