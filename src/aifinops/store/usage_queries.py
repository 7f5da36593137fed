"""Reading usage and estimated cost back: series by period and any allocation dimensions, from the rollups."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, Table, and_, func, select

from aifinops.domain import DIMENSIONS
from aifinops.engine.usage_buckets import EPOCH, hour_start, period_start, to_hour
from aifinops.store.rollups import rolled_up
from aifinops.store.store import Store
from aifinops.store.tables import ROLLUP_SUMS, usage_daily, usage_rollup

__all__ = ["FILTERABLE", "UsageQuery", "UsageRow", "query_usage", "usage_totals"]

#: Columns a usage query may group by or filter on.
FILTERABLE = (*DIMENSIONS, "kind", "status")


@dataclass(frozen=True, slots=True)
class UsageQuery:
    start: dt.datetime
    end: dt.datetime
    granularity: str = "day"
    group_by: tuple[str, ...] = ()
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class UsageRow:
    period_start: dt.datetime
    group: Mapping[str, str | None]
    currency: str | None  # None for rows of unpriced events only
    sums: Mapping[str, int]


def _daily_ok(q: UsageQuery) -> bool:
    """The daily rollup is in UTC days: usable for UTC day/month periods over a day-aligned range."""
    aligned = all(t.astimezone(dt.UTC).time() == dt.time(0) for t in (q.start, q.end))
    return q.granularity != "hour" and q.timezone == "UTC" and aligned


def _where(table: Table, q: UsageQuery, bucket: Any, lo: int, hi: int) -> list[Any]:
    clauses = [bucket >= lo, bucket < hi]
    for name, values in q.filters.items():
        col = table.c[name]
        clauses.append(col.in_([v if v != "" else "" for v in values]))
    return clauses


def _statement(q: UsageQuery) -> Select[Any]:
    if _daily_ok(q):
        table, bucket = usage_daily, usage_daily.c.day
        lo = int((q.start - EPOCH).total_seconds() // 86400)
        hi = int((q.end - EPOCH).total_seconds() // 86400)
    else:
        table, bucket = usage_rollup, usage_rollup.c.hour
        lo, hi = to_hour(q.start), -(-int((q.end - EPOCH).total_seconds()) // 3600)
    keys = [bucket.label("bucket"), *(table.c[g] for g in q.group_by), table.c.currency]
    sums = [func.sum(table.c[n]).label(n) for n in ROLLUP_SUMS]
    return select(*keys, *sums).where(and_(*_where(table, q, bucket, lo, hi))).group_by(*keys)


def query_usage(store: Store, q: UsageQuery) -> list[UsageRow]:
    """Usage and estimated cost per period, group and currency, ordered by period then group."""
    rolled_up(store)
    zone = ZoneInfo(q.timezone)
    daily = _daily_ok(q)
    acc: dict[tuple[Any, ...], list[int]] = {}
    with store.reader() as conn:
        for r in conn.execute(_statement(q)):
            start = (EPOCH + dt.timedelta(days=r.bucket)) if daily else hour_start(r.bucket)
            key = (period_start(start, q.granularity, zone), *(getattr(r, g) for g in q.group_by), r.currency)
            sums = acc.setdefault(key, [0] * len(ROLLUP_SUMS))
            for i, name in enumerate(ROLLUP_SUMS):
                sums[i] += int(getattr(r, name) or 0)
    rows = []
    for key in sorted(acc, key=lambda k: tuple("" if v is None else str(v) for v in k)):
        group = {g: (key[1 + i] or None) for i, g in enumerate(q.group_by)}
        rows.append(
            UsageRow(
                period_start=key[0],
                group=MappingProxyType(group),
                currency=key[-1] or None,
                sums=MappingProxyType(dict(zip(ROLLUP_SUMS, acc[key], strict=True))),
            )
        )
    return rows


def usage_totals(
    store: Store, *, group_by: Sequence[str], start: dt.datetime | None = None, end: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """All-time (or ranged, day-aligned UTC) sums by ``group_by`` + currency, from the daily rollup."""
    rolled_up(store)
    t = usage_daily
    keys = [t.c[g] for g in group_by] + [t.c.currency]
    stmt = select(*keys, *(func.sum(t.c[n]).label(n) for n in ROLLUP_SUMS)).group_by(*keys)
    if start is not None:
        stmt = stmt.where(t.c.day >= int((start - EPOCH).total_seconds() // 86400))
    if end is not None:
        stmt = stmt.where(t.c.day < -(-int((end - EPOCH).total_seconds()) // 86400))
    with store.reader() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]
