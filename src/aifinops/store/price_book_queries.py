"""Reading the price book with when each price was stored (``created_at``), for the price book view."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from aifinops.store.store import Store
from aifinops.store.tables import prices

__all__ = ["read_price_rows"]


def read_price_rows(store: Store, *, model: str | None = None) -> list[Any]:
    """Every stored price row (of ``model`` when given) by source, model, meter kind and effective start."""
    c = prices.c
    query = select(prices).order_by(c.source, c.model, c.meter_kind, c.effective_start, c.id)
    if model is not None:
        query = query.where(c.model == model)
    with store.reader() as conn:
        return list(conn.execute(query).all())
