"""GET /api/inventory: the AI-related Azure resources with their tags, and who owns them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from aifinops.api.deps import ReadCaller, StoreDep
from aifinops.api.query_params import check_known
from aifinops.sources.resource_graph import ownership_matrix
from aifinops.store.inventory_queries import read_inventory

__all__ = ["router"]

router = APIRouter(tags=["inventory"])


@router.get("/api/inventory", summary="AI-related Azure resources, their tags and the ownership matrix")
async def inventory(request: Request, store: StoreDep, caller: ReadCaller) -> dict[str, Any]:
    check_known(request.query_params, {"type", "unowned"})
    kind = request.query_params.get("type")
    resources = await run_in_threadpool(read_inventory, store, resource_type=kind.lower() if kind else None)
    rows = ownership_matrix(resources)
    if request.query_params.get("unowned", "").lower() in ("1", "true", "yes"):
        rows = [r for r in rows if r.owner is None]
    if caller.tenant is not None:  # resources are shared infrastructure: a tenant key sees none of them
        rows = []
    return {
        "resources": len(rows),
        "without_owner": sum(1 for r in rows if r.owner is None),
        "items": [
            {
                "resource_id": r.resource_id,
                "name": r.name,
                "type": r.type,
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
