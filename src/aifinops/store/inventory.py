"""The Azure resource inventory in the store: each subscription's resources replaced as a whole.

Reads are in :mod:`aifinops.store.inventory_queries`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from functools import partial

import orjson
import sqlalchemy as sa

from aifinops.domain import InventoryResource
from aifinops.errors import ValidationError
from aifinops.store.cost_tables import inventory_resources
from aifinops.store.store import Store

__all__ = ["InventoryStore"]


class InventoryStore:
    """Writes the resource inventory over one :class:`Store`."""

    def __init__(self, store: Store, *, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.store = store
        self._now = clock or partial(dt.datetime.now, dt.UTC)

    def replace(self, subscriptions: Sequence[str], resources: Iterable[InventoryResource]) -> int:
        """Replace the inventory of these subscriptions (resources gone from Azure disappear); returns rows"""
        now = self._now()
        rows = {
            r.resource_id.lower(): {
                "resource_id": r.resource_id.lower(),
                "name": r.name,
                "type": r.type.lower(),
                "subscription_id": r.subscription_id.lower(),
                "resource_group": r.resource_group,
                "location": r.location,
                "kind": r.kind,
                "sku": r.sku,
                "sku_capacity": r.sku_capacity,
                "tags": orjson.dumps(dict(r.tags), option=orjson.OPT_SORT_KEYS).decode(),
                "seen_at": now,
            }
            for r in resources
        }
        subs = {s.lower() for s in subscriptions}
        stray = [r for r in rows.values() if r["subscription_id"] not in subs]
        if stray:
            raise ValidationError(
                f"resource {stray[0]['resource_id']} is not in subscriptions {sorted(subs)}",
                field="subscription_id",
            )
        with self.store.session() as conn:
            conn.execute(
                sa.delete(inventory_resources).where(inventory_resources.c.subscription_id.in_(sorted(subs)))
            )
            if rows:
                conn.execute(sa.insert(inventory_resources), list(rows.values()))
        return len(rows)
