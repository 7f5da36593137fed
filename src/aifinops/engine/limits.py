"""Gateway limits as pure decisions: allow / deny / downgrade one call against its policies and counters.

The caller does the I/O. :func:`decide` judges a call against the counter values it is given (a snapshot:
counter key → used); the caller then reserves the decision's charges in its counter store, which re-checks
every limit atomically so that parallel calls cannot overspend. When the store refuses, it returns the
current values and the caller decides again with them (``gateway/enforcer.py`` starts from an empty
snapshot, so an allowed call costs one round trip); :func:`counter_keys` lists the counters to read when a
caller prefers to read first. What each kind of limit checks and charges lives in
:mod:`aifinops.engine.limit_kinds` (one module per kind), the policies in
:mod:`aifinops.engine.limit_policies`, the charge shapes and worst-case money arithmetic in
:mod:`aifinops.engine.limit_charges`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from aifinops.domain import from_nanos
from aifinops.engine.limit_charges import Charge, Measure, Need, merge_needs, worst_case_cost
from aifinops.engine.limit_kinds import KINDS
from aifinops.engine.limit_policies import CallFacts, Policy, Refusal, refuse

__all__ = [
    "Decision",
    "counter_keys",
    "decide",
    "plan_charges",
]


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict on one call: charges to reserve when allowed, the refusal otherwise."""

    allowed: bool
    deployment: str
    max_tokens: int | None = None
    charges: tuple[Charge, ...] = ()
    refusal: Refusal | None = None
    downgraded_from: str | None = None
    worst_case_cost: Decimal | None = None
    currency: str | None = None


def _static(
    facts: CallFacts, applicable: Sequence[tuple[Policy, str]], deployment: str
) -> int | Refusal | None:
    """The checks from the request alone; returns the max_tokens to send upstream, or a refusal."""
    max_tokens = facts.requested_max_tokens
    clamped: int | None = None
    for policy, scope in applicable:
        check = KINDS[policy.kind].check
        if check is None:
            continue
        verdict = check(facts, policy, scope, deployment=deployment, max_tokens=max_tokens)
        if isinstance(verdict, Refusal):
            return verdict
        if verdict is not None:
            clamped = max_tokens = verdict
    return clamped


def plan_charges(
    facts: CallFacts,
    applicable: Sequence[tuple[Policy, str]],
    *,
    deployment: str,
    output: int,
    as_of: dt.datetime,
) -> list[Need] | Refusal:
    """The counter charges of a call on ``deployment``, or a refusal when a money limit cannot be priced."""
    needs: list[Need] = []
    for policy, scope in applicable:
        plan = KINDS[policy.kind].plan
        if plan is None:
            continue
        need = plan(facts, policy, scope, deployment=deployment, output=output, as_of=as_of)
        if isinstance(need, Refusal):
            return need
        if need is not None:
            needs.append(need)
    return merge_needs(needs)


def _check(needs: Sequence[Need], snapshot: Mapping[str, int]) -> Refusal | None:
    """The first charge that would take its counter past its limit, as a refusal.

    Limits that pass with time (rates, slots, rolling budgets) carry a retry-after and refuse with a 429;
    the others need a change of plan or policy (403).
    """
    for need in needs:
        charge, policy, retry_after = need.charge, need.policy, need.retry_after
        used = snapshot.get(charge.key, 0)
        if used + charge.amount <= charge.limit:
            continue
        if charge.measure is Measure.COST:
            cur = policy.currency
            current = (
                f"{from_nanos(used)} {cur} spent or reserved + {from_nanos(charge.amount)} {cur} worst case"
            )
            return refuse(
                policy, need.scope, current, f"{policy.limit} {cur}", what="cost", retry_after=retry_after
            )
        current = f"{used} + {charge.amount}"
        return refuse(policy, need.scope, current, str(charge.limit), what=need.what, retry_after=retry_after)
    return None


def _applicable(facts: CallFacts, policies: Sequence[Policy]) -> list[tuple[Policy, str]]:
    scoped = ((policy, policy.scope_key(facts.dims)) for policy in policies)
    return [(policy, scope) for policy, scope in scoped if scope is not None]


def _evaluate(
    facts: CallFacts,
    applicable: Sequence[tuple[Policy, str]],
    deployment: str,
    snapshot: Mapping[str, int],
    as_of: dt.datetime,
) -> Decision | Refusal:
    max_tokens = _static(facts, applicable, deployment)
    if isinstance(max_tokens, Refusal):
        return max_tokens
    output = max_tokens or facts.requested_max_tokens
    if output is None:
        output = min((p.default_output_tokens for p, _ in applicable), default=4096)
    needs = plan_charges(facts, applicable, deployment=deployment, output=output, as_of=as_of)
    if isinstance(needs, Refusal):
        return needs
    refusal = _check(needs, snapshot)
    if refusal is not None:
        return refusal
    prices = facts.prices.get(deployment)
    worst = (
        worst_case_cost(prices, input_tokens=facts.estimated_input_tokens, output_tokens=output)
        if prices
        else None
    )
    charges = tuple(n.charge for n in needs)
    return Decision(
        True,
        deployment,
        max_tokens,
        charges,
        worst_case_cost=worst,
        currency=prices.currency if prices else None,
    )


def decide(
    facts: CallFacts, policies: Sequence[Policy], snapshot: Mapping[str, int], *, as_of: dt.datetime
) -> Decision:
    """Allow, refuse or downgrade one call given the current counter values (key → used; missing = 0).

    A refusal by a budget with ``downgrade_to`` re-evaluates the call on that deployment (following the chain
    of downgrades, each at most once); the first deployment that passes every limit is the one forwarded to.
    When none does, the refusal of the requested deployment is returned, unless a downgrade target was
    refused by a limit that passes with time (429), which is then the more useful answer.
    """
    applicable = _applicable(facts, policies)
    deployment, tried = facts.deployment, set[str]()
    first: Refusal | None = None
    while True:
        tried.add(deployment)
        verdict = _evaluate(facts, applicable, deployment, snapshot, as_of)
        if isinstance(verdict, Decision):
            if deployment == facts.deployment:
                return verdict
            return dataclasses.replace(verdict, downgraded_from=facts.deployment)
        first = first or verdict
        target = _downgrade_target(verdict, applicable)
        if target is None or target in tried:
            refusal = verdict if verdict.status == 429 else first
            return Decision(False, facts.deployment, refusal=refusal)
        deployment = target


def _downgrade_target(refusal: Refusal, applicable: Sequence[tuple[Policy, str]]) -> str | None:
    if "downgrade" not in KINDS[refusal.kind].actions:
        return None
    return next((p.downgrade_to for p, _ in applicable if p.name == refusal.policy and p.downgrade_to), None)


def counter_keys(facts: CallFacts, policies: Sequence[Policy], *, as_of: dt.datetime) -> list[Charge]:
    """Every charge :func:`decide` may ask for this call (all downgrade targets included), to read first."""
    applicable = _applicable(facts, policies)
    targets = [facts.deployment] + [p.downgrade_to for p, _ in applicable if p.downgrade_to]
    seen: dict[str, Charge] = {}
    for deployment in dict.fromkeys(targets):
        needs = plan_charges(
            facts, applicable, deployment=deployment, output=facts.requested_max_tokens or 0, as_of=as_of
        )
        if not isinstance(needs, Refusal):
            seen.update((n.charge.key, n.charge) for n in needs)
    return list(seen.values())
