"""Cost records in the store: a slice of financial truth replaced atomically, with its checkpoint.

A slice is ``(source, scope, basis, [start, end))`` in billing days. ``replace_slice`` deletes it and writes
the new rows in ONE transaction, so re-collecting is harmless and a crash mid-run leaves the previous
data: readers never see a half-written slice, a duplicate or a gap. Bulk input (Arrow record batches of
:data:`aifinops.domain.COST_ROW_COLUMNS`, as an export reader streams them) goes batch by batch into
``executemany`` (SQLite) or ``COPY`` (PostgreSQL): millions of rows never become Python objects at once.
Reads are in :mod:`aifinops.store.cost_queries`.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from itertools import islice, repeat
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeGuard

import orjson
import sqlalchemy as sa
from sqlalchemy import Connection

from aifinops.domain import COST_ROW_COLUMNS, Basis, CostRecord, Money, split_nanos, to_nanos
from aifinops.errors import ValidationError
from aifinops.store.cost_tables import cost_checkpoints, cost_records
from aifinops.store.store import Store

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["BATCH_ROWS", "CostRecordStore", "SliceSummary"]

#: Rows per insert batch (and per batch an export reader should hand over).
BATCH_ROWS = 20_000
_INSERT_COLUMNS = ("source", "scope", "basis", *COST_ROW_COLUMNS)
_MONEY_BASES = (Basis.ACTUAL, Basis.AMORTIZED)


@dataclass(frozen=True, slots=True)
class SliceSummary:
    """What one replace_slice wrote: rows, source rows, and the slice's totals per currency."""

    source: str
    scope: str
    basis: Basis
    start: dt.date
    end: dt.date
    records: int
    source_rows: int
    totals: Mapping[str, Money]
    replaced: int  # rows the slice held before


def _tags_json(tags: Mapping[str, str]) -> str | None:
    return orjson.dumps(dict(tags), option=orjson.OPT_SORT_KEYS).decode() if tags else None


def _record_row(record: CostRecord, basis: Basis, start: dt.date, end: dt.date) -> tuple[Any, ...]:
    if record.basis != basis:
        raise ValidationError(
            f"cost record basis {record.basis} does not match the slice basis {basis}", field="basis"
        )
    if not start <= record.billing_day < end:
        raise ValidationError(
            f"billing day {record.billing_day} is outside the slice [{start}, {end}); "
            "widen the slice or drop the record",
            field="billing_day",
        )
    return (
        record.billing_day.isoformat(),
        record.currency,
        record.subscription_id,
        record.resource_group,
        record.resource_id.lower() if record.resource_id else None,
        record.resource_type,
        record.location,
        record.service_name,
        record.meter_category,
        record.meter_subcategory,
        record.meter_name,
        record.meter_id,
        record.charge_type,
        record.pricing_model,
        record.unit,
        _tags_json(record.tags),
        *split_nanos(record.cost),
        None if record.quantity is None else to_nanos(record.quantity),
        1,
    )


def _record_batches(
    records: Iterable[CostRecord], basis: Basis, start: dt.date, end: dt.date, head: tuple[str, ...]
) -> Iterator[list[tuple[Any, ...]]]:
    rows = ((*head, *_record_row(r, basis, start, end)) for r in records)
    while batch := list(islice(rows, BATCH_ROWS)):
        yield batch


def _is_arrow(rows: object) -> TypeGuard[pa.RecordBatchReader]:
    # pyarrow is imported only by whoever hands over Arrow batches (the export reader): the API and the
    # CLI never load it for the store's sake.
    arrow = sys.modules.get("pyarrow")
    return arrow is not None and isinstance(rows, arrow.RecordBatchReader)


def _arrow_batches(
    batches: pa.RecordBatchReader, start: dt.date, end: dt.date, head: tuple[str, ...]
) -> Iterator[list[tuple[Any, ...]]]:
    """Each record batch as row tuples (``head``, then :data:`COST_ROW_COLUMNS` in order, the day as ISO
    text); billing days outside the slice are refused before their batch is written."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for batch in batches:
        days = pc.min_max(batch.column("billing_day"))
        first, last = days["min"].as_py(), days["max"].as_py()
        if first is not None and not (start <= first and last < end):
            raise ValidationError(
                f"billing days {first}..{last} fall outside the slice [{start}, {end}); "
                "widen the slice to cover the file",
                field="billing_day",
            )
        day = pc.cast(batch.column("billing_day"), pa.string()).to_pylist()
        columns = [_plain(batch.column(name)).to_pylist() for name in COST_ROW_COLUMNS[1:]]
        yield list(zip(*map(repeat, head), day, *columns, strict=False))  # head repeats


def _plain(column: pa.Array) -> pa.Array:
    """A dictionary-encoded column decoded first: Python values come out of plain arrays far faster."""
    import pyarrow as pa

    return column.dictionary_decode() if pa.types.is_dictionary(column.type) else column


class CostRecordStore:
    """Writes cost slices and their checkpoints over one :class:`Store`."""

    def __init__(self, store: Store, *, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.store = store
        self._now = clock or partial(dt.datetime.now, dt.UTC)

    def replace_slice(
        self,
        source: str,
        scope: str,
        basis: Basis,
        start: dt.date,
        end: dt.date,
        rows: Iterable[CostRecord] | pa.RecordBatchReader,
        *,
        detail: Mapping[str, Any] | None = None,
    ) -> SliceSummary:
        """Replace every cost row of ``(source, scope, basis)`` with billing day in ``[start, end)``.

        ``rows`` are CostRecord values, or Arrow record batches with the columns of
        :data:`~aifinops.domain.COST_ROW_COLUMNS` (one row per CostRecord grain, money in nanos plus the rest
        below one nano in 10⁻¹⁸ units, as :func:`~aifinops.domain.split_nanos` splits it). One
        transaction: the delete, the inserts and the checkpoint commit together or not at all. Rows outside
        the range are refused (they would escape the next replacement and count twice).
        """
        basis = Basis(basis)
        if basis not in _MONEY_BASES or not start < end:
            raise ValidationError(
                f"a cost slice needs basis actual|amortized and start < end, got {basis} [{start}, {end})",
                field="basis" if basis not in _MONEY_BASES else "end",
            )
        head = (source, scope, basis.value)
        batches = (
            _arrow_batches(rows, start, end, head)
            if _is_arrow(rows)
            else _record_batches(rows, basis, start, end, head)
        )
        key = (
            (cost_records.c.source == source)
            & (cost_records.c.scope == scope)
            & (cost_records.c.basis == basis.value)
        )
        in_slice = key & (cost_records.c.billing_day >= start) & (cost_records.c.billing_day < end)
        with self.store.session() as conn:
            replaced = conn.execute(sa.delete(cost_records).where(in_slice)).rowcount or 0
            for batch in batches:
                self._insert(conn, batch)
            summary = self._summarize(conn, source, scope, basis, start, end, in_slice, replaced)
            self._checkpoint(conn, summary, detail or {})
        return summary

    def _insert(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        dbapi = conn.connection.driver_connection
        columns = ", ".join(_INSERT_COLUMNS)
        if conn.dialect.name == "postgresql":
            with dbapi.cursor() as cur, cur.copy(f"COPY cost_records ({columns}) FROM STDIN") as copy:  # type: ignore[union-attr]
                for row in rows:
                    copy.write_row(row)
            return
        cur = dbapi.cursor()  # type: ignore[union-attr]
        try:
            cur.executemany(
                f"INSERT INTO cost_records ({columns}) VALUES ({', '.join('?' * len(_INSERT_COLUMNS))})", rows
            )
        finally:
            cur.close()

    def _summarize(
        self,
        conn: Connection,
        source: str,
        scope: str,
        basis: Basis,
        start: dt.date,
        end: dt.date,
        in_slice: Any,
        replaced: int,
    ) -> SliceSummary:
        c = cost_records.c
        rows = conn.execute(
            sa.select(
                c.currency,
                sa.func.sum(c.cost_nanos),
                sa.func.sum(c.cost_rem_e18),
                sa.func.count(),
                sa.func.sum(c.source_rows),
            )
            .where(in_slice)
            .group_by(c.currency)
            .order_by(c.currency)
        ).all()
        totals = {cur: Money.from_nanos(int(n), cur, basis, int(rest)) for cur, n, rest, _, _ in rows}
        return SliceSummary(
            source,
            scope,
            basis,
            start,
            end,
            sum(int(r[3]) for r in rows),
            sum(int(r[4]) for r in rows),
            MappingProxyType(totals),
            replaced,
        )

    def _checkpoint(self, conn: Connection, s: SliceSummary, detail: Mapping[str, Any]) -> None:
        c = cost_records.c
        last_day = conn.execute(
            sa.select(sa.func.max(c.billing_day)).where(
                (c.source == s.source)
                & (c.scope == s.scope)
                & (c.basis == s.basis.value)
                & (c.billing_day >= s.start)
                & (c.billing_day < s.end)
            )
        ).scalar()
        if isinstance(last_day, str):  # SQLite returns the raw text of an aggregate
            last_day = dt.date.fromisoformat(last_day)
        values = {
            "collected_at": self._now(),
            "records": s.records,
            "source_rows": s.source_rows,
            "last_data_day": last_day,
            "detail": orjson.dumps(dict(detail), default=str).decode(),
            "totals": orjson.dumps({k: str(m.amount) for k, m in s.totals.items()}).decode(),
        }
        k = cost_checkpoints.c
        slice_key = (
            (k.source == s.source)
            & (k.scope == s.scope)
            & (k.basis == s.basis.value)
            & (k.start_day == s.start)
            & (k.end_day == s.end)
        )
        if conn.execute(sa.update(cost_checkpoints).where(slice_key).values(**values)).rowcount == 0:
            conn.execute(
                sa.insert(cost_checkpoints).values(
                    source=s.source,
                    scope=s.scope,
                    basis=s.basis.value,
                    start_day=s.start,
                    end_day=s.end,
                    **values,
                )
            )
