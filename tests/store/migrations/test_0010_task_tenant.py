"""Migration 0010: task rollups and outcomes keyed by (tenant, task_id), converted both ways, both stores."""

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
from aifinops.store.task_queries import list_tasks, task_aggregates
from tests.factories import PRICE_START, T0, event, gpt4o_prices

REVISION = "0010_task_tenant"


def _rows(store: Store, table: str, order: str) -> list[tuple[Any, ...]]:
    with store.reader() as conn:
        return [tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY {order}"))]


@pytest.fixture
def downgraded(store: Store) -> Iterator[Store]:
    """The store; the test body runs with this revision applied, ``downgrade()`` goes below it, and the
    fixture always ends back at the heads."""
    yield store
    command.upgrade(store._alembic_config(), "heads")


def _down(store: Store) -> None:
    command.downgrade(store._alembic_config(), f"{REVISION}@-1")
    assert REVISION not in store.current_heads()


def _up(store: Store) -> None:
    command.upgrade(store._alembic_config(), "heads")
    assert REVISION in store.current_heads()


def _ingest(store: Store, events: list[Any], outcomes: list[TaskOutcome]) -> None:
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    ingestor = Ingestor(store)
    ingestor.ingest(events, source="test")
    ingestor.record_outcomes(outcomes)


def _kpi_inputs(store: Store) -> list[Any]:
    folded = [task_aggregates(store, group_by=by) for by in (("use_case",), ("tenant",), ("app", "tenant"))]
    return [sorted(f, key=repr) for f in folded] + [list_tasks(store, limit=1000)]


def test_single_tenant_tasks_read_the_same_after_a_round_trip(downgraded: Store) -> None:
    """Where every task id has one tenant (or none), down and up again changes no task, count or outcome."""
    store = downgraded
    events = [event(i, tenant=("contoso", "fabrikam", None)[i // 6]) for i in range(18)]  # t0..t5
    ended = T0 + dt.timedelta(hours=2)
    outcomes = [
        TaskOutcome("t0", Outcome.SUCCEEDED, ended, tenant="contoso"),
        TaskOutcome("t2", Outcome.FAILED, ended, tenant="fabrikam"),
        TaskOutcome("t4", Outcome.ABANDONED, ended),
    ]
    _ingest(store, events, outcomes)
    before = (_kpi_inputs(store), _rows(store, "task_rollup", "tenant, task_id, currency"))
    _down(store)
    assert len(_rows(store, "task_rollup", "task_id, currency")) == 6
    _up(store)
    assert (_kpi_inputs(store), _rows(store, "task_rollup", "tenant, task_id, currency")) == before


def test_a_shared_task_id_is_split_per_tenant_and_its_outcome_kept_for_each(downgraded: Store) -> None:
    """Down: one task per id again (the old key), keeping the outcome that ended last. Up: the rollup is
    rebuilt per tenant from the events, and an outcome stored without its tenant goes to every tenant that has
    a task with that id, or to no tenant when no event names it."""
    store = downgraded
    late = T0 + dt.timedelta(hours=3)
    events = [
        event(0, task_id="ticket-1", tenant="contoso"),
        event(1, task_id="ticket-1", tenant="contoso"),
        event(2, task_id="ticket-1", tenant="fabrikam"),
    ]
    outcomes = [
        TaskOutcome("ticket-1", Outcome.SUCCEEDED, late - dt.timedelta(hours=1), tenant="contoso"),
        TaskOutcome("ticket-1", Outcome.FAILED, late, tenant="fabrikam"),
        TaskOutcome("orphan", Outcome.SUCCEEDED, late),
    ]
    _ingest(store, events, outcomes)
    rollup = _rows(store, "task_rollup", "tenant, task_id, currency")
    assert [(r[0], r[1]) for r in rollup] == [("contoso", "ticket-1"), ("fabrikam", "ticket-1")]
    _down(store)
    old = _rows(store, "task_outcomes", "task_id")
    assert [(r[0], r[1]) for r in old] == [("orphan", "succeeded"), ("ticket-1", "failed")]
    (merged,) = _rows(store, "task_rollup", "task_id")
    events_column = 2 + 10 + 2  # task_id, currency, the ten dimensions, first_ts, last_ts
    assert merged[0] == "ticket-1" and merged[2 + 3] == "contoso" and merged[events_column] == 3
    _up(store)
    assert _rows(store, "task_rollup", "tenant, task_id, currency") == rollup
    converted = [(r[0], r[1], r[2]) for r in _rows(store, "task_outcomes", "tenant, task_id")]
    assert converted == [
        ("", "orphan", "succeeded"),
        ("contoso", "ticket-1", "failed"),
        ("fabrikam", "ticket-1", "failed"),
    ]
