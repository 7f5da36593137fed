"""GET /api/tasks, /api/tasks/{task_id} and /api/kpis: what each business task cost and how it ended."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from aifinops.api.deps import ReadCaller, SettingsDep, StoreDep
from aifinops.api.problems import ProblemError
from aifinops.api.query_params import (
    TimeRange,
    billing_days,
    check_known,
    parse_bases,
    parse_group_by,
    parse_range,
)
from aifinops.api.serializers import event_json, jsonable, kpi_json, task_costs_json, unavailable_json
from aifinops.domain import DIMENSIONS, Basis, Outcome
from aifinops.engine.kpis import KPI_BASES, task_kpis
from aifinops.store import Store
from aifinops.store.kpi_input_queries import read_kpi_inputs
from aifinops.store.task_queries import get_task, list_tasks

__all__ = ["kpis_document", "router"]

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


def kpis_document(
    store: Store,
    *,
    rng: TimeRange,
    timezone: str,
    group_by: tuple[str, ...],
    bases: tuple[Basis, ...] | None,
    tenant: str | None,
) -> dict[str, Any]:
    """The ``/api/kpis`` answer: per group, cost per successful task on every basis served."""
    days = billing_days(rng, timezone)
    inputs = read_kpi_inputs(
        store, start=rng.start, end=rng.end, days=days, by=group_by, bases=bases or KPI_BASES, tenant=tenant
    )
    return {
        "start": rng.start.isoformat(),
        "end": rng.end.isoformat(),
        "billing_days": {"start": days[0].isoformat(), "end": days[1].isoformat()},
        "group_by": list(group_by),
        "bases": [b.value for b in inputs.bases],
        # Only a basis asked for by name is explained; by default the bases with data are served.
        "notes": unavailable_json(inputs.unavailable) if bases else [],
        "items": [
            kpi_json(k, group_by, bases=inputs.bases) for k in task_kpis(inputs.tasks, inputs.allocated)
        ],
    }


@router.get(
    "/api/kpis", summary="Cost per successful task (estimated and fully loaded), success rate, waste, steps"
)
async def kpis(
    request: Request, settings: SettingsDep, store: StoreDep, caller: ReadCaller
) -> dict[str, Any]:
    """Per group: tasks by outcome, success rate, cost, cost per successful task, cost of failed and
    abandoned tasks and value per cost, on the ``estimated`` basis and — where a stored allocation of the
    period's billing days covers ``group_by`` — fully loaded on ``actual`` and ``amortized``.
    ``basis=estimated,actual`` narrows the bases (default: every basis with data); ``notes`` says why an
    asked-for basis is missing."""
    params = request.query_params
    check_known(params, {"start", "end", "period", "group_by", "basis"})
    group_by = parse_group_by(params, DIMENSIONS) or ("use_case",)
    bases = parse_bases(params, KPI_BASES)
    rng = parse_range(params, timezone=settings.timezone, now=_now())
    return await run_in_threadpool(
        kpis_document,
        store,
        rng=rng,
        timezone=settings.timezone,
        group_by=group_by,
        bases=bases,
        tenant=caller.tenant,
    )
