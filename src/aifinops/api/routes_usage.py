"""GET /api/token-usage and GET /api/costs: series by period and allocation dimensions."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from aifinops.api.deps import ReadCaller, SettingsDep, StoreDep
from aifinops.api.problems import ProblemError
from aifinops.api.query_params import check_known, parse_usage_query
from aifinops.domain import Basis
from aifinops.jobs.allocate import run_gc_paused
from aifinops.queries.apim_usage import apim_usage_document
from aifinops.queries.costs import costs_document
from aifinops.queries.usage import monitor_usage_document, token_usage_document

__all__ = ["router"]

router = APIRouter(tags=["usage"])

_USAGE_PARAMS = {"start", "end", "period", "granularity", "group_by", "source"}
#: ``source=`` of /api/token-usage: the apps' own usage, or a measurement of it beside the apps' figures.
_USAGE_DOCUMENTS = {
    "apps": token_usage_document,
    "monitor": monitor_usage_document,
    "apim": apim_usage_document,
}
_COST_PARAMS = {"start", "end", "period", "granularity", "group_by", "basis"}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@router.get("/api/token-usage", summary="Tokens and requests by period and dimensions (basis usage)")
async def token_usage(
    request: Request, settings: SettingsDep, store: StoreDep, caller: ReadCaller
) -> dict[str, Any]:
    check_known(request.query_params, _USAGE_PARAMS)
    source = request.query_params.get("source", "apps")
    if source not in _USAGE_DOCUMENTS:
        raise ProblemError(
            422,
            "Invalid request",
            "source: must be 'apps' (reported usage), 'monitor' or 'apim'",
            errors=[{"field": "source", "reason": "must be apps, monitor or apim"}],
        )
    q = parse_usage_query(request.query_params, timezone=settings.timezone, now=_now(), tenant=caller.tenant)
    document = _USAGE_DOCUMENTS[source]
    return await run_in_threadpool(document, store, q)


@router.get("/api/costs", summary="Cost by period and dimensions, on the basis asked for")
async def costs(
    request: Request, settings: SettingsDep, store: StoreDep, caller: ReadCaller
) -> dict[str, Any]:
    check_known(request.query_params, _COST_PARAMS)
    basis = request.query_params.get("basis", Basis.ESTIMATED.value)
    if basis not in (Basis.ESTIMATED.value, Basis.ACTUAL.value, Basis.AMORTIZED.value):
        raise ProblemError(
            422,
            "Invalid request",
            f"basis: {basis!r} must be estimated, actual or amortized",
            errors=[{"field": "basis", "reason": "must be estimated, actual or amortized"}],
        )
    q = parse_usage_query(request.query_params, timezone=settings.timezone, now=_now(), tenant=caller.tenant)
    document = partial(costs_document, store, q, basis=Basis(basis), tenant=caller.tenant)
    if basis == Basis.ESTIMATED.value:
        return await run_in_threadpool(document)
    return await run_in_threadpool(run_gc_paused, document)  # billed cost by group: a month of lines
