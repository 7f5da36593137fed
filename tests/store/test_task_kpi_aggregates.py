"""Cost per successful task from the per-day task aggregates equals the per-task computation at read time.

The per-task computation (:func:`aifinops.store.task_queries.task_aggregates`) is the oracle: random events
over several days and tenants, priced and unpriced (a task then has rows in two currencies, possibly starting
on different days), outcomes before, between and after the events, re-sent batches and later outcomes that
replace earlier ones; any range (whole UTC days or not), any grouping, with and without a tenant.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aifinops.domain import Outcome, TaskOutcome
from aifinops.engine.kpis import TaskAggregate
from aifinops.engine.pricing import price_event
from aifinops.jobs.ingest import Ingestor
from aifinops.queries.kpis import read_kpis
from aifinops.store import Store
from aifinops.store.optimize_queries import rollup_task_steps, task_steps
from aifinops.store.prices import PriceStore
from aifinops.store.repricing import RepricingStore
from aifinops.store.rollups import catch_up, pending
from aifinops.store.task_kpi_queries import day_task_aggregates
from aifinops.store.task_queries import task_aggregates
from tests.factories import PRICE_START, T0, event, gpt4o_prices

_TABLES = (
    "usage_events",
    "usage_rollup",
    "usage_daily",
    "task_rollup",
    "task_outcomes",
    "task_day_kpis",
    "task_day_costs",
    "kpi_split_tasks",
    "task_step_days",
)
_GROUPINGS = ((), ("use_case",), ("tenant",), ("app", "agent"), ("use_case", "tenant", "model"))

_event = st.fixed_dictionaries(
    {
        "minute": st.integers(min_value=0, max_value=4 * 1440),  # four days, midnights included
        "task": st.integers(min_value=0, max_value=3),
        "tenant": st.sampled_from([None, "contoso"]),
        "app": st.sampled_from([None, "app-a", "app-b"]),
        "agent": st.sampled_from([None, "planner", "writer"]),
        "use_case": st.sampled_from(["uc-a", "uc-b"]),
        "priced": st.booleans(),
        "step": st.one_of(st.none(), st.integers(min_value=0, max_value=5)),
        "attempt": st.integers(min_value=1, max_value=3),
        "tokens": st.integers(min_value=0, max_value=5000),
    }
)
_outcome = st.fixed_dictionaries(
    {
        "task": st.integers(min_value=0, max_value=3),
        "tenant": st.sampled_from([None, "contoso", "fabrikam"]),
        "outcome": st.sampled_from(list(Outcome)),
        "minute": st.integers(min_value=0, max_value=5 * 1440),
        "value": st.one_of(st.none(), st.sampled_from([("1.5", "EUR"), ("2", "USD")])),
    }
)
_range = st.tuples(
    st.integers(min_value=-720, max_value=3 * 1440), st.integers(min_value=60, max_value=5 * 1440)
)


def _wipe(store: Store) -> None:
    with store.session() as conn:
        for table in _TABLES:
            conn.execute(sa.text(f"DELETE FROM {table}"))


def _events(specs: list[dict[str, object]], offset: int) -> list:
    out = []
    for i, s in enumerate(specs):
        tokens = int(s["tokens"])  # type: ignore[call-overload]
        out.append(
            event(
                offset + i,
                ts=T0 + dt.timedelta(minutes=int(s["minute"])),  # type: ignore[call-overload]
                task_id=f"t{s['task']}",
                tenant=s["tenant"],
                app=s["app"],
                agent=s["agent"],
                use_case=s["use_case"],
                model="gpt-4o" if s["priced"] else "unknown-model",
                step=s["step"],
                attempt=s["attempt"],
                input_tokens=tokens,
                cached_input_tokens=tokens // 4,
                output_tokens=tokens // 10,
            )
        )
    return out


def _outcomes(specs: list[dict[str, object]]) -> list[TaskOutcome]:
    out = []
    for s in specs:
        value = s["value"]
        out.append(
            TaskOutcome(
                f"t{s['task']}",
                Outcome(s["outcome"]),
                T0 + dt.timedelta(minutes=int(s["minute"])),  # type: ignore[call-overload]
                tenant=s["tenant"],  # type: ignore[arg-type]
                value_amount=Decimal(value[0]) if value else None,  # type: ignore[index]
                value_currency=value[1] if value else None,  # type: ignore[index]
            )
        )
    return out


def _key(a: TaskAggregate) -> tuple[object, ...]:
    return (a.group, a.outcome)


def _same(
    store: Store, start: dt.datetime, end: dt.datetime, by: tuple[str, ...], tenant: str | None
) -> None:
    oracle = sorted(task_aggregates(store, group_by=by, start=start, end=end, tenant=tenant), key=_key)
    fast = sorted(day_task_aggregates(store, group_by=by, start=start, end=end, tenant=tenant), key=_key)
    assert [(a, dict(a.estimated_nanos), dict(a.value_nanos)) for a in fast] == [
        (a, dict(a.estimated_nanos), dict(a.value_nanos)) for a in oracle
    ]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batches=st.lists(
        st.tuples(st.lists(_event, min_size=1, max_size=12), st.lists(_outcome, max_size=4)),
        min_size=1,
        max_size=4,
    ),
    resend=st.booleans(),
    ranges=st.lists(_range, min_size=1, max_size=3),
    by=st.sampled_from(_GROUPINGS),
    tenant=st.sampled_from([None, "contoso", ""]),
)
def test_day_aggregates_equal_the_per_task_computation(
    store: Store,
    batches: list[tuple[list[dict[str, object]], list[dict[str, object]]]],
    resend: bool,
    ranges: list[tuple[int, int]],
    by: tuple[str, ...],
    tenant: str | None,
) -> None:
    _wipe(store)
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    ingestor = Ingestor(store, defer_rollups=True)  # roll-ups catch up when read, several batches at once
    sent: list = []
    for i, (events, outcomes) in enumerate(batches):
        batch = _events(events, offset=100 * i)
        ingestor.ingest(batch, source="test")
        sent.extend(batch)
        ingestor.record_outcomes(_outcomes(outcomes))  # before or after the roll-up of its task's events
        if i % 2:
            catch_up(store)
    if resend:
        ingestor.ingest(sent, source="test")
    for lo, length in ranges:
        start = T0 + dt.timedelta(minutes=lo)
        _same(store, start, start + dt.timedelta(minutes=length), by, tenant)
    last, top = pending(store)
    assert top <= last  # every stored event is rolled up


def test_the_kpi_report_reads_the_day_aggregates_and_agrees_with_its_tasks(store: Store) -> None:
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    ingestor = Ingestor(store, defer_rollups=True)
    ingestor.ingest([event(i, ts=T0 + dt.timedelta(hours=5 * i)) for i in range(30)], source="test")
    ingestor.record_outcomes(
        [TaskOutcome(f"t{i}", Outcome.SUCCEEDED, T0, tenant="contoso") for i in range(5)]
    )
    report = read_kpis(store, start=T0, end=T0 + dt.timedelta(days=7), days=(T0.date(), T0.date()), by=())
    (kpi,) = report.kpis
    assert (kpi.tasks, kpi.succeeded) == (10, 5)
    (estimated,) = kpi.costs
    assert estimated.cost_nanos == 30 * 3_250_000


def test_a_split_task_is_counted_once_beside_a_same_id_task_of_another_tenant(store: Store) -> None:
    """Split tasks are read by tenant and id: another tenant's task of the same id (not split) is counted
    once, from the day aggregates, and the split one once, per task."""
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    midnight = T0.replace(hour=0, minute=0) + dt.timedelta(days=1)
    split = [
        event(1, ts=midnight - dt.timedelta(minutes=10), task_id="t1", tenant="contoso"),
        event(
            2, ts=midnight + dt.timedelta(minutes=10), task_id="t1", tenant="contoso", model="unknown-model"
        ),
    ]
    other = [event(3, ts=midnight + dt.timedelta(minutes=20), task_id="t1", tenant="fabrikam")]
    Ingestor(store).ingest([*split, *other], source="test")
    with store.reader() as conn:
        listed = conn.execute(sa.text("SELECT tenant, task_id FROM kpi_split_tasks")).all()
    assert [tuple(r) for r in listed] == [("contoso", "t1")]
    start, end = midnight - dt.timedelta(days=1), midnight + dt.timedelta(days=1)
    for by in ((), ("tenant",)):
        _same(store, start, end, by, None)
    (total,) = day_task_aggregates(store, group_by=(), start=start, end=end)
    assert total.tasks == 2


def _steps(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    keys = ("use_case", "max_step", "outcome", "model", "tasks")
    return sorted((tuple(r[k] for k in keys) for r in rows), key=repr)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batches=st.lists(
        st.tuples(
            st.lists(_event, min_size=1, max_size=12),
            st.lists(_outcome, max_size=4),
            st.lists(st.sampled_from([None, "uc-a", "uc-b"]), min_size=12, max_size=12),
        ),
        min_size=1,
        max_size=4,
    ),
    resend=st.booleans(),
    reprice=st.booleans(),
    ranges=st.lists(_range, min_size=1, max_size=3),
)
def test_task_step_days_equal_the_task_rollup_read(
    store: Store,
    batches: list[tuple[list[dict[str, object]], list[dict[str, object]], list[str | None]]],
    resend: bool,
    reprice: bool,
    ranges: list[tuple[int, int]],
) -> None:
    """The optimizer's task step counts read from ``task_step_days`` (whole UTC days) and the task rollup
    (the partial days) equal those read from the task rollup alone, after late events, outcomes recorded
    before and after their tasks' events, outcomes replaced, re-sent batches and a re-pricing that prices
    tasks' unpriced rows; NULL use cases, steps, outcomes and models included."""
    _wipe(store)
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    ingestor = Ingestor(store, defer_rollups=True)
    sent: list = []
    for i, (events, outcomes, use_cases) in enumerate(batches):
        batch = [
            dataclasses.replace(e, use_case=uc)
            for e, uc in zip(_events(events, offset=100 * i), use_cases, strict=False)
        ]
        ingestor.ingest(batch, source="test")
        sent.extend(batch)
        ingestor.record_outcomes(_outcomes(outcomes))
        if i % 2:
            catch_up(store)
    if resend:
        ingestor.ingest(sent, source="test")
    if reprice:  # the unknown model gets a price: its tasks' unpriced rows become priced rows
        unknown = [dataclasses.replace(p, model="unknown-model") for p in gpt4o_prices("EUR")]
        PriceStore(store).save(unknown, now=PRICE_START)
        book = ingestor.book()
        RepricingStore(store).reprice(
            lambda e: price_event(e, book),
            start=T0 + dt.timedelta(days=1),
            end=T0 + dt.timedelta(days=3),
            now=T0 + dt.timedelta(days=6),
        )
    for lo, length in ranges:
        start = T0 + dt.timedelta(minutes=lo)
        end = start + dt.timedelta(minutes=length)
        assert _steps(task_steps(store, start, end)) == _steps(rollup_task_steps(store, start, end))
