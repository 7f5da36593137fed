"""Read results as JSON-ready dicts, one form for API and CLI: money as strings with currency and basis."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from decimal import Decimal
from typing import Any

from aifinops.domain import Basis, Money, from_nanos, plain
from aifinops.engine.kpis import KPI_BASES, BasisKpi, TaskKpi
from aifinops.store.kpi_input_queries import Unavailable

__all__ = ["event_json", "jsonable", "kpi_json", "money_json", "task_costs_json", "unavailable_json"]


def money_json(m: Money) -> dict[str, str]:
    return {"amount": plain(m.amount), "currency": m.currency, "basis": m.basis.value}


def jsonable(value: Any) -> Any:
    """Datetimes as ISO strings, Decimals as strings, recursively."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return plain(value)
    if isinstance(value, Money):
        return money_json(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def _group_value(value: str) -> str | None:
    return value or None  # an unowned share ('' in allocation lines) is a missing value, null in JSON


def kpi_json(k: TaskKpi, group_by: Sequence[str], *, bases: Collection[Basis] = KPI_BASES) -> dict[str, Any]:
    """One KPI row of ``/api/kpis`` and the snapshot: money per currency and basis, of ``bases`` only."""
    costs = [c for c in k.costs if c.basis in bases]
    return {
        **{d: _group_value(v) for d, v in zip(group_by, k.group, strict=True)},
        "tasks": k.tasks,
        "by_outcome": dict(k.by_outcome),
        "success_rate": None if k.success_rate is None else plain(k.success_rate),
        "cost": [_money(c.cost_nanos, c) for c in costs],
        "cost_per_successful_task": [
            {
                "amount": plain(c.per_successful_task.normalize()),
                "currency": c.currency,
                "basis": c.basis.value,
            }
            for c in costs
            if c.per_successful_task is not None
        ],
        "cost_of_failed_and_abandoned": [_money(c.failed_and_abandoned_nanos, c) for c in costs],
        "value_per_cost": [
            {"ratio": plain(c.value_per_cost), "currency": c.currency, "basis": c.basis.value}
            for c in costs
            if c.value_per_cost is not None
        ],
        "avg_steps": plain(k.steps_per_task),
        "avg_retries": plain(k.retries_per_task),
        "avg_input_tokens": plain(k.input_tokens_per_task),
        "avg_output_tokens": plain(k.output_tokens_per_task),
        "unpriced_events": k.unpriced_events,
    }


def _money(nanos: int, cost: BasisKpi) -> dict[str, str]:
    return {"amount": plain(from_nanos(nanos)), "currency": cost.currency, "basis": cost.basis.value}


def unavailable_json(items: Iterable[Unavailable]) -> list[dict[str, str]]:
    """Why an asked-for basis is not served: ``no_allocation``, ``dimensions`` or ``tenant``, and the fix."""
    return [{"basis": u.basis.value, "reason": u.reason.value, "detail": u.detail} for u in items]


def task_costs_json(costs: dict[str, Decimal], basis: str = "estimated") -> list[dict[str, str]]:
    return [{"amount": plain(v), "currency": c, "basis": basis} for c, v in sorted(costs.items())]


def event_json(e: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = jsonable({k: v for k, v in e.items() if k != "cost_nanos"})
    out["cost"] = plain(from_nanos(e["cost_nanos"])) if e["cost_nanos"] is not None else None
    return out
