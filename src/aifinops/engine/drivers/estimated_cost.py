"""Estimated cost: each consumer weighs what its usage cost at our prices, in the record's currency."""

from __future__ import annotations

from collections import defaultdict

from aifinops.engine.drivers.kind import Consumer, DriverKind, UsageSum, UsageSums

__all__ = ["ESTIMATED_COST", "ESTIMATED_COST_NANOS"]

ESTIMATED_COST_NANOS = UsageSum("estimated_cost_nanos", ("cost_nanos",))


def _weigh(usage: UsageSums, currency: str) -> dict[Consumer, int] | str:
    """Estimates in the record's currency, else in the only currency present (estimates in several other
    currencies are never mixed)."""
    present = sorted({c for (_, c), sums in usage.items() if sums[0] > 0})
    if currency not in present and len(present) > 1:
        return f"estimated cost drivers are in several currencies and none in {currency}; use tokens"
    chosen = currency if currency in present else (present[0] if present else "")
    per_consumer: dict[Consumer, int] = defaultdict(int)
    for (dims, key_currency), sums in usage.items():
        per_consumer[dims] += sums[0] if key_currency == chosen else 0
    return per_consumer


ESTIMATED_COST = DriverKind("estimated_cost", (ESTIMATED_COST_NANOS,), _weigh)
