"""The DuckDB SQL that reads an export file as text, one row out per source row, with exact money.

Every column is read as text. The key columns leave as they are written (``k_*``): they repeat a lot, so
:mod:`aifinops.sources.export_batches` normalizes each distinct value once with the expressions of
:func:`scan_plan`. The cost and quantity texts are cast to ``DECIMAL(38,18)`` and to half-away nanos
(``DECIMAL(18,9)``), both exact for a text with at most 18 decimals; the rare text the casts cannot be
trusted with (more decimals, an exponent, a billion units or more, not a number) is passed on as text and
read with ``Decimal``. Nothing is summed here: no float and no wide aggregation.
:class:`aifinops.sources.cost_exports.ExportReader` runs it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aifinops.domain import COST_DIMENSIONS, COST_ROW_COLUMNS, Basis
from aifinops.sources.export_schemas import ExportSchema

__all__ = [
    "KEY_COLUMNS",
    "NUMBER_PATTERN",
    "RAW_KEYS",
    "RESOURCE_TYPE_PATTERN",
    "ScanPlan",
    "resource_key",
    "rows_sql",
    "scan_plan",
    "sql_ident",
    "sql_str",
]

#: The grain of a stored row: the key columns of :data:`COST_ROW_COLUMNS`.
KEY_COLUMNS = COST_ROW_COLUMNS[:16]


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


#: The grain columns an export file can carry: the billed dimensions but resource_type, which is derived
#: from the resource id, plus the billing scope the file states (overlap checks).
RAW_KEYS: tuple[str, ...] = (
    "billing_day",
    "currency",
    *(d for d in COST_DIMENSIONS if d != "resource_type"),
    "tags",
    "billing_scope",
)


#: The resource type in a resource id: the namespace and type after the first ``/providers/``.
RESOURCE_TYPE_PATTERN = "/providers/([^/]+/[^/]+)"
_RESOURCE_TYPE = re.compile(RESOURCE_TYPE_PATTERN)


def resource_key(raw: str | None) -> tuple[str | None, str | None] | None:
    """The normal ``(resource_id, resource_type)`` of a resource id text, as the SQL of :func:`scan_plan`
    gives it, for an ASCII text (Python's and DuckDB's ``lower`` and regular expressions agree there); None
    for any other text, which the SQL reads. Export files hold hundreds of thousands of distinct ids: this
    reads them without a query per batch.

    >>> resource_key(" /subscriptions/S1/resourceGroups/RG/providers/Microsoft.Web/sites/App ")
    ('/subscriptions/s1/resourcegroups/rg/providers/microsoft.web/sites/app', 'microsoft.web/sites')
    """
    if raw is None:
        return None, None
    if not raw.isascii():
        return None
    text = raw.strip(" ")  # DuckDB's trim: spaces, not tabs or line ends
    if text in ("", "NULL", "null"):
        return None, None
    lowered = text.lower()
    found = _RESOURCE_TYPE.search(lowered)
    return lowered, found.group(1) if found else None


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
            f"nullif(regexp_extract({rid}, '{RESOURCE_TYPE_PATTERN}', 1), '') AS resource_type",
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
    return {f: normalized.get(f) or (f"{_text(col(f))} AS {f}",) for f in RAW_KEYS}


@dataclass(frozen=True, slots=True)
class ScanPlan:
    """The SQL pieces of one scan: how raw columns are read and how distinct key texts are normalized."""

    raw: str  # per-row SELECT list over the file
    keys: Mapping[str, tuple[str, ...]]  # per key field, SELECT items over its k_* column (one per value)
    row_keys: str  # per-row SELECT list over the file (error reporting only)
    numbers: str  # per-row cost and quantity text over the file (error reporting only)


def scan_plan(
    schema: ExportSchema, basis: Basis, *, default_currency: str | None, date_format: str | None
) -> ScanPlan:
    def col(name: str) -> str | None:
        return schema.column_for(name, basis)

    raw = [
        f"CAST({sql_ident(c)} AS VARCHAR) AS k_{f}" if (c := col(f)) else f"NULL::VARCHAR AS k_{f}"
        for f in RAW_KEYS
    ]
    raw += [
        f"CAST({sql_ident(c)} AS VARCHAR) AS {p}_t" if (c := col(name)) else f"NULL::VARCHAR AS {p}_t"
        for name, p in (("cost", "c"), ("quantity", "q"))
    ]
    consumed = (col("service_name") or "").lower() == "consumedservice"
    options = {"consumed_service": consumed, "default_currency": default_currency, "date_format": date_format}
    per_row = _key_exprs(col, **options)  # type: ignore[arg-type]
    return ScanPlan(
        raw=", ".join(raw),
        keys=_key_exprs(lambda f: f"k_{f}", **options),  # type: ignore[arg-type]
        row_keys=", ".join(e for exprs in per_row.values() for e in exprs),
        numbers=f"{_plain(_text(col('cost')))} AS cost_text, {_plain(_text(col('quantity')))} AS qty_text",
    )


#: A plain number as Azure writes it (an exponent only from scientific notation, "5.64902E-05").
NUMBER_PATTERN = r"[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?"


def _number(prefix: str) -> str:
    """Per-row SELECT items of a number text ``{prefix}_t`` as written: its value to 18 decimals and to
    half-away nanos (two casts of the text, both exact for texts with at most 18 decimals; casting the first
    decimal instead costs more than parsing the text twice), and the text itself for the rare texts the
    casts cannot be trusted with, read with ``Decimal`` and checked against :data:`NUMBER_PATTERN`
    instead: an exponent (its decimals are not counted here), more than 18 decimals, a billion units or
    more, an underscore (the cast reads "1_000") and texts that are not numbers at all. Absent values
    (NULL, empty, the literal NULL) stay null."""
    t = f"{prefix}_t"
    slow = (
        f"{prefix}_9 IS NULL OR contains({t}, '_') OR contains({t}, 'e') OR contains({t}, 'E') "
        f"OR length({t}) - strpos({t}, '.') > 18"
    )
    return (
        f"TRY_CAST({t} AS DECIMAL(38,18)) AS {prefix}_18, TRY_CAST({t} AS DECIMAL(18,9)) AS {prefix}_9, "
        f"CASE WHEN ({slow}) AND {t} NOT IN ('NULL', 'null') THEN {t} END AS {prefix}_exact"
    )


def rows_sql(source_sql: str, plan: ScanPlan) -> str:
    """One row out per source row: the raw key texts (``k_*``, normalized per distinct value afterwards by
    :mod:`aifinops.sources.export_batches`) and the cost and quantity read exactly, with no aggregation."""
    keys = ", ".join(f"k_{f}" for f in RAW_KEYS)
    return f"SELECT {keys}, {_number('c')}, {_number('q')} FROM (SELECT {plan.raw} FROM {source_sql})"
