"""Reading allocation back (written by :mod:`aifinops.store.allocations`).

The rules, a period's stored result, each deployment's resource, and the allocated cost per group of
dimensions summed straight from the stored lines.

Cost per successful task needs only each group's allocated total, not the lines themselves: a month holds
about a million lines, so instead of loading them as an :class:`~aifinops.engine.allocation.AllocationResult`
:func:`allocated_groups` reads each day's packed owners and parts
(:func:`aifinops.store.allocation_results.stored_days`, without the record copies) and adds the nanos up per
group and currency. The result equals :func:`aifinops.engine.kpis.group_costs` over the loaded result.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from aifinops.domain import Basis
from aifinops.engine.allocation import AllocationResult, AllocationRule
from aifinops.engine.allocation_rules import parse_rules
from aifinops.engine.kpis import GroupCost
from aifinops.engine.usage_buckets import to_day
from aifinops.errors import StoreError, ValidationError
from aifinops.store.allocation_results import StoredDay, load_result, stored_days
from aifinops.store.allocation_tables import allocation_deployments, allocation_rules, allocation_runs
from aifinops.store.store import Store

__all__ = [
    "AllocationCoverage",
    "allocated_groups",
    "allocated_parts",
    "allocation_coverage",
    "bucket_totals",
    "deployment_resources",
    "read_allocation",
    "read_rules",
]

_ALLOCATED = "allocated"  # engine.allocation.Bucket.ALLOCATED, as stored


def read_rules(store: Store) -> list[AllocationRule]:
    """The enabled rules, in the order they apply."""
    with store.reader() as conn:
        rows = conn.execute(
            sa.select(allocation_rules.c.spec)
            .where(allocation_rules.c.enabled)
            .order_by(allocation_rules.c.position)
        ).all()
    return parse_rules([json.loads(r.spec) for r in rows])


def read_allocation(store: Store, start: dt.date, end: dt.date, *, basis: Basis) -> AllocationResult:
    """The stored allocation of ``[start, end)`` on ``basis``, as one result over its dimensions."""
    with store.reader() as conn:
        return load_result(conn, start, end, basis=basis)


def deployment_resources(store: Store, start: dt.date, end: dt.date) -> dict[str, str]:
    """Deployment → resource id of events in ``[start, end)``; a name on several resources → ''.

    Reads the map as :meth:`aifinops.store.allocations.AllocationStore.refresh_deployments` last left it.
    """
    m = allocation_deployments.c
    lo, hi = to_day(start) * 24, to_day(end) * 24
    found: dict[str, set[str]] = defaultdict(set)
    with store.reader() as conn:
        for deployment, resource in conn.execute(
            sa.select(m.deployment, m.resource_id).where(m.first_hour < hi, m.last_hour >= lo)
        ):
            found[deployment].add(resource)
    return {d: next(iter(r)) if len(r) == 1 else "" for d, r in found.items()}


@dataclass(frozen=True, slots=True)
class AllocationCoverage:
    """Which billing days of a range were allocated (with at least one record) and over which dimensions."""

    days: int
    records: int
    dimensions: tuple[str, ...]  # those every allocated day shares, in the first day's order; () when none


def _in_range(table: sa.Table, start: dt.date, end: dt.date, basis: Basis) -> list[sa.ColumnElement[bool]]:
    return [table.c.basis == basis.value, table.c.billing_day >= start, table.c.billing_day < end]


def _coverage(conn: sa.Connection, start: dt.date, end: dt.date, basis: Basis) -> AllocationCoverage:
    r = allocation_runs.c
    rows = conn.execute(
        sa.select(r.dimensions, sa.func.count(), sa.func.sum(r.records))
        .where(*_in_range(allocation_runs, start, end, basis), r.records > 0)
        .group_by(r.dimensions)
        .order_by(sa.func.min(r.billing_day))
    ).all()
    shared: list[str] | None = None
    for dimensions, _, _ in rows:
        names = [d for d in dimensions.split(",") if d]
        shared = names if shared is None else [d for d in shared if d in names]
    return AllocationCoverage(
        days=sum(int(n) for _, n, _ in rows),
        records=sum(int(n or 0) for _, _, n in rows),
        dimensions=tuple(shared or ()),
    )


def allocation_coverage(store: Store, start: dt.date, end: dt.date, *, basis: Basis) -> AllocationCoverage:
    """The allocated billing days of ``[start, end)`` on ``basis`` (days allocated with no record: none)."""
    with store.reader() as conn:
        return _coverage(conn, start, end, basis)


def _owner_groups(
    day: StoredDay, by: Sequence[str], where: Mapping[str, str], numbers: dict[tuple[str, ...], int]
) -> list[int | None]:
    """Per owner of ``day``: its group number in ``numbers`` (None when ``where`` leaves it out)."""
    at = {d: i for i, d in enumerate(day.dimensions)}
    keys, wanted = [at[d] for d in by], [(at[d], value) for d, value in where.items()]
    out: list[int | None] = []
    for owner in day.owners:
        if any(owner[i] != value for i, value in wanted):
            out.append(None)
            continue
        group = tuple(owner[i] for i in keys)
        out.append(numbers.setdefault(group, len(numbers)))
    return out


def allocated_groups(
    store: Store,
    start: dt.date,
    end: dt.date,
    *,
    basis: Basis,
    by: Sequence[str],
    where: Mapping[str, str] | None = None,
) -> list[GroupCost]:
    """Allocated cost of ``[start, end)`` on ``basis`` per group of ``by`` dimensions and currency.

    Only the ``allocated`` bucket counts: idle capacity and unallocated cost belong to no group (see
    :func:`bucket_totals`). ``where`` keeps only owners with those dimension values (``{"tenant": "t1"}``).
    Sorted by group and currency; empty when the days were never allocated.

    Raises:
        ValidationError: ``by`` or ``where`` names a dimension the days were not allocated over.
    """
    where = dict(where or {})
    with store.reader() as conn:
        coverage = _coverage(conn, start, end, basis)
        if not coverage.days:
            return []
        missing = [d for d in (*by, *where) if d not in coverage.dimensions]
        if missing:
            raise ValidationError(
                f"cannot group allocated cost by {missing}: {start}..{end} ({basis.value}) was allocated "
                f"over {list(coverage.dimensions)}; re-run allocation over those dimensions",
                field="group_by",
            )
        numbers: dict[tuple[str, ...], int] = {}
        sums: dict[tuple[int, str], int] = defaultdict(int)
        for day in stored_days(conn, start, end, basis=basis, records=False):
            if day.parts:  # a day allocated without records may have run over other dimensions
                _sum_parts(day, _owner_groups(day, by, where, numbers), sums)
    groups = list(numbers)
    return sorted(
        (GroupCost(groups[g], basis, currency, nanos) for (g, currency), nanos in sums.items()),
        key=lambda c: (c.group, c.currency),
    )


def _sum_parts(day: StoredDay, groups: Sequence[int | None], sums: dict[tuple[int, str], int]) -> None:
    """Add the allocated parts of ``day`` to ``sums`` per (group, currency)."""
    for record, currency, bucket, _rule, _driver, _reason, owners, amounts in day.parts:
        if bucket != _ALLOCATED:
            continue
        if len(owners) != len(amounts):
            raise StoreError(
                f"allocation of {day.billing_day} record {record} has {len(owners)} owners for "
                f"{len(amounts)} amounts; re-run allocation for that day"
            )
        per_group: dict[int, int] = defaultdict(int)
        try:
            for number, amount in zip(owners, amounts, strict=True):
                group = groups[number]
                if group is not None:
                    per_group[group] += amount
        except IndexError as exc:
            raise StoreError(
                f"allocation of {day.billing_day} record {record} charges an owner the day does not hold; "
                "re-run allocation for that day"
            ) from exc
        for group, amount in per_group.items():
            sums[(group, currency)] += amount


#: One owner's allocated nanos of one rule: (owner, bucket, rule, driver, currency) → nanos.
PartKey = tuple[tuple[tuple[str, str], ...], str, str, str | None, str]


def allocated_parts(
    store: Store,
    start: dt.date,
    end: dt.date,
    *,
    basis: Basis,
    keys: Sequence[str],
    where: Mapping[str, Sequence[str]] | None = None,
) -> tuple[AllocationCoverage, dict[PartKey, int]]:
    """Nanos of the stored allocation of ``[start, end)`` on ``basis`` per owner (the values of ``keys`` it
    has, empty ones left out), bucket, rule, driver and currency — every bucket, idle and unallocated lines
    being nobody's. ``where`` keeps the owners with one of those values (then only allocated lines).

    Returns the coverage beside the sums (none when the days were never allocated).
    """
    sums: dict[PartKey, int] = defaultdict(int)
    with store.reader() as conn:
        coverage = _coverage(conn, start, end, basis)
        if not coverage.days:
            return coverage, {}
        for day in stored_days(conn, start, end, basis=basis, records=False):
            at = {d: i for i, d in enumerate(day.dimensions)}
            wanted = [(at.get(d), set(v)) for d, v in (where or {}).items()]
            picked = [(k, at[k]) for k in keys if k in at]
            owners = [
                None
                if any(i is None or o[i] not in v for i, v in wanted)
                else tuple((k, o[i]) for k, i in picked if o[i])
                for o in day.owners
            ]
            for _record, currency, bucket, rule, driver, _reason, numbers, amounts in day.parts:
                for number, amount in zip(numbers, amounts, strict=True):
                    owner = owners[number]
                    if owner is not None:
                        sums[(owner, bucket, rule, driver, currency)] += amount
    return coverage, dict(sums)


def bucket_totals(store: Store, start: dt.date, end: dt.date, *, basis: Basis) -> dict[tuple[str, str], int]:
    """Nanos per (currency, bucket) of the stored allocation of ``[start, end)`` on ``basis``."""
    totals: dict[tuple[str, str], int] = defaultdict(int)
    with store.reader() as conn:
        for day in stored_days(conn, start, end, basis=basis, records=False):
            for _record, currency, bucket, _rule, _driver, _reason, _owners, amounts in day.parts:
                totals[(currency, bucket)] += sum(amounts)
    return dict(totals)
