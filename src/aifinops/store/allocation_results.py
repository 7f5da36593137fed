"""Saving and loading allocation results: each ``(billing_day, basis)`` replaced whole, read back exactly.

Lines are written through the driver's ``executemany`` with plain tuples: a month is about a million lines,
and SQLAlchemy's per-row parameter processing cost more than the database itself. Only the dimension
columns the run used are written; the others keep their '' default.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from aifinops.domain import COST_DIMENSIONS, Basis, CostRecord, from_nanos, to_nanos
from aifinops.engine.allocation import AllocationLine, AllocationResult, AllocationRule, Bucket
from aifinops.errors import ValidationError
from aifinops.store.allocation_tables import allocation_lines, allocation_records, allocation_runs

__all__ = ["load_result", "save_result"]

_RECORD_FIELDS = COST_DIMENSIONS
_BATCH = 50_000


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
    for i, r in enumerate(result.records):
        yield (
            day_of(r.billing_day),
            basis,
            local[i],
            r.currency,
            to_nanos(r.cost),
            None if r.quantity is None else to_nanos(r.quantity),
            json.dumps(dict(r.tags)) if r.tags else None,
            *(getattr(r, name) for name in _RECORD_FIELDS),
        )


def _line_rows(
    result: AllocationResult, basis: str, local: Sequence[int], day_of: Any
) -> Iterator[tuple[Any, ...]]:
    days = [day_of(r.billing_day) for r in result.records]
    for ln in result.lines:
        yield (
            days[ln.record],
            basis,
            local[ln.record],
            *ln.dims,
            ln.amount_nanos,
            ln.currency,
            ln.bucket.value,
            ln.rule,
            ln.driver,
            ln.reason,
        )


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
    for table in (allocation_lines, allocation_records, allocation_runs):
        conn.execute(sa.delete(table).where(table.c.basis == basis.value, table.c.billing_day.in_(days)))
    local, counts = _local_indexes(result)
    lines_per_day: dict[dt.date, int] = defaultdict(int)
    for ln in result.lines:
        lines_per_day[result.records[ln.record].billing_day] += 1
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
    line_columns = (
        "billing_day",
        "basis",
        "record",
        *result.dimensions,
        "amount_nanos",
        "currency",
        "bucket",
        "rule",
        "driver",
        "reason",
    )
    _execute_many(conn, allocation_lines, line_columns, _line_rows(result, basis.value, local, day_of))


def _read_records(
    conn: sa.Connection, start: dt.date, end: dt.date, basis: Basis
) -> tuple[list[CostRecord], dict[tuple[dt.date, int], int]]:
    t = allocation_records.c
    rows = conn.execute(
        sa.select(allocation_records)
        .where(t.basis == basis.value, t.billing_day >= start, t.billing_day < end)
        .order_by(t.billing_day, t.record)
    )
    records: list[CostRecord] = []
    index: dict[tuple[dt.date, int], int] = {}
    for row in rows.mappings():
        index[(row["billing_day"], row["record"])] = len(records)
        records.append(
            CostRecord(
                billing_day=row["billing_day"],
                basis=basis,
                cost=from_nanos(row["cost_nanos"]),
                currency=row["currency"],
                quantity=None if row["quantity_nanos"] is None else from_nanos(row["quantity_nanos"]),
                tags=json.loads(row["tags"]) if row["tags"] else {},
                **{name: row[name] for name in _RECORD_FIELDS},
            )
        )
    return records, index


def _read_lines(
    conn: sa.Connection,
    start: dt.date,
    end: dt.date,
    basis: Basis,
    dimensions: Sequence[str],
    index: Mapping[tuple[dt.date, int], int],
) -> list[AllocationLine]:
    t = allocation_lines.c
    query = (
        sa.select(
            t.billing_day,
            t.record,
            *(t[d] for d in dimensions),
            t.amount_nanos,
            t.currency,
            t.bucket,
            t.rule,
            t.driver,
            t.reason,
        )
        .where(t.basis == basis.value, t.billing_day >= start, t.billing_day < end)
        .order_by(t.id)
    )
    n = len(dimensions)
    return [
        AllocationLine(
            index[(row[0], row[1])],
            tuple(row[2 : 2 + n]),
            row[2 + n],
            row[3 + n],
            Bucket(row[4 + n]),
            row[5 + n],
            row[6 + n],
            row[7 + n],
        )
        for row in conn.execute(query)
    ]


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
