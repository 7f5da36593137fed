"""The fixed driver: the weights the rule lists, scaled to integers; it needs them and reads no usage."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aifinops.engine.allocation_rules import AllocationRule, Method
from aifinops.engine.drivers.fixed import FIXED


def test_listed_weights_scale_to_integers() -> None:
    assert FIXED.listed_weight(Decimal("0.25"), 2) == 25
    assert FIXED.sums == () and FIXED.needs_weights and not FIXED.measures_capacity


def test_a_fixed_rule_without_weights_is_refused() -> None:
    with pytest.raises(ValueError, match="driver 'fixed' needs weights"):
        AllocationRule("f", Method.SHARED, driver=FIXED)
