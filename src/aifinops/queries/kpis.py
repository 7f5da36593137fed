"""Cost per successful task: the one KPI read, and the documents of /api/kpis and /api/allocation/kpis.

Every reader of the KPI (the two routes, ``/metrics``, the snapshot and the demo) calls :func:`read_kpis`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aifinops.domain import Basis, from_nanos, plain
from aifinops.engine.kpis import KPI_BASES, TaskAggregate, TaskKpi, task_kpis
from aifinops.queries.periods import TimeRange, billing_days, day_range
from aifinops.queries.serialize import kpi_json, unavailable_json
from aifinops.store import Store
from aifinops.store.kpi_input_queries import Unavailable, read_kpi_inputs

__all__ = ["KpiReport", "allocation_kpis_document", "kpis_document", "read_day_kpis", "read_kpis"]


@dataclass(frozen=True, slots=True)
class KpiReport:
    """The KPIs per group of a period's tasks, the task counts they fold, and the bases served."""

    kpis: tuple[TaskKpi, ...]
    tasks: tuple[TaskAggregate, ...]
    bases: tuple[Basis, ...]  # in KPI_BASES order
    unavailable: tuple[Unavailable, ...]  # asked for, not served


def read_kpis(
    store: Store,
    *,
    start: dt.datetime,
    end: dt.datetime,
    days: tuple[dt.date, dt.date],
    by: Sequence[str],
    bases: Sequence[Basis] = KPI_BASES,
    tenant: str | None = None,
) -> KpiReport:
    """Cost per successful task per group of ``by`` for the tasks that started in ``[start, end)``, fully
    loaded with the cost allocated on the billing days ``days`` (end exclusive) on each of ``bases`` that
    a stored allocation can serve (see :func:`aifinops.store.kpi_input_queries.read_kpi_inputs`)."""
    inputs = read_kpi_inputs(store, start=start, end=end, days=days, by=by, bases=bases, tenant=tenant)
    kpis = task_kpis(inputs.tasks, inputs.allocated)
    return KpiReport(tuple(kpis), inputs.tasks, inputs.bases, inputs.unavailable)


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
    report = read_kpis(
        store, start=rng.start, end=rng.end, days=days, by=group_by, bases=bases or KPI_BASES, tenant=tenant
    )
    return {
        "start": rng.start.isoformat(),
        "end": rng.end.isoformat(),
        "billing_days": {"start": days[0].isoformat(), "end": days[1].isoformat()},
        "group_by": list(group_by),
        "bases": [b.value for b in report.bases],
        # Only a basis asked for by name is explained; by default the bases with data are served.
        "notes": unavailable_json(report.unavailable) if bases else [],
        "items": [kpi_json(k, group_by, bases=report.bases) for k in report.kpis],
    }


def read_day_kpis(
    store: Store, start: dt.date, end: dt.date, *, by: tuple[str, ...], bases: Sequence[Basis] = KPI_BASES
) -> KpiReport:
    """The KPIs of the billing days ``[start, end)``: tasks that started on those days in UTC."""
    rng = day_range(start, end)
    return read_kpis(store, start=rng.start, end=rng.end, days=(start, end), by=by, bases=bases)


def allocation_kpis_document(
    store: Store, start: dt.date, end: dt.date, *, by: tuple[str, ...]
) -> dict[str, Any]:
    """The ``/api/allocation/kpis`` answer: ``/api/kpis`` over billing days, in the allocation API's shape."""
    report = read_day_kpis(store, start, end, by=by)
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "by": list(by),
        "bases": [b.value for b in report.bases],
        "notes": unavailable_json(report.unavailable),
        "groups": [_allocation_kpi_json(k, by) for k in report.kpis],
    }


def _ratio(value: Decimal | None) -> str | None:
    return None if value is None else plain(value)


def _allocation_kpi_json(kpi: TaskKpi, by: tuple[str, ...]) -> dict[str, Any]:
    return {
        **dict(zip(by, kpi.group, strict=True)),
        "tasks": kpi.tasks,
        "by_outcome": dict(kpi.by_outcome),
        "success_rate": _ratio(kpi.success_rate),
        "tokens_per_task": str(kpi.tokens_per_task),
        "input_tokens_per_task": str(kpi.input_tokens_per_task),
        "output_tokens_per_task": str(kpi.output_tokens_per_task),
        "steps_per_task": str(kpi.steps_per_task),
        "retries_per_task": str(kpi.retries_per_task),
        "unpriced_events": kpi.unpriced_events,
        "costs": [
            {
                "basis": c.basis.value,
                "currency": c.currency,
                "cost": plain(from_nanos(c.cost_nanos)),
                "cost_per_successful_task": None
                if c.per_successful_task is None
                else format(c.per_successful_task.normalize(), "f"),
                "failed_and_abandoned": plain(from_nanos(c.failed_and_abandoned_nanos)),
                "value_per_cost": _ratio(c.value_per_cost),
            }
            for c in kpi.costs
        ],
    }
