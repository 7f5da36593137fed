"""Even: every consumer with any usage that day counts once (with listed owners: each listed one once)."""

from __future__ import annotations

from decimal import Decimal

from aifinops.engine.drivers.estimated_cost import ESTIMATED_COST_NANOS
from aifinops.engine.drivers.kind import Consumer, DriverKind, UsageSums
from aifinops.engine.drivers.requests import REQUEST_COUNT
from aifinops.engine.drivers.tokens import TOKEN_COUNT

__all__ = ["EVEN"]


def _weigh(usage: UsageSums, currency: str) -> dict[Consumer, int]:
    return {dims: 1 for (dims, _), sums in usage.items() if any(value > 0 for value in sums)}


def _once(weight: Decimal, scale: int) -> int:
    return 1


EVEN = DriverKind(
    "even", (TOKEN_COUNT, REQUEST_COUNT, ESTIMATED_COST_NANOS), _weigh, _once, measures_capacity=False
)
