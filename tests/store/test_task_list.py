"""The task list (newest first, one page) read through windows at the end of the period equals the list of
every task of the period grouped at once (the oracle): random tasks over several days and tenants, with priced
and unpriced rows starting at different times, outcomes, any period (or none), filters, outcome and page."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aifinops.domain import Outcome, TaskOutcome
from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from aifinops.store.prices import PriceStore
from aifinops.store.tables import task_outcomes
from aifinops.store.task_queries import _costs, _named, _per_task, _with_outcome, list_tasks
from tests.factories import PRICE_START, T0, event, gpt4o_prices

_TABLES = ("usage_events", "usage_rollup", "usage_daily", "usage_meter_daily", "task_rollup", "task_outcomes")

_event = st.fixed_dictionaries(
    {
        "minute": st.integers(min_value=0, max_value=4 * 1440),
        "task": st.integers(min_value=0, max_value=12),
        "tenant": st.sampled_from([None, "contoso"]),
        "use_case": st.sampled_from(["uc-a", "uc-b"]),
        "priced": st.booleans(),
    }
)
_outcome = st.tuples(
    st.integers(min_value=0, max_value=12), st.sampled_from([None, "contoso"]), st.sampled_from(list(Outcome))
)
_bound = st.one_of(st.none(), st.integers(min_value=-60, max_value=5 * 1440))


def _oracle(
    store: Store, start: Any, end: Any, filters: Any, outcome: Any, tenant: Any, limit: int, offset: int
):
    """The list as it was read before the windows: every task of the period grouped, then one page."""
    p = _per_task(start, end, tenant)
    oc = task_outcomes.c
    stmt = sa.select(p, oc.outcome, oc.ended_at).select_from(_with_outcome(p))
    for name, value in filters.items():
        stmt = stmt.where(p.c[name] == value)
    if outcome == "open":
        stmt = stmt.where(oc.outcome.is_(None))
    elif outcome:
        stmt = stmt.where(oc.outcome == outcome)
    stmt = stmt.order_by(p.c.first_ts.desc(), p.c.tenant, p.c.task_id).limit(limit).offset(offset)
    with store.reader() as conn:
        rows = [dict(r._mapping) for r in conn.execute(stmt)]
        costs = _costs(conn, [(r["tenant"], r["task_id"]) for r in rows])
    for r in rows:
        r["costs"] = costs.get((r["tenant"], r["task_id"]), {})
    return [_named(r) for r in rows]


def _at(minute: int | None) -> dt.datetime | None:
    return None if minute is None else T0 + dt.timedelta(minutes=minute)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    events=st.lists(_event, min_size=1, max_size=40),
    outcomes=st.lists(_outcome, max_size=10),
    queries=st.lists(
        st.tuples(
            _bound,
            _bound,
            st.sampled_from([{}, {"use_case": "uc-a"}]),
            st.sampled_from([None, "open", "failed", "succeeded"]),
            st.sampled_from([None, "contoso", ""]),
            st.integers(min_value=0, max_value=5),
            st.integers(min_value=0, max_value=3),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_the_task_list_equals_the_whole_period_grouped(
    store: Store, events: list[dict[str, Any]], outcomes: list[Any], queries: list[Any]
) -> None:
    with store.session() as conn:
        for table in _TABLES:
            conn.execute(sa.text(f"DELETE FROM {table}"))
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    ingestor = Ingestor(store)
    ingestor.ingest(
        [
            event(
                i,
                ts=T0 + dt.timedelta(minutes=s["minute"]),
                task_id=f"t{s['task']}",
                tenant=s["tenant"],
                use_case=s["use_case"],
                model="gpt-4o" if s["priced"] else "unknown-model",
            )
            for i, s in enumerate(events)
        ],
        source="test",
    )
    ingestor.record_outcomes(
        [TaskOutcome(f"t{task}", Outcome(o), T0, tenant=tenant) for task, tenant, o in outcomes]
    )
    for lo, hi, filters, outcome, tenant, limit, offset in queries:
        args = (_at(lo), _at(hi), filters, outcome, tenant, limit, offset)
        fast = list_tasks(
            store,
            start=args[0],
            end=args[1],
            filters=filters,
            outcome=outcome,
            tenant=tenant,
            limit=limit,
            offset=offset,
        )
        assert fast == _oracle(store, *args)


def test_a_task_with_a_late_row_is_listed_by_its_first_event(store: Store) -> None:
    """Task a's unpriced row starts in the last hour, its priced row four days earlier; task b started on day
    two: b is the newest task, although only a has a row in the last hour."""
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    Ingestor(store).ingest(
        [
            event(0, ts=T0, task_id="a"),
            event(1, ts=T0 + dt.timedelta(days=4), task_id="a", model="unknown-model"),
            event(2, ts=T0 + dt.timedelta(days=2), task_id="b"),
        ],
        source="test",
    )
    for end in (None, T0 + dt.timedelta(days=4, minutes=30)):
        listed = list_tasks(store, start=None, end=end, limit=1)
        assert [t["task_id"] for t in listed] == ["b"]
        assert [t["task_id"] for t in list_tasks(store, end=end, limit=1, offset=1)] == ["a"]
