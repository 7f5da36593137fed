"""Migration 0027: the daily meter rollup rebuilt with cache-write prices and tokens, filled from the stored
events as ingest fills it, and 0017's table back on downgrade (both stores)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from aifinops.domain import DeploymentType, MeterKind, Price
from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from aifinops.store.meter_tables import METER_KEY, METER_SUMS
from aifinops.store.prices import PriceStore
from tests.factories import PRICE_START, T0, event, gpt4o_prices

REVISION = "0027_meter_cache_writes"


@pytest.fixture
def migrated(store: Store) -> Iterator[Store]:
    yield store
    command.upgrade(store._alembic_config(), "heads")


def _rows(store: Store, columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
    cols = ", ".join(columns)
    with store.reader() as conn:
        return [
            tuple(r) for r in conn.execute(sa.text(f"SELECT {cols} FROM usage_meter_daily ORDER BY {cols}"))
        ]


def test_upgrade_refills_the_meter_rollup_with_cache_writes_from_the_events(migrated: Store) -> None:
    store = migrated
    writes = Price(
        model="gpt-4o",
        meter_kind=MeterKind.CACHE_WRITE,
        price=Decimal("3.125"),
        currency="USD",
        effective_start=PRICE_START,
        deployment_type=DeploymentType.GLOBAL_STANDARD,
        source="test",
    )
    PriceStore(store).save([*gpt4o_prices(), writes], now=PRICE_START)
    events = [
        event(
            i,
            ts=T0 + dt.timedelta(hours=7 * i),
            resource_id="/subscriptions/s/accounts/a",
            input_tokens=1000,
            cached_input_tokens=100,
            cache_write_tokens=300 * (i % 3),
        )
        for i in range(30)
    ]
    Ingestor(store).ingest(events, source="test")
    columns = METER_KEY + METER_SUMS
    ingested = _rows(store, columns)
    assert sum(r[columns.index("cache_write_tokens")] for r in ingested) == 300 * 30
    assert len({r[columns.index("cache_write_price_id")] for r in ingested}) == 2  # none, and the price
    command.downgrade(store._alembic_config(), "0017_usage_meter_daily")  # below the merge: its parent
    assert REVISION not in store.current_heads()
    old = tuple(c for c in columns if c not in ("cache_write_price_id", "cache_write_tokens"))
    assert sum(r[old.index("events")] for r in _rows(store, old)) == 30
    command.upgrade(store._alembic_config(), "heads")
    assert _rows(store, columns) == ingested
