"""GET /api/tasks, /api/tasks/{task_id} and /api/kpis: what each business task cost and how it ended."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from aifinops.api.deps import ReadCaller, SettingsDep, StoreDep
from aifinops.api.openapi import problems, query_doc
from aifinops.api.problems import ProblemError, invalid
from aifinops.api.query_params import parse_bases, parse_group_by, parse_range
from aifinops.domain import DIMENSIONS, Outcome
from aifinops.engine.kpis import KPI_BASES
from aifinops.queries.kpis import kpis_document
from aifinops.queries.tasks import task_document, task_tenants, tasks_document
from aifinops.store import Store

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
        raise invalid(name, f"must be a whole number from 0 to {hi}")
    return int(raw)


@router.get(
    "/api/tasks",
    summary="Business tasks with their steps, retries, tokens, cost and outcome",
    openapi_extra=query_doc(
        "start",
        "end",
        "period",
        "outcome",
        "limit",
        "offset",
        *DIMENSIONS,
        outcome={"enum": sorted(_OUTCOMES)},
        limit={"maximum": 1000},
        offset={"maximum": 10_000_000},
    ),
)
async def tasks(
    request: Request, settings: SettingsDep, store: StoreDep, caller: ReadCaller
) -> dict[str, Any]:
    params = request.query_params
    outcome = params.get("outcome")
    if outcome is not None and outcome not in _OUTCOMES:
        raise invalid("outcome", f"{outcome!r} is not one of {sorted(_OUTCOMES)}")
    rng = (
        parse_range(params, timezone=settings.timezone, now=_now())
        if {"start", "period"} & set(params)
        else None
    )
    filters = {d: params[d] for d in DIMENSIONS if d in params}
    if caller.tenant is not None and filters.get("tenant", caller.tenant) != caller.tenant:
        raise _other_tenant(caller.tenant, filters["tenant"])
    return await run_in_threadpool(
        tasks_document,
        store,
        start=rng.start if rng else None,
        end=rng.end if rng else None,
        filters=filters,
        outcome=outcome,
        tenant=caller.tenant,
        limit=_int(params, "limit", 100, 1000),
        offset=_int(params, "offset", 0, 10_000_000),
    )


@router.get(
    "/api/tasks/{task_id}",
    summary="One task: its events, steps, retries, tokens, cost and outcome",
    responses=problems(409),  # several tenants have a task of that id: name one
)
async def task(
    task_id: str,
    store: StoreDep,
    caller: ReadCaller,
    tenant: Annotated[
        str | None,
        Query(
            max_length=128,
            description="The task's tenant (a task is its id within its tenant; empty: the task without "
            "one). A tenant-limited key sees its own tenant only; other keys may leave it out when one "
            "tenant has the id.",
        ),
    ] = None,
) -> dict[str, Any]:
    owner = await run_in_threadpool(_owner, store, task_id, caller.tenant, tenant)
    found = await run_in_threadpool(task_document, store, task_id, tenant=owner)
    if found is None:
        raise ProblemError(
            404, "Unknown task", f"no task {task_id!r}" + (f" of tenant {owner!r}" if owner else "")
        )
    return found


def _other_tenant(own: str, asked: str) -> ProblemError:
    return ProblemError(
        403, "Tenant not allowed", f"this key sees only tenant {own!r}, asked {asked!r}", field="tenant"
    )


def _owner(store: Store, task_id: str, own: str | None, asked: str | None) -> str:
    """The tenant whose task ``task_id`` the caller asks for: its own when limited, else the one asked, else
    the only tenant with that id (409 when several have it)."""
    if own is not None:
        if asked is not None and asked != own:
            raise _other_tenant(own, asked)
        return own
    if asked is not None:
        return asked
    tenants = task_tenants(store, task_id)
    if len(tenants) > 1:
        raise ProblemError(
            409,
            "Task id used by several tenants",
            f"tenants {[t or None for t in tenants]} each have a task {task_id!r}; name one with ?tenant=",
            field="tenant",
        )
    return tenants[0] if tenants else ""


@router.get(
    "/api/kpis",
    summary="Cost per successful task (estimated and fully loaded), success rate, waste, steps",
    openapi_extra=query_doc(
        "start",
        "end",
        "period",
        "group_by",
        "basis",
        group_by={"pattern": rf"^(({'|'.join(DIMENSIONS)}),)*({'|'.join(DIMENSIONS)})?$"},
        basis={"pattern": rf"^(({'|'.join(b.value for b in KPI_BASES)}),?)+$"},
    ),
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
