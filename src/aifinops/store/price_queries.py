"""Reading the stored price book back (written by :mod:`aifinops.store.prices`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
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
from aifinops.store.tables import price_syncs, prices

__all__ = [
    "PriceBookState",
    "read_price_book_state",
    "read_price_version",
    "read_prices",
    "read_prices_by_id",
]


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


@dataclass(frozen=True, slots=True)
class PriceBookState:
    """How current the price book is: its size and its newest sync or seed (None when never synced)."""

    prices: int
    captured_at: dt.datetime | None
    synced_at: dt.datetime | None
    source: str | None
    provenance: str | None

    def age_seconds(self, now: dt.datetime) -> float | None:
        """Seconds since the prices were captured (a seeded snapshot is as old as its capture)."""
        return None if self.captured_at is None else max(0.0, (now - self.captured_at).total_seconds())


def read_price_book_state(store: Store) -> PriceBookState:
    """The price book's size and its newest capture (the sync or seed captured last)."""
    with store.reader() as conn:
        count = conn.execute(select(func.count()).select_from(prices)).scalar_one()
        last = conn.execute(
            select(price_syncs).order_by(price_syncs.c.captured_at.desc(), price_syncs.c.id.desc()).limit(1)
        ).first()
    if last is None:
        return PriceBookState(int(count), None, None, None, None)
    return PriceBookState(int(count), last.captured_at, last.synced_at, last.source, last.provenance or None)
