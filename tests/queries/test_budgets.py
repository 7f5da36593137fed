"""A scoped budget spends what the allocation charged its scope, and says where no allocation covers it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from aifinops.domain import Basis, CostRecord, DeploymentType, from_nanos
from aifinops.engine.allocation_rules import AllocationRule, IdlePolicy, Method, RecordMatch
from aifinops.engine.budgets import Budget, Threshold
from aifinops.engine.drivers.estimated_cost import ESTIMATED_COST
from aifinops.engine.drivers.tokens import TOKENS
from aifinops.engine.drivers.usage_filter import Scope, UsageFilter
from aifinops.jobs.alerts import raise_alerts
from aifinops.jobs.allocate import allocate_period
from aifinops.jobs.ingest import Ingestor
from aifinops.queries.budgets import budget_statuses_json, evaluate_budgets
from aifinops.store import Store
from aifinops.store.allocation_queries import allocated_groups
from aifinops.store.budgets import BudgetStore
from aifinops.store.cost_records import CostRecordStore
from aifinops.store.prices import PriceStore
from tests.factories import PRICE_START, event, gpt4o_prices

AOAI = "/subscriptions/s/resourcegroups/rg/providers/microsoft.cognitiveservices/accounts/aoai"
PTU = "/subscriptions/s/resourcegroups/rg/providers/microsoft.cognitiveservices/accounts/ptu"
STORAGE = "/subscriptions/s/resourcegroups/rg/providers/microsoft.storage/storageaccounts/untagged"
NOV = [dt.date(2026, 11, d) for d in (1, 2, 3)]
AS_OF = dt.datetime(2026, 11, 3, 18, tzinfo=dt.UTC)
RULES = [
    AllocationRule(
        "ptu",
        Method.PROVISIONED,
        match=RecordMatch(resource_ids=(PTU,)),
        driver=TOKENS,
        usage=UsageFilter({"deployment": ("d-ptu",)}, Scope.ALL),
        capacity_per_day=8_800,  # four times what uc-ptu uses a day: a quarter used, the rest idle
        idle=IdlePolicy.VISIBLE,
    ),
    AllocationRule("aoai", Method.SHARED, match=RecordMatch(resource_ids=(AOAI,)), driver=ESTIMATED_COST),
]


def _month(store: Store, *, allocated_days: int = 2) -> None:
    """Three days: uc-a (3 calls a day) and uc-b (1) on a pay-as-you-go account billing 8 USD a day, uc-ptu
    (2 calls, estimated 0) on a PTU account billing 24 USD a day, 5 USD a day of untagged storage, and the
    PTU reservation purchase (100 USD on Nov 1, no resource, no charge type, as the Query API returns it).
    The first ``allocated_days`` days are allocated."""
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    calls = [("uc-a", "contoso", "d-4o", AOAI)] * 3 + [("uc-b", "fabrikam", "d-4o", AOAI)]
    calls += [("uc-ptu", "contoso", "d-ptu", PTU)] * 2
    events = []
    for day in NOV:
        for use_case, tenant, deployment, resource in calls:
            events.append(
                event(
                    len(events),
                    ts=dt.datetime.combine(day, dt.time(10), tzinfo=dt.UTC)
                    + dt.timedelta(minutes=len(events)),
                    task_id=None,
                    use_case=use_case,
                    tenant=tenant,
                    deployment=deployment,
                    resource_id=resource,
                    deployment_type=DeploymentType.GLOBAL_PROVISIONED
                    if deployment == "d-ptu"
                    else DeploymentType.GLOBAL_STANDARD,
                )
            )
    Ingestor(store).ingest(events, source="test")
    records = [
        CostRecord(
            NOV[0],
            Basis.ACTUAL,
            Decimal(100),
            "USD",
            meter_name="Provisioned Managed Global Unit",
            quantity=Decimal(10),
            unit="1/Hour",
        )
    ]
    for day in NOV:
        records += [
            CostRecord(day, Basis.ACTUAL, Decimal(8), "USD", resource_id=AOAI),
            CostRecord(day, Basis.ACTUAL, Decimal(24), "USD", resource_id=PTU, quantity=Decimal(24)),
            CostRecord(day, Basis.ACTUAL, Decimal(5), "USD", resource_id=STORAGE),
        ]
    CostRecordStore(store).replace_slice("test", "sub", Basis.ACTUAL, NOV[0], dt.date(2026, 11, 4), records)
    end = NOV[0] + dt.timedelta(days=allocated_days)
    allocate_period(
        store,
        NOV[0],
        end,
        basis=Basis.ACTUAL,
        dimensions=("use_case", "tenant"),
        records=[r for r in records if r.billing_day < end],
        rules=RULES,
    )


def _budget(name: str, amount: str, *, basis: Basis = Basis.ACTUAL, **scope: str) -> Budget:
    return Budget(
        name,
        Decimal(amount),
        "USD",
        basis=basis,
        scope={k: (v,) for k, v in scope.items()},
        thresholds=(Threshold(Decimal(100)),),
        tz="UTC",
    )


def _allocated(store: Store, use_case: str) -> Decimal:
    groups = allocated_groups(store, NOV[0], NOV[2], basis=Basis.ACTUAL, by=("use_case",))
    return sum((from_nanos(g.amount_nanos) for g in groups if g.group == (use_case,)), Decimal(0))


def test_a_scoped_budget_spends_its_allocated_cost_and_an_estimated_share_only_where_unallocated(
    store: Store,
) -> None:
    _month(store)
    statuses = evaluate_budgets(
        store,
        [_budget("a", "50", use_case="uc-a"), _budget("ptu", "10", use_case="uc-ptu"), _budget("all", "500")],
        as_of=AS_OF,
        default_tz="UTC",
    )
    a, everything, ptu = statuses  # sorted by name
    # uc-a: 3/4 of the account's 8 USD on Nov 1-2, as allocated; no idle PTU, storage or purchase in it.
    assert _allocated(store, "uc-a") == Decimal(12)
    # Nov 3 has no allocation: uc-a's estimated share (3/4) of the whole day's bill, 37 USD, and it says so.
    assert a.spend.amount == Decimal(12) + Decimal("27.75")
    # uc-ptu is estimated at 0 (PTU tokens are billed by the hour) but is allocated a quarter of the PTU.
    assert ptu.spend.amount == _allocated(store, "uc-ptu") == Decimal(12)
    assert everything.spend.amount == Decimal(100) + 3 * Decimal(37)  # unscoped: the whole bill
    (a_json, all_json, ptu_json) = budget_statuses_json(statuses)
    assert a_json["spend_source"] == "allocation+estimate_share"
    assert [(s["source"], s["days"], s["first_day"], s["last_day"]) for s in a_json["spend_sources"]] == [
        ("allocation", 2, "2026-11-01", "2026-11-02"),
        ("estimate_share", 1, "2026-11-03", "2026-11-03"),
    ]
    assert "no allocation" in a_json["note"]
    assert all_json["spend_source"] == "billed" and all_json["note"] is None
    assert ptu_json["spend_source"] == "allocation+estimate_share"


def test_nowcast_takes_allocated_days_and_the_estimate_after_the_last_complete_day(store: Store) -> None:
    _month(store, allocated_days=3)
    (a,) = evaluate_budgets(
        store, [_budget("a", "50", basis=Basis.NOWCAST, use_case="uc-a")], as_of=AS_OF, default_tz="UTC"
    )
    # Billed data through Nov 3 makes Nov 1-2 complete: allocated there; Nov 3 is uc-a's own estimate.
    assert a.spend.amount == Decimal(12) + 3 * Decimal("0.00325")
    (a_json,) = budget_statuses_json([a])
    assert a_json["spend_source"] == "allocation+estimated"
    assert a_json["note"] is None


def test_a_scope_the_allocation_is_not_over_keeps_the_estimated_share_and_says_why(store: Store) -> None:
    _month(store)
    (agent,) = evaluate_budgets(store, [_budget("ag", "50", agent="")], as_of=AS_OF, default_tz="UTC")
    (document,) = budget_statuses_json([agent])
    assert document["spend_source"] == "estimate_share"
    assert "not over ['agent']" in document["note"]


def test_alerts_fire_on_the_allocated_figure(store: Store) -> None:
    _month(store)
    budgets = BudgetStore(store)
    wanted = [_budget("a", "30", use_case="uc-a"), _budget("ptu", "10", use_case="uc-ptu")]
    for b in wanted:
        budgets.create(b)
    as_of = dt.datetime(2026, 11, 2, 23, tzinfo=dt.UTC)  # Nov 1-2, both allocated
    statuses = evaluate_budgets(store, wanted, as_of=as_of, default_tz="UTC")
    # Before, uc-a took 3/4 of the 137 USD of Nov 1 (purchase, idle PTU and storage included) and uc-ptu 0.
    assert [(s.budget.name, s.spend.amount) for s in statuses] == [("a", Decimal(12)), ("ptu", Decimal(12))]
    raise_alerts(budgets, statuses, notifier=None, as_of=as_of)
    from aifinops.store.budget_queries import alert_records

    assert [(r.budget, r.threshold) for r in alert_records(store)] == [("ptu", "actual:100")]
