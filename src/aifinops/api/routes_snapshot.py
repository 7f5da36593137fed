"""GET /api/snapshot: one period at a glance — totals by basis, top dimensions, KPIs, freshness."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from aifinops.api.deps import AdminCaller, ReadCaller, SettingsDep, StoreDep
from aifinops.api.openapi import query_doc
from aifinops.api.problems import invalid
from aifinops.api.query_params import parse_flag, parse_range
from aifinops.jobs.snapshots import save_period_snapshot
from aifinops.queries.periods import period_range
from aifinops.queries.recommendations import optimize_settings
from aifinops.queries.snapshot import snapshot_document, snapshot_history_document, stored_snapshot
from aifinops.store.usage_queries import UsageQuery

__all__ = ["router"]

router = APIRouter(tags=["snapshot"])


def _query(request: Request, timezone: str, tenant: str | None, now: dt.datetime) -> UsageQuery:
    rng = parse_range(request.query_params, timezone=timezone, now=now)
    filters = {"tenant": (tenant,)} if tenant else {}
    return UsageQuery(start=rng.start, end=rng.end, granularity="month", filters=filters, timezone=timezone)


@router.get(
    "/api/snapshot",
    summary="A period at a glance: totals by basis, top spenders, KPIs, freshness",
    openapi_extra=query_doc("period", "start", "end", "fresh"),
)
async def snapshot(
    request: Request, settings: SettingsDep, store: StoreDep, caller: ReadCaller
) -> dict[str, Any]:
    """The latest stored snapshot of ``period`` (kept after each collection); computed live when none is
    stored, for a start/end range, with ``fresh=true``, or for a tenant-bound key."""
    now = dt.datetime.now(dt.UTC)
    q = _query(request, settings.timezone, caller.tenant, now)
    period = request.query_params.get("period")
    fresh = parse_flag(request.query_params, "fresh")
    if period and caller.tenant is None and not fresh:
        stored = await run_in_threadpool(stored_snapshot, store, period, timezone=settings.timezone)
        if stored is not None:
            return stored
    body = await run_in_threadpool(
        snapshot_document,
        store,
        q,
        timezone=settings.timezone,
        tenant=caller.tenant,
        now=now,
        optimize=optimize_settings(settings.optimize),
    )
    return {**body, "stored": None}


def _required_period(request: Request, example: str) -> str:
    period = request.query_params.get("period", "")
    if not period:
        raise invalid("period", example)
    return period


_PERIOD_REQUIRED = {"parameters": [query_doc("period")["parameters"][0] | {"required": True}]}


@router.post(
    "/api/snapshot",
    summary="Take and keep a snapshot of a month or a day now",
    openapi_extra=_PERIOD_REQUIRED,
)
async def take_snapshot(
    request: Request, settings: SettingsDep, store: StoreDep, caller: AdminCaller
) -> dict[str, Any]:
    period = _required_period(request, "give the month or day to snapshot, e.g. 2026-10 or 2026-10-05")
    period_range(period, settings.timezone)  # 422 naming the field before any work
    return await run_in_threadpool(
        save_period_snapshot,
        store,
        period,
        timezone=settings.timezone,
        trigger="api",
        now=dt.datetime.now(dt.UTC),
        optimize=optimize_settings(settings.optimize),
    )


@router.get(
    "/api/snapshots",
    summary="The stored snapshots of a period, newest first (history)",
    openapi_extra=_PERIOD_REQUIRED,
)
async def snapshot_history(
    request: Request, settings: SettingsDep, store: StoreDep, caller: ReadCaller
) -> dict[str, Any]:
    period = _required_period(request, "required, e.g. 2026-10")
    period_range(period, settings.timezone)  # 422 naming the field for a period that cannot exist
    if caller.tenant is not None:
        return {"period": period, "items": []}  # stored snapshots span every tenant
    return await run_in_threadpool(snapshot_history_document, store, period)
