"""Budgets API: /api/budgets CRUD, /api/budgets/status, /api/alerts, /api/anomalies; budget metrics."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response
from prometheus_client.core import GaugeMetricFamily, Metric
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from aifinops.api.deps import AdminCaller, ReadCaller, SettingsDep, StoreDep
from aifinops.api.problems import ProblemError
from aifinops.domain import DIMENSIONS, from_nanos, plain
from aifinops.engine.anomalies import Anomaly
from aifinops.engine.budgets import Budget, BudgetStatus, budget_to_dict, scope_label
from aifinops.errors import ValidationError
from aifinops.store import Store
from aifinops.store.budget_spend import evaluate_budgets
from aifinops.store.budgets import AlertRecord, BudgetStore, StoredBudget, parse_budget
from aifinops.store.spend_anomalies import find_anomalies

__all__ = [
    "BudgetCollector",
    "BudgetIn",
    "budget_statuses_json",
    "current_statuses",
    "router",
]

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


def _stored_json(stored: StoredBudget) -> dict[str, Any]:
    return {
        **budget_to_dict(stored.budget),
        "origin": stored.origin,
        "version": stored.version,
        "created_at": stored.created_at.isoformat(),
        "updated_at": stored.updated_at.isoformat(),
    }


def _visible(budget: Budget, tenant: str | None) -> bool:
    """A tenant-bound key sees only the budgets of exactly its tenant."""
    return tenant is None or budget.scope.get("tenant") == (tenant,)


def _not_found(name: str) -> ProblemError:
    return ProblemError(404, "Budget not found", f"no budget named {name!r}; list them with GET /api/budgets")


@router.get("/api/budgets")
async def list_budgets(store: StoreDep, caller: ReadCaller) -> list[dict[str, Any]]:
    stored = await run_in_threadpool(BudgetStore(store).list_all)
    return [_stored_json(s) for s in stored if _visible(s.budget, caller.tenant)]


@router.post("/api/budgets", status_code=201)
async def create_budget(body: BudgetIn, store: StoreDep, _: AdminCaller) -> dict[str, Any]:
    budget = parse_budget(body.model_dump())
    try:
        return _stored_json(await run_in_threadpool(BudgetStore(store).create, budget))
    except ValidationError as exc:
        raise ProblemError(409, "Budget exists", str(exc)) from exc


@router.get("/api/budgets/status")
async def budgets_status(
    store: StoreDep, settings: SettingsDep, caller: ReadCaller, as_of: dt.datetime | None = None
) -> dict[str, Any]:
    """Every active budget: spend on its basis, forecast with band and explanation, thresholds crossed."""
    when = _aware(as_of, "as_of")
    statuses = await run_in_threadpool(current_statuses, store, default_tz=settings.timezone, as_of=when)
    visible = [s for s in statuses if _visible(s.budget, caller.tenant)]
    return {"as_of": when.isoformat(), "budgets": budget_statuses_json(visible)}


@router.get("/api/budgets/{name}")
async def get_budget(name: str, store: StoreDep, caller: ReadCaller) -> dict[str, Any]:
    stored = await run_in_threadpool(BudgetStore(store).get, name)
    if stored is None or not _visible(stored.budget, caller.tenant):
        raise _not_found(name)
    return _stored_json(stored)


@router.put("/api/budgets/{name}")
async def put_budget(name: str, body: BudgetIn, store: StoreDep, _: AdminCaller) -> dict[str, Any]:
    if body.name != name:
        raise ValidationError(
            f"name {body.name!r} in the body differs from {name!r} in the path", field="name"
        )
    budget = parse_budget(body.model_dump())
    try:
        return _stored_json(await run_in_threadpool(BudgetStore(store).replace, budget))
    except ValidationError as exc:
        raise ProblemError(409, "Budget is read-only", str(exc)) from exc


@router.delete("/api/budgets/{name}", status_code=204)
async def delete_budget(name: str, store: StoreDep, _: AdminCaller) -> Response:
    try:
        deleted = await run_in_threadpool(BudgetStore(store).delete, name)
    except ValidationError as exc:
        raise ProblemError(409, "Budget is read-only", str(exc)) from exc
    if not deleted:
        raise _not_found(name)
    return Response(status_code=204)


def _alert_json(a: AlertRecord) -> dict[str, Any]:
    return {
        "id": a.id,
        "budget": a.budget,
        "threshold": a.threshold,
        "period": a.period_key,
        "fired_at": a.fired_at.isoformat(),
        "observed": {
            "amount": plain(from_nanos(a.observed_nanos)),
            "currency": a.currency,
            "basis": a.basis.value,
        },
        "budget_amount": {"amount": plain(from_nanos(a.amount_nanos)), "currency": a.currency},
        "ratio": a.ratio,
        "summary": a.summary,
        "delivery_status": a.delivery_status,
        "deliveries": [
            {
                "channel": d.channel,
                "kind": d.kind,
                "status": d.status,
                "attempts": d.attempts,
                "http_status": d.http_status,
                "error": d.error,
                "finished_at": d.finished_at.isoformat(),
            }
            for d in a.deliveries
        ],
    }


@router.get("/api/alerts")
async def list_alerts(
    store: StoreDep,
    caller: ReadCaller,
    budget: str | None = None,
    since: dt.datetime | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[dict[str, Any]]:
    """Fired budget alerts, newest first, each with the delivery status of every channel."""
    budgets = BudgetStore(store)
    after = None if since is None else _aware(since, "since")
    records = await run_in_threadpool(lambda: budgets.alerts(budget=budget, since=after, limit=limit))
    if caller.tenant is not None:
        allowed = {
            s.budget.name
            for s in await run_in_threadpool(budgets.list_all)
            if _visible(s.budget, caller.tenant)
        }
        records = [r for r in records if r.budget in allowed]
    return [_alert_json(r) for r in records]


@router.get("/api/anomalies")
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
    found = await run_in_threadpool(
        lambda: find_anomalies(
            store,
            filters=filters,
            by=by,
            hourly=grain == "hour",
            at=when,
            tz=settings.timezone,
            currency=settings.currency,
        )
    )
    return {
        "at": when.isoformat(),
        "grain": grain,
        "currency": settings.currency,
        "anomalies": [_anomaly_json(a) for a in found],
    }


def _anomaly_json(a: Anomaly) -> dict[str, Any]:
    return {
        "scope": a.scope,
        "grain": a.grain,
        "at": a.at,
        "direction": a.direction,
        "observed": str(a.observed),
        "expected": str(a.expected),
        "expected_range": {"low": str(a.low), "high": str(a.high)},
        "score": str(a.score),
        "currency": a.currency,
        "basis": "estimated",
        "baseline_points": a.baseline_points,
        "contributors": [
            {
                "dimension": c.dimension,
                "value": c.value,
                "expected": str(c.expected),
                "observed": str(c.observed),
                "delta": str(c.delta),
            }
            for c in a.contributors
        ],
        "explanation": a.explanation,
    }


def _aware(value: dt.datetime | None, name: str) -> dt.datetime:
    """The instant as aware UTC (now when absent); a naive time is refused rather than guessed."""
    if value is None:
        return dt.datetime.now(dt.UTC)
    if value.tzinfo is None:
        raise ValidationError(
            f"{name}={value.isoformat()} has no time zone; add 'Z' or an offset", field=name
        )
    return value.astimezone(dt.UTC)


def current_statuses(store: Store, *, default_tz: str, as_of: dt.datetime) -> list[BudgetStatus]:
    """The status of every stored budget at ``as_of``."""
    return evaluate_budgets(
        store, [s.budget for s in BudgetStore(store).list_all()], as_of=as_of, default_tz=default_tz
    )


def budget_statuses_json(statuses: Sequence[BudgetStatus]) -> list[dict[str, Any]]:
    """Budget statuses as JSON (also used by /api/snapshot and the CLI)."""
    out = []
    for s in statuses:
        f = s.forecast
        enforced = s.enforced
        out.append(
            {
                "budget": s.budget.name,
                "scope": scope_label(s.budget.scope),
                "period": {
                    "key": s.period.key,
                    "start": s.period.start.isoformat(),
                    "end": s.period.end.isoformat(),
                    "timezone": s.period.tz,
                },
                "amount": {"amount": plain(s.budget.amount), "currency": s.budget.currency},
                "spend": {
                    "amount": plain(s.spend.amount),
                    "currency": s.spend.currency,
                    "basis": s.spend.basis.value,
                },
                "ratio": str(s.ratio),
                "exceeded": s.exceeded,
                "forecast": None
                if f is None
                else {
                    "amount": plain(f.point),
                    "low": str(f.low),
                    "high": str(f.high),
                    "currency": f.currency,
                    "run_rate_per_day": str(f.run_rate),
                    "days_left": str(f.days_left),
                    "method": f.method,
                    "explanation": f.explanation,
                },
                "forecast_ratio": None if s.forecast_ratio is None else str(s.forecast_ratio),
                "crossed": [t.key for t in s.crossed],
                "enforcement": None
                if enforced is None
                else {"action": enforced.action.value, "downgrade_to": enforced.downgrade_to},
            }
        )
    return out


class BudgetCollector:
    """Prometheus families: budget spend ratio, forecast ratio and active (fired this period) alerts."""

    def __init__(self, store: Store, *, timezone: str) -> None:
        self.store, self.timezone = store, timezone

    def collect(self) -> Iterator[Metric]:
        now = dt.datetime.now(dt.UTC)
        statuses = current_statuses(self.store, default_tz=self.timezone, as_of=now)
        fired = BudgetStore(self.store).fired(s.period.key for s in statuses)
        labels = ["budget", "currency", "basis", "period"]
        spend = GaugeMetricFamily(
            "aifinops_budget_spend_ratio", "Spend so far ÷ budget amount in the current period", labels=labels
        )
        forecast = GaugeMetricFamily(
            "aifinops_budget_forecast_ratio", "Period-end forecast ÷ budget amount", labels=labels
        )
        active = GaugeMetricFamily(
            "aifinops_budget_active_alerts", "Thresholds fired in the current period", labels=labels
        )
        for s in statuses:
            values = [s.budget.name, s.budget.currency, s.budget.basis.value, s.period.key]
            spend.add_metric(values, float(s.ratio))
            if s.forecast_ratio is not None:
                forecast.add_metric(values, float(s.forecast_ratio))
            active.add_metric(values, len(fired.get((s.budget.name, s.period.key), ())))
        yield from (spend, forecast, active)

    def describe(self) -> list[Metric]:
        return []
