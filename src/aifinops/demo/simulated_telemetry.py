"""The Log Analytics side of a simulated month: what the workspace holding the gen-AI telemetry took in
(``Usage`` billable MB per table and day, as the ``loganalytics`` source records them) and what it was billed
(Analytics ingestion at 2.30 USD per GB, optimization-facts §6; the 5 GB free grant left out).

Each model call (Batch jobs aside) writes ``TRACES_KB`` of traces and ``DEPENDENCIES_KB`` of dependencies;
``Waste.telemetry`` adds that many KB of verbose traces per call — the waste, tagged by its cost in
``waste_nanos``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

from aifinops.demo.simulation import Waste, arm_id
from aifinops.domain import Basis, CostRecord, DeploymentType, EventKind, MetricSample, UsageEvent
from aifinops.sources.telemetry_logs import BILLABLE_MB

__all__ = ["DEPENDENCIES_KB", "GB_PRICE", "TRACES_KB", "WORKSPACE", "SimulatedTelemetry", "telemetry_month"]

WORKSPACE = arm_id("Microsoft.OperationalInsights/workspaces", "log-genai-prod")
TRACES_KB = 3
DEPENDENCIES_KB = 2
GB_PRICE = Decimal("2.30")
_MODEL_KINDS = frozenset({EventKind.CHAT, EventKind.RESPONSES, EventKind.COMPLETION})
_BATCH = frozenset({DeploymentType.GLOBAL_BATCH, DeploymentType.DATA_ZONE_BATCH})  # jobs, not traced calls


@dataclass(frozen=True, slots=True)
class SimulatedTelemetry:
    samples: tuple[MetricSample, ...]
    records: tuple[CostRecord, ...]
    waste_nanos: int  # the cost of the verbose traces


def telemetry_month(events: Iterable[UsageEvent], waste: Waste) -> SimulatedTelemetry:
    """Daily volumes and bill of the workspace for the model calls among ``events``."""
    calls = Counter(e.ts.date() for e in events if e.kind in _MODEL_KINDS and e.deployment_type not in _BATCH)
    samples, records, wasted = [], [], Decimal(0)
    for day, n in sorted(calls.items()):
        ts = dt.datetime.combine(day, dt.time(), dt.UTC)
        for table, kb in (("AppTraces", TRACES_KB + waste.telemetry), ("AppDependencies", DEPENDENCIES_KB)):
            mb = Decimal(n * kb) / 1000
            samples.append(
                MetricSample(
                    resource_id=WORKSPACE,
                    metric=BILLABLE_MB,
                    ts=ts,
                    value=mb,
                    aggregation="total",
                    unit="MB",
                    dimensions=MappingProxyType({"data_type": table, "workspace": WORKSPACE}),
                )
            )
        gb = Decimal(n * (TRACES_KB + waste.telemetry + DEPENDENCIES_KB)) / 1_000_000
        records.append(
            CostRecord(
                day,
                Basis.ACTUAL,
                (gb * GB_PRICE).quantize(Decimal("0.000000001")),
                "USD",
                resource_id=WORKSPACE,
                meter_category="Log Analytics",
                meter_name="Analytics Logs Data Ingestion",
                quantity=gb,
                unit="1 GB",
            )
        )
        wasted += Decimal(n * waste.telemetry) / 1_000_000 * GB_PRICE
    return SimulatedTelemetry(tuple(samples), tuple(records), int(wasted * 1_000_000_000))
