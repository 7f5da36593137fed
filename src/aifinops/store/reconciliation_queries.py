"""Estimated cost per day, resource, deployment and meter for reconciliation, from the daily meter rollup.

Each event remembers the price it was charged at per meter (``*_price_id``), and the daily meter rollup keeps
those ids, so one GROUP BY over its days of the period gives the units each meter used per UTC day; units ×
price ÷ unit size is the estimate of that meter, next to the meter id and name the bill uses. Unpriced events
have no meter to reconcile and are left out (they are reported as unpriced elsewhere).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

from aifinops.domain import from_nanos, to_nanos
from aifinops.engine.reconciliation import Estimate
from aifinops.engine.usage_buckets import from_day
from aifinops.store.meter_queries import meter_rows
from aifinops.store.store import Store
from aifinops.store.tables import prices

__all__ = ["estimates", "price_rows"]

_METERS = (
    "input_price_id",
    "cached_input_price_id",
    "output_price_id",
    "unit_price_id",
    "cache_write_price_id",
)


def _units(row: Any, meter: str) -> Decimal:
    # Cached and cache-write tokens are part of input, each billed once at its own meter (engine.pricing).
    if meter == "input_price_id":
        return Decimal(int(row.input_tokens) - int(row.cached_input_tokens) - int(row.cache_write_tokens))
    if meter == "cached_input_price_id":
        return Decimal(int(row.cached_input_tokens))
    if meter == "cache_write_price_id":
        return Decimal(int(row.cache_write_tokens))
    if meter == "output_price_id":
        return Decimal(int(row.output_tokens))
    return from_nanos(int(row.quantity_nanos or 0))


def price_rows(store: Store, ids: set[int]) -> dict[int, Any]:
    """The stored prices of ``ids``: unit size, price, currency, meter id and name, by id."""
    if not ids:
        return {}
    p = prices.c
    with store.reader() as conn:
        rows = conn.execute(
            sa.select(p.id, p.unit_size, p.price_nanos, p.currency, p.meter_id, p.meter_name).where(
                p.id.in_(sorted(ids))
            )
        ).all()
    return {row.id: row for row in rows}


def estimates(store: Store, start: dt.date, end: dt.date) -> list[Estimate]:
    """Per billing day (UTC), resource, deployment and priced meter: units used and their estimated cost."""
    keys = ("day", "resource_id", "deployment", *_METERS)
    sums = ("input_tokens", "cached_input_tokens", "output_tokens", "quantity_nanos", "cache_write_tokens")
    rows = [
        SimpleNamespace(**r) for r in meter_rows(store, start, end, keys, sums=sums, priced_with_account=True)
    ]
    book = price_rows(store, {getattr(r, m) for r in rows for m in _METERS if getattr(r, m) is not None})
    out = []
    for row in rows:
        for meter in _METERS:
            price = book.get(getattr(row, meter))
            units = _units(row, meter)
            if price is None or units == 0:
                continue
            unit_price = from_nanos(price.price_nanos)
            out.append(
                Estimate(
                    day=from_day(int(row.day)),
                    resource_id=row.resource_id,
                    cost_nanos=to_nanos(units * unit_price / price.unit_size),
                    currency=price.currency,
                    quantity=units,
                    meter_id=price.meter_id or "",
                    meter_name=price.meter_name or "",
                    deployment=row.deployment or "",
                    unit_price=unit_price,
                    unit_size=price.unit_size,
                )
            )
    return out
