"""Telemetry's own cost (``/api/telemetry-cost``): what the Log Analytics workspaces holding the gen-AI
telemetry cost, by table and by the app that sent it, and the price paid per ingested GB — the figures the
telemetry lever of the recommendations works from (:func:`telemetry_cost_document`).

Volumes are the ``loganalytics`` source's samples (billable MB per table from ``Usage``, billed bytes per
table and sender); charges are the workspace's billed Log Analytics / Azure Monitor / Application Insights
cost records. GB = 1000 MB, as billed (reference/log-analytics.md §5.1).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from aifinops.domain import Basis, from_nanos, plain, to_nanos
from aifinops.engine.telemetry_cost import (
    SenderVolume,
    TableVolume,
    TelemetryCharge,
    TelemetryLine,
    allocate_telemetry_cost,
)
from aifinops.sources.telemetry_logs import BILLABLE_MB, BILLED_BYTES
from aifinops.store import Store
from aifinops.store.cost_queries import read_cost_records
from aifinops.store.inventory_queries import read_inventory
from aifinops.store.metric_sample_queries import read_metric_samples

__all__ = ["TELEMETRY_METER_CATEGORIES", "telemetry_cost_document", "telemetry_lines"]

#: Meter categories telemetry is billed under (log-analytics.md §5.2).
TELEMETRY_METER_CATEGORIES = frozenset(
    {"log analytics", "azure monitor", "application insights", "insight and analytics"}
)
_MB_PER_GB = Decimal(1000)


def _decimal(value: Decimal) -> str:
    """Six decimals at most, no trailing zeros (volumes and prices per GB are measures, not money)."""
    return plain(round(value, 6).normalize())


def _volumes(store: Store, start: dt.date, end: dt.date) -> tuple[list[TableVolume], list[SenderVolume]]:
    begin = dt.datetime.combine(start, dt.time(), dt.UTC)
    until = dt.datetime.combine(end, dt.time(), dt.UTC)
    samples = [s for s in read_metric_samples(store, begin, until) if s.metric in (BILLABLE_MB, BILLED_BYTES)]
    # A workspace is configured by GUID or ARM id; its Usage rows name its ARM id (``ResourceUri``).
    workspace = {
        s.resource_id: s.dimensions.get("workspace") or s.resource_id
        for s in samples
        if s.metric == BILLABLE_MB
    }
    tables = [
        TableVolume(workspace[s.resource_id], s.ts.date(), s.dimensions.get("data_type", ""), s.value)
        for s in samples
        if s.metric == BILLABLE_MB
    ]
    senders = [
        SenderVolume(
            workspace.get(s.resource_id, s.resource_id),
            s.ts.date(),
            s.dimensions.get("data_type", ""),
            s.dimensions.get("resource", ""),
            s.value,
        )
        for s in samples
        if s.metric == BILLED_BYTES and s.dimensions.get("resource")
    ]
    return tables, senders


def telemetry_lines(
    store: Store, start: dt.date, end: dt.date, *, basis: Basis = Basis.ACTUAL
) -> tuple[list[TelemetryLine], list[TableVolume], list[SenderVolume]]:
    """The telemetry charges of the billing days ``[start, end)`` on ``basis`` split by table and sender,
    with the volumes they were split by."""
    tables, senders = _volumes(store, start, end)
    workspaces = {t.workspace for t in tables}
    charges = [
        TelemetryCharge(
            r.resource_id or "",
            r.billing_day,
            r.meter_name or "",
            r.currency,
            to_nanos(r.cost),
        )
        for r in read_cost_records(store, start, end, basis=basis)
        if r.resource_id in workspaces and (r.meter_category or "").lower() in TELEMETRY_METER_CATEGORIES
    ]
    return allocate_telemetry_cost(tables, senders, charges), tables, senders


def _gigabytes(
    tables: list[TableVolume], senders: list[SenderVolume]
) -> dict[tuple[str, str, str | None], Decimal]:
    """GB per (workspace, table, sender): a table's volume of a day split by its senders' billed bytes."""
    sent: dict[tuple[str, dt.date, str], dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for s in senders:
        sent[(s.workspace, s.day, s.data_type)][s.resource] += s.bytes
    out: dict[tuple[str, str, str | None], Decimal] = defaultdict(Decimal)
    for t in tables:
        by = sent.get((t.workspace, t.day, t.data_type))
        total = sum(by.values(), Decimal(0)) if by else Decimal(0)
        if not by or total <= 0:
            out[(t.workspace, t.data_type, None)] += t.megabytes / _MB_PER_GB
            continue
        for resource, size in by.items():
            out[(t.workspace, t.data_type, resource)] += t.megabytes * size / total / _MB_PER_GB
    return out


def telemetry_cost_document(
    store: Store, start: dt.date, end: dt.date, *, basis: Basis = Basis.ACTUAL
) -> dict[str, Any]:
    """Per workspace: billable GB, cost and price per ingested GB by currency; per table and sender (with
    the sender's ``app`` tag from the inventory): GB and cost by meter kind (ingestion, retention, other)."""
    lines, tables, senders = telemetry_lines(store, start, end, basis=basis)
    apps = {r.resource_id: r.tags.get("app") for r in read_inventory(store)}
    cost: dict[tuple[str, str, str | None], dict[tuple[str, str], int]] = defaultdict(
        lambda: defaultdict(int)
    )
    for line in lines:
        cost[(line.workspace, line.data_type or "", line.resource)][(line.kind, line.currency)] += (
            line.cost_nanos
        )
    gb = _gigabytes(tables, senders)
    items = [
        {
            "workspace": key[0],
            "data_type": key[1] or None,
            "resource": key[2],
            "app": apps.get(key[2]) if key[2] else None,
            "gb": _decimal(gb.get(key, Decimal(0))),
            "costs": [
                {"kind": k, "currency": c, "amount": plain(from_nanos(n)), "basis": basis.value}
                for (k, c), n in sorted(cost.get(key, {}).items())
            ],
        }
        for key in sorted(set(gb) | set(cost), key=lambda k: (k[0], k[1], k[2] or ""))
    ]
    return {
        "basis": basis.value,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "workspaces": _workspace_totals(lines, tables),
        "items": items,
    }


def _workspace_totals(lines: list[TelemetryLine], tables: list[TableVolume]) -> list[dict[str, Any]]:
    volume: dict[str, Decimal] = defaultdict(Decimal)
    for t in tables:
        volume[t.workspace] += t.megabytes / _MB_PER_GB
    spent: dict[str, dict[tuple[str, str], int]] = defaultdict(lambda: defaultdict(int))
    for line in lines:
        spent[line.workspace][(line.kind, line.currency)] += line.cost_nanos
    out = []
    for ws in sorted(set(volume) | set(spent)):
        gb = volume.get(ws, Decimal(0))
        currencies = sorted({c for _, c in spent[ws]})
        out.append(
            {
                "workspace": ws,
                "billable_gb": _decimal(gb),
                "cost": [
                    {
                        "currency": c,
                        "amount": plain(from_nanos(sum(n for (_, cc), n in spent[ws].items() if cc == c))),
                    }
                    for c in currencies
                ],
                "ingestion_price_per_gb": [
                    {
                        "currency": c,
                        "amount": _decimal(from_nanos(spent[ws].get(("ingestion", c), 0)) / gb),
                    }
                    for c in currencies
                    if gb > 0
                ],
            }
        )
    return out
