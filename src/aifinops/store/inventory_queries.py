"""Reading the stored Azure resource inventory back (written by :mod:`aifinops.store.inventory`)."""

from __future__ import annotations

import orjson
import sqlalchemy as sa

from aifinops.domain import InventoryResource
from aifinops.store.cost_tables import inventory_resources
from aifinops.store.store import Store

__all__ = ["read_inventory"]


def read_inventory(store: Store, *, resource_type: str | None = None) -> list[InventoryResource]:
    """The stored inventory, optionally of one resource type (lower-cased)."""
    i = inventory_resources.c
    query = sa.select(inventory_resources).order_by(i.resource_id)
    if resource_type is not None:
        query = query.where(i.type == resource_type.lower())
    with store.reader() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        InventoryResource(
            resource_id=r["resource_id"],
            name=r["name"],
            type=r["type"],
            subscription_id=r["subscription_id"],
            resource_group=r["resource_group"],
            location=r["location"],
            kind=r["kind"],
            sku=r["sku"],
            tags=orjson.loads(r["tags"]),
            sku_capacity=r["sku_capacity"],
        )
        for r in rows
    ]
