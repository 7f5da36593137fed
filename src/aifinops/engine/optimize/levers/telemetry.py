"""Telemetry: the Log Analytics / Application Insights bill of the workspaces holding the gen-AI telemetry.

Detection: per workspace and table, from the bill (basis actual) and the ``Usage`` volumes: a table
Application Insights samples (traces, dependencies, requests, events, page views, exceptions) taking in at
least twice ``telemetry_kb_per_call`` per model call of the window — verbose logging of prompts and answers
— gets fixed-rate sampling down to that size (``sampling_percent`` = ⌈100 × target ÷ actual⌉); a table billed
for retention gets its retention cut to the period the plan includes (31 days; 90 for Application Insights
tables). Saving: the table's ingestion and retention charges × (1 − percent ÷ 100), and its retention charges
when the retention is cut. A table plan (basic, auxiliary) is priced in the what-if at the ratio of the
plans' list prices (optimization-facts §6), not proposed: the bill does not say whether a table is queried.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import replace
from decimal import Decimal

from aifinops.engine.optimize.finding import MODEL_KINDS, Finding, OptimizeSettings, scope_label
from aifinops.engine.optimize.scenario import ScenarioPart
from aifinops.engine.optimize.workload import TelemetryGroup, Workload

__all__ = ["ID", "PLAN_PRICE", "SAMPLED_TABLES", "apply", "detect", "included_days"]

ID = "telemetry"
#: Tables of workspace-based Application Insights that SDK / OpenTelemetry sampling thins (metrics never).
SAMPLED_TABLES = frozenset(
    {"AppTraces", "AppDependencies", "AppRequests", "AppEvents", "AppPageViews", "AppExceptions"}
)
#: Ingestion list price per GB of each table plan relative to one another (East US: 2.30, 0.50, 0.05 USD).
PLAN_PRICE = {"analytics": Decimal("2.30"), "basic": Decimal("0.50"), "auxiliary": Decimal("0.05")}
_KB_PER_GB = Decimal(1_000_000)


def included_days(table: str) -> int:
    """Days of interactive retention the Analytics plan includes (Application Insights tables: 90).

    >>> included_days("AppTraces"), included_days("ContainerLogV2")
    (90, 31)
    """
    return 90 if table.startswith("App") else 31


def _tables(workload: Workload) -> dict[tuple[str, str, str], dict[str, TelemetryGroup]]:
    out: dict[tuple[str, str, str], dict[str, TelemetryGroup]] = defaultdict(dict)
    for t in workload.telemetry:
        out[(t.workspace, t.table, t.currency)][t.kind] = t
    return dict(out)


def detect(workload: Workload, settings: OptimizeSettings) -> list[Finding]:
    calls = sum(g.calls for g in workload.groups if g.cell.kind in MODEL_KINDS)
    target = settings.telemetry_kb_per_call
    found = []
    for (workspace, table, currency), kinds in sorted(_tables(workload).items()):
        ingestion, retention = kinds.get("ingestion"), kinds.get("retention")
        gb = max((t.gb for t in kinds.values()), default=Decimal(0))
        kb_per_call = gb * _KB_PER_GB / calls if calls else None
        change: dict[str, int] = {}
        evidence = []
        if (
            table in SAMPLED_TABLES
            and ingestion is not None
            and ingestion.cost_nanos > 0
            and kb_per_call is not None
            and kb_per_call >= 2 * target
        ):
            change["sampling_percent"] = max(1, math.ceil(100 * target / kb_per_call))
            evidence.append(
                f"{table} took in {gb:.2f} GB for {calls} model calls: {kb_per_call:.1f} KB per call, "
                f"{kb_per_call / target:.1f}× the {target} KB a call's spans need; ingestion billed "
                f"{ingestion.cost_nanos / 10**9:.2f} {currency} (actual)"
            )
        if retention is not None and retention.cost_nanos > 0:
            change["retention_days"] = included_days(table)
            evidence.append(
                f"{table} was billed {retention.cost_nanos / 10**9:.2f} {currency} (actual) for retention "
                f"beyond the {included_days(table)} days the plan includes"
            )
        if not change:
            continue
        scope = {"workspace": workspace, "table": table}
        actions = []
        if "sampling_percent" in change:
            actions.append(f"sample {table} at {change['sampling_percent']} % (fixed-rate sampling)")
        if "retention_days" in change:
            actions.append(f"set {table}'s retention to {change['retention_days']} days")
        found.append(
            Finding(
                lever=ID,
                scope=scope,
                evidence=tuple(evidence),
                figures={
                    "gb": str(round(gb, 3)),
                    "model_calls": calls,
                    "kb_per_call": None if kb_per_call is None else str(round(kb_per_call, 1)),
                    "ingestion": str((ingestion.cost_nanos if ingestion else 0) / 10**9),
                    "retention": str((retention.cost_nanos if retention else 0) / 10**9),
                    "currency": currency,
                    "basis": "actual",
                },
                samples=(),
                action=f"in {scope_label(scope)}: " + "; ".join(actions),
                policy={"telemetry": {"table": table, **change}},
                part=ScenarioPart(ID, scope, change),
                confidence="medium",
                assumptions=(
                    "sampled telemetry keeps every metric and enough traces to investigate a failure",
                    "charges scale with the GB taken in; retention within the included period is free",
                ),
                effort="low",
                risk="low",
            )
        )
    return found


def _changed(t: TelemetryGroup, settings: dict[str, object]) -> TelemetryGroup:
    percent = settings.get("sampling_percent")
    if isinstance(percent, int) and t.kind in ("ingestion", "retention"):
        share = Decimal(percent) / 100
        t = replace(t, gb=t.gb * share, cost_nanos=t.cost_nanos * share)
    plan = settings.get("plan")
    if isinstance(plan, str) and plan != t.plan:
        cost = t.cost_nanos * PLAN_PRICE[plan] / PLAN_PRICE[t.plan] if t.kind == "ingestion" else t.cost_nanos
        t = replace(t, plan=plan, cost_nanos=cost)
    days = settings.get("retention_days")
    if isinstance(days, int) and t.kind == "retention" and days <= included_days(t.table):
        t = replace(t, cost_nanos=Decimal(0))
    return t


def apply(part: ScenarioPart, workload: Workload) -> Workload:
    settings = dict(part.settings)
    return replace(
        workload,
        telemetry=tuple(_changed(t, settings) if t.matches(part.scope) else t for t in workload.telemetry),
    )
