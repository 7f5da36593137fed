"""The retrieval lever's evidence: what retrievals returned, by the outcome of their task (both stores)."""

from __future__ import annotations

import datetime as dt

from aifinops.domain import EventKind, EventStatus, Outcome, TaskOutcome, UsageEvent
from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from aifinops.store.optimize_queries import call_groups
from aifinops.store.retrieval_queries import retrieval_outcomes
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
