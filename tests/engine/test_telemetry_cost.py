"""Telemetry cost split by table and sender: exact, and proportional to volume."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from aifinops.engine.telemetry_cost import (
    SenderVolume,
    TableVolume,
    TelemetryCharge,
    allocate_telemetry_cost,
    meter_kind,
)

DAY = dt.date(2026, 10, 5)


@given(
    cost=st.integers(min_value=-(10**12), max_value=10**12),
    tables=st.dictionaries(st.sampled_from(["A", "B", "C"]), st.integers(0, 10**6), max_size=3),
    senders=st.dictionaries(st.sampled_from(["r1", "r2"]), st.integers(0, 10**9), max_size=2),
)
def test_the_lines_of_a_charge_sum_to_it_exactly(
    cost: int, tables: dict[str, int], senders: dict[str, int]
) -> None:
    volumes = [TableVolume("w", DAY, t, Decimal(mb) / 7) for t, mb in tables.items()]
    sent = [SenderVolume("w", DAY, "A", r, Decimal(b)) for r, b in senders.items()]
    lines = allocate_telemetry_cost(volumes, sent, [TelemetryCharge("w", DAY, "Data Ingestion", "USD", cost)])
    assert sum(line.cost_nanos for line in lines) == cost


def test_a_day_without_usage_keeps_its_charge_on_the_workspace() -> None:
    (line,) = allocate_telemetry_cost([], [], [TelemetryCharge("w", DAY, "Data Archive", "EUR", 10)])
    assert (line.data_type, line.resource, line.kind, line.cost_nanos) == (None, None, "retention", 10)


def test_meter_kinds() -> None:
    assert meter_kind("Pay-as-you-go Data Ingestion") == "ingestion"
    assert meter_kind("Basic Logs Data Ingestion") == "ingestion"
    assert meter_kind("Long-term Retention") == "retention"
    assert meter_kind("Data Restore") == "other"
