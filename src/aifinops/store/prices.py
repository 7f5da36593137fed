"""The effective-dated price book in the store: saved idempotently, immutable once events used a price.

Reads are in :mod:`aifinops.store.price_queries`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, or_, select, update

from aifinops.domain import Price, from_nanos, to_nanos
from aifinops.errors import PricingError
from aifinops.store.store import Store
from aifinops.store.tables import price_syncs, prices, usage_events

__all__ = ["PriceStore", "SavePricesResult", "SyncRecord"]

# What identifies a price: the columns of the table's unique key (one definition, in store/tables.py).
_KEY = tuple(
    next(c for c in prices.constraints if c.name == "uq_prices_key").columns.keys()  # type: ignore[attr-defined]
)


@dataclass(frozen=True, slots=True)
class SyncRecord:
    """One sync or seed of the price book: where from, captured when, what it gave."""

    source: str
    captured_at: dt.datetime
    currency: str
    prices: int
    unmapped: int = 0
    provenance: str = ""


@dataclass(frozen=True, slots=True)
class SavePricesResult:
    inserted: int
    unchanged: int
    updated: int


def _row(p: Price, now: dt.datetime) -> dict[str, Any]:
    return {
        "model": p.model,
        "model_version": p.model_version or "",
        "deployment_type": p.deployment_type.value if p.deployment_type else "",
        "region": (p.region or "").lower(),
        "meter_kind": p.meter_kind.value,
        "unit_size": p.unit_size,
        "unit": p.unit,
        "price_nanos": to_nanos(p.price),
        "currency": p.currency,
        "effective_start": p.effective_start,
        "effective_end": p.effective_end,
        "meter_id": p.meter_id,
        "meter_name": p.meter_name,
        "source": p.source,
        "created_at": now,
        "product_name": p.product_name or "",
        "context_tier": p.context_tier.value if p.context_tier else "",
        "processing_tier": p.processing_tier.value,
    }


def _used(conn: Connection, price_id: int) -> bool:
    c = usage_events.c
    hit = conn.execute(
        select(c.id)
        .where(
            or_(
                c.input_price_id == price_id,
                c.cached_input_price_id == price_id,
                c.output_price_id == price_id,
                c.unit_price_id == price_id,
                c.cache_write_price_id == price_id,
            )
        )
        .limit(1)
    ).first()
    return hit is not None


class PriceStore:
    """Writes prices over one :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def save(
        self, items: Sequence[Price], *, now: dt.datetime, record: SyncRecord | None = None
    ) -> SavePricesResult:
        """Insert new prices; identical ones are unchanged; a changed amount or end date of a price that
        no event has used yet is updated, of a used one is refused (re-price explicitly instead).

        All of it is one transaction: a refused price leaves the book as it was. ``record`` (a sync or a
        seed) is written in the same transaction."""
        inserted = unchanged = updated = 0
        with self.store.session() as conn:
            if record is not None:
                conn.execute(
                    price_syncs.insert().values(
                        synced_at=now,
                        captured_at=record.captured_at,
                        source=record.source,
                        currency=record.currency,
                        prices=record.prices,
                        unmapped=record.unmapped,
                        provenance=record.provenance,
                    )
                )
            existing = {tuple(getattr(r, k) for k in _KEY): r for r in conn.execute(select(prices))}
            for p in items:
                row = _row(p, now)
                old = existing.get(tuple(row[k] for k in _KEY))
                if old is None:
                    conn.execute(prices.insert().values(**row))
                    inserted += 1
                elif (old.price_nanos, old.effective_end, old.unit_size) == (
                    row["price_nanos"],
                    row["effective_end"],
                    row["unit_size"],
                ):
                    unchanged += 1
                else:
                    self._update(conn, old, row)
                    updated += 1
        return SavePricesResult(inserted=inserted, unchanged=unchanged, updated=updated)

    @staticmethod
    def _update(conn: Connection, old: Any, row: dict[str, Any]) -> None:
        if old.price_nanos != row["price_nanos"] and _used(conn, old.id):
            raise PricingError(
                f"price {old.id} ({old.model} {old.meter_kind} {old.processing_tier} {old.deployment_type} "
                f"from {old.effective_start}) "
                f"is already used by events and cannot change from {from_nanos(old.price_nanos)} to "
                f"{from_nanos(row['price_nanos'])}; give the new price a later effective_start and run "
                "`aifinops reprice` for the affected range"
            )
        conn.execute(
            update(prices)
            .where(prices.c.id == old.id)
            .values(
                price_nanos=row["price_nanos"],
                effective_end=row["effective_end"],
                unit_size=row["unit_size"],
                meter_id=row["meter_id"],
                meter_name=row["meter_name"],
            )
        )
