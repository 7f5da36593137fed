"""Saving an allocation keeps each day's allocated cost per owner beside its pack; the upgrade fills it."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import sqlalchemy as sa
from alembic import command

from aifinops.domain import Basis, CostRecord
from aifinops.engine.allocation import AllocationRule, Bucket, Driver, Method, RecordMatch, allocate
from aifinops.engine.drivers.tokens import TOKENS
from aifinops.engine.drivers.usage_index import usage_sums
from aifinops.store import Store
from aifinops.store.allocation_tables import allocation_owner_costs
from aifinops.store.allocations import AllocationStore

DAYS = [dt.date(2026, 11, 1), dt.date(2026, 11, 2)]
AOAI = "/subscriptions/s/resourcegroups/rg/providers/microsoft.cognitiveservices/accounts/a"
DIMS = ("use_case", "tenant")
RULES = [
    AllocationRule(
        "tagged",
        Method.DIRECT,
        match=RecordMatch(tags={"use_case": "*"}),
        owner_tags={"use_case": "use_case"},
    ),
    AllocationRule("aoai", Method.SHARED, match=RecordMatch(resource_ids=(AOAI,)), driver=TOKENS),
]


def _allocate(store: Store) -> dict[tuple[dt.date, str, str, str], int]:
    records = []
    for day in DAYS:
        records += [
            CostRecord(day, Basis.ACTUAL, Decimal("10.5"), "USD", resource_id=AOAI),
            CostRecord(day, Basis.ACTUAL, Decimal("3"), "EUR", resource_id="/vm", tags={"use_case": "uc-b"}),
            CostRecord(day, Basis.ACTUAL, Decimal("7"), "USD", resource_id="/untagged"),
        ]
    drivers = [
        Driver(day, ("uc-a", t), usage_sums(tokens=n), resource_id=AOAI)
        for day in DAYS
        for t, n in (("t1", 2), ("t2", 1))
    ]
    result = allocate(records, RULES, drivers, dimensions=DIMS)
    AllocationStore(store).save(result, basis=Basis.ACTUAL, days=DAYS, rules=RULES)
    expected: dict[tuple[dt.date, str, str, str], int] = defaultdict(int)
    for line in result.lines:
        if line.bucket is Bucket.ALLOCATED:
            expected[(result.records[line.record].billing_day, *line.dims, line.currency)] += (
                line.amount_nanos
            )
    return dict(expected)


def _stored(store: Store) -> dict[tuple[dt.date, str, str, str], int]:
    c = allocation_owner_costs.c
    with store.reader() as conn:
        rows = conn.execute(
            sa.select(c.billing_day, c.use_case, c.tenant, c.currency, c.cost_nanos, c.agent)
        ).all()
    assert {r.agent for r in rows} == {""}  # outside the run's dimensions
    return {(r.billing_day, r.use_case, r.tenant, r.currency): r.cost_nanos for r in rows}


def test_each_day_keeps_its_allocated_cost_per_owner_and_currency(store: Store) -> None:
    expected = _allocate(store)
    assert _stored(store) == expected
    assert (
        expected[(DAYS[0], "uc-a", "t1", "USD")] == 7 * 10**9
        and expected[(DAYS[1], "uc-b", "", "EUR")] == 3 * 10**9
    )
    _allocate(store)  # re-running replaces the days: nothing doubles
    assert _stored(store) == expected


def test_the_upgrade_fills_the_owner_costs_of_allocations_stored_before_it(store: Store) -> None:
    expected = _allocate(store)
    config = store._alembic_config()
    command.downgrade(config, "0009_allocation_owner_costs-1")
    assert "allocation_owner_costs" not in sa.inspect(store.engine).get_table_names()
    store.upgrade()
    assert _stored(store) == expected
