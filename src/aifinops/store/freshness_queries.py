"""Data freshness: when each source last delivered data, and the newest data it delivered."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from aifinops.store.store import Store
from aifinops.store.tables import freshness

__all__ = ["read_freshness"]


def read_freshness(store: Store) -> list[dict[str, Any]]:
    with store.reader() as conn:
        return [dict(r._mapping) for r in conn.execute(select(freshness).order_by(freshness.c.source))]
