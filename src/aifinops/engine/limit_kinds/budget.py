"""``budget``: committed + reserved cost in a calendar period or a rolling window; may downgrade the call."""

from __future__ import annotations

import datetime as dt

from aifinops.domain import to_nanos
from aifinops.engine.limit_charges import (
    Charge,
    ChargeMode,
    Measure,
    Need,
    period_bounds,
    sliding_need,
    worst_case_nanos,
)
from aifinops.engine.limit_kinds.kind import LimitKind
from aifinops.engine.limit_policies import BudgetPeriod, CallFacts, FailMode, Policy, Refusal

__all__ = ["KIND"]


def _plan(
    facts: CallFacts, policy: Policy, scope: str, *, deployment: str, output: int, as_of: dt.datetime
) -> Need | Refusal | None:
    nanos = worst_case_nanos(facts, policy, scope, deployment=deployment, output=output)
    if not isinstance(nanos, int):
        return nanos
    if policy.period is BudgetPeriod.ROLLING:
        return sliding_need(policy, scope, nanos, as_of, measure=Measure.COST, what="cost")
    start, end = period_bounds(policy.period, as_of)
    key = f"budget:{policy.period}:{policy.currency}:{scope}:{start.date().isoformat() if start else 'all'}"
    ttl = int((end - as_of).total_seconds()) + 86_400 if end else 0  # a day's grace for late settles
    limit = to_nanos(policy.limit)
    return Need(
        Charge(key, ChargeMode.POOL, nanos, limit, ttl, policy.name, measure=Measure.COST), policy, scope
    )


# Money fails closed: an outage of the counter store must not become an unbounded bill.
KIND = LimitKind("budget", fail=FailMode.CLOSED, plan=_plan, money=True, actions=frozenset({"downgrade"}))
