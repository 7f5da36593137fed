"""Fixed: the owners and weights the rule lists (``weights``), the same every day."""

from __future__ import annotations

from aifinops.engine.drivers.kind import DriverKind, UsageSums

__all__ = ["FIXED"]


def _weigh(usage: UsageSums, currency: str) -> str:
    return "driver 'fixed' weighs by the rule's weights, not by usage"


FIXED = DriverKind("fixed", (), _weigh, needs_weights=True, measures_capacity=False)
