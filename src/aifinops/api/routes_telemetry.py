"""GET /api/telemetry-cost: what the telemetry itself costs, by workspace, table and sending app."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from aifinops.api.deps import ReadCaller, SettingsDep, StoreDep
from aifinops.api.openapi import query_doc
from aifinops.api.problems import ProblemError, invalid
from aifinops.api.query_params import parse_range
from aifinops.domain import Basis
from aifinops.queries.periods import billing_days
from aifinops.queries.telemetry import telemetry_cost_document

__all__ = ["router"]

router = APIRouter(tags=["usage"])


@router.get(
    "/api/telemetry-cost",
    summary="Log Analytics cost by table and sending app, price per GB",
    openapi_extra=query_doc(
        "period", "start", "end", "basis", basis={"enum": [Basis.ACTUAL.value, Basis.AMORTIZED.value]}
    ),
)
async def telemetry_cost(
    request: Request, settings: SettingsDep, store: StoreDep, caller: ReadCaller
) -> dict[str, Any]:
    basis = request.query_params.get("basis", Basis.ACTUAL.value)
    if basis not in (Basis.ACTUAL.value, Basis.AMORTIZED.value):
        raise invalid("basis", f"{basis!r} must be actual or amortized")
    if caller.tenant is not None:  # the workspaces are shared: a tenant-bound key sees none of it
        raise ProblemError(
            403, "Forbidden", "telemetry cost is not split by tenant; use a key without tenant"
        )
    rng = parse_range(request.query_params, timezone=settings.timezone, now=dt.datetime.now(dt.UTC))
    start, end = billing_days(rng, settings.timezone)
    return await run_in_threadpool(telemetry_cost_document, store, start, end, basis=Basis(basis))
