"""Budgets API: /api/budgets CRUD, /api/budgets/status, /api/alerts, /api/anomalies."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from aifinops.api.deps import AdminCaller, ReadCaller, SettingsDep, StoreDep
from aifinops.api.openapi import narrow_query, problems, query_doc
from aifinops.api.problems import ProblemError
from aifinops.domain import DIMENSIONS
from aifinops.errors import ValidationError
from aifinops.queries.anomalies import anomalies_json, find_anomalies
from aifinops.queries.budgets import (
    alerts_document,
    budget_document,
    budget_status_document,
    budget_statuses,
    budgets_document,
    stored_budget_json,
)
from aifinops.store.budgets import BudgetStore, parse_budget

__all__ = ["BudgetIn", "router"]

router = APIRouter(tags=["budgets"])
_MONEY = r"^-?\d{1,15}(\.\d{1,9})?$"


class ThresholdIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    percent: str = Field(pattern=r"^\d{1,4}(\.\d{1,6})?$", description="percent of the amount, e.g. '80'")
    type: Literal["actual", "forecast"] = "actual"


class BudgetIn(BaseModel):
    """A budget as JSON: money and percents as strings, scope values as a string or a list of strings."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=128)
    scope: dict[str, str | list[str]] = Field(default_factory=dict)
    amount: str = Field(pattern=_MONEY, description="the budget per period, e.g. '1000.00'")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    period: Literal["month", "quarter", "year", "custom"] = "month"
    start: dt.date | None = None
    end: dt.date | None = None
    timezone: str | None = None
    basis: Literal["actual", "amortized", "nowcast"] = "nowcast"
    thresholds: list[ThresholdIn] = Field(default_factory=lambda: [ThresholdIn(percent="100")])
    action: Literal["notify", "block", "downgrade"] = "notify"
    downgrade_to: str | None = Field(default=None, max_length=128)


def _not_found(name: str) -> ProblemError:
    return ProblemError(404, "Budget not found", f"no budget named {name!r}; list them with GET /api/budgets")


@router.get("/api/budgets")
async def list_budgets(store: StoreDep, caller: ReadCaller) -> list[dict[str, Any]]:
    return await run_in_threadpool(budgets_document, store, tenant=caller.tenant)


@router.post("/api/budgets", status_code=201, responses=problems(409))
async def create_budget(body: BudgetIn, store: StoreDep, _: AdminCaller) -> dict[str, Any]:
    budget = parse_budget(body.model_dump())
    try:
        return stored_budget_json(await run_in_threadpool(BudgetStore(store).create, budget))
    except ValidationError as exc:
        raise ProblemError(409, "Budget exists", str(exc)) from exc


@router.get("/api/budgets/status")
async def budgets_status(
    store: StoreDep, settings: SettingsDep, caller: ReadCaller, as_of: dt.datetime | None = None
) -> dict[str, Any]:
    """Every active budget: spend on its basis, forecast with band and explanation, thresholds crossed."""
    when = _aware(as_of, "as_of")
    statuses = await run_in_threadpool(
        budget_statuses, store, default_tz=settings.timezone, as_of=when, tenant=caller.tenant
    )
    return budget_status_document(statuses, as_of=when)


@router.get("/api/budgets/{name}")
async def get_budget(name: str, store: StoreDep, caller: ReadCaller) -> dict[str, Any]:
    found = await run_in_threadpool(budget_document, store, name, tenant=caller.tenant)
    if found is None:
        raise _not_found(name)
    return found


@router.put("/api/budgets/{name}", responses=problems(409))
async def put_budget(name: str, body: BudgetIn, store: StoreDep, _: AdminCaller) -> dict[str, Any]:
    if body.name != name:
        raise ValidationError(
            f"name {body.name!r} in the body differs from {name!r} in the path", field="name"
        )
    budget = parse_budget(body.model_dump())
    try:
        return stored_budget_json(await run_in_threadpool(BudgetStore(store).replace, budget))
    except ValidationError as exc:
        raise ProblemError(409, "Budget is read-only", str(exc)) from exc


@router.delete("/api/budgets/{name}", status_code=204, responses=problems(409))
async def delete_budget(name: str, store: StoreDep, _: AdminCaller) -> Response:
    try:
        deleted = await run_in_threadpool(BudgetStore(store).delete, name)
    except ValidationError as exc:
        raise ProblemError(409, "Budget is read-only", str(exc)) from exc
    if not deleted:
        raise _not_found(name)
    return Response(status_code=204)


@router.get("/api/alerts")
async def list_alerts(
    store: StoreDep,
    caller: ReadCaller,
    budget: str | None = None,
    since: dt.datetime | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[dict[str, Any]]:
    """Fired budget alerts, newest first, each with the delivery status of every channel."""
    after = None if since is None else _aware(since, "since")
    return await run_in_threadpool(
        lambda: alerts_document(store, budget=budget, since=after, limit=limit, tenant=caller.tenant)
    )


@router.get(
    "/api/anomalies",
    openapi_extra=query_doc(*DIMENSIONS)
    | narrow_query(by={"enum": list(DIMENSIONS), "description": "judge each value of this dimension"}),
)
async def list_anomalies(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    caller: ReadCaller,
    grain: Literal["day", "hour"] = "day",
    by: str | None = None,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Spend anomalies of the last complete day (or hour) before ``at`` for the filtered scope, or for each
    value of the dimension ``by``; dimension filters are query parameters (``tenant=contoso,fabrikam``)."""
    if by is not None and by not in DIMENSIONS:
        raise ValidationError(f"by={by!r} is not a dimension; choose from {list(DIMENSIONS)}", field="by")
    filters = {d: tuple(v.split(",")) for d in DIMENSIONS if (v := request.query_params.get(d))}
    if caller.tenant is not None:
        filters["tenant"] = (caller.tenant,)
    when = _aware(at, "at")
    hourly, currency = grain == "hour", settings.currency
    found = await run_in_threadpool(
        lambda: find_anomalies(
            store, filters=filters, by=by, hourly=hourly, at=when, tz=settings.timezone, currency=currency
        )
    )
    return anomalies_json(found, at=when, hourly=hourly, currency=currency)


def _aware(value: dt.datetime | None, name: str) -> dt.datetime:
    """The instant as aware UTC (now when absent); a naive time is refused rather than guessed."""
    if value is None:
        return dt.datetime.now(dt.UTC)
    if value.tzinfo is None:
        raise ValidationError(
            f"{name}={value.isoformat()} has no time zone; add 'Z' or an offset", field=name
        )
    return value.astimezone(dt.UTC)
