"""The retrieval lever's evidence: what retrievals returned, by the outcome of their task (both stores)."""

from __future__ import annotations

import datetime as dt
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aifinops.domain import EventKind, EventStatus, Outcome, TaskOutcome, UsageEvent
from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from aifinops.store.optimize_queries import call_groups
from aifinops.store.retrieval_queries import raw_retrieval_outcomes, retrieval_outcomes
from tests.factories import T0, event

END = T0 + dt.timedelta(days=1)


def _search(i: int, task: str, tokens: int, **kw: object) -> UsageEvent:
    return event(
        i,
        task_id=task,
        kind=EventKind.RETRIEVAL,
        model=None,
        deployment=None,
        deployment_type=None,
        input_tokens=0,
        cached_input_tokens=0,
        output_tokens=0,
        retrieved_tokens=tokens,
        **kw,
    )


def test_retrievals_are_read_by_the_outcome_of_their_task_and_their_size(store: Store) -> None:
    events = [
        _search(0, "t1", 2_000),
        _search(1, "t1", 2_100),
        _search(2, "t2", 30_000),
        _search(3, "t3", 30_000, status=EventStatus.ERROR),  # a failed search returned nothing
        _search(4, "t4", 0),  # reported nothing
        _search(5, "t5", 1_000, tenant="fabrikam"),  # its task has no outcome in its tenant
    ]
    ingestor = Ingestor(store)
    ingestor.ingest(events, source="test")
    ingestor.record_outcomes(
        [
            TaskOutcome("t1", Outcome.SUCCEEDED, T0 + dt.timedelta(hours=1), tenant="contoso"),
            TaskOutcome("t2", Outcome.FAILED, T0 + dt.timedelta(hours=1), tenant="contoso"),
            TaskOutcome("t5", Outcome.SUCCEEDED, T0 + dt.timedelta(hours=1), tenant="contoso"),
        ]
    )
    rows = sorted(
        (r["outcome"] or "", r["bucket"], r["calls"], r["retrieved_tokens"])
        for r in retrieval_outcomes(store, T0, END)
    )
    # in steps of 256 tokens: 2,000 and 2,100 fall apart; an open task's retrieval says nothing yet
    assert rows == [
        ("failed", 117, 1, 30_000),
        ("succeeded", 7, 1, 2_000),
        ("succeeded", 8, 1, 2_100),
    ]
    only = retrieval_outcomes(store, T0, END, where={"tenant": ["fabrikam"]})
    assert only == []
    # the call groups sum them too, sized by what they returned
    groups = [r for r in call_groups(store, T0, END) if r["retrieved_tokens"]]
    assert sum(r["retrieved_tokens"] for r in groups) == 65_100
    assert len({r["input_class"] for r in groups}) >= 3


def _rows(rows: list[dict[str, object]]) -> list[tuple[str, ...]]:
    return sorted(tuple(str(r[k]) for k in sorted(r)) for r in rows)


def test_a_kept_read_follows_a_replaced_outcome_and_a_late_retrieval(store: Store) -> None:
    ingestor = Ingestor(store)
    ingestor.ingest([_search(0, "t1", 2_000)], source="test")
    ingestor.record_outcomes(
        [TaskOutcome("t1", Outcome.FAILED, T0 + dt.timedelta(hours=1), tenant="contoso")]
    )
    assert [r["outcome"] for r in retrieval_outcomes(store, T0, END)] == ["failed"]
    ingestor.record_outcomes(  # the task succeeded after all
        [TaskOutcome("t1", Outcome.SUCCEEDED, T0 + dt.timedelta(hours=2), tenant="contoso")]
    )
    assert [r["outcome"] for r in retrieval_outcomes(store, T0, END)] == ["succeeded"]
    Ingestor(store, defer_rollups=True).ingest(
        [_search(1, "t1", 2_000)], source="test"
    )  # late, not rolled up
    assert [r["calls"] for r in retrieval_outcomes(store, T0, END)] == [2]
    assert _rows(retrieval_outcomes(store, T0, END)) == _rows(raw_retrieval_outcomes(store, T0, END))


_TASKS = st.sampled_from(["t1", "t2", "t3", "t4"])
_TENANTS = st.sampled_from(["contoso", "fabrikam"])
_EVENTS = st.lists(
    st.tuples(_TASKS, _TENANTS, st.integers(0, 47), st.integers(0, 3_000), st.sampled_from(["qa", "search"])),
    min_size=1,
    max_size=4,
)
_OUTCOMES = st.lists(
    st.tuples(_TASKS, _TENANTS, st.sampled_from(list(Outcome)), st.integers(0, 5)), min_size=1, max_size=3
)
# a few windows, so that a kept read is read again after what changed since
_READS = st.tuples(
    st.sampled_from([0, 6, 30]), st.sampled_from([6, 24, 48]), st.sampled_from([None, "contoso"])
)
_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("events"), _EVENTS, st.booleans()),
        st.tuples(st.just("outcomes"), _OUTCOMES),
        st.tuples(st.just("read"), _READS),
    ),
    max_size=12,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_OPS)
def test_the_kept_read_equals_the_read_from_events_and_outcomes(store: Store, ops: list[tuple]) -> None:
    """Retrievals (rolled up at once or later), outcomes (new, replaced by a later one, re-sent, older ones
    ignored) and reads of random windows and tenants in any order: every read, first or kept, equals the
    read from the events and outcomes."""
    for op in ops:
        if op[0] == "events":
            ids = itertools.count(_next_id(store))
            events = [
                _search(next(ids), task, tokens, tenant=tenant, use_case=uc, ts=T0 + dt.timedelta(hours=h))
                for task, tenant, h, tokens, uc in op[1]
            ]
            Ingestor(store, defer_rollups=op[2]).ingest(events, source="test")
        elif op[0] == "outcomes":
            Ingestor(store).record_outcomes(
                [TaskOutcome(t, o, T0 + dt.timedelta(hours=h), tenant=n) for t, n, o, h in op[1]]
            )
        else:
            first, span, tenant = op[1]
            start = T0 + dt.timedelta(hours=first)
            end = start + dt.timedelta(hours=span)
            where = None if tenant is None else {"tenant": [tenant]}
            raw = _rows(raw_retrieval_outcomes(store, start, end, where=where))
            assert _rows(retrieval_outcomes(store, start, end, where=where)) == raw
            assert _rows(retrieval_outcomes(store, start, end, where=where)) == raw  # kept


def _next_id(store: Store) -> int:
    with store.reader() as conn:
        return int(conn.exec_driver_sql("SELECT COUNT(*) FROM usage_events").scalar_one()) + 1000
