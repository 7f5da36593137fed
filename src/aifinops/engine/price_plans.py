"""Pricing per price key: the prices :func:`price_event` chooses, kept per key and price period, and the cost
in integer nanos (pure; the ingest hot path).

An event's prices depend on its model, version, deployment type, region, processing tier, context tier, which
meters it uses (and the unit of its quantity) and on which prices are in effect at its timestamp; never on the
amounts, except where :data:`~aifinops.engine.pricing.MAX_EVENT_COST` refuses a price, and then nothing is
kept. Between two instants at which some price starts or ends (:meth:`PriceBook.boundaries`) the prices in
effect do not change, so the period is the index of the event's timestamp among those instants. The first
event of a key is priced by :func:`price_event` itself and its prices kept; the next ones reuse them.

The cost is exact: where every price is a whole number of nanos per unit (a price of 2.50 per 1M tokens is
2,500 nanos per token) it is an integer sum; otherwise the same Decimal arithmetic as :func:`price_event`.
"""

from __future__ import annotations

import itertools
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from aifinops.domain import MeterKind, Price, PricedUsage, UsageEvent, to_nanos
from aifinops.engine.pricing import MAX_EVENT_COST, PriceBook, call_tiers, price_event_charged

__all__ = ["Charge", "PricePlans", "price_id_columns"]

#: Kept plans at most: keys come from client data (regions, model names), so past this the cache restarts.
_MAX_PLANS = 100_000
_MAX_NANOS = int(MAX_EVENT_COST) * 10**9
# Below these bounds an integer sum equals the Decimal arithmetic of price_event digit for digit: every
# intermediate value has at most 8 + 12 + 8 = 28 significant digits, Decimal's default precision.
_MAX_UNITS = 10**8
_MAX_PER_UNIT = 10**12
_MAX_UNIT_SIZE = 10**8
_NO_IDS: tuple[int | None, ...] = (None, None, None, None, None)
#: The meters an event uses (input, cached input, cache write, output, quantity) by which of them it uses.
_METERS = {
    used: tuple(i for i, u in enumerate(used) if u) for used in itertools.product((False, True), repeat=5)
}


def price_id_columns(price_ids: Mapping[MeterKind, int | None]) -> tuple[int | None, ...]:
    """The prices an event used as the store's five columns: input, cached input, output, unit, cache write
    (a priority meter of an older price book counts as its plain kind)."""
    if not price_ids:
        return _NO_IDS
    get = price_ids.get
    return (
        get(MeterKind.INPUT) or get(MeterKind.PRIORITY_INPUT),
        get(MeterKind.CACHED_INPUT) or get(MeterKind.PRIORITY_CACHED_INPUT),
        get(MeterKind.OUTPUT) or get(MeterKind.PRIORITY_OUTPUT),
        get(MeterKind.UNIT),
        get(MeterKind.CACHE_WRITE),
    )


@dataclass(frozen=True, slots=True)
class Charge:
    """What pricing says of one event besides its cost: the currency (None when unpriced or nothing was
    metered), the price-id columns (:func:`price_id_columns`), why it is unpriced, the version inferred."""

    currency: str | None
    price_ids: tuple[int | None, ...] = _NO_IDS
    unpriced_reason: str | None = None
    inferred_version: str | None = None


_FREE = Charge(None)  # an event with no metered usage: cost 0, no currency, no price


@dataclass(frozen=True, slots=True)
class _Plan:
    charge: Charge
    meters: tuple[int, ...]  # which of (input, cached, cache write, output, quantity) each price charges
    prices: tuple[Price, ...]
    per_unit: tuple[int, ...] | None  # whole nanos per unit of each price; None: Decimal arithmetic


def _plan(charge: Charge, meters: tuple[int, ...], prices: tuple[Price, ...]) -> _Plan:
    per_unit: list[int] = []
    for meter, price in zip(meters, prices, strict=True):
        nanos = Fraction(price.price) * 10**9 / price.unit_size
        if meter == 4 or nanos.denominator != 1 or abs(nanos) >= _MAX_PER_UNIT:
            return _Plan(charge, meters, prices, None)
        if not 0 < price.unit_size < _MAX_UNIT_SIZE:
            return _Plan(charge, meters, prices, None)
        per_unit.append(int(nanos))
    return _Plan(charge, meters, prices, tuple(per_unit))


class PricePlans:
    """The prices of one :class:`PriceBook` per price key, and events priced with them.

    Equal to ``price_event`` over ``UsageEvent(**values)`` for every event (a property test holds it to that);
    a new book (prices changed) needs a new ``PricePlans``. Not locked: two threads may both price the first
    event of a key, and keep the same plan.
    """

    __slots__ = ("_bounds", "_plans", "book")

    def __init__(self, book: PriceBook) -> None:
        self.book = book
        self._bounds = book.boundaries()
        self._plans: dict[tuple[Any, ...], _Plan] = {}

    def price(self, values: Mapping[str, Any]) -> tuple[int | None, Charge]:
        """The cost in nanos (None when unpriced) and the charge of one event given as its
        :class:`UsageEvent` fields (absent ones at their defaults; ``ts`` aware).

        >>> import datetime as dt
        >>> ts = dt.datetime(2025, 5, 1, tzinfo=dt.UTC)
        >>> plans = PricePlans(PriceBook([Price("gpt-4.1", MeterKind.INPUT, Decimal("2"), "USD", ts),
        ...                               Price("gpt-4.1", MeterKind.OUTPUT, Decimal("8"), "USD", ts)]))
        >>> nanos, charge = plans.price({"event_id": "e1", "ts": ts, "model": "gpt-4.1", "input_tokens": 1000,
        ...                              "output_tokens": 500})
        >>> nanos, charge.currency
        (6000000, 'USD')
        """
        get = values.get
        inp, cached = get("input_tokens", 0), get("cached_input_tokens", 0)
        written, out = get("cache_write_tokens", 0), get("output_tokens", 0)
        quantity, model = get("quantity"), get("model")
        if inp < 0 or cached < 0 or written < 0 or out < 0 or cached + written > inp:
            return self._slow(values, None)
        units = (inp - cached - written, cached, written, out, quantity)
        meters = _METERS[(units[0] > 0, cached > 0, written > 0, out > 0, bool(quantity))]
        if not meters:
            return 0, _FREE
        if model is None:
            return self._slow(values, None)
        tiers = call_tiers(
            get("service_tier"),
            input_tokens=inp,
            long_context_from=self.book.model_of(model)[2],
            priority=get("priority", False),
        )
        key = (
            model,
            get("model_version"),
            get("deployment_type"),
            get("region"),
            tiers,
            meters,
            get("unit") if quantity else None,
            bisect_right(self._bounds, values["ts"]),
        )
        plan = self._plans.get(key)
        if plan is None:
            return self._slow(values, (key, meters))
        nanos = _cost(plan, units)
        if nanos is None:  # beyond the one-event cap: price_event says why
            return self._slow(values, None)
        return nanos, plan.charge

    def _slow(
        self, values: Mapping[str, Any], keep: tuple[tuple[Any, ...], tuple[int, ...]] | None
    ) -> tuple[int | None, Charge]:
        """``price_event`` itself; its prices kept under ``keep``'s key when the amounts did not matter."""
        priced, charged = price_event_charged(UsageEvent(**values), self.book)
        return _result(priced, charged, keep, self._plans)


def _result(
    priced: PricedUsage,
    charged: tuple[Price, ...] | None,
    keep: tuple[tuple[Any, ...], tuple[int, ...]] | None,
    plans: dict[tuple[Any, ...], _Plan],
) -> tuple[int | None, Charge]:
    if priced.cost is None:
        return None, Charge(None, _NO_IDS, priced.unpriced_reason, priced.inferred_version)
    charge = Charge(priced.currency, price_id_columns(priced.price_ids), None, priced.inferred_version)
    if keep is not None and charged is not None:
        key, meters = keep
        if len(plans) >= _MAX_PLANS:
            plans.clear()
        plans[key] = _plan(charge, meters, charged)
    return to_nanos(priced.cost), charge


def _cost(plan: _Plan, units: tuple[Any, ...]) -> int | None:
    """The cost of ``units`` at the plan's prices in nanos; None beyond :data:`MAX_EVENT_COST`."""
    per_unit = plan.per_unit
    if per_unit is not None:
        nanos = 0
        for meter, each in zip(plan.meters, per_unit, strict=True):
            count = units[meter]
            if count >= _MAX_UNITS:
                return _decimal_cost(plan, units)
            nanos += count * each
        return nanos if abs(nanos) <= _MAX_NANOS else None
    return _decimal_cost(plan, units)


def _decimal_cost(plan: _Plan, units: tuple[Any, ...]) -> int | None:
    cost = Decimal(0)
    for meter, price in zip(plan.meters, plan.prices, strict=True):
        cost = cost + price.cost_of(units[meter])
    return to_nanos(cost) if abs(cost) <= MAX_EVENT_COST else None
