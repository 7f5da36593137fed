"""Task aggregates for cost per successful task read from the per-day task aggregates.

The answer equals :func:`aifinops.store.task_queries.task_aggregates` (the per-task computation) exactly:
the whole UTC days inside ``[start, end)`` come from ``task_day_kpis`` / ``task_day_costs``; the parts of
days at either end, and the tasks whose rows start on different days (``kpi_split_tasks``), are computed per
task as before. Each task is counted in exactly one of those parts, so the sums add up to the same figures.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, cast, func, select

from aifinops.engine.kpis import TaskAggregate
from aifinops.engine.usage_buckets import EPOCH
from aifinops.store.rollup_tables import task_day_costs, task_day_kpis
from aifinops.store.rollups import rolled_up
from aifinops.store.store import Store
from aifinops.store.task_queries import TaskSums, group_costs, task_aggregates

__all__ = ["day_task_aggregates"]

_DAY = dt.timedelta(days=1)
_COUNTS = ("tasks", "steps", "retries", "input_tokens", "output_tokens", "unpriced_events")


def day_task_aggregates(
    store: Store,
    *,
    group_by: Sequence[str],
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    tenant: str | None = None,
) -> list[TaskAggregate]:
    """What :func:`~aifinops.store.task_queries.task_aggregates` answers, from the per-day aggregates."""
    if start is None or end is None:
        return task_aggregates(store, group_by=group_by, start=start, end=end, tenant=tenant)
    lo = -((EPOCH - start) // _DAY)  # the first whole UTC day inside the range
    hi = (end - EPOCH) // _DAY  # the end of the last one
    if lo >= hi:
        return task_aggregates(store, group_by=group_by, start=start, end=end, tenant=tenant)
    rolled_up(store)
    sums = TaskSums()
    costs: dict[tuple[Any, ...], dict[str, int]] = {}
    with store.reader() as conn:
        _whole_days(conn, sums, costs, group_by, lo, hi, tenant)
        for a, b in ((start, EPOCH + lo * _DAY), (EPOCH + hi * _DAY, end)):
            if a < b:
                sums.add_tasks(conn, group_by, start=a, end=b, tenant=tenant, split=False)
                group_costs(conn, group_by, start=a, end=b, tenant=tenant, costs=costs)
        sums.add_tasks(conn, group_by, start=start, end=end, tenant=tenant, split=True)
    return sums.aggregates(costs)


def _whole_days(
    conn: Any,
    sums: TaskSums,
    costs: dict[tuple[Any, ...], dict[str, int]],
    group_by: Sequence[str],
    lo: int,
    hi: int,
    tenant: str | None,
) -> None:
    k = task_day_kpis.c
    keys = [k[g] for g in group_by]
    stmt = (
        select(
            *keys,
            k.outcome,
            k.value_currency,
            *(cast(func.sum(k[n]), BigInteger).label(n) for n in _COUNTS),
            cast(func.sum(k.value_nanos), BigInteger).label("value"),
        )
        .where(k.day >= lo, k.day < hi, k.tasks != 0)
        .group_by(*keys, k.outcome, k.value_currency)
    )
    if tenant is not None:
        stmt = stmt.where(k.tenant == tenant)
    n = len(keys)
    for r in conn.execute(stmt):
        sums.add(tuple(r[:n]), r.outcome, r[n + 2 : n + 2 + len(_COUNTS)], r.value_currency, r.value)
    c = task_day_costs.c
    ckeys = [c[g] for g in group_by]
    cstmt = (
        select(*ckeys, c.outcome, c.currency, cast(func.sum(c.cost_nanos), BigInteger).label("cost"))
        .where(c.day >= lo, c.day < hi, c.task_rows != 0)
        .group_by(*ckeys, c.outcome, c.currency)
    )
    if tenant is not None:
        cstmt = cstmt.where(c.tenant == tenant)
    for r in conn.execute(cstmt):
        slot = costs.setdefault((*r[:n], r.outcome), {})
        slot[r.currency] = slot.get(r.currency, 0) + int(r.cost)
