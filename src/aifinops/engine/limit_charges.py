"""Counter charges of gateway calls: the charge shapes limit kinds build, worst-case reservation arithmetic.

Money is counted in integer nano-units (``domain.to_nanos``): a money limit reserves the worst-case cost of
the call (every input token uncached plus the full output allowance), rounded up, and the reservation is
settled to the metered cost. Sliding windows (RPM, TPM, rolling budgets) weigh the previous bucket by the
share of it still inside the window.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum

from aifinops.domain import to_nanos
from aifinops.engine.limit_policies import BudgetPeriod, CallFacts, FailMode, Policy, Refusal, TokenPrices

__all__ = [
    "Charge",
    "ChargeMode",
    "Measure",
    "Need",
    "merge_needs",
    "period_bounds",
    "sliding_need",
    "task_count_need",
    "task_scope",
    "worst_case_cost",
    "worst_case_nanos",
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
    """A charge with the policy that asked for it and how to word a refusal.

    ``retry_after`` is set for limits that pass with time (a refusal is then a 429); ``what`` names what the
    counter holds in a refusal message.
    """

    charge: Charge
    policy: Policy
    scope: str
    retry_after: int | None = None
    what: str = "count"


def sliding_need(
    policy: Policy, scope: str, amount: int, as_of: dt.datetime, *, measure: Measure, what: str
) -> Need:
    """A charge on a sliding window of ``policy.window_seconds`` (requests, tokens or money)."""
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
    return Need(charge, policy, scope, retry_after=left, what=what)


def task_scope(facts: CallFacts) -> str:
    """The counter scope of the call's task: its id within its tenant, so that two tenants reusing an id never
    share a task's counters. The tenant is JSON-quoted: no tenant or task name can spell another's scope.

    >>> task_scope(CallFacts({"tenant": "contoso"}, "gpt-4o", task_id="ticket-1"))
    'tenant="contoso":task=ticket-1'
    """
    tenant = facts.dims.get("tenant")
    return f"tenant={json.dumps(tenant)}:task={facts.task_id}" if tenant else f"task={facts.task_id}"


def task_count_need(policy: Policy, facts: CallFacts) -> Need:
    """One more call counted against a per-task limit (steps, retries)."""
    task = task_scope(facts)
    charge = Charge(
        f"{policy.kind}:{task}",
        ChargeMode.COUNT,
        1,
        int(policy.limit),
        policy.task_ttl_seconds,
        policy.name,
        refund_on_release=False,
    )
    return Need(charge, policy, task)


def worst_case_nanos(
    facts: CallFacts, policy: Policy, scope: str, *, deployment: str, output: int
) -> int | Refusal | None:
    """The worst-case cost of a call on ``deployment`` in nano-units, rounded up, for a money limit.

    Without a token price in the limit's currency: a refusal when the limit fails closed, else None (the call
    is not counted against it).
    """
    prices = facts.prices.get(deployment)
    if prices is None or prices.currency != policy.currency:
        return _unpriced(policy, scope, deployment) if policy.fail is FailMode.CLOSED else None
    worst = worst_case_cost(prices, input_tokens=facts.estimated_input_tokens, output_tokens=output)
    return _ceil_nanos(worst)


def merge_needs(needs: list[Need]) -> list[Need]:
    """Two policies on the same counter (same kind and scope) charge it once, against the lower limit."""
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
