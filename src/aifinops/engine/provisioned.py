"""Estimated cost of provisioned throughput (pure): each hour's capacity cost split over the hour's usage.

A provisioned deployment is billed per unit and hour whether used or not (optimization-facts.md §1.1), so its
tokens have no price of their own. Its estimate is the hour's cost — units × the hourly unit price (list, or
a reservation rate for the reserved units) — split over the hour's calls by tokens (input + output, the
``tokens`` allocation driver). With a known capacity in tokens per unit-hour, the share of the hour left
unused is *estimated idle capacity*, kept apart from every call; without one, a used hour is wholly its
calls' and only hours without calls are idle. Every part is in nanos and the parts of an hour sum to its
cost exactly (largest remainder).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from aifinops.domain import DeploymentType, MeterKind, Price
from aifinops.engine.allocation import split_largest_remainder
from aifinops.engine.model_aliases import sold_by

__all__ = ["HourSplit", "ProvisionedRate", "hour_cost_nanos", "split_hour", "unit_hour_price"]

_NANO = Decimal("1e-9")


@dataclass(frozen=True, slots=True)
class ProvisionedRate:
    """What one hour of a provisioned deployment costs: ``units`` at ``unit_price`` per unit-hour, of which
    ``reserved_units`` at ``reservation_price`` instead; ``source`` says where the prices came from."""

    units: int
    unit_price: Decimal | None  # per unit-hour; None: no price known (every unit must then be reserved)
    currency: str
    source: str
    reserved_units: int = 0
    reservation_price: Decimal | None = None
    price_id: int | None = None  # the price book row of ``unit_price``
    capacity_per_unit_hour: int | None = None  # tokens one unit serves in an hour; None: unknown

    @property
    def capacity_tokens(self) -> int | None:
        """Tokens the whole deployment serves in an hour, when known."""
        per = self.capacity_per_unit_hour
        return None if per is None else per * self.units


def hour_cost_nanos(rate: ProvisionedRate) -> int:
    """The cost of one hour of ``rate`` in nanos (half-even to the nano).

    >>> hour_cost_nanos(ProvisionedRate(15, Decimal("1.0"), "USD", "list", 10, Decimal("0.3611111111")))
    8611111111
    """
    reserved = min(rate.reserved_units, rate.units)
    on_demand = rate.units - reserved
    if reserved and rate.reservation_price is None:
        raise ValueError(f"{reserved} reserved units need a reservation price")
    if on_demand and rate.unit_price is None:
        raise ValueError(f"{on_demand} unreserved units need an hourly unit price")
    amount = Decimal(reserved) * (rate.reservation_price or 0) + Decimal(on_demand) * (rate.unit_price or 0)
    return int((amount / _NANO).to_integral_value(ROUND_HALF_EVEN))


@dataclass(frozen=True, slots=True)
class HourSplit:
    """One hour of one deployment: each call's share (in the order given) and the idle rest, in nanos."""

    cost_nanos: int
    shares: tuple[int, ...]
    idle_nanos: int

    @property
    def used_nanos(self) -> int:
        return sum(self.shares)


def split_hour(cost_nanos: int, tokens: Sequence[int], capacity: int | None = None) -> HourSplit:
    """Split one hour's cost over its calls by ``tokens``; what ``capacity`` leaves unused is idle.

    Calls above the capacity (a burst, or a capacity set too low) take the whole hour, never more.

    >>> split_hour(9, [1, 2])
    HourSplit(cost_nanos=9, shares=(3, 6), idle_nanos=0)
    >>> split_hour(10, [1, 1], capacity=4)
    HourSplit(cost_nanos=10, shares=(3, 2), idle_nanos=5)
    >>> split_hour(10, [])
    HourSplit(cost_nanos=10, shares=(), idle_nanos=10)
    """
    if any(t < 0 for t in tokens):
        raise ValueError("token counts cannot be negative")
    used = sum(tokens)
    if used == 0:  # nothing to weigh by: the hour is idle (calls without tokens take no share)
        return HourSplit(cost_nanos, tuple(0 for _ in tokens), cost_nanos)
    unused = max(capacity - used, 0) if capacity is not None else 0
    parts = split_largest_remainder(cost_nanos, [*tokens, unused])
    return HourSplit(cost_nanos, tuple(parts[:-1]), parts[-1])


#: The model of a third-party publisher's provisioned unit price: ``ptu_hour:<publisher>``.
_PUBLISHER_UNIT = "ptu_hour:"


def _publishes(unit_model: str, model: str | None) -> bool:
    """Whether ``model`` is one of the publisher's whose provisioned unit ``unit_model`` prices (by the
    roots of the publisher's meter families: Fireworks' are ``fw-…``, Mistral's ``codestral`` too)."""
    publisher = unit_model.removeprefix(_PUBLISHER_UNIT)
    return model is not None and (model == unit_model or sold_by(publisher, model))


def _is_unit_hour(price: Price) -> bool:
    unit = price.unit.lower().replace(" ", "")
    return price.meter_kind is MeterKind.UNIT and "hour" in unit and price.unit_size == 1


def unit_hour_price(
    prices: Iterable[Price],
    *,
    deployment_type: DeploymentType,
    region: str | None,
    model: str | None,
    at: dt.datetime,
) -> Price | None:
    """The price book's hourly unit price of a provisioned deployment type in effect at ``at``.

    PTU meters (``Provisioned Managed {Global|Data Zone|Regional} Unit``) are one per deployment type and
    region for every model; a price of the deployment's own model wins over a model-agnostic one, a price of
    its region over one for any region, then the latest start. Another publisher's provisioned unit of the
    same name (``ptu_hour:<publisher>``, e.g. Azure Fireworks Models') prices only that publisher's models,
    and prices them before Azure OpenAI's unit.
    """
    wanted_region = (region or "").lower()
    found: list[tuple[int, int, int, dt.datetime, Price]] = []
    for p in prices:
        if p.deployment_type is not deployment_type or not _is_unit_hour(p) or not p.covers(at):
            continue
        if p.region is not None and p.region.lower() != wanted_region:
            continue
        publisher = p.model.startswith(_PUBLISHER_UNIT)
        if publisher and not _publishes(p.model, model):
            continue
        found.append((int(p.model == model), int(publisher), int(p.region is not None), p.effective_start, p))
    if not found:
        return None
    return max(found, key=lambda f: f[:4])[4]
