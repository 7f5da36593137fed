"""GET /api/tasks, /api/tasks/{task_id} and /api/kpis: what each business task cost and how it ended."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from aifinops.api.deps import ReadCaller, SettingsDep, StoreDep
from aifinops.api.problems import ProblemError
from aifinops.api.query_params import check_known, parse_group_by, parse_range
from aifinops.api.serializers import event_json, jsonable, kpi_json, task_costs_json
from aifinops.domain import DIMENSIONS, Basis, Outcome
from aifinops.engine.task_kpis import task_kpis
from aifinops.store.task_queries import get_task, list_tasks, task_group_stats

__all__ = ["router"]

router = APIRouter(tags=["tasks"])
_OUTCOMES = {o.value for o in Outcome} | {"open"}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _int(params: Any, name: str, default: int, hi: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 0 <= int(raw) <= hi:
        raise ProblemError(
            422,
            "Invalid request",
            f"{name}: must be a whole number from 0 to {hi}",
            errors=[{"field": name, "reason": f"must be 0..{hi}"}],
        )
    return int(raw)


def _task_json(t: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = jsonable({k: v for k, v in t.items() if k not in ("costs", "events")})
    out["estimated_cost"] = task_costs_json(t["costs"])
    return out


@router.get("/api/tasks", summary="Business tasks with their steps, retries, tokens, cost and outcome")
async def tasks(
    request: Request, settings: SettingsDep, store: StoreDep, caller: ReadCaller
) -> dict[str, Any]:
    params = request.query_params
    check_known(params, {"start", "end", "period", "outcome", "limit", "offset"})
    outcome = params.get("outcome")
    if outcome is not None and outcome not in _OUTCOMES:
        raise ProblemError(
            422,
            "Invalid request",
            f"outcome: {outcome!r} is not one of {sorted(_OUTCOMES)}",
            errors=[{"field": "outcome", "reason": "unknown outcome"}],
        )
    rng = (
        parse_range(params, timezone=settings.timezone, now=_now())
        if {"start", "period"} & set(params)
        else None
    )
    filters = {d: params[d] for d in DIMENSIONS if d in params}
    rows = await run_in_threadpool(
        list_tasks,
        store,
        start=rng.start if rng else None,
        end=rng.end if rng else None,
        filters=filters,
        outcome=outcome,
        tenant=caller.tenant,
        limit=_int(params, "limit", 100, 1000),
        offset=_int(params, "offset", 0, 10_000_000),
    )
    return {"items": [_task_json(r) for r in rows]}


@router.get("/api/tasks/{task_id}", summary="One task: its events, steps, retries, tokens, cost and outcome")
async def task(task_id: str, store: StoreDep, caller: ReadCaller) -> dict[str, Any]:
    found = await run_in_threadpool(get_task, store, task_id, tenant=caller.tenant)
    if found is None:
        raise ProblemError(404, "Unknown task", f"no task {task_id!r}")
    out = _task_json(found)
    out["events"] = [event_json(e) for e in found["events"]]
    return out


@router.get("/api/kpis", summary="Cost per successful task, success rate, waste, steps and retries")
async def kpis(
    request: Request, settings: SettingsDep, store: StoreDep, caller: ReadCaller
) -> dict[str, Any]:
    params = request.query_params
    check_known(params, {"start", "end", "period", "group_by"})
    group_by = parse_group_by(params, DIMENSIONS) or ("use_case",)
    rng = parse_range(params, timezone=settings.timezone, now=_now())
    stats = await run_in_threadpool(
        task_group_stats, store, group_by=group_by, start=rng.start, end=rng.end, tenant=caller.tenant
    )
    return {
        "basis": Basis.ESTIMATED.value,
        "start": rng.start.isoformat(),
        "end": rng.end.isoformat(),
        "group_by": list(group_by),
        "items": [kpi_json(k, group_by) for k in task_kpis(stats)],
    }
