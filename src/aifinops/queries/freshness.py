"""How fresh the data is: when each source last delivered usage, and when billed cost was last collected."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from aifinops.queries.serialize import jsonable
from aifinops.store import Store
from aifinops.store.cost_queries import read_cost_freshness
from aifinops.store.freshness_queries import read_freshness

__all__ = ["CostCollected", "cost_freshness", "freshness", "freshness_json"]


@dataclass(frozen=True, slots=True)
class CostCollected:
    """The newest collection of billed cost from one source on one basis, over all its scopes."""

    source: str
    basis: str
    collected_at: dt.datetime
    last_data_day: dt.date | None  # the newest billing day of that collection's scope


def freshness(store: Store) -> list[dict[str, Any]]:
    """Per source: when data last arrived (``last_ingest_at``), the newest data it held (``last_data_ts``) and
    a ``detail``. Usage sources are ``usage:<how it came>``; billed cost is ``billed:<source>:<basis>``
    (collected at, start of its newest billing day in UTC, over all its scopes)."""
    billed = [
        {
            "source": f"billed:{c.source}:{c.basis}",
            "last_ingest_at": c.collected_at,
            "last_data_ts": None
            if c.last_data_day is None
            else dt.datetime.combine(c.last_data_day, dt.time(), dt.UTC),
            "detail": f"{c.basis} billed cost",
        }
        for c in cost_freshness(store)
    ]
    return read_freshness(store) + billed


def freshness_json(store: Store) -> list[dict[str, Any]]:
    """:func:`freshness` as JSON (the snapshot's ``freshness``)."""
    return list(jsonable(freshness(store)))


def cost_freshness(store: Store) -> list[CostCollected]:
    """Per (source, basis), sorted: the collection of its most recently collected scope."""
    newest: dict[tuple[str, str], CostCollected] = {}
    for c in read_cost_freshness(store):
        key = (c.source, c.basis.value)
        old = newest.get(key)
        if old is None or c.collected_at.timestamp() > old.collected_at.timestamp():
            newest[key] = CostCollected(c.source, c.basis.value, c.collected_at, c.last_data_day)
    return [newest[k] for k in sorted(newest)]
