"""The price book as people read it: every stored price with where it came from, when it is in effect and
how old it is (``GET /api/prices`` and the dashboard's Prices view)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aifinops.domain import from_nanos, plain
from aifinops.store import Store
from aifinops.store.price_book_queries import read_price_rows

__all__ = ["price_book_document"]


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def price_book_document(store: Store, *, now: dt.datetime, model: str | None = None) -> dict[str, Any]:
    """Every stored price (of ``model`` when given) by source, model and meter; ``in_effect`` says whether it
    applies at ``now``, ``age_days`` how long ago it took effect, ``loaded_at`` when it was stored."""
    items = []
    for r in read_price_rows(store, model=model):
        start, end = r.effective_start, r.effective_end
        items.append(
            {
                "model": r.model,
                "model_version": r.model_version or None,
                "deployment_type": r.deployment_type or None,
                "region": r.region or None,
                "meter_kind": r.meter_kind,
                "meter_name": r.meter_name,
                "price": {
                    "amount": plain(from_nanos(r.price_nanos)),
                    "currency": r.currency,
                    "basis": "list",
                },
                "unit": f"{r.unit_size:,} {r.unit}",
                "source": r.source,
                "effective_start": _iso(start),
                "effective_end": _iso(end),
                "in_effect": start <= now and (end is None or now < end),
                "age_days": (now - start).days,
                "loaded_at": _iso(r.created_at),
            }
        )
    sources = sorted({i["source"] for i in items})
    return {"as_of": now.isoformat(), "prices": len(items), "sources": sources, "items": items}
