"""The figures behind ``/metrics``: usage under bounded labels, this month's task KPIs and budget gauges.

Labels are a configured subset of the allocation dimensions; each label keeps its ``cap`` busiest values
(by events) and folds the rest into ``other``, so cardinality stays bounded whatever apps send.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aifinops.queries.budgets import budget_statuses
from aifinops.queries.kpis import KpiReport, read_kpis
from aifinops.store import Store
from aifinops.store.budget_queries import fired_thresholds
from aifinops.store.usage_queries import usage_totals

__all__ = ["OTHER", "BudgetGauge", "budget_gauges", "cap_labels", "labelled_usage", "month_kpis"]

OTHER = "other"


def cap_labels(rows: Sequence[dict[str, Any]], labels: Sequence[str], cap: int) -> list[dict[str, Any]]:
    """Replace values outside each label's ``cap`` busiest (by events) with ``other``; None becomes ''."""
    keep: dict[str, set[str]] = {}
    for label in labels:
        weight: dict[str, int] = {}
        for r in rows:
            v = r[label] or ""
            weight[v] = weight.get(v, 0) + int(r.get("events") or 0)
        ranked = sorted(weight, key=lambda v: (-weight[v], v))
        keep[label] = set(ranked[:cap])
    out = []
    for r in rows:
        copy = dict(r)
        for label in labels:
            v = r[label] or ""
            copy[label] = v if v in keep[label] else OTHER
        out.append(copy)
    return out


def labelled_usage(store: Store, labels: Sequence[str], *, cap: int) -> list[dict[str, Any]]:
    """All-time usage sums per ``labels`` value, status, kind and currency, each label capped at ``cap``."""
    return cap_labels(usage_totals(store, group_by=[*labels, "status", "kind"]), labels, cap)


def month_kpis(store: Store, *, now: dt.datetime) -> KpiReport:
    """Cost per successful task by use case of the tasks started this (UTC) month."""
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    tomorrow = now + dt.timedelta(days=1)
    # The allocation is read as per-group sums (allocated_groups), never line by line: cheap enough
    # for a background refresh even over a month of a million lines.
    return read_kpis(store, start=month, end=tomorrow, days=(month.date(), tomorrow.date()), by=("use_case",))


@dataclass(frozen=True, slots=True)
class BudgetGauge:
    """One budget in its current period: spend and forecast over its amount, thresholds fired."""

    budget: str
    currency: str
    basis: str
    period: str
    spend_ratio: Decimal
    forecast_ratio: Decimal | None
    active_alerts: int


def budget_gauges(store: Store, *, timezone: str, now: dt.datetime) -> list[BudgetGauge]:
    """Every budget's spend and forecast ratio at ``now`` and the thresholds fired in its period."""
    statuses = budget_statuses(store, default_tz=timezone, as_of=now)
    fired = fired_thresholds(store, (s.period.key for s in statuses))
    return [
        BudgetGauge(
            s.budget.name,
            s.budget.currency,
            s.budget.basis.value,
            s.period.key,
            s.ratio,
            s.forecast_ratio,
            len(fired.get((s.budget.name, s.period.key), ())),
        )
        for s in statuses
    ]
