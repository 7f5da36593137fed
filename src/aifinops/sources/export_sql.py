"""The DuckDB SQL that reads an export file as text and sums it, exactly, to the cost-record grain.

Every column is read as text; the cost and quantity texts are split into sign, integer and fraction digits.
Each cost is kept to 18 decimals (rounded half-even at the 18th, then split into nanos and the rest below one
nano as ``domain.split_nanos`` does, docs/billed-cost.md), each quantity rounded half-even to 10⁻⁹, and the
exact total is kept to 36 decimal places, with no float involved.
:class:`aifinops.sources.cost_exports.ExportReader` runs it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aifinops.domain import COST_DIMENSIONS, COST_ROW_COLUMNS, Basis
from aifinops.sources.export_schemas import ExportSchema

__all__ = [
    "KEY_COLUMNS",
    "SCAN_KEYS",
    "ScanPlan",
    "aggregate_sql",
    "merged_sql",
    "scan_plan",
    "sql_ident",
    "sql_str",
    "stored_columns",
]

#: The grain of a stored row: the key columns of :data:`COST_ROW_COLUMNS`.
KEY_COLUMNS = COST_ROW_COLUMNS[:16]
#: The grain of a scan table: a stored row's keys plus the billing scope the file states (overlap checks).
SCAN_KEYS = (*KEY_COLUMNS, "billing_scope")
_SUMS = (
    "cost_e18",
    "quantity_nanos",
    "source_rows",
    "tags_bad",
    "e18_sum",
    "e36_sum",
)


def sql_str(value: str) -> str:
    """``value`` as a DuckDB string literal."""
    return "'" + value.replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    """``name`` as a quoted DuckDB identifier (export headers hold spaces and mixed case)."""
    return '"' + name.replace('"', '""') + '"'


def _text(column: str | None) -> str:
    """SQL for a trimmed text value; empty and the literal NULL of FOCUS samples become NULL."""
    if column is None:
        return "NULL::VARCHAR"
    return f"nullif(nullif(nullif(trim(CAST({sql_ident(column)} AS VARCHAR)), ''), 'NULL'), 'null')"


def _plain(expr: str) -> str:
    # Scientific notation ("5.64902E-05", Parquet doubles) goes through DECIMAL(38,18) to become plain text.
    as_decimal = f"CAST(TRY_CAST({expr} AS DECIMAL(38,18)) AS VARCHAR)"
    return f"(CASE WHEN {expr} ILIKE '%e%' THEN {as_decimal} ELSE {expr} END)"


def _day(expr: str, date_format: str | None) -> str:
    formats = [date_format] if date_format else ["%m/%d/%Y", "%Y-%m-%d"]
    tries = [f"try_strptime({expr}, {sql_str(f)})" for f in formats]
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
        currency = f"coalesce({currency}, {sql_str(default_currency.upper())})"
    normalized = {
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
        "service_name": (f"{service} AS service_name",),
        # the last segment of an id (/providers/Microsoft.Billing/billingAccounts/{id}[/billingProfiles/{id}])
        "billing_scope": (f"nullif(lower(regexp_extract({scope}, '([^/]+)/*$', 1)), '') AS billing_scope",),
        "tags": (
            f"(CASE WHEN json_valid({wrapped}) THEN json({wrapped}) END) AS tags",
            f"{tags} IS NOT NULL AND NOT coalesce(json_valid({wrapped}), false) AS tags_invalid",
        ),
    }
    # The meter and charge columns are kept as the file writes them, trimmed.
    return {f: normalized.get(f) or (f"{_text(col(f))} AS {f}",) for f in _RAW_KEYS}


# Normalized once per distinct value and joined back: these columns repeat a lot and cost the most to parse.
# A NULL key matches no lookup row and stays NULL, as its normalized value would be.
_LOOKUP_FIELDS = ("billing_day", "subscription_id", "resource_id", "tags")


@dataclass(frozen=True, slots=True)
class ScanPlan:
    """The SQL pieces of one scan: how raw columns are read and how grouped keys are normalized."""

    raw: str  # per-row SELECT list over the file
    keys: Mapping[str, tuple[str, ...]]  # per key field, SELECT items over its k_* column
    row_keys: str  # per-row SELECT list over the file (error reporting only)
    numbers: str  # per-row cost and quantity text over the file (error reporting only)


def scan_plan(
    schema: ExportSchema, basis: Basis, *, default_currency: str | None, date_format: str | None
) -> ScanPlan:
    def col(name: str) -> str | None:
        return schema.column_for(name, basis)

    raw = [
        f"CAST({sql_ident(c)} AS VARCHAR) AS k_{f}" if (c := col(f)) else f"NULL::VARCHAR AS k_{f}"
        for f in _RAW_KEYS
    ]
    raw += [f"{_text(col('cost'))} AS c_t", f"{_text(col('quantity'))} AS q_t"]
    consumed = (col("service_name") or "").lower() == "consumedservice"
    options = {"consumed_service": consumed, "default_currency": default_currency, "date_format": date_format}
    per_row = _key_exprs(col, **options)  # type: ignore[arg-type]
    return ScanPlan(
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


def stored_columns() -> str:
    """A scan table's columns as the store takes them (:data:`COST_ROW_COLUMNS`): the exact ``cost_e18``
    split into half-even nanos and the rest below one nano (``domain.split_nanos``), every number a BIGINT
    (what SQLite accepts, whatever type a sum over merged tables gave)."""
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


def aggregate_sql(source_sql: str, plan: ScanPlan, table: str) -> str:
    """Sum exact money per distinct raw key text, then normalize the keys of those groups.

    Groups whose raw texts differ but normalize alike (``AHBTEST``/``AHBTest``) stay separate rows of the same
    grain: every consumer sums, and a second hash aggregation would double the cost of a scan.
    """
    sign = "(CASE WHEN c_neg THEN -1 ELSE 1 END)"
    keys = ", ".join(SCAN_KEYS)
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


def merged_sql(table: str, sources: list[str]) -> str:
    """A table summing the aggregated tables (or queries) ``sources`` per grain key, as one scan."""
    union = " UNION ALL BY NAME ".join(f"SELECT * FROM {s}" for s in sources)
    sums = ", ".join(f"sum({c}) AS {c}" for c in _SUMS)
    keys = ", ".join(SCAN_KEYS)
    return f"CREATE TEMP TABLE {table} AS SELECT {keys}, bad, {sums} FROM ({union}) GROUP BY ALL"
