"""The AI-related Azure resources with their tags, and who owns them (``/api/inventory``)."""

from __future__ import annotations

from typing import Any

from aifinops.sources.resource_graph import ownership_matrix
from aifinops.store import Store
from aifinops.store.inventory_queries import read_inventory

__all__ = ["inventory_document"]


def inventory_document(
    store: Store, *, resource_type: str | None, unowned: bool, tenant: str | None
) -> dict[str, Any]:
    """Resources of ``resource_type`` (any when None; only those without owner with ``unowned``) and their
    owner tags. Resources are shared infrastructure: a tenant-bound reader sees none of them."""
    resources = read_inventory(store, resource_type=resource_type)
    skus = {r.resource_id: (r.sku, r.sku_capacity) for r in resources}
    rows = ownership_matrix(resources)
    if unowned:
        rows = [r for r in rows if r.owner is None]
    if tenant is not None:
        rows = []
    return {
        "resources": len(rows),
        "without_owner": sum(1 for r in rows if r.owner is None),
        "items": [
            {
                "resource_id": r.resource_id,
                "name": r.name,
                "type": r.type,
                "sku": skus[r.resource_id][0],
                "sku_capacity": skus[r.resource_id][1],  # a provisioned deployment's units
                "subscription_id": r.subscription_id,
                "resource_group": r.resource_group,
                "owner": r.owner,
                "cost_center": r.cost_center,
                "app": r.app,
                "environment": r.environment,
                "missing": list(r.missing),
            }
            for r in rows
        ],
    }
