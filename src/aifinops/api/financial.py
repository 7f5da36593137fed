"""Financial truth in the read API: actual and amortized cost for /api/costs and the snapshot totals.

Cost records carry resources and meters, not apps or tenants: grouping by an allocation dimension reads the
stored allocation of the period (``aifinops report`` / ``POST /api/allocation/run``), where idle capacity and
unallocated cost stay visible as their own groups. Without a group, the records' own totals are served.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from aifinops.api.problems import ProblemError
from aifinops.api.query_params import TimeRange, billing_days
from aifinops.domain import Basis, from_nanos, plain, to_nanos
from aifinops.engine.allocation import AllocationResult, Bucket
from aifinops.jobs.allocate import gc_paused_for_bulk_objects
from aifinops.store import Store
from aifinops.store.allocation_queries import read_allocation
from aifinops.store.cost_queries import read_cost_series, read_cost_totals
from aifinops.store.usage_queries import UsageQuery

__all__ = ["FinancialCosts", "snapshot_totals"]


def _days(q: UsageQuery) -> tuple[dt.date, dt.date]:
    """Billing days are the dates Azure reports: a range maps to the days it touches."""
    return billing_days(TimeRange(q.start, q.end), q.timezone)


def _bad(field: str, reason: str) -> ProblemError:
    return ProblemError(
        422, "Invalid request", f"{field}: {reason}", errors=[{"field": field, "reason": reason}]
    )


class FinancialCosts:
    """``/api/costs?basis=actual|amortized``: cost records, or their stored allocation when grouped."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def __call__(self, q: UsageQuery, basis: Basis, tenant: str | None) -> dict[str, Any]:
        if q.granularity == "hour":
            raise _bad("granularity", "billed cost is daily: use day or month")
        start, end = _days(q)
        head = {
            "basis": basis.value,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "granularity": q.granularity,
            "group_by": list(q.group_by),
            "timezone": q.timezone,
        }
        if q.group_by or q.filters or tenant is not None:
            items = self._allocated(q, basis, start, end)
        else:
            items = [
                {
                    "period_start": p.period.isoformat(),
                    "cost": plain(p.cost.amount),
                    "currency": p.cost.currency,
                    "bucket": "billed",
                }
                for p in read_cost_series(self.store, start, end, basis=basis, granularity=q.granularity)
            ]
        totals: dict[str, int] = defaultdict(int)
        for item in items:
            nanos = item.pop("_nanos", None)
            totals[item["currency"]] += nanos if nanos is not None else to_nanos(Decimal(item["cost"]))
        return {
            **head,
            "totals": [{"currency": c, "cost": plain(from_nanos(v))} for c, v in sorted(totals.items())],
            "items": items,
        }

    def _allocated(self, q: UsageQuery, basis: Basis, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
        with gc_paused_for_bulk_objects():  # a month is a million lines
            result = read_allocation(self.store, start, end, basis=basis)
            if not result.records:
                raise ProblemError(
                    404,
                    "No allocation",
                    f"no {basis.value} allocation stored for {start}..{end}: "
                    "grouping billed cost by app, tenant or use case needs one; run "
                    "`aifinops report showback` or POST /api/allocation/run",
                )
            missing = [d for d in (*q.group_by, *q.filters) if d not in result.dimensions]
            if missing:
                raise _bad(
                    "group_by",
                    f"the stored allocation is over {list(result.dimensions)}; "
                    f"{missing} needs an allocation run over those dimensions",
                )
            return _allocated_items(q, result)


def _allocated_items(q: UsageQuery, result: AllocationResult) -> list[dict[str, Any]]:
    """The stored allocation summed per period, group, currency and bucket."""
    index = {d: i for i, d in enumerate(result.dimensions)}
    acc: dict[tuple[Any, ...], int] = defaultdict(int)
    for line in result.lines:
        if any(line.dims[index[d]] not in values for d, values in q.filters.items()):
            continue
        day = result.records[line.record].billing_day
        period = day.replace(day=1) if q.granularity == "month" else day
        group = tuple(line.dims[index[d]] if line.bucket is Bucket.ALLOCATED else None for d in q.group_by)
        acc[(period, *group, line.currency, line.bucket.value)] += line.amount_nanos
    return [
        {
            "period_start": k[0].isoformat(),
            **dict(zip(q.group_by, k[1:-2], strict=True)),
            "cost": plain(from_nanos(v)),
            "currency": k[-2],
            "bucket": k[-1],
            "_nanos": v,
        }
        for k, v in sorted(acc.items(), key=lambda kv: tuple("" if x is None else str(x) for x in kv[0]))
    ]


def snapshot_totals(store: Store) -> Any:
    """The snapshot's actual and amortized totals per currency for the period (tenant callers: none)."""

    def totals(q: UsageQuery, tenant: str | None) -> list[dict[str, str]]:
        if tenant is not None:  # billed cost is per resource; a tenant sees its share through allocation
            return []
        start, end = _days(q)
        out = []
        for basis in (Basis.ACTUAL, Basis.AMORTIZED):
            for currency, money in read_cost_totals(store, start, end, basis=basis).items():
                out.append({"amount": plain(money.amount), "currency": currency, "basis": basis.value})
        return out

    return totals
