"""The demo's budgets: amounts rounded to two significant digits in the direction asked."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from aifinops.demo.budgets import round_significant


@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1e9"), places=6))
def test_budget_amounts_round_to_two_significant_digits_in_the_asked_direction(value: Decimal) -> None:
    up, down = round_significant(value, up=True), round_significant(value, up=False)
    assert down <= value <= up
    assert up <= value * Decimal("1.1") + Decimal("1e-9") and down >= value / Decimal("1.1") - Decimal("1e-9")
    assert len(up.normalize().as_tuple().digits) <= 2
