"""Cost by period and dimensions on the basis asked for: ``/api/costs`` and the snapshot's billed totals.

``estimated`` cost is summed from priced usage. ``actual`` and ``amortized`` cost records carry resources
and meters, not apps or tenants: grouping by an allocation dimension reads the stored allocation of the
period (``aifinops report`` / ``POST /api/allocation/run``), where idle capacity and unallocated cost stay
visible as their own groups. Without a group, the records' own totals are served.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from aifinops.domain import Basis, from_nanos, plain, to_nanos
from aifinops.engine.allocation import Bucket
from aifinops.errors import NotFoundError, ValidationError
from aifinops.queries.gc_pause import gc_paused_for_bulk_objects
from aifinops.queries.periods import TimeRange, billing_days
from aifinops.store import Store
from aifinops.store.allocation_queries import read_allocation
from aifinops.store.cost_queries import read_cost_series, read_cost_totals
from aifinops.store.usage_queries import UsageQuery, query_usage

__all__ = ["billed_totals", "costs_document"]

_BILLED = (Basis.ACTUAL, Basis.AMORTIZED)


def _days(q: UsageQuery) -> tuple[dt.date, dt.date]:
    """Billing days are the dates Azure reports: a range maps to the days it touches."""
    return billing_days(TimeRange(q.start, q.end), q.timezone)


def _head(
    q: UsageQuery, basis: Basis, *, start: dt.datetime | dt.date, end: dt.datetime | dt.date
) -> dict[str, Any]:
    return {
        "basis": basis.value,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "granularity": q.granularity,
        "group_by": list(q.group_by),
        "timezone": q.timezone,
    }


def costs_document(store: Store, q: UsageQuery, *, basis: Basis, tenant: str | None) -> dict[str, Any]:
    """``/api/costs``: cost per period and group of ``q`` on ``basis`` (estimated, actual or amortized)."""
    if basis in _BILLED:
        with gc_paused_for_bulk_objects():  # grouped billed cost walks a month of allocation lines
            return _billed(store, q, basis=basis, tenant=tenant)
    items = []
    unpriced = 0
    for row in query_usage(store, q):
        unpriced += row.sums["unpriced_events"]
        if row.currency is None:
            continue
        items.append(
            {
                "period_start": row.period_start.isoformat(),
                **row.group,
                "cost": plain(from_nanos(row.sums["cost_nanos"])),
                "currency": row.currency,
                "events": row.sums["events"],
            }
        )
    return {
        **_head(q, basis, start=q.start, end=q.end),
        "unpriced_events": unpriced,
        "totals": _totals(items),
        "items": items,
    }


def _totals(items: list[dict[str, Any]]) -> list[dict[str, str]]:
    totals: dict[str, Decimal] = {}
    for item in items:
        totals[item["currency"]] = totals.get(item["currency"], Decimal(0)) + Decimal(item["cost"])
    return [{"currency": c, "cost": plain(v)} for c, v in sorted(totals.items())]


def _billed(store: Store, q: UsageQuery, *, basis: Basis, tenant: str | None) -> dict[str, Any]:
    """Cost records, or their stored allocation when grouped, filtered or read by a tenant."""
    if q.granularity == "hour":
        reason = "billed cost is daily: use day or month"
        raise ValidationError(f"granularity: {reason}", field="granularity", reason=reason)
    start, end = _days(q)
    if q.group_by or q.filters or tenant is not None:
        items = _allocated(store, q, basis=basis, start=start, end=end)
    else:
        items = [
            {
                "period_start": p.period.isoformat(),
                "cost": plain(p.cost.amount),
                "currency": p.cost.currency,
                "bucket": "billed",
            }
            for p in read_cost_series(store, start, end, basis=basis, granularity=q.granularity)
        ]
    totals: dict[str, int] = defaultdict(int)
    for item in items:
        nanos = item.pop("_nanos", None)
        totals[item["currency"]] += nanos if nanos is not None else to_nanos(Decimal(item["cost"]))
    return {
        **_head(q, basis, start=start, end=end),
        "totals": [{"currency": c, "cost": plain(from_nanos(v))} for c, v in sorted(totals.items())],
        "items": items,
    }


def _allocated(
    store: Store, q: UsageQuery, *, basis: Basis, start: dt.date, end: dt.date
) -> list[dict[str, Any]]:
    result = read_allocation(store, start, end, basis=basis)
    if not result.records:
        raise NotFoundError(
            f"no {basis.value} allocation stored for {start}..{end}: "
            "grouping billed cost by app, tenant or use case needs one; run "
            "`aifinops report showback` or POST /api/allocation/run",
            title="No allocation",
        )
    missing = [d for d in (*q.group_by, *q.filters) if d not in result.dimensions]
    if missing:
        reason = (
            f"the stored allocation is over {list(result.dimensions)}; "
            f"{missing} needs an allocation run over those dimensions"
        )
        raise ValidationError(f"group_by: {reason}", field="group_by", reason=reason)
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


def billed_totals(store: Store, q: UsageQuery, *, tenant: str | None) -> list[dict[str, str]]:
    """The snapshot's actual and amortized totals per currency for the period (tenant callers: none)."""
    if tenant is not None:  # billed cost is per resource; a tenant sees its share through allocation
        return []
    start, end = _days(q)
    return [
        {"amount": plain(money.amount), "currency": currency, "basis": basis.value}
        for basis in _BILLED
        for currency, money in read_cost_totals(store, start, end, basis=basis).items()
    ]
