"""GET /api/estate and /api/cost-drivers: the AI estate of a period and what drives each use case's cost."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from aifinops.api.deps import StoreDep
from aifinops.api.openapi import narrow_query
from aifinops.api.problems import invalid
from aifinops.api.routes_allocation import BILLING_DAYS, OrgCaller, PeriodQuery
from aifinops.domain import Basis
from aifinops.queries.cost_drivers import cost_drivers_document
from aifinops.queries.estate import estate_document

__all__ = ["router"]

router = APIRouter(tags=["inventory"])


@router.get(
    "/api/estate",
    summary="The AI estate: apps, use cases, deployments, accounts, shared resources, owners, cost centers",
    openapi_extra=narrow_query(**BILLING_DAYS),
)
async def estate(store: StoreDep, caller: OrgCaller, days: PeriodQuery) -> dict[str, Any]:
    return await run_in_threadpool(estate_document, store, start=days.start, end=days.end)


@router.get(
    "/api/cost-drivers",
    summary="What drives each use case's cost, in money",
    openapi_extra=narrow_query(**BILLING_DAYS, basis={"enum": [Basis.ACTUAL.value, Basis.AMORTIZED.value]}),
)
async def cost_drivers(
    store: StoreDep,
    caller: OrgCaller,
    days: PeriodQuery,
    basis: str = Query("actual", description="Basis of the allocated services: actual or amortized."),
) -> dict[str, Any]:
    if basis not in (Basis.ACTUAL.value, Basis.AMORTIZED.value):
        raise invalid("basis", f"must be actual or amortized, got {basis!r}")
    return await run_in_threadpool(
        cost_drivers_document, store, start=days.start, end=days.end, basis=Basis(basis)
    )
