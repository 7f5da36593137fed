"""``max_tokens``: the output cap of a call; ``clamp`` (default) lowers or sets it, ``reject`` refuses."""

from __future__ import annotations

from aifinops.engine.limit_kinds.kind import LimitKind
from aifinops.engine.limit_policies import CallFacts, Policy, Refusal, refuse

__all__ = ["KIND"]


def _check(
    facts: CallFacts, policy: Policy, scope: str, *, deployment: str, max_tokens: int | None
) -> Refusal | int | None:
    limit = int(policy.limit)
    if max_tokens is not None and max_tokens <= limit:
        return None
    if max_tokens is not None and policy.reject:
        return refuse(policy, scope, str(max_tokens), str(limit), what="max_tokens")
    return limit


KIND = LimitKind("max_tokens", check=_check, actions=frozenset({"clamp", "reject"}))
