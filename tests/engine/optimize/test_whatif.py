"""The what-if and the stacking of recommendations, on generated workloads."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aifinops.engine.optimize.recommend import recommend, stacked_parts
from aifinops.engine.optimize.scenario import parse_scenario
from aifinops.engine.optimize.whatif import what_if
from aifinops.engine.optimize.workload import (
    CallGroup,
    Cell,
    Meters,
    RetrievalGroup,
    TaskGroup,
    Workload,
    costs_by_currency,
)
from aifinops.errors import ValidationError

START = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
METERS = Meters(Decimal(2000), Decimal(500), Decimal(8000))  # nanos per token: 2 / 0.5 / 8 USD per 1M


@st.composite
def call_groups(draw: st.DrawFn) -> CallGroup:
    calls = draw(st.integers(1, 50))
    per_input = draw(st.integers(0, 80_000))
    use_case = draw(st.sampled_from(["qa", "triage"]))
    if draw(st.integers(0, 4)) == 0:  # a retrieval: no price of its own, what it returned into the prompt
        return CallGroup(
            cell=Cell(use_case, kind="retrieval", currency=""),
            meters=Meters(),
            calls=calls,
            retrieved_tokens=draw(st.integers(0, 60_000)) * calls,
            step=draw(st.integers(0, 3)),
            samples=("t-1",),
        )
    return CallGroup(
        cell=Cell(use_case, deployment=draw(st.sampled_from(["a", "b"]))),
        meters=METERS,
        calls=calls,
        input_tokens=per_input * calls,
        cached_input_tokens=draw(st.integers(0, per_input)) * calls,
        output_tokens=draw(st.integers(0, 8_000)) * calls,
        step=draw(st.one_of(st.integers(0, 3), st.integers(0, 30))),
        attempt=draw(st.integers(1, 3)),
        status=draw(st.sampled_from(["ok", "ok", "ok", "timeout", "error", "content_filtered"])),
        duplicate=draw(st.booleans()),
        length_stop=draw(st.booleans()),
        samples=("t-1",),
    )


OUTCOMES = ["succeeded", "failed", "abandoned", None]


@st.composite
def workloads(draw: st.DrawFn) -> Workload:
    groups = tuple(draw(st.lists(call_groups(), min_size=1, max_size=40)))
    tasks = tuple(
        TaskGroup(uc, draw(st.integers(1, 30)), draw(st.sampled_from(["succeeded", "failed", None])), n)
        for uc in ("qa", "triage")
        for n in draw(st.lists(st.integers(1, 20), min_size=1, max_size=5))
    )
    sized = st.tuples(st.integers(1, 200), st.integers(1, 60_000))
    retrievals = tuple(  # successful tasks' retrievals mostly small, the others' any size
        RetrievalGroup(Cell(uc, kind="retrieval", currency=""), outcome, n, n * per_call, ("t-1",))
        for uc in ("qa", "triage")
        for outcome, (n, per_call) in [
            *(("succeeded", (n, p // 20)) for n, p in draw(st.lists(sized, max_size=4))),
            *((o, s) for o, s in draw(st.lists(st.tuples(st.sampled_from(OUTCOMES), sized), max_size=4))),
        ]
    )
    return Workload(START, END, groups, tasks, retrievals=retrievals)


@settings(max_examples=150, deadline=None)
@given(workloads())
def test_stacked_savings_never_exceed_the_cost_they_act_on(workload: Workload) -> None:
    recs = recommend(workload)
    total = costs_by_currency(workload.groups).get("USD", Decimal(0))
    stacked_sum = Decimal(0)
    for i, rec in enumerate(recs):
        saved = rec.stacked_savings.get("USD", Decimal(0))
        assert Decimal(0) <= saved <= rec.stacked.before.get("USD", Decimal(0))
        assert saved <= rec.standalone.before.get("USD", Decimal(0))
        stacked_sum += saved
        whole = what_if(workload, stacked_parts(recs, i))
        assert whole.saved().get("USD", Decimal(0)) == stacked_sum
    assert stacked_sum <= total


@settings(max_examples=100, deadline=None)
@given(workloads())
def test_a_recommendation_saves_what_its_own_scenario_saves(workload: Workload) -> None:
    for rec in recommend(workload):
        assert rec.savings == what_if(workload, [rec.finding.part]).saved()
        assert rec.finding.lever == rec.finding.part.lever


def test_recommendations_come_in_the_levers_order() -> None:
    group = CallGroup(Cell("qa"), METERS, 10, 400_000, 0, 10_000)
    workload = Workload(
        START,
        END,
        (
            group,
            CallGroup(Cell("qa"), METERS, 10, 400_000, 0, 10_000, duplicate=True),
            CallGroup(Cell("qa"), METERS, 10, 400_000, 0, 10_000, step=9),
            CallGroup(Cell("qa"), METERS, 5, 200_000, 0, 0, status="timeout", attempt=1),
        ),
        (TaskGroup("qa", 2, "succeeded", 50), TaskGroup("qa", 10, "failed", 10)),
    )
    levers = [r.finding.lever for r in recommend(workload)]
    assert levers == ["requests", "loops", "retries", "caching"]  # nothing of its 400k-token prompts cached


def test_a_task_cut_off_by_the_step_cap_counts_as_failed() -> None:
    workload = Workload(
        START,
        END,
        (CallGroup(Cell("qa"), METERS, 10, 1000, 0, 100, step=5),),
        (TaskGroup("qa", 3, "succeeded", 7), TaskGroup("qa", 6, "succeeded", 3)),
    )
    result = what_if(
        workload, parse_scenario([{"lever": "loops", "scope": {"use_case": "qa"}, "max_steps": 4}])
    )
    assert (result.succeeded_before, result.succeeded_after) == (10, 7)
    assert result.after == {}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"lever": "nope"}, "scenario[0].lever"),
        ({"lever": "loops", "max_steps": 0}, "scenario[0].max_steps"),
        ({"lever": "loops", "max_steps": 3, "scope": {"colour": "red"}}, "scenario[0].scope"),
        ({"lever": "retries", "fixed_causes": ["boredom"]}, "scenario[0].fixed_causes"),
        ({"lever": "output"}, "scenario[0]"),
        ({"lever": "retrieval", "max_retrieved_tokens": 0}, "scenario[0].max_retrieved_tokens"),
        ({"lever": "retrieval", "max_retrieved_tokens": "2k"}, "scenario[0].max_retrieved_tokens"),
        ({"lever": "retrieval", "top_k": 5}, "scenario[0]"),
    ],
)
def test_a_bad_scenario_names_the_field_and_the_reason(raw: object, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_scenario([raw])
    assert caught.value.field == field


def test_batch_takes_use_cases_configured_as_not_interactive_or_shaped_so() -> None:
    from aifinops.engine.optimize.finding import OptimizeSettings

    batch = Meters(Decimal(1000), Decimal(250), Decimal(4000))
    group = CallGroup(
        Cell("extract", app="finance", deployment="mini", model="m", deployment_type="global_standard"),
        METERS,
        100,
        100_000,
        0,
        10_000,
        batch_meters=batch,
    )
    weekdays_only = {20727 + d: 50 for d in range(7) if (20727 + d + 3) % 7 < 5}  # one week of October 2026
    every_day = {20727 + d: 50 for d in range(7)}
    quiet = Workload(START, END, (group,), (), daily_calls={"extract": weekdays_only})
    assert recommend(quiet) == []
    configured = recommend(quiet, OptimizeSettings(batchable=frozenset({"finance"})))
    assert [r.finding.lever for r in configured] == ["batch"]
    assert configured[0].savings == {"USD": (100_000 * Decimal(1000) + 10_000 * Decimal(4000))}
    shaped = recommend(Workload(START, END, (group,), (), daily_calls={"extract": every_day}))
    assert [r.finding.lever for r in shaped] == ["batch"] and shaped[0].finding.confidence == "low"
