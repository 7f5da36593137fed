"""Migration 0023: the optimizer's task step counts per day filled from the task rollup and the outcomes as
the roll-up keeps them (both stores)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from aifinops.domain import Outcome, TaskOutcome
from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from aifinops.store.prices import PriceStore
from tests.factories import PRICE_START, T0, event, gpt4o_prices

REVISION = "0023_task_step_days"
_COLUMNS = "day, use_case, max_step, outcome, model, nulls, task_rows"


@pytest.fixture
def migrated(store: Store) -> Iterator[Store]:
    yield store
    command.upgrade(store._alembic_config(), "heads")


def _rows(store: Store) -> list[tuple[Any, ...]]:
    query = f"SELECT {_COLUMNS} FROM task_step_days WHERE task_rows <> 0 ORDER BY {_COLUMNS}"
    with store.reader() as conn:
        return [tuple(r) for r in conn.execute(sa.text(query))]


def test_upgrade_fills_the_task_step_counts_from_the_task_rollup(migrated: Store) -> None:
    store = migrated
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    events = [
        event(
            i,
            ts=T0 + dt.timedelta(hours=5 * i),
            task_id=f"t{i // 4}",
            step=None if i % 7 == 0 else i % 4,
            use_case=None if i % 5 == 0 else "uc-a",
            model="gpt-4o" if i % 6 else "unknown-model",
        )
        for i in range(40)
    ]
    ingestor = Ingestor(store)
    ingestor.ingest(events, source="test")
    ingestor.record_outcomes(
        [
            TaskOutcome(f"t{i}", Outcome.SUCCEEDED if i % 2 else Outcome.FAILED, T0, tenant="contoso")
            for i in range(6)
        ]
    )
    kept = _rows(store)
    assert sum(r[-1] for r in kept) >= 10
    assert {r[-2] for r in kept} > {0}  # NULL use cases, steps or outcomes among them
    command.downgrade(store._alembic_config(), f"{REVISION}@-1")
    assert REVISION not in store.current_heads()
    command.upgrade(store._alembic_config(), "heads")
    assert _rows(store) == kept
