"""``rpm``: requests in a sliding window of ``window_seconds`` (60 by default); a refusal is a 429."""

from __future__ import annotations

import datetime as dt

from aifinops.engine.limit_charges import Measure, Need, sliding_need
from aifinops.engine.limit_kinds.kind import LimitKind
from aifinops.engine.limit_policies import CallFacts, FailMode, Policy

__all__ = ["KIND"]


def _plan(
    facts: CallFacts, policy: Policy, scope: str, *, deployment: str, output: int, as_of: dt.datetime
) -> Need:
    return sliding_need(policy, scope, 1, as_of, measure=Measure.NONE, what="requests in window")


KIND = LimitKind("rpm", fail=FailMode.OPEN, plan=_plan)
