"""Telemetry's own cost by table and by the app that sent it: a workspace's Log Analytics / Azure Monitor
charges of a day split over its tables by billable volume (the ``Usage`` table), then each table's share
over the resources that sent its rows (their billed bytes). Exact: the lines of a charge sum to it.

Pure: volumes and charges in, lines out. Meter names: reference/log-analytics.md §5.2.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from aifinops.engine.allocation import split_largest_remainder

__all__ = [
    "SenderVolume",
    "TableVolume",
    "TelemetryCharge",
    "TelemetryLine",
    "allocate_telemetry_cost",
    "meter_kind",
]

_MB_WEIGHT = Decimal(1000)  # weights are whole numbers: kilobytes of the MB the Usage table reports


@dataclass(frozen=True, slots=True)
class TableVolume:
    """Billable megabytes one table of one workspace took in on one day (``Usage``)."""

    workspace: str
    day: dt.date
    data_type: str
    megabytes: Decimal


@dataclass(frozen=True, slots=True)
class SenderVolume:
    """Billed bytes of one table one resource sent to one workspace on one day."""

    workspace: str
    day: dt.date
    data_type: str
    resource: str
    bytes: Decimal


@dataclass(frozen=True, slots=True)
class TelemetryCharge:
    """One billed charge of a workspace on one day (nanos of its currency)."""

    workspace: str
    day: dt.date
    meter_name: str
    currency: str
    cost_nanos: int


@dataclass(frozen=True, slots=True)
class TelemetryLine:
    """A part of a charge: its table (None when the day has no usage recorded), its sender (None when the
    table's senders are not known) and the kind of meter."""

    workspace: str
    day: dt.date
    data_type: str | None
    resource: str | None
    kind: str
    currency: str
    cost_nanos: int


def meter_kind(meter_name: str) -> str:
    """``ingestion``, ``retention`` or ``other`` for a Log Analytics / Azure Monitor meter.

    >>> meter_kind("Analytics Logs Data Ingestion"), meter_kind("Pay-as-you-go Data Retention")
    ('ingestion', 'retention')
    >>> meter_kind("100 GB Commitment Tier Capacity Reservation"), meter_kind("Search Queries Scanned")
    ('ingestion', 'other')
    """
    name = meter_name.lower()
    if any(w in name for w in ("retention", "archive")):
        return "retention"
    if any(
        w in name for w in ("ingestion", "commitment tier", "data overage", "data included", "standard node")
    ):
        return "ingestion"
    return "other"


def _weights(values: Sequence[Decimal]) -> list[int]:
    return [max(int(v * _MB_WEIGHT), 0) for v in values]


def allocate_telemetry_cost(
    volumes: Iterable[TableVolume], senders: Iterable[SenderVolume], charges: Iterable[TelemetryCharge]
) -> list[TelemetryLine]:
    """Split each charge over its workspace's tables of that day by billable volume, and each table's part
    over the resources that sent it by billed bytes (retention follows the same shares: an approximation,
    retention bills what is kept, which follows what came in)."""
    tables: dict[tuple[str, dt.date], dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for v in volumes:
        tables[(v.workspace, v.day)][v.data_type] += v.megabytes
    sent: dict[tuple[str, dt.date, str], dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for s in senders:
        sent[(s.workspace, s.day, s.data_type)][s.resource] += s.bytes
    lines: list[TelemetryLine] = []
    for charge in charges:
        kind = meter_kind(charge.meter_name)
        day = tables.get((charge.workspace, charge.day), {})
        names = sorted(t for t, mb in day.items() if mb > 0)
        weights = _weights([day[t] for t in names])
        if not names or sum(weights) <= 0:
            lines.append(_line(charge, None, None, kind, charge.cost_nanos))
            continue
        for table, part in zip(names, split_largest_remainder(charge.cost_nanos, weights), strict=True):
            lines += _by_sender(charge, table, kind, part, sent.get((charge.workspace, charge.day, table)))
    return lines


def _by_sender(
    charge: TelemetryCharge,
    table: str,
    kind: str,
    nanos: int,
    senders: dict[str, Decimal] | None,
) -> list[TelemetryLine]:
    names = sorted(r for r, b in (senders or {}).items() if b > 0)
    weights = [int(senders[r]) for r in names] if senders else []
    if not names or sum(weights) <= 0:
        return [_line(charge, table, None, kind, nanos)]
    parts = split_largest_remainder(nanos, weights)
    return [_line(charge, table, r, kind, part) for r, part in zip(names, parts, strict=True)]


def _line(
    charge: TelemetryCharge, table: str | None, resource: str | None, kind: str, nanos: int
) -> TelemetryLine:
    return TelemetryLine(charge.workspace, charge.day, table, resource, kind, charge.currency, nanos)
