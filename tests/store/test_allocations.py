"""Allocation in the store on SQLite and PostgreSQL: rules kept in order, drivers from the rollup, runs
replaced."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import pytest

from aifinops.domain import Basis, CostRecord, UsageEvent, to_nanos
from aifinops.engine.allocation import (
    DRIVER_FIELDS,
    AllocationRule,
    Bucket,
    IdlePolicy,
    Method,
    RecordMatch,
)
from aifinops.engine.allocation_rules import parse_rules
from aifinops.engine.drivers.estimated_cost import ESTIMATED_COST
from aifinops.engine.drivers.tokens import TOKENS
from aifinops.engine.drivers.usage_index import usage_sums
from aifinops.errors import ValidationError
from aifinops.jobs.allocate import allocate_period
from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from aifinops.store.allocation_queries import deployment_resources, read_allocation, read_rules
from aifinops.store.allocations import AllocationStore
from aifinops.store.cost_queries import read_cost_records
from aifinops.store.cost_records import CostRecordStore
from aifinops.store.driver_queries import DriverRead, start_driver_read
from aifinops.store.prices import PriceStore
from tests.factories import PRICE_START, event, gpt4o_prices

D1, D2 = dt.date(2026, 10, 1), dt.date(2026, 10, 2)
NOW = dt.datetime(2026, 10, 5, tzinfo=dt.UTC)
AOAI = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/aoai"
OTHER = "/subscriptions/s/resourcegroups/rg/providers/microsoft.cognitiveservices/accounts/other"
RULES = [
    AllocationRule("tagged", Method.DIRECT, match=RecordMatch(tags={"app": "*"}), owner_tags={"app": "app"}),
    AllocationRule(
        "aoai",
        Method.SHARED,
        match=RecordMatch(resource_ids=("*/accounts/aoai",)),
        driver=ESTIMATED_COST,
    ),
]


def _event(
    n: int,
    day: dt.date,
    *,
    app: str,
    tenant: str,
    deployment: str = "gpt-4o",
    resource: str = AOAI,
    **kw: object,
) -> UsageEvent:
    ts = dt.datetime.combine(day, dt.time(10, n % 60), tzinfo=dt.UTC)
    fields: dict[str, object] = dict(input_tokens=1000, cached_input_tokens=0, output_tokens=100)
    fields.update(kw)
    return event(n, ts=ts, app=app, tenant=tenant, deployment=deployment, resource_id=resource, **fields)


@pytest.fixture
def usage(store: Store) -> Store:
    """Events priced by the real ingest path: 1,000 input + 100 output gpt-4o tokens cost 0.0035 USD."""
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    Ingestor(store).ingest(
        [
            _event(1, D1, app="chat", tenant="t1"),
            _event(2, D1, app="chat", tenant="t1"),
            _event(3, D1, app="rag", tenant="t2"),
            _event(4, D2, app="rag", tenant="t2"),
            _event(5, D1, app="x", tenant="t3", deployment="shared-name", resource=AOAI),
            _event(6, D1, app="x", tenant="t3", deployment="shared-name", resource=OTHER),
        ],
        source="test",
    )
    return store


def test_rules_keep_their_order_and_refuse_duplicate_names(store: Store) -> None:
    allocations = AllocationStore(store, clock=lambda: NOW)
    allocations.replace_rules(RULES)
    ptu = AllocationRule("ptu", Method.PROVISIONED, driver=TOKENS, capacity_per_day=10)
    assert [r.name for r in allocations.add_rule(ptu, position=0)] == ["ptu", "tagged", "aoai"]
    assert read_rules(store) == [ptu, *RULES]
    with pytest.raises(ValidationError, match="an allocation rule named 'ptu' exists"):
        allocations.add_rule(ptu)
    with pytest.raises(ValidationError, match="name 'a' is used twice"):
        parse_rules([{"name": "a", "method": "shared"}, {"name": "a", "method": "shared"}])
    with pytest.raises(ValidationError, match=r"allocation rule #1 \('b'\): method is 'nope'") as info:
        parse_rules([{"name": "b", "method": "nope"}])
    assert info.value.field == "rules[0]"


def test_drivers_come_from_the_daily_rollup_with_each_deployments_resource(usage: Store) -> None:
    AllocationStore(usage).refresh_deployments()
    resources = deployment_resources(usage, D1, D2 + dt.timedelta(days=1))
    assert resources == {"gpt-4o": AOAI.lower(), "shared-name": ""}
    on_d1 = deployment_resources(usage, D1, D2)
    read = DriverRead(usage, D1, D2, dimensions=("app", "tenant"), fields=DRIVER_FIELDS, resources=on_d1)
    drivers = read.drivers().all
    got = sorted((d.day, d.dims, d.usage, d.resource_id) for d in drivers)
    assert got == [
        (
            D1,
            ("chat", "t1"),
            usage_sums(tokens=2200, requests=2, estimated_cost_nanos=7_000_000),
            AOAI.lower(),
        ),
        (
            D1,
            ("rag", "t2"),
            usage_sums(tokens=1100, requests=1, estimated_cost_nanos=3_500_000),
            AOAI.lower(),
        ),
        (D1, ("x", "t3"), usage_sums(tokens=2200, requests=2, estimated_cost_nanos=7_000_000), ""),
    ]
    with pytest.raises(ValidationError, match=r"unknown allocation dimension\(s\) \['squad'\]"):
        start_driver_read(usage, D1, D2, dimensions=("squad",), rules=RULES)


def test_allocation_is_saved_per_day_and_basis_and_rerun_replaces_it(usage: Store) -> None:
    records = [
        CostRecord(
            D1, Basis.ACTUAL, Decimal("21"), "USD", resource_id=AOAI.lower(), meter_name="gpt 4o Input"
        ),
        CostRecord(D1, Basis.ACTUAL, Decimal("5"), "USD", resource_id="/vm", tags={"app": "crm"}),
        CostRecord(D2, Basis.ACTUAL, Decimal("-2.5"), "USD", resource_id="/credit", charge_type="Credit"),
        CostRecord(D2, Basis.ACTUAL, Decimal("0.000000007"), "USD", resource_id=AOAI.lower()),
    ]
    CostRecordStore(usage).replace_slice("test", "s", Basis.ACTUAL, D1, D2 + dt.timedelta(days=1), records)
    allocations = AllocationStore(usage, clock=lambda: NOW)
    allocations.replace_rules(RULES)
    end = D2 + dt.timedelta(days=1)
    stored_records = list(read_cost_records(usage, D1, end, basis=Basis.ACTUAL))
    first = allocate_period(
        usage, D1, end, basis=Basis.ACTUAL, dimensions=("app", "tenant"), records=stored_records
    )
    again = allocate_period(
        usage, D1, end, basis=Basis.ACTUAL, dimensions=("app", "tenant"), records=stored_records
    )
    assert again == first
    loaded = read_allocation(usage, D1, end, basis=Basis.ACTUAL)
    assert loaded.dimensions == ("app", "tenant") and len(loaded.lines) == len(first.lines) == 5
    by_dims: dict[tuple[tuple[str, ...], Bucket], int] = defaultdict(int)
    for ln in loaded.lines:
        by_dims[(ln.dims, ln.bucket)] += ln.amount_nanos
    assert by_dims == {
        (("chat", "t1"), Bucket.ALLOCATED): 14 * 10**9,
        (("rag", "t2"), Bucket.ALLOCATED): 7 * 10**9 + 7,  # D2's usage is rag's alone
        (("crm", ""), Bucket.ALLOCATED): 5 * 10**9,
        (("", ""), Bucket.UNALLOCATED): -2_500_000_000,
    }
    assert sum(ln.amount_nanos for ln in loaded.lines) == sum(to_nanos(r.cost) for r in records)
    credit = next(ln for ln in loaded.lines if ln.bucket is Bucket.UNALLOCATED)
    assert loaded.records[credit.record].charge_type == "Credit" and credit.reason == "no rule matches"
    assert read_allocation(usage, D1, end, basis=Basis.AMORTIZED).lines == ()


def test_days_allocated_over_other_dimensions_are_not_mixed(usage: Store) -> None:
    rec = [
        CostRecord(D1, Basis.ACTUAL, Decimal("1"), "USD", resource_id=AOAI.lower()),
        CostRecord(D2, Basis.ACTUAL, Decimal("1"), "USD", resource_id=AOAI.lower()),
    ]
    allocate_period(usage, D1, D2, basis=Basis.ACTUAL, dimensions=("app",), records=rec, rules=RULES)
    allocate_period(
        usage,
        D2,
        D2 + dt.timedelta(days=1),
        basis=Basis.ACTUAL,
        dimensions=("tenant",),
        records=rec,
        rules=RULES,
    )
    with pytest.raises(ValidationError, match="allocated over different dimensions"):
        read_allocation(usage, D1, D2 + dt.timedelta(days=1), basis=Basis.ACTUAL)
    with pytest.raises(ValidationError, match="actual or amortized"):
        allocate_period(usage, D1, D2, basis=Basis.ESTIMATED, dimensions=("app",), records=rec)


def test_estimates_per_meter_feed_reconciliation(store: Store) -> None:
    from aifinops.domain import DeploymentType, MeterKind, Price
    from aifinops.engine.reconciliation import DriftStatus, reconcile
    from aifinops.store.reconciliation_queries import estimates

    gs = DeploymentType.GLOBAL_STANDARD
    PriceStore(store).save(
        [
            Price(
                "gpt-4o",
                MeterKind.INPUT,
                Decimal("2.5"),
                "USD",
                PRICE_START,
                deployment_type=gs,
                meter_id="M-IN",
                meter_name="4o Input",
            ),
            Price(
                "gpt-4o",
                MeterKind.OUTPUT,
                Decimal("10"),
                "USD",
                PRICE_START,
                deployment_type=gs,
                meter_id="M-OUT",
                meter_name="4o Output",
            ),
        ],
        now=NOW,
    )
    Ingestor(store).ingest(
        [_event(1, D1, app="a", tenant="t", deployment="chat", input_tokens=400_000, output_tokens=100_000)],
        source="t",
    )
    found = sorted(estimates(store, D1, D2), key=lambda e: e.meter_id)
    assert [(e.day, e.resource_id, e.meter_id, e.quantity, e.cost_nanos, e.deployment) for e in found] == [
        (D1, AOAI.lower(), "M-IN", 400_000, 10**9, "chat"),
        (D1, AOAI.lower(), "M-OUT", 100_000, 10**9, "chat"),
    ]
    bill = CostRecord(
        D1,
        Basis.ACTUAL,
        Decimal("1.1"),
        "USD",
        resource_id=AOAI.lower(),
        meter_id="m-out",
        quantity=Decimal("100"),
        unit="1K",
    )
    result = reconcile(found, [bill], as_of=D1 + dt.timedelta(days=9))
    assert [(r.meter, r.status) for r in result.rows] == [
        ("4o Input", DriftStatus.COST_MISSING),
        ("4o Output", DriftStatus.DRIFT),
    ]
    assert result.prices[0].effective_price == Decimal("11.000000000") and result.prices[0].mismatch


def test_the_deployment_map_reads_only_new_events_and_keeps_their_hours(usage: Store) -> None:
    allocations = AllocationStore(usage, clock=lambda: NOW)
    assert allocations.refresh_deployments() == 6
    assert (
        allocations.refresh_deployments() == 0 or usage.dialect == "postgresql"
    )  # PostgreSQL re-reads a window
    Ingestor(usage).ingest(
        [_event(7, D2 + dt.timedelta(days=3), app="new", tenant="t9", deployment="late")], source="test"
    )
    assert allocations.refresh_deployments() >= 1
    assert deployment_resources(usage, D2 + dt.timedelta(days=3), D2 + dt.timedelta(days=4)) == {
        "late": AOAI.lower()
    }
    assert "late" not in deployment_resources(usage, D1, D2)


def _ptu(idle: IdlePolicy) -> AllocationRule:
    """The aoai account as provisioned capacity of 10,000 tokens a day."""
    return AllocationRule(
        "ptu",
        Method.PROVISIONED,
        match=RecordMatch(resource_ids=("*/accounts/aoai",)),
        driver=TOKENS,
        capacity_per_day=10_000,
        idle=idle,
    )


def test_stored_lines_read_back_exactly_and_are_packed_per_day(usage: Store) -> None:
    """Each day is one pack: its records, owners, and record parts (one per bucket, rule, driver, reason)."""
    import orjson
    import sqlalchemy as sa

    from aifinops.store.allocation_tables import allocation_packs

    ptu = _ptu(IdlePolicy.SPREAD)
    records = [
        CostRecord(D1, Basis.ACTUAL, Decimal("10"), "USD", resource_id=AOAI.lower()),
        CostRecord(D1, Basis.ACTUAL, Decimal("-3"), "EUR", resource_id="/vm", tags={"app": "crm"}),
        CostRecord(D2, Basis.ACTUAL, Decimal("4"), "USD", resource_id="/nothing"),
    ]
    end = D2 + dt.timedelta(days=1)
    first = allocate_period(
        usage, D1, end, basis=Basis.ACTUAL, dimensions=("app", "tenant"), records=records, rules=[ptu, *RULES]
    )
    loaded = read_allocation(usage, D1, end, basis=Basis.ACTUAL)
    assert loaded.lines == first.lines and loaded.dimensions == first.dimensions
    assert [ln.driver for ln in first.lines[:4]] == ["tokens", "tokens", "idle:tokens", "idle:tokens"]
    assert loaded.records == first.records and loaded.parts == first.parts
    with usage.reader() as conn:
        t = allocation_packs.c
        packs = conn.execute(sa.select(t.billing_day, t.owners, t.parts).order_by(t.billing_day)).all()
    assert [p.billing_day for p in packs] == [D1, D2]
    parts = [[part[0] for part in orjson.loads(p.parts)] for p in packs]
    assert parts == [[0, 0, 1], [0]]  # day 1: ptu used + idle of record 0, crm; day 2: the unallocated record
    owners = [len(orjson.loads(p.owners)) for p in packs]
    assert owners == [3, 1]  # day 1: chat/t1, rag/t2 and crm; day 2: the empty owner of the unallocated line


def test_the_packs_migration_converts_stored_results_both_ways(usage: Store) -> None:
    """Upgrading to the packed layout keeps stored allocations: down to the old tables and up again, equal."""
    from alembic import command

    ptu = _ptu(IdlePolicy.VISIBLE)
    records = [
        CostRecord(D1, Basis.ACTUAL, Decimal("10"), "USD", resource_id=AOAI.lower(), quantity=Decimal("2.5")),
        CostRecord(D1, Basis.ACTUAL, Decimal("-3"), "EUR", resource_id="/vm", tags={"app": "crm", "n": "1"}),
        CostRecord(D2, Basis.ACTUAL, Decimal("4.000000001"), "USD", resource_id="/nothing", meter_name="m"),
    ]
    end = D2 + dt.timedelta(days=3)  # two allocated days without records
    first = allocate_period(
        usage, D1, end, basis=Basis.ACTUAL, dimensions=("app", "tenant"), records=records, rules=[ptu, *RULES]
    )
    config = usage._alembic_config()
    try:
        command.downgrade(config, "0006_allocation_compact")
        assert "0007_allocation_packs" not in usage.current_heads()
    finally:
        command.upgrade(config, "heads")
    loaded = read_allocation(usage, D1, end, basis=Basis.ACTUAL)
    assert loaded.records == first.records and loaded.parts == first.parts
    assert loaded.lines == first.lines and loaded.dimensions == first.dimensions
    assert len(loaded.lines) > 3
