"""Gateway limits as pure decisions: policies, the counter charges a call needs, and allow / deny / downgrade.

The caller does the I/O. :func:`decide` judges a call against the counter values it is given (a snapshot:
counter key → used); the caller then reserves the decision's charges in its counter store, which re-checks
every limit atomically so that parallel calls cannot overspend. When the store refuses, it returns the
current values and the caller decides again with them (``gateway/enforcer.py`` starts from an empty
snapshot, so an allowed call costs one round trip); :func:`counter_keys` lists the counters to read when a
caller prefers to read first. Money is counted in integer nano-units (``domain.to_nanos``): a money limit
reserves the worst-case cost of the call (every input token uncached plus the full output allowance), and
the reservation is settled to the metered cost.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum

from aifinops.domain import DIMENSIONS, Price, from_nanos, to_nanos

__all__ = [
    "KEY_ID",
    "SCOPE_FIELDS",
    "BudgetPeriod",
    "CallFacts",
    "Charge",
    "ChargeMode",
    "Decision",
    "FailMode",
    "LimitKind",
    "Measure",
    "Policy",
    "Refusal",
    "TokenPrices",
    "counter_keys",
    "decide",
    "period_bounds",
    "worst_case_cost",
]

#: The pseudo-dimension naming the client's aifinops key in a policy scope.
KEY_ID = "key_id"
SCOPE_FIELDS: tuple[str, ...] = (*DIMENSIONS, KEY_ID)
#: A scope value meaning "each distinct value gets its own counter" (``app: "*"`` = per app).
EACH = "*"
_NANOS_PER_UNIT = 10**9


class LimitKind(StrEnum):
    """What a limit bounds; the value is the ``code`` of the OpenAI-shaped error."""

    DEPLOYMENT_ALLOWLIST = "deployment_allowlist"
    MAX_TOKENS = "max_tokens"
    CONTEXT_TOKENS = "context_tokens"
    MAX_STEPS = "max_steps"
    MAX_RETRIES = "max_retries"
    TASK_COST = "max_cost_per_task"
    CONCURRENCY = "concurrency"
    RPM = "rpm"
    TPM = "tpm"
    BUDGET = "budget"


class FailMode(StrEnum):
    """What a counter-backed limit does when its counter store is unreachable."""

    OPEN = "open"  # allow the call uncounted
    CLOSED = "closed"  # refuse the call with 503


class BudgetPeriod(StrEnum):
    """The period of a money budget: calendar-aligned in the time zone of ``as_of``, or a sliding window."""

    DAY = "day"
    MONTH = "month"
    TOTAL = "total"
    ROLLING = "rolling"  # the last ``window_seconds``; a refusal is a 429 with a retry-after


class Measure(StrEnum):
    """What settling a charge replaces its reserved amount with."""

    NONE = "none"  # the reserved amount stands (requests, steps, slots)
    TOKENS = "tokens"  # the metered input + output tokens
    COST = "cost"  # the metered cost in nano-units


class ChargeMode(StrEnum):
    """How a counter store keeps one charge."""

    COUNT = "count"  # a plain tally with an expiry (steps, retries of one task)
    SLIDING = "sliding"  # two fixed buckets weighted into a sliding window (RPM, TPM)
    POOL = "pool"  # committed + leased reservations (money)
    SLOT = "slot"  # leased members of a set (concurrency)


#: Limits that need no counter: checked from the request alone.
STATIC_KINDS = frozenset({LimitKind.DEPLOYMENT_ALLOWLIST, LimitKind.MAX_TOKENS, LimitKind.CONTEXT_TOKENS})


@dataclass(frozen=True, slots=True)
class Policy:
    """One limit on the calls whose allocation matches ``scope``.

    ``scope`` maps a field of :data:`SCOPE_FIELDS` to a value that must match, or to ``"*"`` for a separate
    counter per distinct value. An empty scope is one counter shared by every call the policy applies to.
    ``limit`` is a count (tokens, requests, steps) or, for money kinds, an amount in ``currency``.
    """

    name: str
    kind: LimitKind
    scope: Mapping[str, str] = field(default_factory=dict)
    limit: Decimal = Decimal(0)
    currency: str | None = None
    window_seconds: int = 60
    period: BudgetPeriod = BudgetPeriod.MONTH
    deployments: frozenset[str] = frozenset()
    reject: bool = False  # max_tokens: refuse instead of clamping
    downgrade_to: str | None = None  # budget: forward to this cheaper deployment instead of refusing
    default_output_tokens: int = 4096  # output allowance assumed when the request sets no max_tokens
    fail: FailMode = FailMode.OPEN
    task_ttl_seconds: int = 86_400

    def scope_key(self, values: Mapping[str, str]) -> str | None:
        """The counter scope of a call, e.g. ``app=chat,tenant=acme``; None when the policy does not apply."""
        parts = []
        for name in sorted(self.scope):
            wanted, actual = self.scope[name], values.get(name)
            if actual is None or (wanted != EACH and wanted != actual):
                return None
            parts.append(f"{name}={actual}")
        return ",".join(parts) or "*"


@dataclass(frozen=True, slots=True)
class TokenPrices:
    """The input and output token prices of one deployment (in the same currency)."""

    input: Price
    output: Price

    @property
    def currency(self) -> str:
        return self.input.currency


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What the engine knows about one call; ``dims`` holds the allocation and ``key_id``."""

    dims: Mapping[str, str]
    deployment: str
    task_id: str | None = None
    step: int | None = None
    attempt: int = 1
    requested_max_tokens: int | None = None
    estimated_input_tokens: int = 0
    prices: Mapping[str, TokenPrices] = field(default_factory=dict)  # deployment → prices, incl. downgrades


@dataclass(frozen=True, slots=True)
class Charge:
    """One counter increment a call needs, with the limit the store must re-check atomically."""

    key: str
    mode: ChargeMode
    amount: int
    limit: int
    ttl_seconds: int
    policy: str
    refund_on_release: bool = True
    measure: Measure = Measure.NONE
    prev_key: str | None = None  # SLIDING: the previous bucket
    prev_weight_ppm: int = 0  # SLIDING: how much of the previous bucket still counts, in millionths


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a call is refused, with everything the error message must name."""

    kind: LimitKind
    policy: str
    scope: str
    current: str
    limit: str
    status: int
    message: str
    retry_after: int | None = None


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


def worst_case_cost(prices: TokenPrices, *, input_tokens: int, output_tokens: int) -> Decimal:
    """The most a call can cost: every input token uncached at the input price, the full output allowance.

    >>> import datetime as dt
    >>> from aifinops.domain import MeterKind
    >>> t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    >>> p = TokenPrices(Price("m", MeterKind.INPUT, Decimal("2.50"), "USD", t0),
    ...                 Price("m", MeterKind.OUTPUT, Decimal("10"), "USD", t0))
    >>> worst_case_cost(p, input_tokens=1000, output_tokens=500)
    Decimal('0.0075')
    """
    return prices.input.cost_of(input_tokens) + prices.output.cost_of(output_tokens)


def _ceil_nanos(amount: Decimal) -> int:
    # A reservation rounds up so that a sum of reservations never under-covers the calls it stands for.
    return int((amount * _NANOS_PER_UNIT).to_integral_value(rounding=ROUND_CEILING))


def period_bounds(period: BudgetPeriod, as_of: dt.datetime) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Start and end of the budget period holding ``as_of`` (calendar-aligned in ``as_of``'s zone).

    >>> period_bounds(BudgetPeriod.MONTH, dt.datetime(2026, 12, 15, 8, tzinfo=dt.UTC))[1].isoformat()
    '2027-01-01T00:00:00+00:00'
    """
    if period in (BudgetPeriod.TOTAL, BudgetPeriod.ROLLING):
        return None, None
    day = as_of.replace(hour=0, minute=0, second=0, microsecond=0)
    if period is BudgetPeriod.DAY:
        return day, day + dt.timedelta(days=1)
    start = day.replace(day=1)
    return start, (start + dt.timedelta(days=32)).replace(day=1)


def _window(seconds: int, as_of: dt.datetime) -> tuple[int, int, float]:
    """(current bucket index, seconds left in it, elapsed fraction of it) for a sliding window."""
    now = as_of.timestamp()
    bucket = math.floor(now / seconds)
    elapsed = now - bucket * seconds
    return bucket, max(1, math.ceil(seconds - elapsed)), elapsed / seconds


@dataclass(frozen=True, slots=True)
class _Need:
    """A charge with the policy that asked for it and how to word a refusal."""

    charge: Charge
    policy: Policy
    scope: str
    retry_after: int | None = None


def _sliding(policy: Policy, scope: str, amount: int, as_of: dt.datetime, *, measure: Measure) -> _Need:
    bucket, left, fraction = _window(policy.window_seconds, as_of)
    base = f"{policy.kind}:{policy.window_seconds}:{policy.currency or ''}:{scope}"
    limit = to_nanos(policy.limit) if measure is Measure.COST else int(policy.limit)
    # A request that reached the upstream counts against RPM even when it failed; its tokens and cost do not.
    refund = measure is not Measure.NONE
    weight = int((1 - fraction) * 1_000_000)
    charge = Charge(
        f"{base}:{bucket}",
        ChargeMode.SLIDING,
        amount,
        limit,
        2 * policy.window_seconds + 5,
        policy.name,
        refund,
        measure,
        prev_key=f"{base}:{bucket - 1}",
        prev_weight_ppm=weight,
    )
    return _Need(charge, policy, scope, retry_after=left)


def _count(policy: Policy, task: str) -> _Need:
    charge = Charge(
        f"{policy.kind}:task={task}",
        ChargeMode.COUNT,
        1,
        int(policy.limit),
        policy.task_ttl_seconds,
        policy.name,
        refund_on_release=False,
    )
    return _Need(charge, policy, f"task={task}")


#: Task counters: steps count first attempts, retries count the attempts after the first.
_TASK_COUNTS = {LimitKind.MAX_STEPS: False, LimitKind.MAX_RETRIES: True}


def _needs(
    facts: CallFacts,
    applicable: Sequence[tuple[Policy, str]],
    deployment: str,
    output: int,
    as_of: dt.datetime,
) -> list[_Need] | Refusal:
    """The counter charges of a call on ``deployment``, or a refusal when a money limit cannot be priced."""
    task = facts.task_id
    needs: list[_Need] = []
    for policy, scope in applicable:
        kind = policy.kind
        if kind is LimitKind.RPM:
            needs.append(_sliding(policy, scope, 1, as_of, measure=Measure.NONE))
        elif kind is LimitKind.TPM:
            tokens = facts.estimated_input_tokens + output
            needs.append(_sliding(policy, scope, tokens, as_of, measure=Measure.TOKENS))
        elif kind is LimitKind.CONCURRENCY:
            charge = Charge(f"conc:{scope}", ChargeMode.SLOT, 1, int(policy.limit), 0, policy.name)
            needs.append(_Need(charge, policy, scope, retry_after=1))
        elif kind in _TASK_COUNTS and task is not None and _TASK_COUNTS[kind] == (facts.attempt > 1):
            needs.append(_count(policy, task))
        elif kind is LimitKind.BUDGET or (kind is LimitKind.TASK_COST and task is not None):
            need = _money(facts, policy, scope, deployment, output, as_of)
            if isinstance(need, Refusal):
                return need
            needs.extend([need] if need else [])
    return _merge(needs)


def _money(
    facts: CallFacts, policy: Policy, scope: str, deployment: str, output: int, as_of: dt.datetime
) -> _Need | Refusal | None:
    """The worst-case cost reservation of a budget or task-cost limit (None: unpriced and failing open)."""
    prices = facts.prices.get(deployment)
    if prices is None or prices.currency != policy.currency:
        return _unpriced(policy, scope, deployment) if policy.fail is FailMode.CLOSED else None
    worst = worst_case_cost(prices, input_tokens=facts.estimated_input_tokens, output_tokens=output)
    nanos, limit = _ceil_nanos(worst), to_nanos(policy.limit)
    if policy.kind is LimitKind.TASK_COST:
        key, scope = f"taskcost:{policy.currency}:task={facts.task_id}", f"task={facts.task_id}"
        charge = Charge(
            key, ChargeMode.POOL, nanos, limit, policy.task_ttl_seconds, policy.name, measure=Measure.COST
        )
        return _Need(charge, policy, scope)
    if policy.period is BudgetPeriod.ROLLING:
        return _sliding(policy, scope, nanos, as_of, measure=Measure.COST)
    start, end = period_bounds(policy.period, as_of)
    key = f"budget:{policy.period}:{policy.currency}:{scope}:{start.date().isoformat() if start else 'all'}"
    ttl = int((end - as_of).total_seconds()) + 86_400 if end else 0  # a day's grace for late settles
    return _Need(
        Charge(key, ChargeMode.POOL, nanos, limit, ttl, policy.name, measure=Measure.COST), policy, scope
    )


def _merge(needs: list[_Need]) -> list[_Need]:
    # Two policies on the same counter (same kind and scope) must charge it once, against the lower limit.
    by_key: dict[str, _Need] = {}
    for need in needs:
        kept = by_key.get(need.charge.key)
        if kept is None or need.charge.limit < kept.charge.limit:
            by_key[need.charge.key] = need
    return list(by_key.values())


def _unpriced(policy: Policy, scope: str, deployment: str) -> Refusal:
    message = (
        f"{policy.kind} limit {policy.name!r} on scope {scope} cannot be checked: deployment "
        f"{deployment!r} has no {policy.currency} token price (current: unpriced, limit: "
        f"{policy.limit} {policy.currency}); add a price for it or set the limit to fail: open"
    )
    return Refusal(policy.kind, policy.name, scope, "unpriced", str(policy.limit), 403, message)


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


def _check(needs: Sequence[_Need], snapshot: Mapping[str, int]) -> Refusal | None:
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
    needs = _needs(facts, applicable, deployment, output, as_of)
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
        needs = _needs(facts, applicable, deployment, facts.requested_max_tokens or 0, as_of)
        if not isinstance(needs, Refusal):
            seen.update((n.charge.key, n.charge) for n in needs)
    return list(seen.values())
