"""``concurrency``: calls in flight, one leased slot each; a refusal is a 429 to retry after 1 s."""

from __future__ import annotations

import datetime as dt

from aifinops.engine.limit_charges import Charge, ChargeMode, Need
from aifinops.engine.limit_kinds.kind import LimitKind
from aifinops.engine.limit_policies import CallFacts, FailMode, Policy

__all__ = ["KIND"]


def _plan(
    facts: CallFacts, policy: Policy, scope: str, *, deployment: str, output: int, as_of: dt.datetime
) -> Need:
    charge = Charge(f"conc:{scope}", ChargeMode.SLOT, 1, int(policy.limit), 0, policy.name)
    return Need(charge, policy, scope, retry_after=1, what="in flight")


KIND = LimitKind("concurrency", fail=FailMode.OPEN, plan=_plan)
