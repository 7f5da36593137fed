"""The simulated month: deterministic by seed, with the behaviours the demo promises."""

from __future__ import annotations

from aifinops.demo.simulation import simulate_month
from aifinops.domain import EventStatus, Outcome


def test_same_seed_same_month_and_different_seed_differs() -> None:
    a = [t.events[0].event_id for t in simulate_month(2026, 2, seed=1, scale=0.05)]
    b = [t.events[0].event_id for t in simulate_month(2026, 2, seed=1, scale=0.05)]
    c = [t.events[-1].ts for t in simulate_month(2026, 2, seed=2, scale=0.05)]
    assert a == b
    assert c != [t.events[-1].ts for t in simulate_month(2026, 2, seed=1, scale=0.05)]


def test_month_has_retries_loops_failures_and_a_wasteful_use_case() -> None:
    tasks = list(simulate_month(2026, 3, seed=42, scale=0.2))
    events = [e for t in tasks for e in t.events]
    assert any(e.status is EventStatus.RATE_LIMITED for e in events)
    assert any(e.attempt > 1 for e in events)
    outcomes = {t.outcome.outcome for t in tasks if t.outcome}
    assert {Outcome.SUCCEEDED, Outcome.FAILED, Outcome.ABANDONED} <= outcomes
    assert max(len(t.events) for t in tasks if t.events[0].use_case == "claim-triage") > 20  # an agent looped
    doc_qa = [e.input_tokens for e in events if e.use_case == "doc-qa" and e.input_tokens]
    other = [e.input_tokens for e in events if e.use_case == "case-summary" and e.input_tokens]
    assert sum(doc_qa) / len(doc_qa) > 5 * sum(other) / len(other)
    assert len({e.tenant for e in events}) == 5
    assert all(e.ts.month == 3 for e in events if e.task_id and "-20260331-" not in e.task_id)
