"""GET /api/snapshot: one period at a glance — totals by basis, top dimensions, KPIs, freshness."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from aifinops.api.deps import ReadCaller, SettingsDep, StoreDep
from aifinops.api.query_params import check_known, parse_range
from aifinops.api.routes_budgets import budget_statuses_json, current_statuses
from aifinops.api.serializers import jsonable, kpi_json
from aifinops.domain import Basis, from_nanos
from aifinops.engine.task_kpis import task_kpis
from aifinops.store import Store
from aifinops.store.freshness_queries import read_freshness
from aifinops.store.task_queries import task_group_stats
from aifinops.store.usage_queries import UsageQuery, query_usage

__all__ = ["build_snapshot", "router"]

router = APIRouter(tags=["snapshot"])
TOP_DIMENSIONS = ("app", "use_case", "tenant", "model", "agent")


def _top(store: Store, q: UsageQuery, dim: str, n: int = 5) -> list[dict[str, Any]]:
    rows = query_usage(
        store,
        UsageQuery(
            start=q.start,
            end=q.end,
            granularity="month",
            group_by=(dim,),
            filters=q.filters,
            timezone=q.timezone,
        ),
    )
    acc: dict[tuple[str | None, str], int] = {}
    for r in rows:
        if r.currency:
            key = (r.group[dim], r.currency)
            acc[key] = acc.get(key, 0) + r.sums["cost_nanos"]
    ranked = sorted(acc.items(), key=lambda kv: (-kv[1], str(kv[0])))[:n]
    return [
        {dim: k[0], "amount": str(from_nanos(v)), "currency": k[1], "basis": "estimated"} for k, v in ranked
    ]


def build_snapshot(
    store: Store,
    q: UsageQuery,
    *,
    tenant: str | None,
    now: dt.datetime,
    extra_totals: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The snapshot of one period (pure read; the caller adds financial totals when it has them)."""
    rows = query_usage(
        store,
        UsageQuery(start=q.start, end=q.end, granularity="month", filters=q.filters, timezone=q.timezone),
    )
    totals: dict[str, int] = {}
    unpriced = events = 0
    for r in rows:
        events += r.sums["events"]
        unpriced += r.sums["unpriced_events"]
        if r.currency:
            totals[r.currency] = totals.get(r.currency, 0) + r.sums["cost_nanos"]
    stats = task_group_stats(store, group_by=["use_case"], start=q.start, end=q.end, tenant=tenant)
    return {
        "period": {"start": q.start.isoformat(), "end": q.end.isoformat(), "timezone": q.timezone},
        "generated_at": now.isoformat(),
        "totals": [
            {"amount": str(from_nanos(v)), "currency": c, "basis": Basis.ESTIMATED.value}
            for c, v in sorted(totals.items())
        ]
        + list(extra_totals or []),
        "events": events,
        "unpriced_events": unpriced,
        "top": {d: _top(store, q, d) for d in TOP_DIMENSIONS},
        "kpis": [kpi_json(k, ("use_case",)) for k in task_kpis(stats)],
        "freshness": jsonable(read_freshness(store)),
    }


@router.get("/api/snapshot", summary="A period at a glance: totals by basis, top spenders, KPIs, freshness")
async def snapshot(
    request: Request, settings: SettingsDep, store: StoreDep, caller: ReadCaller
) -> dict[str, Any]:
    check_known(request.query_params, {"period", "start", "end"})
    now = dt.datetime.now(dt.UTC)
    rng = parse_range(request.query_params, timezone=settings.timezone, now=now)
    filters = {"tenant": (caller.tenant,)} if caller.tenant else {}
    q = UsageQuery(
        start=rng.start, end=rng.end, granularity="month", filters=filters, timezone=settings.timezone
    )
    extra = getattr(request.app.state, "snapshot_extras", None)
    extra_totals = await run_in_threadpool(extra, q, caller.tenant) if extra else None
    body = await run_in_threadpool(
        build_snapshot, store, q, tenant=caller.tenant, now=now, extra_totals=extra_totals
    )
    as_of = min(now, rng.end - dt.timedelta(microseconds=1))
    statuses = await run_in_threadpool(current_statuses, store, default_tz=settings.timezone, as_of=as_of)
    if caller.tenant is not None:
        statuses = [s for s in statuses if s.budget.scope.get("tenant") == (caller.tenant,)]
    body["budgets"] = budget_statuses_json(statuses)
    return body
