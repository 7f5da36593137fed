"""The optimizer's aggregates: call groups with duplicates and length stops, task step counts."""

from __future__ import annotations

import dataclasses
import datetime as dt

from aifinops.domain import EventStatus, Outcome, TaskOutcome
from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from aifinops.store.optimize_queries import call_groups, task_steps
from aifinops.store.prices import PriceStore
from tests.factories import PRICE_START, T0, event, gpt4o_prices

END = T0 + dt.timedelta(days=1)


def _load(store: Store) -> None:
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    events = [
        event(0, task_id="t1", step=0, request_hash="h1"),
        event(1, task_id="t1", step=1, request_hash="h1"),  # the same request again, after it succeeded
        event(2, task_id="t1", step=2, request_hash="h2", status=EventStatus.TIMEOUT),
        event(3, task_id="t1", step=2, attempt=2, request_hash="h2", finish_reason="length"),  # a retry
        event(4, task_id="t2", step=0, request_hash="h1"),  # same request, another task
        event(5, task_id="t2", step=1, request_hash=None),
        event(6, task_id="t1", step=3, request_hash="h1", tenant="fabrikam"),  # another tenant's task t1
    ]
    ingestor = Ingestor(store)
    ingestor.ingest(events, source="test")
    ingestor.record_outcomes(
        [
            TaskOutcome("t1", Outcome.SUCCEEDED, T0 + dt.timedelta(hours=1), tenant="contoso"),
            TaskOutcome("t2", Outcome.FAILED, T0 + dt.timedelta(hours=1), tenant="contoso"),
        ]
    )


def test_call_groups_mark_repeats_of_a_request_that_succeeded_in_the_same_task(store: Store) -> None:
    _load(store)
    rows = call_groups(store, T0, END)
    assert sum(r["calls"] for r in rows) == 7
    duplicates = [r for r in rows if r["duplicate"]]
    assert [(r["step"], r["calls"]) for r in duplicates] == [(1, 1)]
    assert [r["step"] for r in rows if r["length_stop"]] == [2]
    assert {r["status"] for r in rows if r["attempt"] == 2} == {"ok"}
    only = call_groups(store, T0, END, where={"tenant": ["fabrikam"]})
    assert [(r["step"], r["duplicate"]) for r in only] == [(3, 0)]


def test_task_steps_count_tasks_per_use_case_highest_step_and_outcome(store: Store) -> None:
    _load(store)
    rows = sorted(task_steps(store, T0, END), key=lambda r: (r["max_step"], r["outcome"] or ""))
    assert [(r["use_case"], r["max_step"], r["outcome"], r["tasks"]) for r in rows] == [
        ("uc-a", 1, "failed", 1),
        ("uc-a", 2, "succeeded", 1),
        ("uc-a", 3, None, 1),
    ]


def _totals(rows: list[dict[str, object]]) -> tuple[int, int, int]:
    return (
        sum(int(r["calls"]) for r in rows),  # type: ignore[call-overload]
        sum(int(r["input_tokens"]) for r in rows),  # type: ignore[call-overload]
        sum(int(r["duplicate"]) * int(r["calls"]) for r in rows),  # type: ignore[call-overload]
    )


def test_daily_groups_are_built_once_match_the_events_and_follow_late_events(store: Store) -> None:
    from aifinops.store.optimize_days import OptimizeDayStore
    from aifinops.store.optimize_queries import day_groups, stale_days

    _load(store)
    day = (T0 - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)).days
    stale = stale_days(store, day, day + 1)
    assert stale == {day: 7}
    OptimizeDayStore(store).build(stale, now=T0)
    assert stale_days(store, day, day + 1) == {}
    assert _totals(day_groups(store, day, day + 1)) == _totals(call_groups(store, T0, END)) == (7, 7000, 1)
    Ingestor(store).ingest(
        [event(9, task_id="t2", step=2, request_hash="h1")], source="test"
    )  # a late repeat
    assert stale_days(store, day, day + 1) == {day: 8}
    OptimizeDayStore(store).build(stale_days(store, day, day + 1), now=T0)
    assert _totals(day_groups(store, day, day + 1)) == (8, 8000, 2)


def test_rebuilding_the_rollups_after_re_pricing_drops_the_daily_groups_it_touched(store: Store) -> None:
    from aifinops.store.optimize_days import OptimizeDayStore
    from aifinops.store.optimize_queries import stale_days
    from aifinops.store.repricing import rebuild_rollups

    _load(store)
    day = (T0 - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)).days
    OptimizeDayStore(store).build(stale_days(store, day, day + 1), now=T0)
    assert stale_days(store, day, day + 1) == {}
    with store.session() as conn:
        rebuild_rollups(conn, T0, END, set())
    assert stale_days(store, day, day + 1) == {day: 7}  # built again on the next read, at the new prices


def test_summed_daily_groups_kept_in_the_process_follow_a_re_pricing(store: Store) -> None:
    """The days' sums are served again only while no day was built again: after a re-pricing drops the
    days it touched and they are built again, the sums are those at the new prices."""
    from decimal import Decimal

    from aifinops.engine.pricing import price_event
    from aifinops.store.optimize_days import OptimizeDayStore
    from aifinops.store.optimize_queries import day_groups, stale_days
    from aifinops.store.repricing import RepricingStore

    _load(store)
    day = (T0 - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)).days
    OptimizeDayStore(store).build(stale_days(store, day, day + 1), now=T0)
    before = sum(int(r["cost_nanos"]) for r in day_groups(store, day, day + 1))
    assert before == sum(int(r["cost_nanos"]) for r in day_groups(store, day, day + 1))  # kept
    doubled = [dataclasses.replace(p, price=p.price * 2, effective_start=T0) for p in gpt4o_prices()]
    PriceStore(store).save(doubled, now=T0 + dt.timedelta(days=2))
    book = Ingestor(store).book()
    RepricingStore(store).reprice(
        lambda e: price_event(e, book), start=T0, end=END, now=T0 + dt.timedelta(days=2)
    )
    OptimizeDayStore(store).build(stale_days(store, day, day + 1), now=T0 + dt.timedelta(days=2))
    after = sum(int(r["cost_nanos"]) for r in day_groups(store, day, day + 1))
    assert after == sum(int(r["cost_nanos"]) for r in call_groups(store, T0, END)) != before
    assert Decimal(after) > Decimal(before)
