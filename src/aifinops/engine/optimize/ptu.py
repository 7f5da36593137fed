"""Provisioned throughput: units, what one unit serves, and what a deployment costs at a unit count.

The throughput table (input tokens per minute per PTU, the output-to-input weight, minimum and increment of
Global and Data Zone deployments) is Microsoft's PTU sizing table (provisioned-throughput-sizing, 2026-05-22),
as gathered in the reference's optimization facts §1.2; ``OptimizeSettings.ptu_throughput`` overrides it per
model or deployment. Utilisation counts input minus cached tokens plus output × the weight (cached tokens are
deducted 100 %). At a unit count, the hours' tokens above capacity spill over to pay-as-you-go.

Units under a reservation cost its rate per unit-hour (the purchase spread over the term's hours), the rest
the hourly price (optimization-facts §1.4). A reserved unit is paid for the whole term whether deployed or
not: a count below the reserved units is priced as if the reservation shrank to it, which happens only at
renewal or exchange — the actual bill changes then, the estimate and the amortized cost already show it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

__all__ = [
    "PTU_TABLE",
    "Capacity",
    "PtuSpec",
    "break_even",
    "capacity_cost",
    "normalized",
    "spec_for",
    "units_cost",
]


@dataclass(frozen=True, slots=True)
class PtuSpec:
    input_tpm: int  # input tokens per minute one PTU serves
    output_weight: int  # one output token uses this many input tokens of capacity
    minimum: int = 15  # Global / Data Zone deployments
    increment: int = 5


#: Model → PTU parameters (Global and Data Zone deployments).
PTU_TABLE: Mapping[str, PtuSpec] = {
    "gpt-5.5": PtuSpec(1_200, 6),
    "gpt-5.4": PtuSpec(2_400, 6),
    "gpt-5.3-codex": PtuSpec(3_400, 8),
    "gpt-5.2": PtuSpec(3_400, 8),
    "gpt-5.2-codex": PtuSpec(3_400, 8),
    "gpt-5.1": PtuSpec(4_750, 8),
    "gpt-5.1-codex": PtuSpec(4_750, 8),
    "gpt-5": PtuSpec(4_750, 8),
    "gpt-5-mini": PtuSpec(23_750, 8),
    "gpt-4.1": PtuSpec(3_000, 4),
    "gpt-4.1-mini": PtuSpec(14_900, 4),
    "gpt-4.1-nano": PtuSpec(59_400, 4),
    "o3": PtuSpec(3_000, 4),
    "o4-mini": PtuSpec(5_400, 4),
    "gpt-4o": PtuSpec(2_500, 4),
    "gpt-4o-mini": PtuSpec(37_000, 4),
    "o3-mini": PtuSpec(2_500, 4),
    "o1": PtuSpec(230, 4),
}


def spec_for(model: str | None, deployment: str | None, overrides: Mapping[str, int]) -> PtuSpec | None:
    """The PTU parameters of a deployment's model, its input TPM per PTU overridden by deployment or model."""
    base = PTU_TABLE.get(model or "")
    tpm = overrides.get(deployment or "") or overrides.get(model or "")
    if base is None:
        return None if tpm is None else PtuSpec(tpm, 4)
    return base if tpm is None else PtuSpec(tpm, base.output_weight, base.minimum, base.increment)


def normalized(input_tokens: int, cached_tokens: int, output_tokens: int, weight: int) -> int:
    """Tokens of PTU capacity used: (input − cached) + output × weight.

    >>> normalized(200, 0, 20, 8)  # the sizing doc's gpt-5.2 call: 360 per request
    360
    """
    return input_tokens - cached_tokens + output_tokens * weight


@dataclass(frozen=True, slots=True)
class Capacity:
    """A deployment priced by provisioned units: its hourly usage and both prices.

    ``hourly`` holds (capacity tokens, pay-as-you-go cost in nanos) of each hour with usage; ``owned`` says
    whether the deployment is provisioned (its calls are priced here, not per token).
    """

    deployment: str
    model: str | None
    currency: str
    hours: int  # hours in the window
    hourly: tuple[tuple[int, Decimal], ...]
    unit_hour_nanos: Decimal  # price of one PTU for one hour
    tokens_per_unit_hour: int
    units: int
    owned: bool
    minimum: int = 15
    increment: int = 5
    reserved_units: int = 0  # units under a reservation (from the amortized bill)
    reservation_hour_nanos: Decimal | None = None  # a reserved unit-hour: the purchase ÷ the term's hours


def units_cost(cap: Capacity, units: int, *, sunk: bool = False) -> Decimal:
    """Nanos ``units`` cost over the window without spillover: up to the reserved units at the reservation
    rate, the rest at the hourly price. ``sunk``: the reserved units cost nothing more (the actual bill within
    the term, where the reservation is a purchase already paid)."""
    rate = cap.reservation_hour_nanos
    reserved = min(units, cap.reserved_units) if rate is not None else 0
    paid = Decimal(0) if sunk or rate is None else reserved * rate
    return (paid + (units - reserved) * cap.unit_hour_nanos) * cap.hours


def capacity_cost(cap: Capacity, units: int, *, sunk: bool = False) -> Decimal:
    """Nanos the deployment costs at ``units``: the units' hours (:func:`units_cost`), plus the tokens above
    capacity each hour at pay-as-you-go prices (spillover)."""
    room = units * cap.tokens_per_unit_hour
    spill = sum((payg * (tokens - room) / tokens for tokens, payg in cap.hourly if tokens > room), Decimal(0))
    return units_cost(cap, units, sunk=sunk) + spill


def break_even(cap: Capacity, *, reserved: bool = False) -> Decimal | None:
    """The sustained utilisation at which a unit costs what its tokens cost pay-as-you-go (may exceed 1): at
    the hourly price, or (``reserved``) at the reservation rate (None when the deployment has none)."""
    tokens = sum(t for t, _ in cap.hourly)
    payg = sum((p for _, p in cap.hourly), Decimal(0))
    price = cap.reservation_hour_nanos if reserved else cap.unit_hour_nanos
    if not tokens or not payg or price is None:
        return None
    return price / (cap.tokens_per_unit_hour * payg / tokens)
