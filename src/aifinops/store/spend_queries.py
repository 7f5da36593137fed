"""Spend per scope and day (or hour) for budgets and anomaly detection.

Estimated spend comes from ``usage_rollup`` summed in SQL per local day of a zone and per value of the
scoped dimensions (one query per zone and currency, not per budget). Billed spend comes from
:mod:`aifinops.store.cost_queries`; a billing day counts as complete once a later day has data in
every collected scope. Allocated spend — what the stored allocation charged a scope on a billing day — comes
from ``allocation_owner_costs``, on the days whose allocation ran over every scoped dimension.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from aifinops.domain import Basis
from aifinops.engine.usage_buckets import from_day, hour_start
from aifinops.store.allocation_tables import allocation_owner_costs, allocation_runs
from aifinops.store.cost_queries import read_cost_freshness, read_cost_series
from aifinops.store.rollups import rolled_up
from aifinops.store.store import Store
from aifinops.store.tables import usage_rollup

__all__ = [
    "AllocatedSpend",
    "EstimatedSpend",
    "ScopeKey",
    "allocated_spend",
    "billed_spend",
    "estimated_spend",
    "last_complete_day",
    "scope_key",
    "spend_sums",
]

ScopeKey = tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True, slots=True)
class EstimatedSpend:
    """Estimated spend per local day for each requested scope, and for everything (the attribution base)."""

    by_scope: Mapping[ScopeKey, Mapping[dt.date, int]]  # nano-units
    total: Mapping[dt.date, int]


@dataclass(frozen=True, slots=True)
class AllocatedSpend:
    """Allocated spend per billing day for each requested scope, on the days an allocation covers it.

    ``by_scope[key]`` holds every allocated day whose run was over all of the scope's dimensions (zero when
    nothing was charged to the scope); ``days`` maps each allocated day (with records) to its dimensions.
    """

    by_scope: Mapping[ScopeKey, Mapping[dt.date, int]]  # nano-units
    days: Mapping[dt.date, tuple[str, ...]]


def scope_key(scope: Mapping[str, tuple[str, ...]]) -> ScopeKey:
    return tuple(sorted((k, tuple(v)) for k, v in scope.items()))


def _offset_minutes(hour: int, tz: dt.tzinfo) -> int:
    offset = dt.datetime.fromtimestamp(hour * 3600, tz).utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0


def _offset_steps(lo_hour: int, hi_hour: int, tz: dt.tzinfo) -> list[tuple[int, int]]:
    """(first hour, UTC offset in minutes) for each offset in force between the two hours.

    Zones change offset at most a few times a year, so days are probed and only a day whose end differs
    from its start is scanned hour by hour.
    """
    steps = [(lo_hour, _offset_minutes(lo_hour, tz))]
    for day_start in range(lo_hour, max(hi_hour, lo_hour + 1), 24):
        day_end = min(day_start + 24, hi_hour) - 1
        if _offset_minutes(day_end, tz) == steps[-1][1]:
            continue
        for hour in range(day_start, day_end + 1):
            minutes = _offset_minutes(hour, tz)
            if minutes != steps[-1][1]:
                steps.append((hour, minutes))
    return steps


def _local_day(hour: Any, steps: list[tuple[int, int]]) -> Any:
    """SQL for the local day number (days since 1970-01-01) of an hour, given the zone's offset steps."""
    offset: Any
    if len(steps) > 1:
        offset = sa.case(
            *((hour < nxt, m) for (_, m), (nxt, _) in itertools.pairwise(steps)), else_=steps[-1][1]
        )
    else:
        offset = sa.literal(steps[0][1])
    # Integer floor division: hours and offsets are integers and the epoch is far behind every hour we store.
    return ((hour * 60 + offset) // 1440).label("bucket")


def estimated_spend(
    store: Store,
    scopes: Iterable[Mapping[str, tuple[str, ...]]],
    *,
    first_day: dt.date,
    end: dt.datetime,
    tz: dt.tzinfo,
    currency: str,
) -> EstimatedSpend:
    """Estimated nano-units per local day (in ``tz``) from ``first_day`` up to the instant ``end``."""
    by_dims = _by_dimensions(scopes)
    union = tuple(sorted({dim for dims in by_dims for dim in dims}))
    # One query per zone, grouped by every scoped dimension; each scope's dimension set is a projection.
    rows = spend_sums(store, first_day=first_day, end=end, tz=tz, currency=currency, group=union)
    total: dict[dt.date, int] = defaultdict(int)
    for day, _, nanos in rows:
        total[day] += nanos
    return EstimatedSpend({(): dict(total), **_project(rows, union, by_dims)}, dict(total))


def _by_dimensions(scopes: Iterable[Mapping[str, tuple[str, ...]]]) -> dict[tuple[str, ...], list[ScopeKey]]:
    by_dims: dict[tuple[str, ...], list[ScopeKey]] = defaultdict(list)
    for key in {scope_key(s) for s in scopes}:
        by_dims[tuple(dim for dim, _ in key)].append(key)
    return by_dims


def _project(
    rows: Sequence[tuple[Any, tuple[str, ...], int]],
    union: tuple[str, ...],
    by_dims: Mapping[tuple[str, ...], list[ScopeKey]],
) -> dict[ScopeKey, dict[Any, int]]:
    """Each scope's sums per day from rows grouped by the ``union`` of the scoped dimensions."""
    out: dict[ScopeKey, dict[Any, int]] = {}
    for dims, keys in by_dims.items():
        positions = [union.index(d) for d in dims]
        cells: dict[tuple[str, ...], dict[Any, int]] = defaultdict(lambda: defaultdict(int))
        for day, values, nanos in rows:
            cells[tuple(values[i] for i in positions)][day] += nanos
        for key in keys:
            out[key] = _sum_cells(cells, key)
    return out


def allocated_spend(
    store: Store,
    scopes: Iterable[Mapping[str, tuple[str, ...]]],
    *,
    basis: Basis,
    first_day: dt.date,
    last_day: dt.date,
    currency: str,
) -> AllocatedSpend:
    """Allocated nano-units per billing day (inclusive range) on ``basis`` and in ``currency`` per scope.

    Only the ``allocated`` bucket counts: idle capacity, purchases and unallocated cost belong to no scope.
    """
    by_dims = _by_dimensions(scopes)
    union = tuple(sorted({dim for dims in by_dims for dim in dims}))
    r, o = allocation_runs.c, allocation_owner_costs.c
    with store.reader() as conn:
        runs = conn.execute(
            sa.select(r.billing_day, r.dimensions).where(
                r.basis == basis.value, r.billing_day >= first_day, r.billing_day <= last_day, r.records > 0
            )
        ).all()
        cols = [o[d] for d in union]
        sums = conn.execute(
            sa.select(o.billing_day, *cols, sa.func.sum(o.cost_nanos))
            .where(
                o.basis == basis.value,
                o.billing_day >= first_day,
                o.billing_day <= last_day,
                o.currency == currency,
            )
            .group_by(o.billing_day, *cols)
        ).all()
    days = {day: tuple(d for d in dims.split(",") if d) for day, dims in runs}
    rows = [(row[0], tuple(row[1:-1]), int(row[-1] or 0)) for row in sums]
    projected = _project(rows, union, by_dims)
    out: dict[ScopeKey, dict[dt.date, int]] = {}
    for dims, keys in by_dims.items():
        covered = [day for day, run in days.items() if set(dims) <= set(run)]
        for key in keys:
            out[key] = {day: projected[key].get(day, 0) for day in covered}
    return AllocatedSpend(out, days)


def spend_sums(
    store: Store,
    *,
    first_day: dt.date,
    end: dt.datetime,
    tz: dt.tzinfo,
    currency: str,
    group: Sequence[str] = (),
    filters: Mapping[str, tuple[str, ...]] | None = None,
    hourly: bool = False,
) -> list[tuple[Any, tuple[str, ...], int]]:
    """Estimated nano-units per local day (or UTC hour start) and ``group`` values, filtered, in SQL."""
    rolled_up(store)
    lo = int(dt.datetime(first_day.year, first_day.month, first_day.day, tzinfo=tz).timestamp() // 3600)
    hi = int(end.timestamp() // 3600) + 1
    r = usage_rollup.c
    bucket = r.hour if hourly else _local_day(r.hour, _offset_steps(lo, hi, tz))
    cols = [r[d] for d in group]
    where = [
        r.hour >= lo,
        r.hour < hi,
        r.currency == currency,
        *(r[d].in_(v) for d, v in (filters or {}).items()),
    ]
    with store.reader() as conn:
        rows = conn.execute(
            sa.select(bucket, *cols, sa.func.sum(r.cost_nanos)).where(*where).group_by(bucket, *cols)
        ).all()
    to_key: Callable[[int], Any] = hour_start if hourly else from_day
    return [(to_key(int(row[0])), tuple(row[1:-1]), int(row[-1] or 0)) for row in rows]


def billed_spend(
    store: Store, *, basis: Basis, first_day: dt.date, last_day: dt.date, currency: str
) -> dict[dt.date, int]:
    """Billed nano-units per billing day (inclusive range) on ``basis``, in ``currency`` only."""
    points = read_cost_series(store, first_day, last_day + dt.timedelta(days=1), basis=basis)
    out: dict[dt.date, int] = defaultdict(int)
    for point in points:
        if point.cost.currency == currency:
            out[point.period] += point.cost.nanos
    return dict(out)


def last_complete_day(store: Store, basis: Basis) -> dt.date | None:
    """The last billing day whose cost is final in every collected scope.

    Azure keeps revising the latest billing day, so a scope is final through the day before the last
    one it holds; the least fresh scope bounds them all, else its missing days would count as zero.
    """
    days = [
        f.last_data_day
        for f in read_cost_freshness(store)
        if f.basis is basis and f.last_data_day is not None
    ]
    return min(days) - dt.timedelta(days=1) if days else None


def _sum_cells(cells: Mapping[tuple[str, ...], Mapping[Any, int]], key: ScopeKey) -> dict[dt.date, int]:
    summed: dict[dt.date, int] = defaultdict(int)
    for combo in itertools.product(*(values for _, values in key)):
        for day, nanos in cells.get(tuple(combo), {}).items():
            summed[day] += nanos
    return dict(summed)
