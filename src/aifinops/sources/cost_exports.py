"""Azure cost exports and cost details read through DuckDB, streamed as CostRecord rows or Arrow batches.

A file is scanned once by DuckDB: every column is read as text, the header picks the schema
(:mod:`aifinops.sources.export_schemas`), and the rows are summed per distinct key (the grain of
:class:`aifinops.domain.CostRecord`) and normalized without ever becoming Python objects. Money is exact:
the cost text is split into sign, integer and fraction digits, each row is rounded half-even to 10⁻⁹
(the rule of ``domain.to_nanos``) and the exact file total is kept to 36 decimal places (no float involved).

Quirks handled (see shared/samples/FACTS.md): UTF-8 BOM, PascalCase vs camelCase headers, tags without
braces, header-only files, short rows (reported with file and line, kept when the date and cost are there),
localized headers (refused, naming the columns), several currencies in one file (kept apart).
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import duckdb
import orjson
from azure.core.exceptions import AzureError

from aifinops.domain import COST_DIMENSIONS, COST_ROW_COLUMNS, Basis, CostRecord, from_nanos, join_nanos
from aifinops.errors import SourceAuthError, SourceError, SourceFormatError
from aifinops.sources.export_schemas import (
    ExportManifest,
    ExportSchema,
    SchemaKind,
    detect_schema,
    parse_manifest,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "CELL_COLUMNS",
    "BlobExports",
    "Cell",
    "ExportReader",
    "ExportRun",
    "ExportScan",
    "RowIssue",
    "basis_from_name",
    "local_runs",
]

_KEYS = COST_ROW_COLUMNS[:16]
#: The grain of a scan table: a stored row's keys plus the billing scope the file states (overlap checks).
_SCAN_KEYS = (*_KEYS, "billing_scope")
_SUMS = (
    "cost_e18",
    "quantity_nanos",
    "source_rows",
    "tags_bad",
    "e18_sum",
    "e36_sum",
)
_MAX_LISTED_ISSUES = 50
_PLAIN_NUMBER = r"[+-]?(\d+\.?\d*|\.\d+)"


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


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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
        """The rows to store, columns :data:`COST_ROW_COLUMNS` (one row per CostRecord grain)."""
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
        **{k: row[k] for k in _KEYS if k not in ("billing_day", "currency", "tags")},  # type: ignore[arg-type]
    )


def _text(column: str | None) -> str:
    """SQL for a trimmed text value; empty and the literal NULL of FOCUS samples become NULL."""
    if column is None:
        return "NULL::VARCHAR"
    return f"nullif(nullif(nullif(trim(CAST({_ident(column)} AS VARCHAR)), ''), 'NULL'), 'null')"


def _plain(expr: str) -> str:
    # Scientific notation ("5.64902E-05", Parquet doubles) goes through DECIMAL(38,18) to become plain text.
    as_decimal = f"CAST(TRY_CAST({expr} AS DECIMAL(38,18)) AS VARCHAR)"
    return f"(CASE WHEN {expr} ILIKE '%e%' THEN {as_decimal} ELSE {expr} END)"


def _day(expr: str, date_format: str | None) -> str:
    formats = [date_format] if date_format else ["%m/%d/%Y", "%Y-%m-%d"]
    tries = [f"try_strptime({expr}, {_sql_str(f)})" for f in formats]
    return f"CAST(coalesce({', '.join(tries)}, try_cast({expr} AS TIMESTAMP)) AS DATE)"


# The grain columns an export file can carry: the billed dimensions but resource_type, which is derived
# from the resource id afterwards.
_RAW_KEYS: tuple[str, ...] = (
    "billing_day",
    "currency",
    *(d for d in COST_DIMENSIONS if d != "resource_type"),
    "tags",
    "billing_scope",
)


def _key_exprs(
    col: Callable[[str], str | None],
    *,
    consumed_service: bool,
    default_currency: str | None,
    date_format: str | None,
) -> dict[str, tuple[str, ...]]:
    """Per key field, the SELECT items turning its raw text into canonical columns."""
    service = _text(col("service_name"))
    if consumed_service:
        service = f"lower({service})"  # resource-provider namespaces come in mixed case
    sub = _text(col("subscription_id"))
    rid = f"lower({_text(col('resource_id'))})"
    tags = _text(col("tags"))
    wrapped = f"(CASE WHEN left({tags}, 1) = '{{' THEN {tags} ELSE '{{' || {tags} || '}}' END)"
    currency = f"upper({_text(col('currency'))})"
    scope = _text(col("billing_scope"))
    if default_currency:
        currency = f"coalesce({currency}, {_sql_str(default_currency.upper())})"
    plain = (
        "meter_category",
        "meter_subcategory",
        "meter_name",
        "meter_id",
        "charge_type",
        "pricing_model",
        "unit",
    )
    return {
        "billing_day": (f"{_day(_text(col('billing_day')), date_format)} AS billing_day",),
        "currency": (f"{currency} AS currency",),
        "subscription_id": (
            f"coalesce(nullif(regexp_extract(lower({sub}), '^/subscriptions/([^/]+)', 1), ''), lower({sub}))"
            " AS subscription_id",
        ),
        "resource_group": (f"lower({_text(col('resource_group'))}) AS resource_group",),
        "resource_id": (
            f"{rid} AS resource_id",
            f"nullif(regexp_extract({rid}, '/providers/([^/]+/[^/]+)', 1), '') AS resource_type",
        ),
        "location": (f"replace(lower({_text(col('location'))}), ' ', '') AS location",),
        # the last segment of an id (/providers/Microsoft.Billing/billingAccounts/{id}[/billingProfiles/{id}])
        "billing_scope": (f"nullif(lower(regexp_extract({scope}, '([^/]+)/*$', 1)), '') AS billing_scope",),
        "service_name": (f"{service} AS service_name",),
        **{n: (f"{_text(col(n))} AS {n}",) for n in plain},
        "tags": (
            f"(CASE WHEN json_valid({wrapped}) THEN json({wrapped}) END) AS tags",
            f"{tags} IS NOT NULL AND NOT coalesce(json_valid({wrapped}), false) AS tags_invalid",
        ),
    }


# Normalized once per distinct value and joined back: these columns repeat a lot and cost the most to parse.
# A NULL key matches no lookup row and stays NULL, as its normalized value would be.
_LOOKUP_FIELDS = ("billing_day", "subscription_id", "resource_id", "tags")


@dataclass(frozen=True, slots=True)
class _Plan:
    """The SQL pieces of one scan: how raw columns are read and how grouped keys are normalized."""

    raw: str  # per-row SELECT list over the file
    keys: Mapping[str, tuple[str, ...]]  # per key field, SELECT items over its k_* column
    row_keys: str  # per-row SELECT list over the file (error reporting only)
    numbers: str  # per-row cost and quantity text over the file (error reporting only)


def _plan(
    schema: ExportSchema, basis: Basis, *, default_currency: str | None, date_format: str | None
) -> _Plan:
    def col(name: str) -> str | None:
        return schema.column_for(name, basis)

    raw = [
        f"CAST({_ident(c)} AS VARCHAR) AS k_{f}" if (c := col(f)) else f"NULL::VARCHAR AS k_{f}"
        for f in _RAW_KEYS
    ]
    raw += [f"{_text(col('cost'))} AS c_t", f"{_text(col('quantity'))} AS q_t"]
    consumed = (col("service_name") or "").lower() == "consumedservice"
    options = {"consumed_service": consumed, "default_currency": default_currency, "date_format": date_format}
    per_row = _key_exprs(col, **options)  # type: ignore[arg-type]
    return _Plan(
        raw=", ".join(raw),
        keys=_key_exprs(lambda f: f"k_{f}", **options),  # type: ignore[arg-type]
        row_keys=", ".join(e for exprs in per_row.values() for e in exprs),
        numbers=f"{_plain(_text(col('cost')))} AS cost_text, {_plain(_text(col('quantity')))} AS qty_text",
    )


def _number_columns(prefix: str) -> str:
    """Per-row text parts of a number: sign, integer digits, fraction digits (exact, no float involved)."""
    t = f"{prefix}_t"
    return (
        f"{t} IS NOT NULL AS {prefix}_present, starts_with({_plain(t)}, '-') AS {prefix}_neg, "
        f"ltrim({_plain(t)}, '+-') AS {prefix}_body"
    )


def _number_parts(prefix: str) -> str:
    """Integer parts of a number: ``_i`` units, ``_h`` fraction digits 1–18, ``_l`` digits 19–36 (BIGINT)."""
    body, dot = f"{prefix}_body", f"strpos({prefix}_body, '.')"
    whole = f"(CASE WHEN {dot} = 0 THEN {body} ELSE left({body}, {dot} - 1) END)"
    frac = f"(CASE WHEN {dot} = 0 THEN '' ELSE substr({body}, {dot} + 1) END)"
    return (
        f"TRY_CAST(CASE WHEN {whole} = '' THEN '0' ELSE {whole} END AS BIGINT) AS {prefix}_i, "
        f"TRY_CAST(rpad(left({frac}, 18), 18, '0') AS BIGINT) AS {prefix}_h, "
        f"TRY_CAST(rpad(substr({frac}, 19, 18), 18, '0') AS BIGINT) AS {prefix}_l, "
        f"({prefix}_present AND regexp_full_match({body}, '[0-9]*[.]?[0-9]*') AND {body} NOT IN ('', '.') "
        f"AND length({frac}) <= 36 AND length({whole}) <= 18) AS {prefix}_ok"
    )


def _nanos(prefix: str) -> str:
    """Half-even nanos from the integer parts: digits 10–36 of the fraction decide the rounding."""
    base = f"(CAST({prefix}_i AS HUGEINT) * 1000000000 + {prefix}_h // 1000000000)"
    rest = f"({prefix}_h % 1000000000)"
    up = (
        f"(CASE WHEN {rest} > 500000000 THEN 1 WHEN {rest} < 500000000 THEN 0 WHEN {prefix}_l > 0 THEN 1 "
        f"ELSE {base} % 2 END)"
    )
    return f"(CASE WHEN {prefix}_neg THEN -1 ELSE 1 END) * ({base} + {up})"


def _e18(prefix: str) -> str:
    """The amount in 10⁻¹⁸ units, rounded half-even at the 18th decimal by digits 19–36 (``split_nanos``)."""
    low, half = f"{prefix}_l", "500000000000000000"
    up = f"(CASE WHEN {low} > {half} THEN 1 WHEN {low} < {half} THEN 0 ELSE {prefix}_h % 2 END)"
    whole = f"(CAST({prefix}_i AS HUGEINT) * 1000000000000000000 + {prefix}_h + {up})"
    return f"(CASE WHEN {prefix}_neg THEN -1 ELSE 1 END) * {whole}"


def _stored_columns() -> str:
    """The scan table's columns as the store takes them: the exact ``cost_e18`` split into half-even nanos
    and the rest below one nano (``domain.split_nanos``), every number a BIGINT (what SQLite accepts)."""
    whole, rest = "(abs(cost_e18) // 1000000000)", "(abs(cost_e18) % 1000000000)"
    up = f"(CASE WHEN {rest} > 500000000 OR ({rest} = 500000000 AND {whole} % 2 = 1) THEN 1 ELSE 0 END)"
    nanos = f"(sign(cost_e18) * ({whole} + {up}))"
    exprs = {
        "cost_nanos": f"CAST({nanos} AS BIGINT) AS cost_nanos",
        "cost_rem_e18": f"CAST(cost_e18 - {nanos} * 1000000000 AS BIGINT) AS cost_rem_e18",
        "quantity_nanos": "CAST(quantity_nanos AS BIGINT) AS quantity_nanos",
        "source_rows": "CAST(source_rows AS BIGINT) AS source_rows",
    }
    return ", ".join(exprs.get(c, c) for c in COST_ROW_COLUMNS)


_STORED_COLUMNS = _stored_columns()


def _aggregate_sql(source_sql: str, plan: _Plan, table: str) -> str:
    """Sum exact money per distinct raw key text, then normalize the keys of those groups.

    Groups whose raw texts differ but normalize alike (``AHBTEST``/``AHBTest``) stay separate rows of the same
    grain: every consumer sums, and a second hash aggregation would double the cost of a scan.
    """
    sign = "(CASE WHEN c_neg THEN -1 ELSE 1 END)"
    keys = ", ".join(_SCAN_KEYS)
    inline = "".join(f"{e}, " for f, exprs in plan.keys.items() if f not in _LOOKUP_FIELDS for e in exprs)
    looked_up = ", ".join(f"d_{f}.* EXCLUDE (k_{f})" for f in _LOOKUP_FIELDS)
    joins = " ".join(f"LEFT JOIN d_{f} ON g.k_{f} = d_{f}.k_{f}" for f in _LOOKUP_FIELDS)
    lookups = "".join(
        f"d_{f} AS (SELECT k_{f}, {', '.join(plan.keys[f])} FROM (SELECT DISTINCT k_{f} FROM g)),\n"
        for f in _LOOKUP_FIELDS
    )
    return f"""
CREATE TEMP TABLE {table} AS
WITH raw AS (SELECT {plan.raw} FROM {source_sql}),
d AS (SELECT * EXCLUDE (c_t, q_t), {_number_columns("c")}, {_number_columns("q")} FROM raw),
o AS (SELECT *, {_number_parts("c")}, {_number_parts("q")} FROM d),
g AS (
  SELECT {", ".join(f"k_{f}" for f in _RAW_KEYS)}, (c_ok AND (q_ok OR NOT q_present)) AS row_ok,
    sum(CASE WHEN c_ok THEN {_e18("c")} END) AS cost_e18,
    sum(CASE WHEN q_ok THEN {_nanos("q")} END) AS quantity_nanos,
    count(*) AS source_rows,
    sum(CASE WHEN c_ok THEN {sign} * (CAST(c_i AS HUGEINT) * 1000000000000000000 + c_h) END) AS e18_sum,
    sum({sign} * c_l) FILTER (WHERE c_ok AND c_l <> 0) AS e36_sum
  FROM o GROUP BY ALL
),
{lookups}n AS (
  SELECT {inline}{looked_up}, NOT row_ok AS row_bad, cost_e18, quantity_nanos, source_rows, e18_sum, e36_sum
  FROM g {joins}
),
r AS (SELECT *, (row_bad OR billing_day IS NULL OR currency IS NULL) AS bad FROM n)
SELECT {keys}, bad, cost_e18,
  CAST(quantity_nanos AS BIGINT) AS quantity_nanos,
  CAST(source_rows AS BIGINT) AS source_rows,
  CAST(CASE WHEN tags_invalid THEN source_rows ELSE 0 END AS BIGINT) AS tags_bad, e18_sum, e36_sum
FROM r
"""


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
        self.conn.execute(f"SET memory_limit = {_sql_str(memory_limit)}")
        self.conn.execute("SET preserve_insertion_order = false")
        if temp_directory:
            self.conn.execute(f"SET temp_directory = {_sql_str(temp_directory)}")
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
            return f"read_parquet({_sql_str(str(path))})"
        rejects = (
            f", store_rejects = true, rejects_table = 'rej_{n}', rejects_scan = 'rejscan_{n}'"
            if n is not None
            else ", ignore_errors = true"
        )
        return (
            f"read_csv({_sql_str(str(path))}, all_varchar = true, header = true, delim = ',', quote = '\"', "
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
        plan = _plan(schema, basis, default_currency=default_currency, date_format=self.date_format)
        source_sql = self._source_sql(path, n)
        try:
            self.conn.execute(_aggregate_sql(source_sql, plan, table))
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

    def _recover_short_rows(self, scan: ExportScan, path: Path, n: int, plan: _Plan) -> None:
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
        self.conn.execute(f"CREATE TEMP TABLE {pad} ({', '.join(_ident(h) + ' VARCHAR' for h in header)})")
        self.conn.executemany(f"INSERT INTO {pad} VALUES ({', '.join('?' * len(header))})", padded)
        merged = f"merged_{n}"
        self.conn.execute(_aggregate_sql(pad, plan, merged))
        sums = ", ".join(f"sum({c}) AS {c}" for c in _SUMS)
        self.conn.execute(
            f"CREATE TEMP TABLE {merged}_all AS SELECT {', '.join(_SCAN_KEYS)}, bad, {sums} FROM "
            f"(SELECT * FROM {scan.table} UNION ALL BY NAME SELECT * FROM {merged}) GROUP BY ALL"
        )
        self.conn.execute(f"DROP TABLE {merged}; DROP TABLE {pad}; DROP TABLE {scan.table}")
        self.conn.execute(f"ALTER TABLE {merged}_all RENAME TO {scan.table}")

    def _report_bad_rows(self, scan: ExportScan, source_sql: str, plan: _Plan, rejected: list[int]) -> None:
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
        union = " UNION ALL BY NAME ".join(f"SELECT * FROM {s.table}" for s in scans)
        sums = ", ".join(f"sum({c}) AS {c}" for c in _SUMS)
        keys = ", ".join(_SCAN_KEYS)
        self.conn.execute(
            f"CREATE TEMP TABLE {table} AS SELECT {keys}, bad, {sums} FROM ({union}) GROUP BY ALL"
        )
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


_DATA_SUFFIXES = (".csv", ".csv.gz", ".gz", ".parquet")


@dataclass(frozen=True, slots=True)
class ExportRun:
    """One export run ready to read: its manifest (None for a loose file) and its files on local disk."""

    manifest: ExportManifest | None
    files: tuple[Path, ...]
    origin: str  # the manifest or file it came from, for messages and checkpoints


def _latest(runs: list[ExportRun]) -> list[ExportRun]:
    """Keep the newest run per export and period: a month-to-date run supersedes the earlier ones."""
    best: dict[tuple[Any, ...], ExportRun] = {}
    for run in runs:
        m = run.manifest
        key = (m.scope, m.export_name, m.export_type, m.start) if m else (run.origin,)
        held = best.get(key)
        if held is None or (
            m
            and held.manifest
            and (m.submitted or dt.datetime.min.replace(tzinfo=dt.UTC))
            > (held.manifest.submitted or dt.datetime.min.replace(tzinfo=dt.UTC))
        ):
            best[key] = run
    return sorted(best.values(), key=lambda r: r.origin)


def local_runs(root: str | Path) -> list[ExportRun]:
    """The export runs under a folder (by their ``manifest.json``) plus loose cost files; or one file.

    Data files sit beside their manifest (``{export}/{yyyyMMdd-yyyyMMdd}/{time}/{runId}/``); the manifest's
    ``blobName`` is container-relative, so only its last segment is looked up locally.
    """
    root = Path(root)
    if root.is_file():
        return [ExportRun(None, (root,), str(root))]
    if not root.is_dir():
        raise SourceFormatError(
            f"export path {root} is neither a file nor a folder; fix the path in export_paths"
        )
    runs: list[ExportRun] = []
    claimed: set[Path] = set()
    for path in sorted(root.rglob("manifest.json")):
        manifest = parse_manifest(path.read_bytes(), name=str(path))
        files = tuple(path.parent / name.rsplit("/", 1)[-1] for name in manifest.blobs)
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise SourceFormatError(
                f"{path}: lists files that are not there: {missing[:5]}; copy the whole run folder"
            )
        claimed.update(files)
        runs.append(ExportRun(manifest, files, str(path)))
    loose = [
        p
        for p in sorted(root.rglob("*"))
        if p.is_file() and p not in claimed and p.name.lower().endswith(_DATA_SUFFIXES)
    ]
    runs.extend(ExportRun(None, (p,), str(p)) for p in loose)
    return _latest(runs)


class BlobExports:
    """Export runs in an Azure Blob Storage container (azure-storage-blob ``ContainerClient``), downloaded
    to a local folder as they are needed, streamed to disk rather than held in memory."""

    def __init__(self, container: Any, download_dir: str | Path, *, prefix: str = "") -> None:
        self.container = container
        self.download_dir = Path(download_dir)
        self.prefix = prefix

    @property
    def url(self) -> str:
        return str(getattr(self.container, "url", "blob container"))

    def manifests(self) -> list[ExportManifest]:
        """Every run's manifest under the prefix (the newest per export and period)."""
        runs = []
        try:
            for blob in self.container.list_blobs(name_starts_with=self.prefix or None):
                if blob.name == "manifest.json" or blob.name.endswith("/manifest.json"):
                    payload = self.container.download_blob(blob.name).readall()
                    runs.append(ExportRun(parse_manifest(payload, name=blob.name), (), blob.name))
        except AzureError as exc:
            raise _blob_error(self.url, self.prefix, exc) from exc
        return [r.manifest for r in _latest(runs) if r.manifest is not None]

    def fetch(self, manifest: ExportManifest) -> ExportRun:
        """Download the run's data blobs (each streamed to its own file)."""
        folder = self.download_dir / (manifest.run_id or manifest.export_name)
        folder.mkdir(parents=True, exist_ok=True)
        files = []
        for name in manifest.blobs:
            target = folder / name.rsplit("/", 1)[-1]
            try:
                with target.open("wb") as fh:
                    self.container.download_blob(name).readinto(fh)
            except AzureError as exc:
                raise _blob_error(self.url, name, exc) from exc
            files.append(target)
        first = manifest.blobs[0] if manifest.blobs else manifest.export_name
        return ExportRun(manifest, tuple(files), f"{self.url}/{first}")


def _blob_error(url: str, name: str, exc: AzureError) -> SourceError:
    status = getattr(exc, "status_code", None)
    if status in (401, 403):
        return SourceAuthError(
            f"blob storage {url} refused reading {name!r} (HTTP {status}); grant the "
            "collector identity 'Storage Blob Data Reader' on the export container"
        )
    return SourceError(f"blob storage {url}: cannot read {name!r}: {exc.__class__.__name__}: {exc}")
