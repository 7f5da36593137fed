"""How current the price book is, for the snapshot and /metrics."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aifinops.store import Store
from aifinops.store.price_queries import read_price_book_state

__all__ = ["price_book_json"]


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
