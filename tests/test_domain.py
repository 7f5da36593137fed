"""Money: exact nano-unit round trips, and amounts that always print as plain decimals (JSON carries them)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from aifinops.domain import from_nanos, plain, to_nanos


def test_round_and_tiny_amounts_print_without_an_exponent() -> None:
    assert plain(from_nanos(4_700 * 10**9)) == "4700"
    assert plain(from_nanos(100 * 10**9)) == "100"
    assert plain(from_nanos(1_500)) == "0.0000015"
    assert plain(from_nanos(1)) == "0.000000001"
    assert plain(from_nanos(0)) == "0"
    assert plain(from_nanos(-2_600 * 10**9)) == "-2600"


@given(st.integers(min_value=-(10**18), max_value=10**18))
def test_nanos_round_trip_exactly_and_print_plainly(nanos: int) -> None:
    amount = from_nanos(nanos)
    assert to_nanos(amount) == nanos
    text = plain(amount)
    assert "E" not in text and "e" not in text
    assert Decimal(text) * 10**9 == nanos
