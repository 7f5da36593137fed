"""``tpm``: input + output tokens in a sliding window, reserved at the worst case, settled to the metered."""

from __future__ import annotations

import datetime as dt

from aifinops.engine.limit_charges import Measure, Need, sliding_need
from aifinops.engine.limit_kinds.kind import LimitKind
from aifinops.engine.limit_policies import CallFacts, FailMode, Policy

__all__ = ["KIND"]


def _plan(
    facts: CallFacts, policy: Policy, scope: str, *, deployment: str, output: int, as_of: dt.datetime
) -> Need:
    tokens = facts.estimated_input_tokens + output
    return sliding_need(policy, scope, tokens, as_of, measure=Measure.TOKENS, what="tokens in window")


KIND = LimitKind("tpm", fail=FailMode.OPEN, plan=_plan)
