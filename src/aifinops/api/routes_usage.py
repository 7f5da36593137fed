"""GET /api/token-usage and GET /api/costs: series by period and allocation dimensions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from aifinops.api.deps import ReadCaller, SettingsDep, StoreDep
from aifinops.api.openapi import problems, query_doc
from aifinops.api.problems import invalid
from aifinops.api.query_params import parse_usage_query
from aifinops.domain import Basis
from aifinops.queries.apim_usage import apim_usage_document
from aifinops.queries.costs import costs_document
from aifinops.queries.usage import monitor_usage_document, token_usage_document
from aifinops.store.usage_queries import FILTERABLE

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


_GROUPS = {"pattern": rf"^(({'|'.join(FILTERABLE)}),)*({'|'.join(FILTERABLE)})?$"}


@router.get(
    "/api/token-usage",
    summary="Tokens and requests by period and dimensions (basis usage)",
    openapi_extra=query_doc(
        *sorted(_USAGE_PARAMS), *FILTERABLE, group_by=_GROUPS, source={"enum": list(_USAGE_DOCUMENTS)}
    ),
)
async def token_usage(
    request: Request, settings: SettingsDep, store: StoreDep, caller: ReadCaller
) -> dict[str, Any]:
    source = request.query_params.get("source", "apps")
    if source not in _USAGE_DOCUMENTS:
        raise invalid("source", "must be 'apps' (reported usage), 'monitor' or 'apim'")
    q = parse_usage_query(request.query_params, timezone=settings.timezone, now=_now(), tenant=caller.tenant)
    document = _USAGE_DOCUMENTS[source]
    return await run_in_threadpool(document, store, q)


@router.get(
    "/api/costs",
    summary="Cost by period and dimensions, on the basis asked for",
    responses=problems(404),  # billed cost by app, tenant, use case… needs a stored allocation
    openapi_extra=query_doc(
        *sorted(_COST_PARAMS),
        *FILTERABLE,
        group_by=_GROUPS,
        basis={"enum": [Basis.ESTIMATED.value, Basis.ACTUAL.value, Basis.AMORTIZED.value]},
    ),
)
async def costs(
    request: Request, settings: SettingsDep, store: StoreDep, caller: ReadCaller
) -> dict[str, Any]:
    basis = request.query_params.get("basis", Basis.ESTIMATED.value)
    if basis not in (Basis.ESTIMATED.value, Basis.ACTUAL.value, Basis.AMORTIZED.value):
        raise invalid("basis", f"{basis!r} must be estimated, actual or amortized")
    q = parse_usage_query(request.query_params, timezone=settings.timezone, now=_now(), tenant=caller.tenant)
    return await run_in_threadpool(lambda: costs_document(store, q, basis=Basis(basis), tenant=caller.tenant))
