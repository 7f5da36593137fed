"""``max_retries``: calls of one task with ``attempt`` above 1, counted; past the limit they are refused."""

from __future__ import annotations

import datetime as dt

from aifinops.engine.limit_charges import Need, task_count_need
from aifinops.engine.limit_kinds.kind import LimitKind
from aifinops.engine.limit_policies import CallFacts, FailMode, Policy

__all__ = ["KIND"]


def _plan(
    facts: CallFacts, policy: Policy, scope: str, *, deployment: str, output: int, as_of: dt.datetime
) -> Need | None:
    if facts.task_id is None or facts.attempt <= 1:
        return None
    return task_count_need(policy, facts)


KIND = LimitKind("max_retries", fail=FailMode.OPEN, plan=_plan)
