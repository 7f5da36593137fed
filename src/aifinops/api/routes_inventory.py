"""GET /api/inventory: the AI-related Azure resources with their tags, and who owns them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from aifinops.api.deps import ReadCaller, StoreDep
from aifinops.api.openapi import query_doc
from aifinops.api.query_params import parse_flag
from aifinops.queries.inventory import inventory_document

__all__ = ["router"]

router = APIRouter(tags=["inventory"])


@router.get(
    "/api/inventory",
    summary="AI-related Azure resources, their tags and the ownership matrix",
    openapi_extra=query_doc("type", "unowned"),
)
async def inventory(request: Request, store: StoreDep, caller: ReadCaller) -> dict[str, Any]:
    kind = request.query_params.get("type")
    return await run_in_threadpool(
        inventory_document,
        store,
        resource_type=kind.lower() if kind else None,
        unowned=parse_flag(request.query_params, "unowned"),
        tenant=caller.tenant,
    )
