"""``max_cost_per_task``: committed + reserved cost of one task (calls with a task id), in ``currency``."""

from __future__ import annotations

import datetime as dt

from aifinops.domain import to_nanos
from aifinops.engine.limit_charges import Charge, ChargeMode, Measure, Need, task_scope, worst_case_nanos
from aifinops.engine.limit_kinds.kind import LimitKind
from aifinops.engine.limit_policies import CallFacts, FailMode, Policy, Refusal

__all__ = ["KIND"]


def _plan(
    facts: CallFacts, policy: Policy, scope: str, *, deployment: str, output: int, as_of: dt.datetime
) -> Need | Refusal | None:
    if facts.task_id is None:
        return None
    nanos = worst_case_nanos(facts, policy, scope, deployment=deployment, output=output)
    if not isinstance(nanos, int):
        return nanos
    task = task_scope(facts)
    key = f"taskcost:{policy.currency}:{task}"
    limit = to_nanos(policy.limit)
    charge = Charge(
        key, ChargeMode.POOL, nanos, limit, policy.task_ttl_seconds, policy.name, measure=Measure.COST
    )
    return Need(charge, policy, task)


KIND = LimitKind("max_cost_per_task", fail=FailMode.CLOSED, plan=_plan, money=True)
