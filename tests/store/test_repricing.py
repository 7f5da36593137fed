"""Re-pricing stored events on SQLite and PostgreSQL: the transaction catches the roll-ups up and checks the
retention horizon once, then re-prices and rebuilds what changed."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from aifinops.engine.pricing import price_event
from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from aifinops.store.prices import PriceStore
from aifinops.store.repricing import RepricingStore
from tests.factories import PRICE_START, T0, event, gpt4o_prices

_WATCHED = {"retention horizon": "FROM usage_retention", "roll-up watermark": "FROM rollup_watermarks"}


@pytest.fixture
def statements(store: Store) -> Iterator[Counter[str]]:
    """How often each watched read runs on ``store`` while the test runs."""
    seen: Counter[str] = Counter()

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        for name, text in _WATCHED.items():
            seen[name] += text in statement

    sa.event.listen(store.engine, "before_cursor_execute", count)
    yield seen
    sa.event.remove(store.engine, "before_cursor_execute", count)


def test_a_repricing_reads_the_horizon_and_catches_up_once(store: Store, statements: Counter[str]) -> None:
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    ingestor = Ingestor(store, refresh_seconds=0)
    ingestor.ingest([event(i, task_id=f"t{i}") for i in range(3)], source="test")
    cheaper = [dataclasses.replace(p, price=p.price / 2, effective_start=T0) for p in gpt4o_prices()]
    PriceStore(store).save(cheaper, now=T0)
    book = ingestor.book()
    statements.clear()
    report = RepricingStore(store).reprice(
        lambda e: price_event(e, book),
        start=T0,
        end=T0 + dt.timedelta(days=1),
        now=T0 + dt.timedelta(days=2),
    )
    assert report.changed == 3  # the roll-ups were rebuilt
    assert statements == Counter({"retention horizon": 1, "roll-up watermark": 1})
