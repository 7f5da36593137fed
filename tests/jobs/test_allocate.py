"""Serve's scheduled allocation: the previous and the running month, on each billed basis with records."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from aifinops.domain import Basis, CostRecord
from aifinops.jobs.allocate import allocate_period, allocate_recent, recent_months
from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from aifinops.store.allocation_queries import allocation_coverage, read_allocation
from aifinops.store.cost_records import CostRecordStore
from aifinops.store.prices import PriceStore
from tests.factories import PRICE_START, event, gpt4o_prices

AOAI = "/subscriptions/s/resourcegroups/rg/providers/microsoft.cognitiveservices/accounts/aoai"
OCT, NOV, DEC = dt.date(2026, 10, 1), dt.date(2026, 11, 1), dt.date(2026, 12, 1)


def test_recent_months_are_the_previous_and_the_running_one_across_a_year_end() -> None:
    assert recent_months(dt.date(2026, 11, 30)) == [(OCT, NOV), (NOV, DEC)]
    assert recent_months(dt.date(2027, 1, 1)) == [
        (DEC, dt.date(2027, 1, 1)),
        (dt.date(2027, 1, 1), dt.date(2027, 2, 1)),
    ]


def _bill(store: Store, day: dt.date, basis: Basis, amount: str) -> None:
    record = CostRecord(day, basis, Decimal(amount), "USD", resource_id=AOAI)
    CostRecordStore(store).replace_slice("test", "s", basis, day, day + dt.timedelta(days=1), [record])


def test_each_recent_month_with_a_bill_is_allocated_on_its_basis_and_others_are_left(store: Store) -> None:
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    ts = dt.datetime(2026, 11, 3, 9, tzinfo=dt.UTC)
    Ingestor(store).ingest(
        [event(1, ts=ts, app="chat", resource_id=AOAI), event(2, ts=ts, app="rag", resource_id=AOAI)],
        source="t",
    )
    _bill(store, dt.date(2026, 11, 3), Basis.ACTUAL, "10")
    _bill(store, dt.date(2026, 10, 20), Basis.AMORTIZED, "4")
    now = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)

    runs = allocate_recent(store, dimensions=("app",), now=now)

    assert runs == [(OCT, Basis.AMORTIZED, 1), (NOV, Basis.ACTUAL, 1)]
    november = read_allocation(store, NOV, DEC, basis=Basis.ACTUAL)
    assert november.dimensions == ("app",)
    assert sum(line.amount_nanos for line in november.lines) == 10 * 10**9  # conserved to the nano
    assert sum(
        line.amount_nanos for line in read_allocation(store, OCT, NOV, basis=Basis.AMORTIZED).lines
    ) == (4 * 10**9)
    assert allocation_coverage(store, OCT, NOV, basis=Basis.ACTUAL).days == 0  # no actual cost in October
    assert allocation_coverage(store, NOV, DEC, basis=Basis.AMORTIZED).days == 0
    # A second round replaces the month with the same result (idempotent), as a run on request would.
    again = allocate_recent(store, dimensions=("app",), now=now)
    assert again == runs and read_allocation(store, NOV, DEC, basis=Basis.ACTUAL) == november
    records = [CostRecord(dt.date(2026, 11, 3), Basis.ACTUAL, Decimal("10"), "USD", resource_id=AOAI)]
    by_hand = allocate_period(store, NOV, DEC, basis=Basis.ACTUAL, dimensions=("app",), records=records)
    assert sorted(by_hand.lines) == sorted(november.lines)
