"""The financial half of ``aifinops demo``: the month's Azure bill collected, allocated, budgeted and watched.

After the simulated usage is stored, :func:`run_demo_finance` seeds the Azure emulator with a bill derived
from that usage, runs the real collector against it (httpx + azure-identity over the emulator's transport),
stores a default allocation rule set and allocates actual and amortized cost, evaluates two demo budgets at
mid-month and at month end with alerts delivered to a signed local webhook, and looks for anomalies. Every
step replaces what it wrote before, so running it twice changes no totals.
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import SecretStr

from aifinops.config import AzureSettings, LogsSettings, Settings
from aifinops.demo.bill import DailyUsage, build_bill, daily_usage
from aifinops.demo.budgets import demo_anomalies, run_demo_budgets
from aifinops.demo.estate import PTU_DEPLOYMENT, PTU_UNITS, SUBSCRIPTION, DemoResource, estate, inventory
from aifinops.demo.incident import inject_agent_loop
from aifinops.demo.provisioned import estimate_demo_ptu
from aifinops.domain import Basis, CostRecord, from_nanos
from aifinops.emulator import EmulatorState, SyncASGITransport, azure_transport, create_emulator
from aifinops.engine.allocation import AllocationResult, Bucket
from aifinops.engine.allocation_rules import AllocationRule, parse_rules
from aifinops.engine.kpis import TaskKpi
from aifinops.errors import SourceError
from aifinops.jobs.allocate import allocate_period
from aifinops.jobs.collect import build_collector
from aifinops.jobs.provisioned import DeploymentEstimate
from aifinops.queries.kpis import read_day_kpis
from aifinops.sources.azure_auth import build_credential
from aifinops.store import Store
from aifinops.store.allocations import AllocationStore
from aifinops.store.cost_queries import read_cost_records, read_cost_totals
from aifinops.store.inventory_queries import read_inventory

if TYPE_CHECKING:
    from rich.progress import Progress

__all__ = [
    "PTU_RULE",
    "DemoFinanceReport",
    "FullyLoaded",
    "demo_rules",
    "emulator_azure",
    "month_days",
    "ptu_capacity",
    "run_demo_finance",
]

_AUTHORITY = "https://login.emulator.local"
_TENANT, _CLIENT = "aifinops-demo-tenant", "aifinops-demo-collector"
_PTU_TARGET_UTILISATION = Decimal("0.45")
_STEPS = 6
PTU_RULE = "ptu-claims-triage"


@dataclass(frozen=True, slots=True)
class FullyLoaded:
    """Cost per successful task of one use case, per currency: estimated, actual and amortized."""

    use_case: str
    succeeded: int
    estimated: Mapping[str, Decimal]
    actual: Mapping[str, Decimal]
    amortized: Mapping[str, Decimal]


@dataclass(frozen=True, slots=True)
class DemoFinanceReport:
    """The figures the demo prints; amounts per currency."""

    period: str
    bill_actual: Mapping[str, Decimal]  # what the emulator billed
    actual: Mapping[str, Decimal]  # what the collector stored
    amortized: Mapping[str, Decimal]
    allocated: Mapping[str, Decimal]  # actual basis
    idle_ptu: Mapping[str, Decimal]  # actual basis
    purchases: Mapping[str, Decimal]  # actual basis: the PTU reservation, charged through the amortized view
    purchases_named: tuple[str, ...]  # what was bought, as the allocation names it
    unallocated: Mapping[str, Decimal]  # actual basis
    unallocated_reasons: tuple[str, ...]
    idle_ptu_amortized: Mapping[str, Decimal]
    unallocated_amortized: Mapping[str, Decimal]  # only untagged resources
    ptu_utilisation: Decimal | None
    ptu_estimate: DeploymentEstimate  # estimated basis: the PTU hours split over their calls, idle apart
    fully_loaded: tuple[FullyLoaded, ...]
    budgets_crossed: tuple[str, ...]  # "budget threshold (as of …)"
    alerts_fired: int  # new this run (a second run fires none: each threshold fires once per period)
    alerts_delivered: int  # received by the local webhook with a valid signature, this run
    anomalies: tuple[str, ...]
    incident_day: dt.date


def month_days(year: int, month: int) -> tuple[dt.date, dt.date]:
    """The billing days of a calendar month, end exclusive."""
    return dt.date(year, month, 1), dt.date(year + (month == 12), month % 12 + 1, 1)


def _sums(records: list[CostRecord], basis: Basis) -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(Decimal)
    for r in records:
        if r.basis is basis:
            out[r.currency] += r.cost
    return dict(out)


def _collect(
    store: Store,
    settings: Settings,
    *,
    bill: list[CostRecord],
    est: Mapping[str, DemoResource],
    start: dt.date,
    end: dt.date,
) -> None:
    """Serve ``bill`` from the emulator and collect the month through the real clients and collector."""
    secret = secrets.token_urlsafe(24)
    state = EmulatorState(
        cost_records=bill,
        resources=inventory(est),
        client_secrets={_CLIENT: secret},
        today=end + dt.timedelta(days=4),  # the month is closed: queries are not clamped to a partial day
    )
    azure = emulator_azure(
        settings.azure,
        client_id=_CLIENT,
        secret=secret,
        cost_scopes=[f"subscriptions/{SUBSCRIPTION}"],
        subscriptions=[SUBSCRIPTION],
    )
    with httpx.Client(transport=SyncASGITransport(create_emulator(state)), timeout=60.0) as http:
        credential = build_credential(azure, transport=azure_transport(http))
        collector = build_collector(
            settings.model_copy(update={"azure": azure}), store, http=http, credential=credential
        )
        summary = collector.collect(start, end, sources=["cost_management", "inventory"])
    if not summary.ok:
        raise SourceError("demo collection from the Azure emulator failed: " + "; ".join(summary.errors))


def emulator_azure(azure: AzureSettings, *, client_id: str, secret: str, **sources: Any) -> AzureSettings:
    """``azure`` signing in to the emulator's Entra ID with a client secret and collecting only what
    ``sources`` configures (every other source's setting emptied)."""
    update: dict[str, Any] = {
        "credential": "client_secret",
        "tenant_id": _TENANT,
        "client_id": client_id,
        "client_secret": SecretStr(secret),
        "authority_host": _AUTHORITY,
        "cost_scopes": [],
        "cost_group_tags": [],
        "subscriptions": [],
        "monitor_resources": [],
        "export_paths": [],
        "export_blob_url": None,
        "logs": LogsSettings(),
    }
    return azure.model_copy(update={**update, **sources})


def ptu_capacity(usage: DailyUsage) -> int:
    """Tokens one PTU serves per hour, sized to the simulated volume so that the deployment runs at about
    45 % of its capacity on an average day: a deployment sized for peaks, idle more than half the time."""
    used = [n for n in usage.ptu_tokens.values() if n]
    mean_daily = Decimal(sum(used)) / max(len(used), 1)
    return max(1, math.ceil(mean_daily / (_PTU_TARGET_UTILISATION * PTU_UNITS * 24)))


def _ptu_rule(usage: DailyUsage, ptu: DemoResource) -> dict[str, Any]:
    """Provisioned split of the PTU account by tokens, the unused capacity kept visible as idle."""
    per_ptu_hour = ptu_capacity(usage)
    return {
        "name": PTU_RULE,
        "method": "provisioned",
        "match": {"resource_ids": [ptu.resource_id]},
        "driver": "tokens",
        "usage": {"where": {"deployment": [PTU_DEPLOYMENT]}, "scope": "all"},
        "capacity_per_quantity": per_ptu_hour,
        "idle": "visible",
    }


def _token_rules(usage: DailyUsage, ptu: DemoResource) -> list[dict[str, Any]]:
    """Each pay-as-you-go account shared over its own deployments' usage, by estimated cost.

    The simulated events carry no resource id, so a rule names its account's deployments (found from the
    region of their events) and reads usage of every resource (scope ``all``) filtered to them.
    """
    return [
        {
            "name": f"tokens-{account.rsplit('/', 1)[-1]}",
            "method": "shared",
            "match": {"resource_ids": [account]},
            "driver": "estimated_cost",
            "usage": {"where": {"deployment": list(deployments)}, "scope": "all"},
        }
        for account, deployments in usage.deployments.items()
        if account != ptu.resource_id
    ]


def _service_rules(est: Mapping[str, DemoResource], owners: Mapping[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "name": "ai-search-by-retrievals",
            "method": "shared",
            "match": {"resource_ids": [est["search"].resource_id]},
            "driver": "requests",
            "usage": {"where": {"kind": ["retrieval"]}, "scope": "all"},
        },
        {
            # Cost Management rows grouped by resource and meter carry no tags: the owners come from the
            # Resource Graph tags collected beside them; a tag on the row itself would win.
            "name": "app-hosting-by-app-tag",
            "method": "direct",
            "match": {
                "resource_ids": [
                    "*/microsoft.app/containerapps/*",
                    "*/microsoft.apimanagement/service/*",
                    "*/microsoft.storage/storageaccounts/*",
                ]
            },
            "owner_tags": {"app": "app"},
            "inventory": {rid: {"app": app} for rid, app in sorted(owners.items())},
        },
        {
            "name": "log-analytics-by-requests",
            "method": "shared",
            "match": {"resource_ids": [est["logs"].resource_id]},
            "driver": "requests",
            "usage": {"scope": "all"},
        },
    ]


def demo_rules(
    usage: DailyUsage, est: Mapping[str, DemoResource], owners: Mapping[str, str]
) -> list[AllocationRule]:
    """The demo's default rule set, in order: PTU capacity, token meters per account, AI Search by
    retrievals, app hosting and storage direct by ``app`` tag, Log Analytics by requests. The reservation
    purchase in actual cost is its own ``purchases`` bucket; anything else (untagged storage) stays
    unallocated with its reason.

    ``owners`` maps a resource id to its ``app`` tag as the inventory reports it.
    """
    ptu = est["ptu"]
    return parse_rules([_ptu_rule(usage, ptu), *_token_rules(usage, ptu), *_service_rules(est, owners)])


def _allocate(
    store: Store, settings: Settings, *, rules: list[AllocationRule], start: dt.date, end: dt.date
) -> dict[Basis, AllocationResult]:
    AllocationStore(store).replace_rules(rules)
    dims = tuple(dict.fromkeys([*settings.allocation.dimensions, "app", "use_case", "tenant"]))
    return {
        basis: allocate_period(
            store,
            start,
            end,
            basis=basis,
            dimensions=dims,
            records=list(read_cost_records(store, start, end, basis=basis)),
        )
        for basis in (Basis.ACTUAL, Basis.AMORTIZED)
    }


def _bucket(result: AllocationResult, bucket: Bucket) -> dict[str, Decimal]:
    return {c: from_nanos(n) for (c, b), n in sorted(result.totals().items()) if b is bucket}


def _utilisation(result: AllocationResult) -> Decimal | None:
    """Used ÷ (used + idle) of the provisioned rule's lines, in money."""
    used = sum(
        line.amount_nanos
        for line in result.lines
        if line.rule == PTU_RULE and line.bucket is Bucket.ALLOCATED
    )
    idle = sum(line.amount_nanos for line in result.lines if line.bucket is Bucket.IDLE)
    return None if used + idle == 0 else (Decimal(used) / Decimal(used + idle)).quantize(Decimal("0.0001"))


def _fully_loaded(store: Store, *, start: dt.date, end: dt.date) -> tuple[FullyLoaded, ...]:
    """Cost per successful task by use case, as ``GET /api/allocation/kpis?by=use_case`` computes it."""
    report = read_day_kpis(store, start, end, by=("use_case",))
    return tuple(_per_task(k) for k in report.kpis if k.group[0])


def _per_task(kpi: TaskKpi) -> FullyLoaded:
    def on(basis: Basis) -> dict[str, Decimal]:
        return {
            c.currency: c.per_successful_task
            for c in kpi.costs
            if c.basis is basis and c.per_successful_task is not None
        }

    return FullyLoaded(
        kpi.group[0], kpi.succeeded, on(Basis.ESTIMATED), on(Basis.ACTUAL), on(Basis.AMORTIZED)
    )


def run_demo_finance(
    store: Store, settings: Settings, *, year: int, month: int, seed: int, progress: Progress | None = None
) -> DemoFinanceReport:
    """Bill, collect, allocate, budget and watch the stored simulated month (see the module docstring).

    ``progress`` is an optional ``rich.progress.Progress``; one task advances per stage.
    """
    bar = progress.add_task("bill, collect, allocate, budgets", total=_STEPS) if progress else None

    def done() -> None:
        if progress is not None and bar is not None:
            progress.advance(bar)

    start, end = month_days(year, month)
    incident, _ = inject_agent_loop(store, year=year, month=month, seed=seed)
    usage = daily_usage(store, start, end)
    ptu_estimate = estimate_demo_ptu(store, start=start, end=end, tokens_per_unit_hour=ptu_capacity(usage))
    est = estate()
    bill = build_bill(usage, est, year=year, month=month, seed=seed)
    done()
    _collect(store, settings, bill=bill, est=est, start=start, end=end)
    done()
    owners = {r.resource_id: r.tags["app"] for r in read_inventory(store) if r.tags.get("app")}
    results = _allocate(store, settings, rules=demo_rules(usage, est, owners), start=start, end=end)
    done()
    currency = "USD"  # the bill's currency (the demo company is billed in USD)
    outcome = run_demo_budgets(store, settings, currency=currency, year=year, month=month)
    done()
    anomalies = demo_anomalies(store, settings, day=incident, currency=currency)
    done()
    actual = results[Basis.ACTUAL]
    report = DemoFinanceReport(
        period=f"{year}-{month:02d}",
        bill_actual=_sums(bill, Basis.ACTUAL),
        actual={c: m.amount for c, m in read_cost_totals(store, start, end, basis=Basis.ACTUAL).items()},
        amortized={
            c: m.amount for c, m in read_cost_totals(store, start, end, basis=Basis.AMORTIZED).items()
        },
        allocated=_bucket(actual, Bucket.ALLOCATED),
        idle_ptu=_bucket(actual, Bucket.IDLE),
        purchases=_bucket(actual, Bucket.PURCHASES),
        purchases_named=tuple(
            sorted({line.driver for line in actual.lines if line.bucket is Bucket.PURCHASES})
        ),
        unallocated=_bucket(actual, Bucket.UNALLOCATED),
        unallocated_reasons=tuple(
            sorted({line.reason for line in actual.lines if line.bucket is Bucket.UNALLOCATED})
        ),
        idle_ptu_amortized=_bucket(results[Basis.AMORTIZED], Bucket.IDLE),
        unallocated_amortized=_bucket(results[Basis.AMORTIZED], Bucket.UNALLOCATED),
        ptu_utilisation=_utilisation(actual),
        ptu_estimate=ptu_estimate,
        fully_loaded=_fully_loaded(store, start=start, end=end),
        budgets_crossed=outcome.crossed,
        alerts_fired=outcome.fired,
        alerts_delivered=outcome.delivered,
        anomalies=tuple(a.explanation for a in anomalies),
        incident_day=incident,
    )
    done()
    return report
