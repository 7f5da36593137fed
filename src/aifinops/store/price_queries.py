"""Reading the stored price book back (written by :mod:`aifinops.store.prices`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select

from aifinops.domain import (
    ContextTier,
    DeploymentType,
    MeterKind,
    Price,
    ProcessingTier,
    from_nanos,
)
from aifinops.store.store import Store
from aifinops.store.tables import prices

__all__ = ["read_price_version", "read_prices", "read_prices_by_id"]


def _price(r: Any) -> Price:
    return Price(
        price_id=r.id,
        model=r.model,
        model_version=r.model_version or None,
        deployment_type=DeploymentType(r.deployment_type) if r.deployment_type else None,
        region=r.region or None,
        meter_kind=MeterKind(r.meter_kind),
        unit_size=r.unit_size,
        unit=r.unit,
        price=from_nanos(r.price_nanos),
        currency=r.currency,
        effective_start=r.effective_start,
        effective_end=r.effective_end,
        meter_id=r.meter_id,
        meter_name=r.meter_name,
        source=r.source,
        product_name=r.product_name or None,
        context_tier=ContextTier(r.context_tier) if r.context_tier else None,
        processing_tier=ProcessingTier(r.processing_tier),
    )


def read_prices(store: Store) -> list[Price]:
    """Every stored price, in the order they were added."""
    with store.reader() as conn:
        return [_price(r) for r in conn.execute(select(prices).order_by(prices.c.id))]


def read_prices_by_id(store: Store, ids: Iterable[int]) -> dict[int, Price]:
    """The stored prices of ``ids`` (those that exist), by id."""
    with store.reader() as conn:
        rows = conn.execute(select(prices).where(prices.c.id.in_(sorted(set(ids)))))
        return {r.id: _price(r) for r in rows}


def read_price_version(store: Store) -> tuple[int, int]:
    """A cheap fingerprint that changes when prices are added or changed."""
    with store.reader() as conn:
        count, top, total = conn.execute(
            select(
                func.count(),
                func.coalesce(func.max(prices.c.id), 0),
                func.coalesce(func.sum(prices.c.price_nanos), 0),
            )
        ).one()
    return int(count), int(top) * 1_000_003 + int(total) % 1_000_003
