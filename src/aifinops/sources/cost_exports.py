"""Azure cost exports and cost details read through DuckDB, streamed as CostRecord rows or Arrow batches.

A file is scanned once by DuckDB: every column is read as text, the header picks the schema
(:mod:`aifinops.sources.export_schemas`), and the rows stream out as Arrow batches, one row per source row
(:mod:`aifinops.sources.export_sql`). Each batch is normalized per distinct key value, its money split
exactly and its totals summed per cell and currency (:mod:`aifinops.sources.export_batches`), then spilled
to a Parquet file: no aggregation to the cost-record grain, memory bounded by the batch. Money is exact:
each row is kept to 18 decimals (the rule of ``domain.split_nanos``) and the exact file total to 36 decimal
places (no float involved). The runs to read are found by :mod:`aifinops.sources.export_runs`.

Quirks handled (see shared/samples/FACTS.md): UTF-8 BOM, PascalCase vs camelCase headers, tags without
braces, header-only files, short rows (reported with file and line, kept when the date and cost are there),
localized headers (refused, naming the columns), several currencies in one file (kept apart).
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc

from aifinops.domain import COST_ROW_COLUMNS, Basis, CostRecord, from_nanos, join_nanos
from aifinops.errors import SourceFormatError
from aifinops.sources.export_batches import (
    SPILL_SCHEMA,
    BatchNormalizer,
    BatchTotals,
    day_range,
    per_currency,
    prefetched,
    stored,
)
from aifinops.sources.export_schemas import ExportSchema, SchemaKind, detect_schema
from aifinops.sources.export_sql import KEY_COLUMNS, ScanPlan, rows_sql, scan_plan, sql_ident, sql_str

if TYPE_CHECKING:
    from aifinops.sources.export_runs import ExportRun

__all__ = ["CELL_COLUMNS", "Cell", "ExportReader", "ExportScan", "RowIssue", "basis_from_name"]

_MAX_LISTED_ISSUES = 50
_STORABLE_UNITS = 9_223_372_036  # whole units of the largest amount 64-bit nanos hold
_PLAIN_NUMBER = r"[+-]?(\d+\.?\d*|\.\d+)"
_STORED_COLUMNS = ", ".join(
    "CAST(1 AS BIGINT) AS source_rows" if c == "source_rows" else c for c in COST_ROW_COLUMNS
)
#: Rows as the store takes them, in :data:`COST_ROW_COLUMNS` order (texts dictionary-encoded).
_ROWS_SCHEMA = pa.schema(
    [*(SPILL_SCHEMA.field(c) for c in COST_ROW_COLUMNS[:-1]), pa.field("source_rows", pa.int64())]
)
#: Rows per batch out of DuckDB: large enough that per-batch work (a dictionary per key column, one small
#: aggregation) is noise, small enough that a batch is a few tens of MB.
_SCAN_BATCH = 50_000


@dataclass(frozen=True, slots=True)
class RowIssue:
    """A problem with one row (``line`` set) or with a whole file, and what was done about it."""

    file: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}" if self.line else f"{self.file}: {self.reason}"


def basis_from_name(name: str) -> Basis | None:
    """The basis an Azure export file name implies (``…AmortizedCost…`` / ``…ActualCost…``), else None.

    >>> basis_from_name("EA_AmortizedCost_Small.csv")
    <Basis.AMORTIZED: 'amortized'>
    """
    lowered = name.lower()
    if "amortized" in lowered:
        return Basis.AMORTIZED
    if "actual" in lowered:
        return Basis.ACTUAL
    return None


#: A cell of billed cost: (billing scope, subscription, resource group, billing day) — what two deliveries of
#: the same bill have in common, whatever their format.
Cell = tuple[str | None, str | None, str | None, dt.date]
CELL_COLUMNS = ("billing_scope", "subscription_id", "resource_group", "billing_day")


@dataclass(slots=True)
class ExportScan:
    """One scanned file (or run) for one basis: its normalized rows spilled to Parquet, the exact sums per
    cell and currency, and what went wrong on the way."""

    file: str
    schema: ExportSchema
    basis: Basis
    conn: duckdb.DuckDBPyConnection
    parts: list[Path]
    sums: BatchTotals
    issues: list[RowIssue] = field(default_factory=list)
    dropped: set[Cell] = field(default_factory=set)
    window: tuple[dt.date, dt.date] | None = None

    @property
    def source_rows(self) -> int:
        """Source rows kept: refused rows and rows of dropped cells or days are not counted."""
        return sum(s.rows for _, s in self.sums.good())

    def _rows_sql(self) -> str:
        where = ["TRUE"]
        if self.window is not None:
            where.append(f"billing_day >= DATE '{self.window[0]}' AND billing_day < DATE '{self.window[1]}'")
        if self.dropped:
            cells = sorted(self.dropped, key=str)
            values = ", ".join(f"({', '.join(map(_literal, cell))})" for cell in cells)
            match = " AND ".join(f"t.{c} IS NOT DISTINCT FROM x.{c}" for c in CELL_COLUMNS)
            where.append(
                f"NOT EXISTS (SELECT 1 FROM (VALUES {values}) AS x({', '.join(CELL_COLUMNS)}) WHERE {match})"
            )
        return f"SELECT {_STORED_COLUMNS} FROM spilled t WHERE {' AND '.join(where)}"

    def _spilled(self) -> Iterator[pa.RecordBatch]:
        for part in self.parts:
            with pa.memory_map(str(part)) as source:
                yield from pa.ipc.open_stream(source)

    def batches(self, batch_size: int = 100_000) -> pa.RecordBatchReader:
        """The rows to store, one per source row (columns :data:`~aifinops.domain.COST_ROW_COLUMNS`, texts
        dictionary-encoded), streamed from the spill as Arrow record batches (what the store's
        ``replace_slice`` takes). Batches are at most ``batch_size`` rows."""
        spilled = pa.RecordBatchReader.from_batches(SPILL_SCHEMA, self._spilled())
        if self.dropped:  # cells left to another delivery: DuckDB filters them out
            rel = self.conn.from_arrow(spilled).query("spilled", self._rows_sql())
            assert rel is not None  # a SELECT always gives a relation
            return rel.to_arrow_reader(batch_size=batch_size)
        return pa.RecordBatchReader.from_batches(_ROWS_SCHEMA, self._in_window(spilled, batch_size))

    def _in_window(self, spilled: Iterable[pa.RecordBatch], batch_size: int) -> Iterator[pa.RecordBatch]:
        for batch in spilled:
            if self.window is not None:
                day = batch.column("billing_day")
                start, end = (pa.scalar(d, pa.date32()) for d in self.window)
                batch = batch.filter(pc.and_(pc.greater_equal(day, start), pc.less(day, end)))
            ones = pa.array(np.ones(batch.num_rows, dtype=np.int64))
            columns = [batch.column(c) for c in COST_ROW_COLUMNS[:-1]]
            rows = pa.RecordBatch.from_arrays([*columns, ones], schema=_ROWS_SCHEMA)
            for offset in range(0, rows.num_rows, batch_size):
                yield rows.slice(offset, batch_size)

    def totals(self) -> Mapping[str, Decimal]:
        """Exact total cost per currency, before any rounding (36 decimal places)."""
        out: dict[str, Decimal] = {}
        with localcontext() as ctx:
            ctx.prec = 120  # the parts need ~80 digits: never let the context round them
            for currency, s in sorted(per_currency(self.sums.good()).items()):
                e36 = (s.nanos * 10**9 + s.rest) * 10**18 + s.tail
                out[currency] = Decimal(e36).scaleb(-36).normalize()
        return MappingProxyType(out)

    def stored_totals(self) -> Mapping[str, Decimal]:
        """Total per currency as the store will hold it: each row exact to 10⁻¹⁸ (``domain.split_nanos``)."""
        return MappingProxyType(
            {c: join_nanos(s.nanos, s.rest) for c, s in sorted(per_currency(self.sums.good()).items())}
        )

    def day_range(self) -> tuple[dt.date, dt.date] | None:
        """First and last billing day present, or None for an empty file."""
        return day_range(self.sums)

    def cells(self) -> dict[Cell, dict[str, int]]:
        """Per cell (billing scope, subscription, resource group, billing day): exact cost per currency in
        10⁻¹⁸ units. Deliveries sharing cells overlap; with the same amounts in each, they are equal."""
        out: dict[Cell, dict[str, int]] = {}
        for key, s in self.sums.good():
            amounts = out.setdefault(key[:4], {})  # type: ignore[arg-type]
            amounts[str(key[4])] = amounts.get(str(key[4]), 0) + s.e18
        return out

    def drop_cells(self, cells: Iterable[Cell]) -> int:
        """Leave out the rows of ``cells`` (another delivery's); returns how many source rows they held."""
        wanted = set(cells)
        return self._drop(lambda key: key[:4] in wanted, wanted)

    def drop_days_outside(self, start: dt.date, end: dt.date) -> int:
        """Leave out the rows billed outside ``[start, end)``; returns how many source rows they held."""
        if self.window is not None:
            start, end = max(start, self.window[0]), min(end, self.window[1])
        self.window = (start, end)
        return self._drop(lambda key: not start <= key[3] < end, set())  # type: ignore[operator]

    def _drop(self, leaves: Callable[[tuple[object, ...]], bool], cells: set[Cell]) -> int:
        gone = [key for key in self.sums.sums if leaves(key)]
        dropped = sum(self.sums.sums.pop(key).rows for key in gone if not key[-1])
        self.dropped |= cells
        return dropped

    def records(self, *, scope: str = "", source: str = "") -> Iterator[CostRecord]:
        """The rows as CostRecord values (for small files; bulk paths use :meth:`batches`)."""
        for batch in self.batches(10_000):
            for row in batch.to_pylist():
                yield _to_record(row, basis=self.basis, scope=scope, source=source)

    def close(self) -> None:
        for part in self.parts:
            part.unlink(missing_ok=True)


def _literal(value: object) -> str:
    if value is None:
        return "NULL::VARCHAR"
    return f"DATE '{value}'" if isinstance(value, dt.date) else sql_str(str(value))


def _to_record(row: Mapping[str, object], *, basis: Basis, scope: str, source: str) -> CostRecord:
    tags_text = row["tags"]
    tags = (
        {
            str(k): v if isinstance(v, str) else orjson.dumps(v).decode()
            for k, v in orjson.loads(tags_text).items()
        }
        if isinstance(tags_text, str)
        else {}
    )
    qty = row["quantity_nanos"]
    return CostRecord(
        billing_day=row["billing_day"],  # type: ignore[arg-type]
        basis=basis,
        cost=join_nanos(int(row["cost_nanos"]), int(row["cost_rem_e18"])),  # type: ignore[call-overload]
        currency=str(row["currency"]),
        scope=scope,
        source=source,
        quantity=None if qty is None else from_nanos(int(qty)),  # type: ignore[call-overload]
        tags=tags,
        **{k: row[k] for k in KEY_COLUMNS if k not in ("billing_day", "currency", "tags")},  # type: ignore[arg-type]
    )


class ExportReader:
    """Reads cost files with one private DuckDB connection (memory-capped, spilling to disk); scanned rows
    are spilled as Parquet under ``temp_directory`` (a private temporary folder when not given)."""

    def __init__(
        self,
        *,
        memory_limit: str = "384MB",
        temp_directory: str | None = None,
        threads: int | None = None,
        date_format: str | None = None,
        batch_rows: int = _SCAN_BATCH,
    ) -> None:
        self.conn = duckdb.connect(":memory:")
        self.conn.execute(f"SET memory_limit = {sql_str(memory_limit)}")
        self.conn.execute("SET preserve_insertion_order = false")
        if temp_directory:
            self.conn.execute(f"SET temp_directory = {sql_str(temp_directory)}")
        if threads:
            self.conn.execute(f"SET threads = {int(threads)}")
        self.date_format = date_format
        self.batch_rows = batch_rows
        self._counter = itertools.count(1)
        self._own_spill = tempfile.TemporaryDirectory(prefix="aifinops-scan-", dir=temp_directory)
        self.spill = Path(self._own_spill.name)

    def close(self) -> None:
        self.conn.close()
        self._own_spill.cleanup()

    def __enter__(self) -> ExportReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _source_sql(self, path: Path, n: int | None) -> str:
        name = path.name.lower()
        if name.endswith(".parquet"):
            return f"read_parquet({sql_str(str(path))})"
        rejects = (
            f", store_rejects = true, rejects_table = 'rej_{n}', rejects_scan = 'rejscan_{n}'"
            if n is not None
            else ", ignore_errors = true"
        )
        return (
            f"read_csv({sql_str(str(path))}, all_varchar = true, header = true, delim = ',', quote = '\"', "
            f"escape = '\"', null_padding = false{rejects})"
        )

    def header(self, path: Path) -> list[str]:
        """The column names of a file as written (a UTF-8 BOM is dropped)."""
        try:
            described = self.conn.sql(f"DESCRIBE SELECT * FROM {self._source_sql(path, None)}").fetchall()
        except duckdb.Error as exc:
            raise SourceFormatError(f"{path}: cannot read the header: {exc}") from exc
        return [str(row[0]).lstrip("\ufeff") for row in described]

    def scan(
        self, path: str | Path, *, basis: Basis | None = None, default_currency: str | None = None
    ) -> ExportScan:
        """Scan one file (CSV, CSV.gz or Parquet) for one basis into an aggregated table.

        ``basis`` may be omitted for EA/MCA files whose name says ActualCost/AmortizedCost and for legacy
        usage files; FOCUS files hold both bases, so the caller names the one it wants.
        """
        path = Path(path)
        schema = detect_schema(self.header(path), file=str(path))
        basis = self._resolve_basis(path, schema, basis)
        if schema.column_for("currency", basis) is None and not default_currency:
            raise SourceFormatError(
                f"{path}: no currency column (BillingCurrencyCode/BillingCurrency/Currency); "
                "pass default_currency for files that omit it"
            )
        n = next(self._counter)
        plan = scan_plan(schema, basis, default_currency=default_currency, date_format=self.date_format)
        source_sql = self._source_sql(path, n)
        sums = BatchTotals(compact_rows=8 * self.batch_rows)
        scan = ExportScan(str(path), schema, basis, self.conn, [], sums)
        try:
            self._stream(scan, source_sql, plan)
        except duckdb.Error as exc:
            scan.close()
            raise SourceFormatError(f"{path}: cannot read cost rows: {exc}") from exc
        if not path.name.lower().endswith(".parquet"):
            self._recover_short_rows(scan, path, n, plan)
        rejected = (
            []
            if path.name.lower().endswith(".parquet")
            else [
                int(r[0])
                for r in self.conn.sql(f"SELECT DISTINCT line FROM rej_{n} ORDER BY line").fetchall()
            ]
        )
        self._report_bad_rows(scan, source_sql, plan, rejected)
        return scan

    def _stream(self, scan: ExportScan, source_sql: str, plan: ScanPlan) -> None:
        """Stream the rows of ``source_sql`` through the normalizer into a new spill part of ``scan``,
        adding each batch's exact sums."""
        part = self.spill / f"part_{next(self._counter)}.arrows"
        scan.parts.append(part)
        side = self.conn.cursor()  # the stream holds the connection's result open
        normalizer = BatchNormalizer(side, plan)
        raw = self.conn.sql(rows_sql(source_sql, plan)).to_arrow_reader(batch_size=self.batch_rows)
        with pa.OSFile(str(part), "wb") as sink, pa.ipc.new_stream(sink, SPILL_SCHEMA) as writer:
            for batch in prefetched(raw):
                if not batch.num_rows:
                    continue
                normalized, tail = normalizer.normalize(batch)
                scan.sums.add_batch(normalized, tail)
                writer.write_batch(stored(normalized))
        side.close()

    @staticmethod
    def _resolve_basis(path: Path, schema: ExportSchema, basis: Basis | None) -> Basis:
        chosen = basis or (Basis.ACTUAL if schema.kind is SchemaKind.PAYG else basis_from_name(path.name))
        if chosen is None:
            raise SourceFormatError(
                f"{path}: cannot tell actual from amortized cost ({schema.kind} file); "
                "pass basis=actual|amortized or use the export's manifest.json"
            )
        if chosen not in schema.bases:
            raise SourceFormatError(
                f"{path}: a {schema.kind} file has no {chosen} cost; it holds {list(schema.bases)}"
            )
        return chosen

    def _recover_short_rows(self, scan: ExportScan, path: Path, n: int, plan: ScanPlan) -> None:
        """Rows the CSV parser rejected: short rows are padded and kept, the others reported and dropped."""
        rejects = self.conn.sql(
            f"SELECT line, any_value(error_type), any_value(csv_line), any_value(error_message) FROM rej_{n} "
            "GROUP BY line ORDER BY line"
        ).fetchall()
        header = self.header(path)
        padded: list[list[str | None]] = []
        for line, error_type, csv_line, message in rejects:
            if error_type != "MISSING COLUMNS":
                scan.issues.append(RowIssue(str(path), int(line), f"{error_type}: {message}; row skipped"))
                continue
            fields = next(csv.reader([str(csv_line).strip("\r\n")]), [])
            missing = header[len(fields) :]
            padded.append(list(fields) + [None] * len(missing))
            scan.issues.append(
                RowIssue(
                    str(path),
                    int(line),
                    f"{len(fields)} fields for {len(header)} columns; "
                    f"missing {missing} read as empty, row kept",
                )
            )
        if not padded:
            return
        pad = f"pad_{n}"
        self.conn.execute(f"CREATE TEMP TABLE {pad} ({', '.join(sql_ident(h) + ' VARCHAR' for h in header)})")
        self.conn.executemany(f"INSERT INTO {pad} VALUES ({', '.join('?' * len(header))})", padded)
        self._stream(scan, pad, plan)
        self.conn.execute(f"DROP TABLE {pad}")

    def _report_bad_rows(
        self, scan: ExportScan, source_sql: str, plan: ScanPlan, rejected: list[int]
    ) -> None:
        bad = sum(sums.rows for key, sums in scan.sums.sums.items() if key[-1])
        tags_bad = sum(sums.tags_bad for key, sums in scan.sums.sums.items() if not key[-1])
        if tags_bad:
            scan.issues.append(
                RowIssue(scan.file, None, f"{tags_bad} row(s) with Tags that are not JSON; kept without tags")
            )
        if not bad:
            return
        # A second, ordered pass finds the records: line = record number + 1 (header) + the lines the CSV
        # parser rejected before it, assuming one line per record (a multi-line quoted field shifts it).
        self.conn.execute("SET preserve_insertion_order = true")
        try:
            number = f"regexp_full_match(coalesce({{}}, ''), '{_PLAIN_NUMBER}')"
            rows = self.conn.sql(
                "SELECT rn, billing_day, currency, cost_text, qty_text FROM (SELECT "
                f"row_number() OVER () AS rn, {plan.row_keys}, {plan.numbers} FROM {source_sql}) "
                "WHERE billing_day IS NULL OR currency IS NULL OR cost_text IS NULL "
                f"OR NOT {number.format('cost_text')} "
                f"OR (qty_text IS NOT NULL AND NOT {number.format('qty_text')}) "
                f"OR abs(TRY_CAST(cost_text AS DOUBLE)) >= {_STORABLE_UNITS} "
                f"OR abs(TRY_CAST(qty_text AS DOUBLE)) >= {_STORABLE_UNITS} "
                f"LIMIT {_MAX_LISTED_ISSUES}"
            ).fetchall()
        finally:
            self.conn.execute("SET preserve_insertion_order = false")
        for rn, day, currency, cost, quantity in rows:
            if day is None:
                reason = "no readable date"
            elif currency is None:
                reason = "no currency"
            elif cost is None or not re.fullmatch(_PLAIN_NUMBER, cost):
                reason = f"cost {cost!r} is not a number"
            elif abs(Decimal(cost)) >= _STORABLE_UNITS:
                reason = f"cost {cost} is beyond what the store holds (±9.2 billion)"
            elif quantity is not None and re.fullmatch(_PLAIN_NUMBER, quantity):
                reason = f"quantity {quantity} is beyond what the store holds (±9.2 billion)"
            else:
                reason = f"quantity {quantity!r} is not a number"
            line = int(rn) + 1
            for skipped in rejected:
                line += skipped <= line
            scan.issues.append(RowIssue(scan.file, line, f"{reason}; row skipped"))
        if bad > len(rows):
            scan.issues.append(
                RowIssue(scan.file, None, f"{bad} row(s) skipped in all; first {len(rows)} listed")
            )

    def scan_run(self, run: ExportRun, *, basis: Basis, default_currency: str | None = None) -> ExportScan:
        """Scan every file of one export run for ``basis`` into one table (partitions share a header)."""
        scans = [self.scan(f, basis=basis, default_currency=default_currency) for f in run.files]
        if len(scans) == 1:
            return scans[0]
        sums = BatchTotals()
        for s in scans:
            sums.extend(s.sums)
        return ExportScan(
            run.origin,
            scans[0].schema,
            basis,
            self.conn,
            [p for s in scans for p in s.parts],
            sums,
            [i for s in scans for i in s.issues],
        )
