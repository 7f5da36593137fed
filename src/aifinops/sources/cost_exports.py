"""Azure cost exports and cost details read through DuckDB, streamed as CostRecord rows or Arrow batches.

A file is scanned once by DuckDB: every column is read as text, the header picks the schema
(:mod:`aifinops.sources.export_schemas`), and the rows are summed per distinct key (the grain of
:class:`aifinops.domain.CostRecord`) and normalized without ever becoming Python objects
(:mod:`aifinops.sources.export_sql`). Money is exact: each row is kept to 18 decimals (the rule of
``domain.split_nanos``) and the exact file total to 36 decimal places (no float involved). The runs to read
are found by :mod:`aifinops.sources.export_runs`.

Quirks handled (see shared/samples/FACTS.md): UTF-8 BOM, PascalCase vs camelCase headers, tags without
braces, header-only files, short rows (reported with file and line, kept when the date and cost are there),
localized headers (refused, naming the columns), several currencies in one file (kept apart).
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import duckdb
import orjson

from aifinops.domain import Basis, CostRecord, from_nanos, join_nanos
from aifinops.errors import SourceFormatError
from aifinops.sources.export_schemas import ExportSchema, SchemaKind, detect_schema
from aifinops.sources.export_sql import (
    KEY_COLUMNS,
    ScanPlan,
    aggregate_sql,
    merged_sql,
    scan_plan,
    sql_ident,
    sql_str,
    stored_columns,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from aifinops.sources.export_runs import ExportRun

__all__ = ["CELL_COLUMNS", "Cell", "ExportReader", "ExportScan", "RowIssue", "basis_from_name"]

_MAX_LISTED_ISSUES = 50
_PLAIN_NUMBER = r"[+-]?(\d+\.?\d*|\.\d+)"
_STORED_COLUMNS = stored_columns()


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
    """One scanned file for one basis: an aggregated DuckDB table plus what went wrong on the way."""

    file: str
    schema: ExportSchema
    basis: Basis
    table: str
    conn: duckdb.DuckDBPyConnection
    source_rows: int
    issues: list[RowIssue] = field(default_factory=list)

    @property
    def relation(self) -> duckdb.DuckDBPyRelation:
        """The rows to store, columns :data:`~aifinops.domain.COST_ROW_COLUMNS` (one per CostRecord grain)."""
        return self.conn.sql(f"SELECT {_STORED_COLUMNS} FROM {self.table} WHERE NOT bad")

    def batches(self, batch_size: int = 20_000) -> pa.RecordBatchReader:
        """The rows to store, streamed as Arrow record batches (what the store's ``replace_slice`` takes)."""
        return self.relation.to_arrow_reader(batch_size=batch_size)

    def totals(self) -> Mapping[str, Decimal]:
        """Exact total cost per currency, before any rounding (36 decimal places)."""
        rows = self.conn.sql(
            f"SELECT currency, sum(e18_sum), sum(e36_sum) FROM {self.table} "
            "WHERE NOT bad GROUP BY currency ORDER BY currency"
        ).fetchall()
        out: dict[str, Decimal] = {}
        with localcontext() as ctx:
            ctx.prec = 120  # the two parts need ~80 digits: never let the context round them
            for currency, e18, e36 in rows:
                total = Decimal(int(e18 or 0)).scaleb(-18) + Decimal(int(e36 or 0)).scaleb(-36)
                out[currency] = total.normalize()
        return MappingProxyType(out)

    def stored_totals(self) -> Mapping[str, Decimal]:
        """Total per currency as the store will hold it: each row exact to 10⁻¹⁸ (``domain.split_nanos``)."""
        rows = self.relation.aggregate("currency, sum(cost_nanos), sum(cost_rem_e18)").fetchall()
        return MappingProxyType({c: join_nanos(int(n), int(rest)) for c, n, rest in rows})

    def day_range(self) -> tuple[dt.date, dt.date] | None:
        """First and last billing day present, or None for an empty file."""
        first, last = self.conn.sql(
            f"SELECT min(billing_day), max(billing_day) FROM {self.table} WHERE NOT bad"
        ).fetchall()[0]
        return (first, last) if first is not None else None

    def cells(self) -> dict[Cell, dict[str, int]]:
        """Per cell (billing scope, subscription, resource group, billing day): exact cost per currency in
        10⁻¹⁸ units. Deliveries sharing cells overlap; with the same amounts in each, they are equal."""
        out: dict[Cell, dict[str, int]] = {}
        for *cell, currency, e18 in self.conn.sql(
            f"SELECT {', '.join(CELL_COLUMNS)}, currency, sum(cost_e18) FROM {self.table} WHERE NOT bad "
            "GROUP BY ALL"
        ).fetchall():
            out.setdefault(tuple(cell), {})[currency] = int(e18 or 0)
        return out

    def drop_cells(self, cells: Iterable[Cell]) -> int:
        """Remove the rows of ``cells`` (another delivery's); returns how many source rows they held."""
        wanted = list(cells)
        if not wanted:
            return 0
        self.conn.execute(
            f"CREATE OR REPLACE TEMP TABLE {self.table}_cells AS SELECT {', '.join(CELL_COLUMNS)} "
            f"FROM {self.table} LIMIT 0"
        )
        self.conn.executemany(f"INSERT INTO {self.table}_cells VALUES (?, ?, ?, ?)", wanted)
        match = " AND ".join(f"t.{c} IS NOT DISTINCT FROM x.{c}" for c in CELL_COLUMNS)
        return self._drop(f"EXISTS (SELECT 1 FROM {self.table}_cells x WHERE {match})", alias="t")

    def drop_days_outside(self, start: dt.date, end: dt.date) -> int:
        """Remove the rows billed outside ``[start, end)``; returns how many source rows they held."""
        return self._drop(f"NOT (billing_day >= DATE '{start}' AND billing_day < DATE '{end}')", alias="t")

    def _drop(self, condition: str, *, alias: str) -> int:
        (dropped,) = self.conn.execute(
            f"SELECT coalesce(sum(source_rows), 0) FROM {self.table} {alias} WHERE NOT bad AND {condition}"
        ).fetchall()[0]
        self.conn.execute(f"DELETE FROM {self.table} {alias} WHERE {condition}")
        self.source_rows -= int(dropped)
        return int(dropped)

    def records(self, *, scope: str = "", source: str = "") -> Iterator[CostRecord]:
        """The aggregated rows as CostRecord values (for small files; bulk paths use :meth:`batches`)."""
        for batch in self.batches(10_000):
            for row in batch.to_pylist():
                yield _to_record(row, basis=self.basis, scope=scope, source=source)

    def close(self) -> None:
        self.conn.execute(f"DROP TABLE IF EXISTS {self.table}")


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
    """Reads cost files with one private DuckDB connection (memory-capped, spilling to disk)."""

    def __init__(
        self,
        *,
        memory_limit: str = "384MB",
        temp_directory: str | None = None,
        threads: int | None = None,
        date_format: str | None = None,
    ) -> None:
        self.conn = duckdb.connect(":memory:")
        self.conn.execute(f"SET memory_limit = {sql_str(memory_limit)}")
        self.conn.execute("SET preserve_insertion_order = false")
        if temp_directory:
            self.conn.execute(f"SET temp_directory = {sql_str(temp_directory)}")
        if threads:
            self.conn.execute(f"SET threads = {int(threads)}")
        self.date_format = date_format
        self._counter = itertools.count(1)

    def close(self) -> None:
        self.conn.close()

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
        table = f"cost_scan_{n}"
        plan = scan_plan(schema, basis, default_currency=default_currency, date_format=self.date_format)
        source_sql = self._source_sql(path, n)
        try:
            self.conn.execute(aggregate_sql(source_sql, plan, table))
        except duckdb.Error as exc:
            raise SourceFormatError(f"{path}: cannot read cost rows: {exc}") from exc
        scan = ExportScan(str(path), schema, basis, table, self.conn, 0)
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
        scan.source_rows = int(
            self.conn.sql(f"SELECT coalesce(sum(source_rows), 0) FROM {table} WHERE NOT bad").fetchall()[0][0]
        )
        return scan

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
        merged = f"merged_{n}"
        self.conn.execute(aggregate_sql(pad, plan, merged))
        self.conn.execute(merged_sql(f"{merged}_all", [scan.table, merged]))
        self.conn.execute(f"DROP TABLE {merged}; DROP TABLE {pad}; DROP TABLE {scan.table}")
        self.conn.execute(f"ALTER TABLE {merged}_all RENAME TO {scan.table}")

    def _report_bad_rows(
        self, scan: ExportScan, source_sql: str, plan: ScanPlan, rejected: list[int]
    ) -> None:
        bad, tags_bad = self.conn.execute(
            f"SELECT coalesce(sum(source_rows) FILTER (WHERE bad), 0), coalesce(sum(tags_bad), 0) "
            f"FROM {scan.table}"
        ).fetchall()[0]
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
        table = f"cost_run_{next(self._counter)}"
        self.conn.execute(merged_sql(table, [s.table for s in scans]))
        for s in scans:
            s.close()
        return ExportScan(
            run.origin,
            scans[0].schema,
            basis,
            table,
            self.conn,
            sum(s.source_rows for s in scans),
            [i for s in scans for i in s.issues],
        )
