"""The price book as people read it: every stored price with where it came from, when it is in effect and
how old it is (``GET /api/prices`` and the dashboard's Prices view), and how current the book is as a whole
(the snapshot and /metrics)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aifinops.domain import from_nanos, plain
from aifinops.store import Store
from aifinops.store.price_book_queries import read_price_rows
from aifinops.store.price_queries import read_price_book_state

__all__ = ["price_book_document", "price_book_json"]


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
                "product_name": r.product_name or None,
                "processing_tier": r.processing_tier,
                "context_tier": r.context_tier or None,
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
    return {
        "as_of": now.isoformat(),
        "prices": len(items),
        "sources": sources,
        "book": price_book_json(store, now=now),
        "items": items,
    }


def price_book_json(store: Store, *, now: dt.datetime) -> dict[str, Any]:
    """The price book's size, its newest capture (a sync or the shipped snapshot) and its age at ``now``.

    ``captured_at`` is None (and ``age_seconds`` too) while the book was never synced nor seeded.
    """
    state = read_price_book_state(store)
    age = state.age_seconds(now)
    return {
        "prices": state.prices,
        "captured_at": state.captured_at.isoformat() if state.captured_at else None,
        "synced_at": state.synced_at.isoformat() if state.synced_at else None,
        "source": state.source,
        "age_seconds": None if age is None else int(age),
    }
