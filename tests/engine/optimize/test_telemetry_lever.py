"""The telemetry lever on a workload built by hand: retention and sampling findings, priced by the what-if."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from aifinops.engine.optimize.finding import OptimizeSettings
from aifinops.engine.optimize.recommend import recommend
from aifinops.engine.optimize.whatif import what_if
from aifinops.engine.optimize.workload import CallGroup, Cell, Meters, TelemetryGroup, Workload

T = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
USD = 10**9


def _workload(traces_gb: str, retention_usd: int) -> Workload:
    calls = CallGroup(Cell("qa", kind="chat"), Meters(Decimal(1), None, Decimal(4)), 100_000, 10**8, 0, 10**7)
    telemetry = [
        TelemetryGroup(
            "ws", "AppTraces", "ingestion", "USD", Decimal(traces_gb), Decimal(traces_gb) * 2 * USD
        ),
        TelemetryGroup("ws", "ContainerLogV2", "ingestion", "USD", Decimal(40), Decimal(80 * USD)),
    ]
    if retention_usd:
        telemetry.append(
            TelemetryGroup(
                "ws", "ContainerLogV2", "retention", "USD", Decimal(40), Decimal(retention_usd * USD)
            )
        )
    return Workload(T, T + dt.timedelta(days=31), (calls,), (), telemetry=tuple(telemetry))


def test_retention_beyond_the_included_period_is_cut_and_priced_at_its_bill() -> None:
    recs = recommend(_workload("0.2", 30), OptimizeSettings())
    [rec] = [r for r in recs if r.finding.lever == "telemetry"]
    assert rec.finding.scope == {"workspace": "ws", "table": "ContainerLogV2"}
    assert dict(rec.finding.part.settings) == {"retention_days": 31}
    assert rec.savings == {"USD": Decimal(30 * USD)}
    assert what_if(_workload("0.2", 30), [rec.finding.part], rec.finding.scope).saved() == rec.savings


def test_traces_of_a_few_kb_per_call_are_left_alone_and_verbose_ones_sampled() -> None:
    assert recommend(_workload("0.5", 0), OptimizeSettings()) == []  # 5 KB per call < 2 × 3 KB
    [rec] = recommend(_workload("3", 0), OptimizeSettings())  # 30 KB per call
    assert dict(rec.finding.part.settings) == {"sampling_percent": 10}
    assert rec.savings == {"USD": Decimal("5.4") * USD}  # 90 % of 6 USD
    assert rec.stacked_savings == rec.savings
