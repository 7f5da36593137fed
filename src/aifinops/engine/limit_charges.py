"""Counter charges of a gateway call: which counters a call takes, and its worst-case reservation arithmetic.

Money is counted in integer nano-units (``domain.to_nanos``): a money limit reserves the worst-case cost of
the call (every input token uncached plus the full output allowance), rounded up, and the reservation is
settled to the metered cost. Sliding windows (RPM, TPM, rolling budgets) weigh the previous bucket by the
share of it still inside the window.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum

from aifinops.domain import to_nanos
from aifinops.engine.limit_policies import (
    BudgetPeriod,
    CallFacts,
    FailMode,
    LimitKind,
    Policy,
    Refusal,
    TokenPrices,
)

__all__ = [
    "Charge",
    "ChargeMode",
    "Measure",
    "Need",
    "period_bounds",
    "plan_charges",
    "worst_case_cost",
]

_NANOS_PER_UNIT = 10**9


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
class Need:
    """A charge with the policy that asked for it and how to word a refusal."""

    charge: Charge
    policy: Policy
    scope: str
    retry_after: int | None = None


def _sliding(policy: Policy, scope: str, amount: int, as_of: dt.datetime, *, measure: Measure) -> Need:
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
    return Need(charge, policy, scope, retry_after=left)


def _count(policy: Policy, task: str) -> Need:
    charge = Charge(
        f"{policy.kind}:task={task}",
        ChargeMode.COUNT,
        1,
        int(policy.limit),
        policy.task_ttl_seconds,
        policy.name,
        refund_on_release=False,
    )
    return Need(charge, policy, f"task={task}")


#: Task counters: steps count first attempts, retries count the attempts after the first.
_TASK_COUNTS = {LimitKind.MAX_STEPS: False, LimitKind.MAX_RETRIES: True}


def plan_charges(
    facts: CallFacts,
    applicable: Sequence[tuple[Policy, str]],
    *,
    deployment: str,
    output: int,
    as_of: dt.datetime,
) -> list[Need] | Refusal:
    """The counter charges of a call on ``deployment``, or a refusal when a money limit cannot be priced."""
    task = facts.task_id
    needs: list[Need] = []
    for policy, scope in applicable:
        kind = policy.kind
        if kind is LimitKind.RPM:
            needs.append(_sliding(policy, scope, 1, as_of, measure=Measure.NONE))
        elif kind is LimitKind.TPM:
            tokens = facts.estimated_input_tokens + output
            needs.append(_sliding(policy, scope, tokens, as_of, measure=Measure.TOKENS))
        elif kind is LimitKind.CONCURRENCY:
            charge = Charge(f"conc:{scope}", ChargeMode.SLOT, 1, int(policy.limit), 0, policy.name)
            needs.append(Need(charge, policy, scope, retry_after=1))
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
) -> Need | Refusal | None:
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
        return Need(charge, policy, scope)
    if policy.period is BudgetPeriod.ROLLING:
        return _sliding(policy, scope, nanos, as_of, measure=Measure.COST)
    start, end = period_bounds(policy.period, as_of)
    key = f"budget:{policy.period}:{policy.currency}:{scope}:{start.date().isoformat() if start else 'all'}"
    ttl = int((end - as_of).total_seconds()) + 86_400 if end else 0  # a day's grace for late settles
    return Need(
        Charge(key, ChargeMode.POOL, nanos, limit, ttl, policy.name, measure=Measure.COST), policy, scope
    )


def _merge(needs: list[Need]) -> list[Need]:
    # Two policies on the same counter (same kind and scope) must charge it once, against the lower limit.
    by_key: dict[str, Need] = {}
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
