"""GET /api/recommendations and POST /api/whatif: what to change, in the levers' order, and what it saves."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams

from aifinops.api.deps import ReadCaller, SettingsDep, StoreDep
from aifinops.api.openapi import query_doc
from aifinops.api.query_params import check_filter_names, parse_filters, parse_range
from aifinops.engine.optimize.scenario import LEVER_IDS, PARAMS
from aifinops.queries.recommendations import optimize_settings, recommendations_document, whatif_document
from aifinops.store.usage_queries import FILTERABLE

__all__ = ["router"]

router = APIRouter(tags=["optimize"])

_PARAMS = {"start", "end", "period"}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@router.get(
    "/api/recommendations",
    summary="Recommendations in the levers' order, each with its evidence, action, savings and scenario",
    description="Levers, in the order savings are computed (each on what the earlier ones leave): "
    + ", ".join(LEVER_IDS)
    + ". A recommendation's `savings` are the what-if of its `scenario` alone; `stacked_savings` of its "
    "`stacked_scenario` beyond the recommendations before it. A tenant-limited key sees only its tenant.",
    openapi_extra=query_doc(*sorted(_PARAMS), *FILTERABLE),
)
async def recommendations(
    request: Request, settings: SettingsDep, store: StoreDep, caller: ReadCaller
) -> dict[str, Any]:
    rng = parse_range(request.query_params, timezone=settings.timezone, now=_now())
    where = parse_filters(request.query_params, tenant=caller.tenant)
    return await run_in_threadpool(
        recommendations_document,
        store,
        start=rng.start,
        end=rng.end,
        where=where,
        settings=optimize_settings(settings.optimize),
    )


class WhatIfIn(BaseModel):
    """A scenario over a period: the parts as a recommendation's ``scenario`` carries them."""

    model_config = ConfigDict(extra="forbid")
    period: str | None = Field(default=None, description="a month (2026-10) or a day; instead of start/end")
    start: str | None = None
    end: str | None = None
    filters: dict[str, list[str]] = Field(
        default_factory=dict, description="dimension → the values it may take, e.g. {'tenant': ['contoso']}"
    )
    scenario: list[dict[str, Any]] = Field(
        description='parts, e.g. [{"lever": "loops", "scope": {"use_case": "doc-qa"}, "max_steps": 8}]; '
        "each lever and its settings: "
        + "; ".join(f"{lever} ({', '.join(PARAMS[lever])})" for lever in LEVER_IDS if lever in PARAMS)
        + ' — e.g. {"lever": "retrieval", "scope": {"use_case": "doc-qa"}, "max_retrieved_tokens": 4096} '
        "returns at most that many tokens of passages per retrieval",
        max_length=64,
    )


@router.post(
    "/api/whatif",
    summary="Cost on every basis and cost per successful task before and after a scenario",
)
async def whatif(
    body: WhatIfIn, settings: SettingsDep, store: StoreDep, caller: ReadCaller
) -> dict[str, Any]:
    rng_params = {k: v for k, v in {"period": body.period, "start": body.start, "end": body.end}.items() if v}
    rng = parse_range(QueryParams(rng_params), timezone=settings.timezone, now=_now())
    filters = {k: ",".join(v) for k, v in body.filters.items()}
    check_filter_names(filters)
    where = parse_filters(QueryParams(filters), tenant=caller.tenant)
    return await run_in_threadpool(
        whatif_document,
        store,
        start=rng.start,
        end=rng.end,
        scenario=body.scenario,
        where=where,
        settings=optimize_settings(settings.optimize),
    )
