"""The retrieval lever: a budget from what successful tasks' retrievals returned, the excess priced where the
model calls of the same step read it, and nothing found where large retrievals do not go with failure."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from aifinops.engine.optimize.finding import OptimizeSettings
from aifinops.engine.optimize.levers import retrieval
from aifinops.engine.optimize.recommend import recommend
from aifinops.engine.optimize.scenario import ScenarioPart, parse_scenario
from aifinops.engine.optimize.whatif import what_if
from aifinops.engine.optimize.workload import (
    CallGroup,
    Cell,
    Meters,
    RetrievalGroup,
    TaskGroup,
    Workload,
    workload_costs,
)

START = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
METERS = Meters(Decimal(2000), Decimal(500), Decimal(8000))  # nanos per token: 2 / 0.5 / 8 USD per 1M
QA = Cell("qa", deployment="gpt", model="gpt")
SEARCH = Cell("qa", kind="retrieval", currency="")


def _retrievals(
    ok: int, bad: int, *, ok_size: int = 2_000, bad_size: int = 32_000
) -> tuple[RetrievalGroup, ...]:
    """``ok`` retrievals of successful tasks returning ``ok_size`` tokens; ``bad`` of failed tasks, of which
    the first half return ``bad_size`` and the rest ``ok_size``."""
    return (
        RetrievalGroup(SEARCH, "succeeded", ok, ok * ok_size, ("qa-1",)),
        RetrievalGroup(SEARCH, "failed", bad // 2, bad // 2 * bad_size, ("qa-9",)),
        RetrievalGroup(SEARCH, "failed", bad - bad // 2, (bad - bad // 2) * ok_size, ("qa-8",)),
    )


def _workload(retrievals: tuple[RetrievalGroup, ...], *, over: int = 50) -> Workload:
    """100 steps of one task each: a retrieval and the model call that reads it (5,000 tokens of its own);
    ``over`` retrievals return 30,000 tokens more than the others' 2,000."""
    groups = (
        CallGroup(SEARCH, Meters(), 100 - over, retrieved_tokens=(100 - over) * 2_000, step=0),
        CallGroup(SEARCH, Meters(), over, retrieved_tokens=over * 32_000, step=0),
        CallGroup(QA, METERS, 100 - over, (100 - over) * 7_000, (100 - over) * 1_024, 0, step=0),
        CallGroup(QA, METERS, over, over * 37_000, over * 1_024, 0, step=0),
    )
    tasks = (TaskGroup("qa", 1, "succeeded", 100 - over), TaskGroup("qa", 1, "failed", over))
    return Workload(START, END, groups, tasks, retrievals=retrievals)


def test_retrievals_larger_in_failed_tasks_are_capped_at_what_successful_ones_needed() -> None:
    workload = _workload(_retrievals(ok=50, bad=100))
    (rec,) = recommend(workload, levers=("retrieval",))
    finding = rec.finding
    assert finding.scope == {"use_case": "qa"} and finding.part.settings == {"max_retrieved_tokens": 2048}
    assert (
        finding.figures["failed_retrievals_over"] == 50 and finding.figures["successful_retrievals_over"] == 0
    )
    assert finding.samples[0] == "qa-9"
    # 50 retrievals × (32,000 − 2,048) tokens leave the prompts, at the input price
    assert rec.savings == {"USD": Decimal(50 * (32_000 - 2_048) * 2000)}
    assert rec.savings == what_if(workload, [finding.part]).saved()
    assert rec.standalone.succeeded_after == rec.standalone.succeeded_before == 50


def test_no_finding_where_failed_tasks_retrieve_as_much_as_successful_ones() -> None:
    same = (
        RetrievalGroup(SEARCH, "succeeded", 95, 95 * 2_000),
        RetrievalGroup(SEARCH, "succeeded", 5, 5 * 32_000),
        RetrievalGroup(SEARCH, "failed", 95, 95 * 2_000),
        RetrievalGroup(SEARCH, "failed", 5, 5 * 32_000),
    )
    assert retrieval.detect(_workload(same, over=10), OptimizeSettings()) == []


def test_too_few_successful_retrievals_say_nothing() -> None:
    assert retrieval.detect(_workload(_retrievals(ok=19, bad=100)), OptimizeSettings()) == []


def test_without_reported_retrievals_there_is_nothing_to_find() -> None:
    assert retrieval.detect(_workload(()), OptimizeSettings()) == []


def test_after_a_context_limit_a_call_keeps_at_least_the_budget() -> None:
    workload = _workload(_retrievals(ok=50, bad=100))
    context = {"lever": "context", "scope": {"use_case": "qa"}, "max_input_tokens": 8_192}
    part = {"lever": "retrieval", "scope": {"use_case": "qa"}, "max_retrieved_tokens": 2_048}
    both = what_if(workload, parse_scenario([context, part])).saved()["USD"]
    first = what_if(workload, parse_scenario([context])).saved()["USD"]
    # the 50 clipped calls keep 8,192 tokens; the retrieval budget takes them down to 2,048 at most
    assert 0 < both - first <= 50 * (8_192 - 2_048) * 2000


@st.composite
def workloads(draw: st.DrawFn) -> Workload:
    groups: list[CallGroup] = []
    for step in range(draw(st.integers(1, 4))):
        for _ in range(draw(st.integers(1, 3))):
            calls = draw(st.integers(1, 40))
            groups.append(
                CallGroup(
                    SEARCH, Meters(), calls, retrieved_tokens=calls * draw(st.integers(0, 50_000)), step=step
                )
            )
        for _ in range(draw(st.integers(0, 3))):
            calls, per = draw(st.integers(1, 40)), draw(st.integers(0, 60_000))
            cached = draw(st.integers(0, per))
            groups.append(CallGroup(QA, METERS, calls, calls * per, calls * cached, calls * 100, step=step))
    retrievals = _retrievals(
        draw(st.integers(20, 300)), draw(st.integers(2, 300)), bad_size=draw(st.integers(1, 60_000))
    )
    return Workload(START, END, tuple(groups), (TaskGroup("qa", 2, "succeeded", 10),), retrievals=retrievals)


@settings(max_examples=200, deadline=None)
@given(workloads(), st.integers(1, 40_000), st.integers(1_024, 60_000))
def test_a_budget_only_takes_uncached_input_and_never_more_than_the_calls_cost(
    workload: Workload, budget: int, limit: int
) -> None:
    part = ScenarioPart("retrieval", {"use_case": "qa"}, {"max_retrieved_tokens": budget})
    context = ScenarioPart("context", {"use_case": "qa"}, {"max_input_tokens": limit})
    after = retrieval.apply(part, workload)
    for old, new in zip(workload.groups, after.groups, strict=True):
        assert new.cached_input_tokens == old.cached_input_tokens and new.output_tokens == old.output_tokens
        assert old.cached_input_tokens <= new.input_tokens <= old.input_tokens
    stacked = what_if(workload, [context, part])
    alone = what_if(workload, [context])
    usd = Decimal(0)
    saved = stacked.saved().get("USD", usd) - alone.saved().get("USD", usd)
    assert usd <= saved <= alone.after.get("USD", usd)
    assert stacked.after.get("USD", usd) >= 0 and workload_costs(after) == what_if(workload, [part]).after
