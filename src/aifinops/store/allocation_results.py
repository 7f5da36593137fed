"""Saving and loading allocation results: each ``(billing_day, basis)`` replaced whole, read back exactly.

A day's records, owners and record parts are stored as one ``allocation_packs`` row of JSON documents (the
layout is described in :mod:`aifinops.store.allocation_tables`): a month's hundred thousand records and
million lines become thirty rows, written and read with orjson. Each day's allocated cost per owner and
currency goes to ``allocation_owner_costs`` in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import orjson
import sqlalchemy as sa

from aifinops.domain import COST_DIMENSIONS, DIMENSIONS, Basis, CostRecord, from_nanos, to_nanos
from aifinops.engine.allocation import AllocationPart, AllocationResult, AllocationRule, Bucket
from aifinops.errors import StoreError, ValidationError
from aifinops.store.allocation_tables import allocation_owner_costs, allocation_packs, allocation_runs

__all__ = ["StoredDay", "load_result", "owner_cost_rows", "save_result", "stored_days"]

#: The columns of a pack's ``records`` rows, as written now; reading goes by the names a pack carries.
RECORD_COLUMNS = ("currency", "cost_nanos", "quantity_nanos", "tags", *COST_DIMENSIONS)
_BUCKETS = {b.value: b for b in Bucket}
_ALLOCATED = Bucket.ALLOCATED.value


class _Numbering(dict[tuple[str, ...], int]):
    """Owner dims → their number within a day, numbered in first-seen order."""

    def __missing__(self, dims: tuple[str, ...]) -> int:
        self[dims] = number = len(self)
        return number


@dataclass(frozen=True, slots=True)
class StoredDay:
    """One stored ``(billing_day, basis)``: its dimensions, owners and parts (records left as JSON text)."""

    billing_day: dt.date
    dimensions: tuple[str, ...]
    owners: list[tuple[str, ...]]
    parts: list[list[Any]]  # [record, currency, bucket, rule, driver, reason, [owner, ...], [nanos, ...]]
    records: bytes | str


def _packs(result: AllocationResult) -> dict[dt.date, tuple[list[list[Any]], _Numbering, list[list[Any]]]]:
    """Per billing day: its record rows, owner numbering and parts (records numbered within the day)."""
    billed = attrgetter(*COST_DIMENSIONS)
    days: dict[dt.date, tuple[list[list[Any]], _Numbering, list[list[Any]]]] = {}
    local: list[int] = []
    day_of: list[dt.date] = []
    for record in result.records:
        day = record.billing_day
        pack = days.get(day)
        if pack is None:
            pack = days[day] = ([], _Numbering(), [])
        rows = pack[0]
        local.append(len(rows))
        day_of.append(day)
        quantity = record.quantity
        rows.append(
            [
                record.currency,
                to_nanos(record.cost),
                None if quantity is None else to_nanos(quantity),
                dict(record.tags) if record.tags else None,
                *billed(record),
            ]
        )
    for index, currency, bucket, rule, driver, reason, dims, amounts in result.parts:
        _, numbering, parts = days[day_of[index]]
        owners = list(map(numbering.__getitem__, dims))
        parts.append([local[index], currency, bucket.value, rule, driver, reason, owners, amounts])
    return days


def save_result(
    conn: sa.Connection,
    result: AllocationResult,
    *,
    basis: Basis,
    days: Sequence[dt.date],
    rules: Sequence[AllocationRule],
    now: dt.datetime,
) -> None:
    """Replace the runs of ``days`` on ``basis`` with ``result`` (a day without records gets an empty run)."""
    outside = sorted({r.billing_day for r in result.records} - set(days))
    if outside:
        raise ValidationError(
            f"result has records of {outside[0]}, outside the days being replaced", field="days"
        )
    for table in (allocation_packs, allocation_runs, allocation_owner_costs):
        conn.execute(sa.delete(table).where(table.c.basis == basis.value, table.c.billing_day.in_(days)))
    packs = _packs(result)
    names = json.dumps([r.name for r in rules])
    dumps = orjson.dumps
    runs, rows, owner_costs = [], [], []
    for day in days:
        records, owners, parts = packs.get(day, ([], _Numbering(), []))
        runs.append(
            {
                "billing_day": day,
                "basis": basis.value,
                "dimensions": ",".join(result.dimensions),
                "rules": names,
                "records": len(records),
                "lines": sum(len(part[7]) for part in parts),
                "ran_at": now,
            }
        )
        rows.append(
            {
                "billing_day": day,
                "basis": basis.value,
                "records": dumps({"columns": RECORD_COLUMNS, "rows": records}).decode(),
                "owners": dumps(list(owners)).decode(),
                "parts": dumps(parts).decode(),
            }
        )
        owner_costs += owner_cost_rows(day, basis.value, result.dimensions, list(owners), parts)
    if runs:
        conn.execute(sa.insert(allocation_runs), runs)
        conn.execute(sa.insert(allocation_packs), rows)
    if owner_costs:
        conn.execute(sa.insert(allocation_owner_costs), owner_costs)


def owner_cost_rows(
    day: dt.date,
    basis: str,
    dimensions: Sequence[str],
    owners: Sequence[Sequence[str]],
    parts: Sequence[Sequence[Any]],
) -> list[dict[str, Any]]:
    """The ``allocation_owner_costs`` rows of one stored day: its ``allocated`` parts summed per owner and
    currency (``parts`` and ``owners`` as packed: a part names its owners by number)."""
    sums: dict[str, list[int]] = {}  # per currency, per owner number
    for _record, currency, bucket, _rule, _driver, _reason, numbers, amounts in parts:
        if bucket != _ALLOCATED:
            continue
        acc = sums.get(currency)
        if acc is None:
            acc = sums[currency] = [0] * len(owners)
        for number, amount in zip(numbers, amounts, strict=True):
            acc[number] += amount
    fixed = {"billing_day": day, "basis": basis, **dict.fromkeys(DIMENSIONS, "")}
    rows = []
    for currency, per_owner in sorted(sums.items()):
        for number, nanos in enumerate(per_owner):
            if nanos:
                row = {**fixed, "currency": currency, "cost_nanos": nanos}
                row.update(zip(dimensions, owners[number], strict=True))
                rows.append(row)
    return rows


def _dimensions(conn: sa.Connection, start: dt.date, end: dt.date, basis: Basis) -> tuple[str, ...]:
    r = allocation_runs.c
    runs = (
        conn.execute(
            sa.select(r.dimensions)
            .where(r.basis == basis.value, r.billing_day >= start, r.billing_day < end)
            .distinct()
        )
        .scalars()
        .all()
    )
    if len(runs) > 1:
        raise ValidationError(
            f"days of {start}..{end} were allocated over different dimensions {sorted(runs)}; "
            "re-run allocation for the period with one set of dimensions",
            field="dimensions",
        )
    return tuple(d for d in (runs[0] if runs else "").split(",") if d)


def stored_days(
    conn: sa.Connection, start: dt.date, end: dt.date, *, basis: Basis, records: bool = True
) -> Iterator[StoredDay]:
    """The stored days of ``[start, end)`` on ``basis`` in day order, each with its run's dimensions.

    ``records=False`` leaves the record copies unread (``StoredDay.records`` is then empty).
    """
    p, r = allocation_packs.c, allocation_runs.c
    query = (
        sa.select(p.billing_day, r.dimensions, p.owners, p.parts, p.records if records else sa.literal(""))
        .select_from(
            allocation_packs.join(allocation_runs, (r.billing_day == p.billing_day) & (r.basis == p.basis))
        )
        .where(p.basis == basis.value, p.billing_day >= start, p.billing_day < end)
        .order_by(p.billing_day)
    )
    for day, dimensions, owners, parts, packed in conn.execute(query):
        dims = tuple(d for d in dimensions.split(",") if d)
        yield StoredDay(day, dims, [tuple(o) for o in orjson.loads(owners)], orjson.loads(parts), packed)


def _records(day: dt.date, basis: Basis, packed: bytes | str) -> list[CostRecord]:
    document = orjson.loads(packed)
    columns = document["columns"]
    out = []
    for row in document["rows"]:
        values = dict(zip(columns, row, strict=True))
        quantity = values.pop("quantity_nanos")
        out.append(
            CostRecord(
                billing_day=day,
                basis=basis,
                cost=from_nanos(values.pop("cost_nanos")),
                quantity=None if quantity is None else from_nanos(quantity),
                tags=values.pop("tags") or {},
                **values,
            )
        )
    return out


def load_result(conn: sa.Connection, start: dt.date, end: dt.date, *, basis: Basis) -> AllocationResult:
    """The stored allocation of ``[start, end)`` on ``basis`` as one result (empty when never allocated)."""
    dimensions = _dimensions(conn, start, end, basis)
    records: list[CostRecord] = []
    parts: list[AllocationPart] = []
    for day in stored_days(conn, start, end, basis=basis):
        offset = len(records)
        records.extend(_records(day.billing_day, basis, day.records))
        for record, currency, bucket, rule, driver, reason, owners, amounts in day.parts:
            if len(owners) != len(amounts) or not 0 <= record < len(records) - offset:
                raise StoreError(
                    f"allocation of {day.billing_day} ({basis.value}) has a damaged part for record "
                    f"{record}; re-run allocation for that day"
                )
            owned = tuple(map(day.owners.__getitem__, owners))
            parts.append(
                AllocationPart(
                    offset + record, currency, _BUCKETS[bucket], rule, driver, reason, owned, tuple(amounts)
                )
            )
    return AllocationResult(dimensions, tuple(records), tuple(parts))
