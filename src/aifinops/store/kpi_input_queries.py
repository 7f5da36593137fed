"""What cost per successful task is computed from: the tasks of a period and, per billed basis, the cost
allocated to their groups — with the reason when a basis cannot be served.

Every reader of the KPI (``/api/kpis``, ``/api/allocation/kpis``, ``/metrics``, the snapshot and the demo)
reads through :func:`aifinops.queries.kpis.read_kpis`, which folds these inputs with
:func:`aifinops.engine.kpis.task_kpis`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from aifinops.domain import Basis
from aifinops.engine.kpis import ALLOCATED_BASES, KPI_BASES, GroupCost, TaskAggregate
from aifinops.store.allocation_queries import allocated_groups, allocation_coverage
from aifinops.store.store import Store
from aifinops.store.task_kpi_queries import day_task_aggregates

__all__ = ["KpiInputs", "Unavailable", "UnavailableReason", "read_kpi_inputs"]


class UnavailableReason(StrEnum):
    NO_ALLOCATION = "no_allocation"
    DIMENSIONS = "dimensions"
    TENANT = "tenant"


@dataclass(frozen=True, slots=True)
class Unavailable:
    """A basis that was asked for but cannot be served, and why."""

    basis: Basis
    reason: UnavailableReason
    detail: str


@dataclass(frozen=True, slots=True)
class KpiInputs:
    tasks: tuple[TaskAggregate, ...]
    allocated: tuple[GroupCost, ...]  # actual and amortized, grouped like the tasks
    bases: tuple[Basis, ...]  # the bases served, in KPI_BASES order
    unavailable: tuple[Unavailable, ...]  # asked for, not served


def _why_not(
    store: Store, days: tuple[dt.date, dt.date], basis: Basis, by: Sequence[str], tenant: str | None
) -> Unavailable | None:
    start, end = days
    coverage = allocation_coverage(store, start, end, basis=basis)
    if not coverage.days:
        return Unavailable(
            basis,
            UnavailableReason.NO_ALLOCATION,
            f"no {basis.value} cost is allocated for the billing days {start}..{end} (end exclusive); "
            f"run `aifinops report showback --period {start:%Y-%m} --basis {basis.value}` or "
            "POST /api/allocation/run",
        )
    missing = [d for d in by if d not in coverage.dimensions]
    if missing:
        return Unavailable(
            basis,
            UnavailableReason.DIMENSIONS,
            f"the {basis.value} allocation of {start}..{end} is over {list(coverage.dimensions)}, "
            f"not {missing}; re-run allocation with those dimensions",
        )
    if tenant is not None and "tenant" not in coverage.dimensions:
        return Unavailable(
            basis,
            UnavailableReason.TENANT,
            f"this key sees only tenant {tenant!r}, and the {basis.value} allocation of {start}..{end} "
            f"is over {list(coverage.dimensions)}, not tenant: its cost cannot be split per tenant",
        )
    return None


def read_kpi_inputs(
    store: Store,
    *,
    start: dt.datetime,
    end: dt.datetime,
    days: tuple[dt.date, dt.date],
    by: Sequence[str],
    bases: Sequence[Basis] = KPI_BASES,
    tenant: str | None = None,
) -> KpiInputs:
    """Tasks that started in ``[start, end)`` grouped by ``by``, and the cost allocated to those groups on
    the billing days ``days`` (end exclusive) for each of ``bases`` that can be served.

    A tenant-limited reader (``tenant``) sees its tenant's tasks and, when the allocation is over
    ``tenant``, the cost allocated to that tenant only; otherwise no allocated basis.
    """
    tasks = day_task_aggregates(store, group_by=by, start=start, end=end, tenant=tenant)
    allocated: list[GroupCost] = []
    served = [Basis.ESTIMATED] if Basis.ESTIMATED in bases else []
    unavailable = []
    for basis in ALLOCATED_BASES:
        if basis not in bases:
            continue
        why = _why_not(store, days, basis, by, tenant)
        if why is not None:
            unavailable.append(why)
            continue
        where = {} if tenant is None else {"tenant": tenant}
        allocated += allocated_groups(store, days[0], days[1], basis=basis, by=by, where=where)
        served.append(basis)
    return KpiInputs(tuple(tasks), tuple(allocated), tuple(served), tuple(unavailable))
