"""Telemetry's own volume as usage samples: billable MB per table from the workspace ``Usage`` table, and
billed bytes per table and sending resource (reference/log-analytics.md §5).

Pure: rows of :data:`~aifinops.sources.log_queries.TELEMETRY_USAGE` and
:data:`~aifinops.sources.log_queries.TELEMETRY_BILLED` in, samples out. Samples are stored under the
configured workspace (their ``resource_id``); the workspace's ARM id (``ResourceUri``) and the sending
resource (``_ResourceId``) are kept as dimensions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from aifinops.domain import MetricSample
from aifinops.sources.log_rows import RowIssues, cell_text, utc

__all__ = ["BILLABLE_MB", "BILLED_BYTES", "billed_samples", "usage_samples"]

#: Sample metric: billable megabytes (``Usage.Quantity``, MB; the bill counts GB = 1000 MB, §5.1).
BILLABLE_MB = "Usage.BillableMB"
#: Sample metric: billed bytes (``_BilledSize``) of one table sent by one resource.
BILLED_BYTES = "Usage.BilledBytes"


def _sample(
    row: Mapping[str, Any],
    *,
    column: str,
    metric: str,
    unit: str,
    resource_id: str,
    dimensions: Mapping[str, str | None],
    issues: RowIssues,
) -> MetricSample | None:
    ts = utc(row.get("TimeGenerated"))
    try:
        value = Decimal(str(row.get(column)))
    except InvalidOperation:
        value = Decimal(-1)
    if ts is None or not value.is_finite() or value < 0 or cell_text(row.get("DataType")) is None:
        issues.add(f"without time, DataType or a {column} ≥ 0", f"{dict(row)}")
        return None
    return MetricSample(
        resource_id=resource_id.lower(),
        metric=metric,
        ts=ts,
        value=value,
        aggregation="total",
        unit=unit,
        interval="PT1H",
        dimensions=MappingProxyType({k: v for k, v in dimensions.items() if v}),
    )


def _samples(
    rows: Iterable[Mapping[str, Any]],
    *,
    column: str,
    metric: str,
    unit: str,
    resource_id: str,
    id_column: str,
    id_dimension: str,
    issues: RowIssues,
) -> list[MetricSample]:
    out = []
    for row in rows:
        named = cell_text(row.get(id_column))
        dims = {"data_type": cell_text(row.get("DataType")), id_dimension: named.lower() if named else None}
        if column == "Quantity":
            dims["solution"] = cell_text(row.get("Solution"))
        sample = _sample(
            row,
            column=column,
            metric=metric,
            unit=unit,
            resource_id=resource_id,
            dimensions=dims,
            issues=issues,
        )
        if sample is not None:
            out.append(sample)
    return out


def usage_samples(
    rows: Iterable[Mapping[str, Any]], *, resource_id: str, issues: RowIssues
) -> list[MetricSample]:
    """Billable MB per hour, table (``data_type``) and solution of one workspace (``workspace``: its ARM
    id, from ``ResourceUri``, lower-cased)."""
    return _samples(
        rows,
        column="Quantity",
        metric=BILLABLE_MB,
        unit="MB",
        resource_id=resource_id,
        id_column="ResourceUri",
        id_dimension="workspace",
        issues=issues,
    )


def billed_samples(
    rows: Iterable[Mapping[str, Any]], *, resource_id: str, issues: RowIssues
) -> list[MetricSample]:
    """Billed bytes per hour, table and sending resource (``resource``, lower-cased)."""
    return _samples(
        rows,
        column="BilledBytes",
        metric=BILLED_BYTES,
        unit="Bytes",
        resource_id=resource_id,
        id_column="_ResourceId",
        id_dimension="resource",
        issues=issues,
    )
