"""``context_tokens``: the offline estimate of a call's input tokens; larger prompts are refused (403)."""

from __future__ import annotations

from aifinops.engine.limit_kinds.kind import LimitKind
from aifinops.engine.limit_policies import CallFacts, Policy, Refusal, refuse

__all__ = ["KIND"]


def _check(
    facts: CallFacts, policy: Policy, scope: str, *, deployment: str, max_tokens: int | None
) -> Refusal | None:
    limit = int(policy.limit)
    if facts.estimated_input_tokens <= limit:
        return None
    tokens = str(facts.estimated_input_tokens)
    return refuse(policy, scope, tokens, str(limit), what="estimated input tokens")


KIND = LimitKind("context_tokens", check=_check)
