"""GET /api/snapshot: one period at a glance — totals by basis, top dimensions, KPIs, freshness."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from aifinops.api.deps import AdminCaller, ReadCaller, SettingsDep, StoreDep
from aifinops.api.financial import snapshot_totals
from aifinops.api.problems import ProblemError
from aifinops.api.query_params import TimeRange, billing_days, check_known, parse_range, period_range
from aifinops.api.routes_budgets import budget_statuses_json, current_statuses
from aifinops.api.serializers import jsonable, kpi_json
from aifinops.domain import Basis, from_nanos, plain
from aifinops.engine.kpis import ALLOCATED_BASES, task_kpis
from aifinops.store import Store
from aifinops.store.allocation_queries import bucket_totals
from aifinops.store.freshness_queries import read_freshness
from aifinops.store.kpi_input_queries import read_kpi_inputs
from aifinops.store.snapshots import SnapshotStore
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
        {dim: k[0], "amount": plain(from_nanos(v)), "currency": k[1], "basis": "estimated"} for k, v in ranked
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
    days = billing_days(TimeRange(q.start, q.end), q.timezone)
    inputs = read_kpi_inputs(store, start=q.start, end=q.end, days=days, by=("use_case",), tenant=tenant)
    return {
        "period": {"start": q.start.isoformat(), "end": q.end.isoformat(), "timezone": q.timezone},
        "generated_at": now.isoformat(),
        "totals": [
            {"amount": plain(from_nanos(v)), "currency": c, "basis": Basis.ESTIMATED.value}
            for c, v in sorted(totals.items())
        ]
        + list(extra_totals or []),
        "events": events,
        "unpriced_events": unpriced,
        "top": {d: _top(store, q, d) for d in TOP_DIMENSIONS},
        "kpi_bases": [b.value for b in inputs.bases],
        "kpis": [kpi_json(k, ("use_case",)) for k in task_kpis(inputs.tasks, inputs.allocated)],
        "freshness": jsonable(read_freshness(store)),
    }


def _allocation_totals(store: Store, q: UsageQuery) -> dict[str, list[dict[str, str]]]:
    """Allocated, idle and unallocated cost per basis and currency, where an allocation is stored."""
    start, end = billing_days(TimeRange(q.start, q.end), q.timezone)
    out: dict[str, list[dict[str, str]]] = {}
    for basis in ALLOCATED_BASES:
        totals = bucket_totals(store, start, end, basis=basis)
        if totals:
            out[basis.value] = [
                {"currency": c, "bucket": b, "amount": plain(from_nanos(v))}
                for (c, b), v in sorted(totals.items())
            ]
    return out


def compose_snapshot(
    store: Store, q: UsageQuery, *, timezone: str, tenant: str | None, now: dt.datetime
) -> dict[str, Any]:
    """Everything the snapshot shows: estimate, bill, allocation, KPIs, budgets and freshness."""
    body = build_snapshot(store, q, tenant=tenant, now=now, extra_totals=snapshot_totals(store)(q, tenant))
    body["allocation"] = {} if tenant is not None else _allocation_totals(store, q)
    as_of = min(now, q.end - dt.timedelta(microseconds=1))
    statuses = current_statuses(store, default_tz=timezone, as_of=as_of)
    if tenant is not None:
        statuses = [s for s in statuses if s.budget.scope.get("tenant") == (tenant,)]
    body["budgets"] = budget_statuses_json(statuses)
    return body


def save_period_snapshot(
    store: Store, period: str, *, timezone: str, trigger: str, now: dt.datetime
) -> dict[str, Any]:
    """Compute and keep the snapshot of ``period``, a month (``2026-10``) or a day (``2026-10-05``) in
    ``timezone`` (after a collection, or on request)."""
    rng = period_range(period, timezone)
    granularity = "day" if len(period) == len("2026-10-05") else "month"
    q = UsageQuery(start=rng.start, end=rng.end, granularity=granularity, timezone=timezone)
    body = compose_snapshot(store, q, timezone=timezone, tenant=None, now=now)
    SnapshotStore(store).save(period, body, timezone=timezone, generated_at=now, trigger=trigger)
    return body


def _query(request: Request, timezone: str, tenant: str | None, now: dt.datetime) -> UsageQuery:
    rng = parse_range(request.query_params, timezone=timezone, now=now)
    filters = {"tenant": (tenant,)} if tenant else {}
    return UsageQuery(start=rng.start, end=rng.end, granularity="month", filters=filters, timezone=timezone)


@router.get("/api/snapshot", summary="A period at a glance: totals by basis, top spenders, KPIs, freshness")
async def snapshot(
    request: Request, settings: SettingsDep, store: StoreDep, caller: ReadCaller
) -> dict[str, Any]:
    """The latest stored snapshot of ``period`` (kept after each collection); computed live when none is
    stored, for a start/end range, with ``fresh=true``, or for a tenant-bound key."""
    check_known(request.query_params, {"period", "start", "end", "fresh"})
    now = dt.datetime.now(dt.UTC)
    q = _query(request, settings.timezone, caller.tenant, now)
    period = request.query_params.get("period")
    fresh = request.query_params.get("fresh", "").lower() in ("1", "true", "yes")
    if period and caller.tenant is None and not fresh:
        stored = await run_in_threadpool(SnapshotStore(store).latest, period, timezone=settings.timezone)
        if stored is not None:
            return {
                **stored.body,
                "stored": {"generated_at": stored.generated_at.isoformat(), "trigger": stored.trigger},
            }
    body = await run_in_threadpool(
        compose_snapshot, store, q, timezone=settings.timezone, tenant=caller.tenant, now=now
    )
    return {**body, "stored": None}


@router.post("/api/snapshot", summary="Take and keep a snapshot of a month or a day now")
async def take_snapshot(
    request: Request, settings: SettingsDep, store: StoreDep, caller: AdminCaller
) -> dict[str, Any]:
    check_known(request.query_params, {"period"})
    period = request.query_params.get("period", "")
    if not period:
        raise ProblemError(
            422,
            "Invalid request",
            "period: give the month or day to snapshot, e.g. 2026-10 or 2026-10-05",
            errors=[{"field": "period", "reason": "required"}],
        )
    period_range(period, settings.timezone)  # 422 naming the field before any work
    return await run_in_threadpool(
        save_period_snapshot,
        store,
        period,
        timezone=settings.timezone,
        trigger="api",
        now=dt.datetime.now(dt.UTC),
    )


@router.get("/api/snapshots", summary="The stored snapshots of a period, newest first (history)")
async def snapshot_history(
    request: Request, settings: SettingsDep, store: StoreDep, caller: ReadCaller
) -> dict[str, Any]:
    check_known(request.query_params, {"period", "limit"})
    period = request.query_params.get("period")
    if not period:
        raise ProblemError(
            422,
            "Invalid request",
            "period: required, e.g. 2026-10",
            errors=[{"field": "period", "reason": "required"}],
        )
    if caller.tenant is not None:
        return {"period": period, "items": []}  # stored snapshots span every tenant
    rows = await run_in_threadpool(SnapshotStore(store).history, period)
    return {
        "period": period,
        "items": [
            {
                "generated_at": r.generated_at.isoformat(),
                "trigger": r.trigger,
                "timezone": r.timezone,
                "totals": r.body.get("totals", []),
            }
            for r in rows
        ],
    }
