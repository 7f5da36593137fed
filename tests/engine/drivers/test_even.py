"""The even driver: each consumer with any usage counts once; each listed owner counts once."""

from __future__ import annotations

from decimal import Decimal

from aifinops.engine.drivers.even import EVEN


def test_any_usage_counts_once() -> None:
    usage = {(("a",), "USD"): [0, 1, 0], (("b",), ""): [99, 0, 0], (("c",), "USD"): [0, 0, 0]}
    assert dict(EVEN.weigh(usage, "USD")) == {("a",): 1, ("b",): 1}
    assert EVEN.listed_weight(Decimal("0.25"), 2) == 1
    assert not EVEN.measures_capacity
