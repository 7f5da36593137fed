"""``max_steps``: first attempts of one task, counted; a step header above the limit is refused as well."""

from __future__ import annotations

import datetime as dt

from aifinops.engine.limit_charges import Need, task_count_need, task_scope
from aifinops.engine.limit_kinds.kind import LimitKind
from aifinops.engine.limit_policies import CallFacts, FailMode, Policy, Refusal, refuse

__all__ = ["KIND"]


def _check(
    facts: CallFacts, policy: Policy, scope: str, *, deployment: str, max_tokens: int | None
) -> Refusal | None:
    limit = int(policy.limit)
    if facts.task_id is None or (facts.step or 0) <= limit:
        return None
    return refuse(policy, task_scope(facts), str(facts.step), str(limit), what="step")


def _plan(
    facts: CallFacts, policy: Policy, scope: str, *, deployment: str, output: int, as_of: dt.datetime
) -> Need | None:
    if facts.task_id is None or facts.attempt > 1:  # retries are max_retries' to count
        return None
    return task_count_need(policy, facts)


KIND = LimitKind("max_steps", fail=FailMode.OPEN, check=_check, plan=_plan)
