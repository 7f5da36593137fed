"""Turning domain results into JSON-ready dicts: money as strings with currency and basis."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from aifinops.domain import Money, from_nanos, plain
from aifinops.engine.task_kpis import GroupKpi

__all__ = ["jsonable", "kpi_json", "money_json"]


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


def kpi_json(k: GroupKpi, group_by: tuple[str, ...]) -> dict[str, Any]:
    return {
        **dict(zip(group_by, k.group, strict=True)),
        "tasks": k.tasks,
        "by_outcome": dict(k.by_outcome),
        "success_rate": str(k.success_rate) if k.success_rate is not None else None,
        "cost": [money_json(m) for m in k.cost],
        "cost_per_successful_task": [
            money_json(m.__class__(m.amount.quantize(Decimal("1e-9")).normalize(), m.currency, m.basis))
            for m in k.cost_per_successful_task
        ],
        "cost_of_failed_and_abandoned": [money_json(m) for m in k.cost_of_failed_and_abandoned],
        "avg_steps": str(k.avg_steps),
        "avg_retries": str(k.avg_retries),
        "avg_input_tokens": str(k.avg_input_tokens),
        "avg_output_tokens": str(k.avg_output_tokens),
        "unpriced_events": k.unpriced_events,
    }


def task_costs_json(costs: dict[str, Decimal], basis: str = "estimated") -> list[dict[str, str]]:
    return [{"amount": plain(v), "currency": c, "basis": basis} for c, v in sorted(costs.items())]


def event_json(e: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = jsonable({k: v for k, v in e.items() if k != "cost_nanos"})
    out["cost"] = plain(from_nanos(e["cost_nanos"])) if e["cost_nanos"] is not None else None
    return out


__all__ += ["event_json", "task_costs_json"]
