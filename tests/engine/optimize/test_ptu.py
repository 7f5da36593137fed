"""PTU against pay-as-you-go: the cost curve, spillover and the break-even of the reference's facts."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from aifinops.engine.optimize.levers.provisioning import curve
from aifinops.engine.optimize.ptu import PTU_TABLE, Capacity, break_even, capacity_cost, normalized

# gpt-4.1 Global Standard: 2.00 in / 8.00 out per 1M tokens (nanos per token: 2,000 / 8,000).
IN, OUT = Decimal(2000), Decimal(8000)
PER_UNIT_HOUR = PTU_TABLE["gpt-4.1"].input_tpm * 60  # 180,000 capacity tokens


def _capacity(hourly_tokens: list[int], *, price: Decimal, units: int = 15) -> Capacity:
    # tokens are input only: PAYG cost = tokens × input price
    return Capacity(
        "ptu",
        "gpt-4.1",
        "USD",
        len(hourly_tokens),
        tuple((t, t * IN) for t in hourly_tokens if t),
        price,
        PER_UNIT_HOUR,
        units,
        True,
    )


def test_break_even_matches_the_reference_for_gpt_4_1() -> None:
    """optimization-facts §1.5: hourly $1.00 never breaks even (278 %); a 1-month reservation (260 per PTU
    per month, 730 h) at 98.9 %."""
    hourly = _capacity([PER_UNIT_HOUR] * 10, price=Decimal(1_000_000_000))
    assert round(float(break_even(hourly) or 0), 3) == 2.778
    reserved = _capacity([PER_UNIT_HOUR] * 10, price=Decimal(260_000_000_000) / 730)
    assert round(float(break_even(reserved) or 0) * 100, 1) == 98.9
    assert normalized(200, 0, 20, 8) == 360


def test_the_curve_spills_what_the_units_cannot_serve_to_pay_as_you_go() -> None:
    cap = _capacity([0, PER_UNIT_HOUR * 20, PER_UNIT_HOUR * 10], price=Decimal(300_000_000))
    assert capacity_cost(cap, 0) == PER_UNIT_HOUR * 30 * IN
    # 15 units serve all of hour 3 and 15 of hour 2's 20: 5 units' worth spills
    assert capacity_cost(cap, 15) == 15 * 3 * Decimal(300_000_000) + PER_UNIT_HOUR * 5 * IN
    points = dict(curve(cap))
    assert list(points) == [0, 15, 20]
    assert points[20] == 20 * 3 * 300_000_000


def test_reserved_units_cost_the_reservation_rate_and_only_the_rest_the_hourly_price() -> None:
    """A deployment of 15 PTU with 10 under a 1-month reservation (260 per PTU, 730 h): its cost, and the
    cost at any unit count, price up to 10 units at the reservation rate and the rest at the hourly price."""
    hourly, rate = Decimal(1_000_000_000), Decimal(260_000_000_000) / 730
    cap = dataclasses.replace(
        _capacity([PER_UNIT_HOUR] * 10, price=hourly), reserved_units=10, reservation_hour_nanos=rate
    )
    assert capacity_cost(cap, 15) == 10 * 10 * rate + 5 * 10 * hourly
    assert capacity_cost(cap, 5) == 5 * 10 * rate  # fewer units: the reservation shrinks at renewal
    assert capacity_cost(cap, 0) == PER_UNIT_HOUR * 10 * IN
    # the break-even of a reserved unit is the reference's 1-month figure
    assert round(float(break_even(cap, reserved=True) or 0) * 100, 1) == 98.9
    assert round(float(break_even(cap) or 0), 3) == 2.778
