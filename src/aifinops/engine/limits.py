"""Gateway limits as pure decisions: allow / deny / downgrade one call against its policies and counters.

The caller does the I/O. :func:`decide` judges a call against the counter values it is given (a snapshot:
counter key → used); the caller then reserves the decision's charges in its counter store, which re-checks
every limit atomically so that parallel calls cannot overspend. When the store refuses, it returns the
current values and the caller decides again with them (``gateway/enforcer.py`` starts from an empty
snapshot, so an allowed call costs one round trip); :func:`counter_keys` lists the counters to read when a
caller prefers to read first. The policies live in :mod:`aifinops.engine.limit_policies`, the charges and
their worst-case money reservations in :mod:`aifinops.engine.limit_charges`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from aifinops.domain import from_nanos
from aifinops.engine.limit_charges import Charge, Measure, Need, plan_charges, worst_case_cost
from aifinops.engine.limit_policies import BudgetPeriod, CallFacts, LimitKind, Policy, Refusal

__all__ = [
    "Decision",
    "counter_keys",
    "decide",
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
    """Allowlist, max_tokens and context checks; returns the max_tokens to send upstream, or a refusal."""
    max_tokens = facts.requested_max_tokens
    clamped: int | None = None
    for policy, scope in applicable:
        kind, limit = policy.kind, int(policy.limit)
        if kind is LimitKind.DEPLOYMENT_ALLOWLIST and deployment not in policy.deployments:
            allowed = ", ".join(sorted(policy.deployments))
            return _refuse(policy, scope, deployment, f"one of [{allowed}]", what="deployment")
        if kind is LimitKind.CONTEXT_TOKENS and facts.estimated_input_tokens > limit:
            tokens = str(facts.estimated_input_tokens)
            return _refuse(policy, scope, tokens, str(limit), what="estimated input tokens")
        if kind is LimitKind.MAX_STEPS and facts.task_id is not None and (facts.step or 0) > limit:
            return _refuse(policy, f"task={facts.task_id}", str(facts.step), str(limit), what="step")
        if kind is LimitKind.MAX_TOKENS and (max_tokens is None or max_tokens > limit):
            if max_tokens is not None and policy.reject:
                return _refuse(policy, scope, str(max_tokens), str(limit), what="max_tokens")
            clamped = max_tokens = limit
    return clamped


#: Rate and concurrency limits pass with time (429); the others need a change of plan or policy (403).
_TRANSIENT = frozenset({LimitKind.RPM, LimitKind.TPM, LimitKind.CONCURRENCY})
_WHAT = {
    LimitKind.TPM: "tokens in window",
    LimitKind.RPM: "requests in window",
    LimitKind.CONCURRENCY: "in flight",
}


def _refuse(
    policy: Policy, scope: str, current: str, limit: str, *, what: str, retry_after: int | None = None
) -> Refusal:
    verb = "refused" if policy.kind is LimitKind.DEPLOYMENT_ALLOWLIST else "exceeded"
    message = f"{policy.kind} limit {policy.name!r} on scope {scope} {verb}: {what} {current}, limit {limit}"
    if retry_after is not None:
        message += f"; retry after {retry_after} s"
    status = 429 if retry_after is not None else 403
    return Refusal(policy.kind, policy.name, scope, current, limit, status, message, retry_after)


def _check(needs: Sequence[Need], snapshot: Mapping[str, int]) -> Refusal | None:
    """The first charge that would take its counter past its limit, as a refusal."""
    for need in needs:
        charge, policy = need.charge, need.policy
        used = snapshot.get(charge.key, 0)
        if used + charge.amount <= charge.limit:
            continue
        transient = policy.kind in _TRANSIENT or policy.period is BudgetPeriod.ROLLING
        retry_after = need.retry_after if transient else None
        if charge.measure is Measure.COST:
            cur = policy.currency
            current = (
                f"{from_nanos(used)} {cur} spent or reserved + {from_nanos(charge.amount)} {cur} worst case"
            )
            return _refuse(
                policy, need.scope, current, f"{policy.limit} {cur}", what="cost", retry_after=retry_after
            )
        what = _WHAT.get(policy.kind, "count")
        current = f"{used} + {charge.amount}"
        return _refuse(policy, need.scope, current, str(charge.limit), what=what, retry_after=retry_after)
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
    if refusal.kind is not LimitKind.BUDGET:
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
