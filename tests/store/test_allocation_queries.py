"""Allocated cost per group, summed from the stored tables, equals group_costs over the loaded result."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import pytest

from aifinops.domain import Basis, CostRecord, UsageEvent
from aifinops.engine.allocation import AllocationResult, Bucket
from aifinops.engine.allocation_rules import AllocationRule, Method, RecordMatch
from aifinops.engine.drivers.tokens import TOKENS
from aifinops.engine.kpis import GroupCost, group_costs
from aifinops.errors import ValidationError
from aifinops.jobs.allocate import allocate_period
from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from aifinops.store.allocation_queries import allocated_groups, allocation_coverage, bucket_totals
from aifinops.store.allocation_results import load_result
from tests.factories import event

D1, D2, D3 = dt.date(2026, 10, 1), dt.date(2026, 10, 2), dt.date(2026, 10, 3)
NOW = dt.datetime(2026, 10, 5, tzinfo=dt.UTC)
AOAI = "/subscriptions/s/resourcegroups/rg/providers/microsoft.cognitiveservices/accounts/aoai"
DIMS = ("app", "use_case", "tenant")
RULES = [
    AllocationRule(
        "ptu",
        Method.PROVISIONED,
        match=RecordMatch(resource_ids=("*/accounts/aoai",)),
        driver=TOKENS,
        capacity_per_day=10_000,  # the day's usage is a few thousand tokens: the rest stays visible as idle
    ),
    AllocationRule("tagged", Method.DIRECT, match=RecordMatch(tags={"app": "*"}), owner_tags={"app": "app"}),
]
RECORDS = [
    CostRecord(D1, Basis.ACTUAL, Decimal("10"), "USD", resource_id=AOAI),
    CostRecord(D1, Basis.ACTUAL, Decimal("-3"), "EUR", resource_id="/vm", tags={"app": "crm"}),
    CostRecord(D2, Basis.ACTUAL, Decimal("7.000000003"), "USD", resource_id=AOAI),
    CostRecord(D2, Basis.ACTUAL, Decimal("4"), "USD", resource_id="/nothing"),  # no rule: unallocated
]


def _event(n: int, day: dt.date, app: str, use_case: str, tenant: str) -> UsageEvent:
    ts = dt.datetime.combine(day, dt.time(10, n), tzinfo=dt.UTC)
    return event(n, ts=ts, app=app, use_case=use_case, tenant=tenant, resource_id=AOAI, task_id=f"t{n}")


@pytest.fixture
def allocated(store: Store) -> Store:
    """Two billing days allocated over app, use_case and tenant by tokens (the events need no price):
    allocated, idle and unallocated lines, in two currencies."""
    Ingestor(store).ingest(
        [
            _event(1, D1, "chat", "support", "t1"),
            _event(2, D1, "chat", "support", "t1"),
            _event(3, D1, "rag", "search", "t2"),
            _event(4, D1, "chat", "search", "t2"),
            _event(5, D2, "rag", "search", "t2"),
            _event(6, D2, "chat", "support", "t3"),
        ],
        source="test",
    )
    allocate_period(store, D1, D3, basis=Basis.ACTUAL, dimensions=DIMS, records=RECORDS, rules=RULES)
    return store


def _loaded(store: Store, start: dt.date, end: dt.date) -> AllocationResult:
    with store.reader() as conn:
        return load_result(conn, start, end, basis=Basis.ACTUAL)


@pytest.mark.parametrize(
    "by", [("app",), ("use_case",), ("tenant",), ("tenant", "app"), ("use_case", "app", "tenant"), ()]
)
def test_grouped_sums_equal_group_costs_over_the_loaded_result(allocated: Store, by: tuple[str, ...]) -> None:
    for start, end in ((D1, D3), (D2, D3), (D1, D2)):
        expected = group_costs(_loaded(allocated, start, end), by=by, basis=Basis.ACTUAL)
        assert allocated_groups(allocated, start, end, basis=Basis.ACTUAL, by=by) == expected
    assert len(expected) >= (1 if not by else 2)


def test_idle_and_unallocated_belong_to_no_group_and_are_totalled_beside(allocated: Store) -> None:
    result = _loaded(allocated, D1, D3)
    buckets = {line.bucket for line in result.lines}
    assert buckets == {Bucket.ALLOCATED, Bucket.IDLE, Bucket.UNALLOCATED}  # the fixture exercises all three
    totals = bucket_totals(allocated, D1, D3, basis=Basis.ACTUAL)
    assert totals == {(c, b.value): n for (c, b), n in result.totals().items()}
    grouped = allocated_groups(allocated, D1, D3, basis=Basis.ACTUAL, by=("app",))
    assert sum(g.amount_nanos for g in grouped if g.currency == "USD") == totals[("USD", "allocated")]
    assert totals[("USD", "allocated")] + totals[("USD", "idle")] + totals[("USD", "unallocated")] == (
        21_000_000_003
    )


def test_owners_can_be_narrowed_to_one_tenant(allocated: Store) -> None:
    expected: dict[tuple[tuple[str, ...], str], int] = defaultdict(int)
    for line in _loaded(allocated, D1, D3).lines:
        if line.bucket is Bucket.ALLOCATED and line.dims[2] == "t2":
            expected[((line.dims[1],), line.currency)] += line.amount_nanos
    got = allocated_groups(allocated, D1, D3, basis=Basis.ACTUAL, by=("use_case",), where={"tenant": "t2"})
    assert got == [GroupCost(g, Basis.ACTUAL, c, n) for (g, c), n in sorted(expected.items())]
    assert [g.group for g in got] == [("search",)]
    assert allocated_groups(allocated, D1, D3, basis=Basis.ACTUAL, by=("app",), where={"tenant": "t9"}) == []


def test_coverage_and_dimensions_that_were_not_allocated(allocated: Store) -> None:
    coverage = allocation_coverage(allocated, D1, D3, basis=Basis.ACTUAL)
    assert (coverage.days, coverage.records, coverage.dimensions) == (2, 4, DIMS)
    assert allocation_coverage(allocated, D1, D3, basis=Basis.AMORTIZED).days == 0
    assert allocated_groups(allocated, D1, D3, basis=Basis.AMORTIZED, by=("app",)) == []
    with pytest.raises(ValidationError, match=r"cannot group allocated cost by \['agent'\]"):
        allocated_groups(allocated, D1, D3, basis=Basis.ACTUAL, by=("agent",))
    with pytest.raises(ValidationError, match=r"\['team'\]"):
        allocated_groups(allocated, D1, D3, basis=Basis.ACTUAL, by=("app",), where={"team": "x"})


def test_days_allocated_over_other_dimensions_add_up_over_the_ones_they_share(allocated: Store) -> None:
    allocate_period(
        allocated, D2, D3, basis=Basis.ACTUAL, dimensions=("tenant", "app"), records=RECORDS, rules=RULES
    )
    assert allocation_coverage(allocated, D1, D3, basis=Basis.ACTUAL).dimensions == ("app", "tenant")
    expected: dict[tuple[tuple[str, ...], str], int] = defaultdict(int)
    for start, end in ((D1, D2), (D2, D3)):
        for cost in group_costs(_loaded(allocated, start, end), by=("tenant",), basis=Basis.ACTUAL):
            expected[(cost.group, cost.currency)] += cost.amount_nanos
    got = allocated_groups(allocated, D1, D3, basis=Basis.ACTUAL, by=("tenant",))
    assert got == [GroupCost(g, Basis.ACTUAL, c, n) for (g, c), n in sorted(expected.items())]
