"""Saving and loading allocation results: each ``(billing_day, basis)`` replaced whole, read back exactly.

The lines of a record are stored packed by part (consecutive lines of one bucket, rule, driver, reason and
currency), their owners numbered per day (see :mod:`aifinops.store.allocation_tables`): a month's million
lines become about one row per record. Rows are written through the driver's ``executemany`` with plain
tuples, since SQLAlchemy's per-row parameter processing cost more than the database itself. Only the
dimension columns the run used are written; the others keep their '' default.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import groupby, repeat
from operator import attrgetter, itemgetter
from typing import Any

import orjson
import sqlalchemy as sa

from aifinops.domain import COST_DIMENSIONS, Basis, CostRecord, from_nanos, to_nanos
from aifinops.engine.allocation import AllocationLine, AllocationResult, AllocationRule, Bucket
from aifinops.errors import StoreError, ValidationError
from aifinops.store.allocation_tables import (
    allocation_owners,
    allocation_records,
    allocation_runs,
    allocation_shares,
)

__all__ = ["load_result", "save_result"]

_RECORD_FIELDS = COST_DIMENSIONS
_BATCH = 50_000
#: What makes consecutive lines one stored part: record, currency, bucket, rule, driver and reason.
_PART_KEY = itemgetter(0, 3, 4, 5, 6, 7)
_DIMS, _AMOUNT = itemgetter(1), itemgetter(2)


class _Numbering(dict[tuple[str, ...], int]):
    """Owner dims → their number within a run's day, numbered in first-seen order."""

    def __missing__(self, dims: tuple[str, ...]) -> int:
        self[dims] = number = len(self)
        return number


def _execute_many(
    conn: sa.Connection, table: sa.Table, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> None:
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= _BATCH:
            conn.exec_driver_sql(sql, batch)
            batch = []
    if batch:
        conn.exec_driver_sql(sql, batch)


def _local_indexes(result: AllocationResult) -> tuple[list[int], dict[dt.date, int]]:
    """Each record's index within its billing day, and the record count per day."""
    counts: dict[dt.date, int] = defaultdict(int)
    local = []
    for record in result.records:
        local.append(counts[record.billing_day])
        counts[record.billing_day] += 1
    return local, counts


def _record_rows(
    result: AllocationResult, basis: str, local: Sequence[int], day_of: Any
) -> Iterator[tuple[Any, ...]]:
    fields = attrgetter(*_RECORD_FIELDS)
    for i, r in enumerate(result.records):
        yield (
            day_of(r.billing_day),
            basis,
            local[i],
            r.currency,
            to_nanos(r.cost),
            None if r.quantity is None else to_nanos(r.quantity),
            orjson.dumps(dict(r.tags)).decode() if r.tags else None,
            *fields(r),
        )


def _share_rows(
    result: AllocationResult, basis: str, local: Sequence[int], day_of: Any
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The parts of every record's lines, and the owners they number per day (in first-seen order)."""
    days = [day_of(r.billing_day) for r in result.records]
    owners: dict[Any, _Numbering] = defaultdict(_Numbering)
    parts: dict[int, int] = defaultdict(int)
    rows = []
    for (record, currency, bucket, rule, driver, reason), group in groupby(result.lines, _PART_KEY):
        lines = list(group)
        ids = list(map(owners[days[record]].__getitem__, map(_DIMS, lines)))
        part = parts[record]
        parts[record] = part + 1
        rows.append(
            (
                days[record],
                basis,
                local[record],
                part,
                currency,
                bucket.value,
                rule,
                driver,
                reason,
                orjson.dumps(ids).decode(),
                orjson.dumps(list(map(_AMOUNT, lines))).decode(),
            )
        )
    owner_rows = [
        (day, basis, number, *dims) for day, numbers in owners.items() for dims, number in numbers.items()
    ]
    return rows, owner_rows


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
    for table in (allocation_shares, allocation_owners, allocation_records, allocation_runs):
        conn.execute(sa.delete(table).where(table.c.basis == basis.value, table.c.billing_day.in_(days)))
    local, counts = _local_indexes(result)
    lines_per_day: dict[dt.date, int] = defaultdict(int)
    for record, lines in Counter(map(itemgetter(0), result.lines)).items():
        lines_per_day[result.records[record].billing_day] += lines
    names = json.dumps([r.name for r in rules])
    conn.execute(
        sa.insert(allocation_runs),
        [
            {
                "billing_day": d,
                "basis": basis.value,
                "dimensions": ",".join(result.dimensions),
                "rules": names,
                "records": counts.get(d, 0),
                "lines": lines_per_day.get(d, 0),
                "ran_at": now,
            }
            for d in days
        ],
    )
    # SQLite keeps dates as ISO text (SQLAlchemy's own format); other drivers take date objects.
    day_of = (lambda d: d.isoformat()) if conn.dialect.name == "sqlite" else (lambda d: d)
    record_columns = (
        "billing_day",
        "basis",
        "record",
        "currency",
        "cost_nanos",
        "quantity_nanos",
        "tags",
        *_RECORD_FIELDS,
    )
    _execute_many(conn, allocation_records, record_columns, _record_rows(result, basis.value, local, day_of))
    shares, owners = _share_rows(result, basis.value, local, day_of)
    _execute_many(conn, allocation_owners, ("billing_day", "basis", "owner", *result.dimensions), owners)
    share_columns = tuple(c.name for c in allocation_shares.columns)
    _execute_many(conn, allocation_shares, share_columns, shares)


def _read_records(
    conn: sa.Connection, start: dt.date, end: dt.date, basis: Basis
) -> tuple[list[CostRecord], dict[tuple[dt.date, int], int]]:
    t = allocation_records.c
    rows = conn.execute(
        sa.select(
            t.billing_day,
            t.record,
            t.cost_nanos,
            t.currency,
            t.quantity_nanos,
            t.tags,
            *(t[name] for name in _RECORD_FIELDS),
        )
        .where(t.basis == basis.value, t.billing_day >= start, t.billing_day < end)
        .order_by(t.billing_day, t.record)
    )
    records: list[CostRecord] = []
    index: dict[tuple[dt.date, int], int] = {}
    for day, record, cost, currency, quantity, tags, *fields in rows:
        index[(day, record)] = len(records)
        records.append(
            CostRecord(
                billing_day=day,
                basis=basis,
                cost=from_nanos(cost),
                currency=currency,
                quantity=None if quantity is None else from_nanos(quantity),
                tags=orjson.loads(tags) if tags else {},
                **dict(zip(_RECORD_FIELDS, fields, strict=True)),
            )
        )
    return records, index


def _read_owners(
    conn: sa.Connection, start: dt.date, end: dt.date, basis: Basis, dimensions: Sequence[str]
) -> dict[dt.date, dict[int, tuple[str, ...]]]:
    """Each day's owner numbers → their dims."""
    t = allocation_owners.c
    query = sa.select(t.billing_day, t.owner, *(t[d] for d in dimensions)).where(
        t.basis == basis.value, t.billing_day >= start, t.billing_day < end
    )
    owners: dict[dt.date, dict[int, tuple[str, ...]]] = defaultdict(dict)
    for row in conn.execute(query):
        owners[row[0]][row[1]] = tuple(row[2:])
    return owners


def _read_lines(
    conn: sa.Connection,
    start: dt.date,
    end: dt.date,
    basis: Basis,
    dimensions: Sequence[str],
    index: Mapping[tuple[dt.date, int], int],
) -> list[AllocationLine]:
    owners = _read_owners(conn, start, end, basis, dimensions)
    t = allocation_shares.c
    query = (
        sa.select(
            t.billing_day, t.record, t.currency, t.bucket, t.rule, t.driver, t.reason, t.owners, t.amounts
        )
        .where(t.basis == basis.value, t.billing_day >= start, t.billing_day < end)
        .order_by(t.billing_day, t.record, t.part)
    )
    lines: list[AllocationLine] = []
    for day, record, currency, bucket, rule, driver, reason, ids, amounts in conn.execute(query):
        numbers, nanos = orjson.loads(ids), orjson.loads(amounts)
        if len(numbers) != len(nanos):
            raise StoreError(
                f"allocation_shares row of {day} ({basis.value}) record {record} has {len(numbers)} owners "
                f"for {len(nanos)} amounts; re-run allocation for that day"
            )
        fixed = (repeat(currency), repeat(Bucket(bucket)), repeat(rule), repeat(driver), repeat(reason))
        rows = zip(repeat(index[(day, record)]), map(owners[day].__getitem__, numbers), nanos, *fixed)
        lines.extend(map(tuple.__new__, repeat(AllocationLine), rows))
    return lines


def load_result(conn: sa.Connection, start: dt.date, end: dt.date, *, basis: Basis) -> AllocationResult:
    """The stored allocation of ``[start, end)`` on ``basis`` as one result (empty when never allocated)."""
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
    dimensions = tuple(d for d in (runs[0] if runs else "").split(",") if d)
    records, index = _read_records(conn, start, end, basis)
    return AllocationResult(
        dimensions, tuple(records), tuple(_read_lines(conn, start, end, basis, dimensions, index))
    )
