"""Cost records on SQLite and PostgreSQL: slices replaced atomically and idempotently, totals, freshness."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aifinops.domain import Basis, CostRecord, Money
from aifinops.errors import SourceError, ValidationError
from aifinops.sources.cost_exports import ExportReader
from aifinops.store import Store
from aifinops.store.cost_queries import (
    read_cost_checkpoints,
    read_cost_freshness,
    read_cost_records,
    read_cost_series,
    read_cost_totals,
)
from aifinops.store.cost_records import CostRecordStore
from tests.factories import SAMPLES_DIR

EA_AMORTIZED = SAMPLES_DIR / "azure-cost-export" / "finops-toolkit" / "EA_AmortizedCost_Small.csv"
SEPT, OCT = dt.date(2023, 9, 1), dt.date(2023, 10, 1)


def _record(day: int, cost: str, currency: str = "USD", **kw: object) -> CostRecord:
    return CostRecord(
        billing_day=dt.date(2023, 9, day), basis=Basis.ACTUAL, cost=Decimal(cost), currency=currency, **kw
    )  # type: ignore[arg-type]


@pytest.fixture
def reader() -> Iterator[ExportReader]:
    with ExportReader() as r:
        yield r


def test_replace_slice_from_arrow_batches_is_idempotent(store: Store, reader: ExportReader) -> None:
    costs = CostRecordStore(store)
    scan = reader.scan(EA_AMORTIZED)
    first = costs.replace_slice(
        "export:daily", "subscriptions/s1", Basis.AMORTIZED, SEPT, OCT, scan.batches()
    )
    second = costs.replace_slice(
        "export:daily", "subscriptions/s1", Basis.AMORTIZED, SEPT, OCT, scan.batches()
    )
    expected = Money(scan.stored_totals()["USD"], "USD", Basis.AMORTIZED)
    assert first.totals == second.totals == {"USD": expected}
    assert (first.replaced, second.replaced, second.records, second.source_rows) == (
        0,
        first.records,
        first.records,
        28,
    )
    assert read_cost_totals(store, SEPT, OCT, basis=Basis.AMORTIZED) == {"USD": expected}
    assert read_cost_totals(store, SEPT, OCT, basis=Basis.ACTUAL) == {}
    assert len(read_cost_checkpoints(store)) == 1


def test_a_failure_mid_run_leaves_the_previous_data(store: Store) -> None:
    costs = CostRecordStore(store)
    costs.replace_slice("cm", "s1", Basis.ACTUAL, SEPT, OCT, [_record(1, "1.5"), _record(2, "2.25")])
    before = (read_cost_totals(store, SEPT, OCT, basis=Basis.ACTUAL), read_cost_checkpoints(store))

    def failing() -> Iterator[CostRecord]:
        for day in range(1, 20):
            yield _record(day, "100")
        raise SourceError("connection reset while paging the query")

    with pytest.raises(SourceError, match="connection reset"):
        costs.replace_slice("cm", "s1", Basis.ACTUAL, SEPT, OCT, failing())
    assert (read_cost_totals(store, SEPT, OCT, basis=Basis.ACTUAL), read_cost_checkpoints(store)) == before
    assert read_cost_totals(store, SEPT, OCT, basis=Basis.ACTUAL) == {
        "USD": Money(Decimal("3.75"), "USD", Basis.ACTUAL)
    }


def test_rows_outside_the_slice_are_refused(store: Store) -> None:
    costs = CostRecordStore(store)
    with pytest.raises(ValidationError, match="outside the slice"):
        costs.replace_slice(
            "cm", "s1", Basis.ACTUAL, SEPT, dt.date(2023, 9, 2), [_record(1, "1"), _record(2, "1")]
        )
    assert read_cost_totals(store, SEPT, OCT, basis=Basis.ACTUAL) == {}


def test_slices_replace_only_their_own_days_scope_and_basis(store: Store) -> None:
    costs = CostRecordStore(store)
    costs.replace_slice("cm", "s1", Basis.ACTUAL, SEPT, OCT, [_record(d, "1") for d in range(1, 31)])
    costs.replace_slice("cm", "s2", Basis.ACTUAL, SEPT, OCT, [_record(1, "7")])
    mid = dt.date(2023, 9, 15)
    costs.replace_slice("cm", "s1", Basis.ACTUAL, SEPT, mid, [_record(3, "0.5")])
    assert read_cost_totals(store, SEPT, OCT, basis=Basis.ACTUAL, scope="s1")["USD"].amount == Decimal("16.5")
    assert read_cost_totals(store, SEPT, OCT, basis=Basis.ACTUAL)["USD"].amount == Decimal("23.5")


def test_currencies_are_never_added(store: Store) -> None:
    costs = CostRecordStore(store)
    costs.replace_slice(
        "cm",
        "s1",
        Basis.ACTUAL,
        SEPT,
        OCT,
        [
            _record(1, "1.10", "USD", meter_category="Azure OpenAI"),
            _record(1, "2.20", "EUR", meter_category="Azure OpenAI"),
            _record(2, "0.000000001", "USD", meter_category="Storage"),
        ],
    )
    assert {k: m.amount for k, m in read_cost_totals(store, SEPT, OCT, basis=Basis.ACTUAL).items()} == {
        "EUR": Decimal("2.2"),
        "USD": Decimal("1.100000001"),
    }
    series = read_cost_series(
        store, SEPT, OCT, basis=Basis.ACTUAL, granularity="month", group_by=["meter_category"]
    )
    assert [(p.period, dict(p.group), str(p.cost.amount), p.cost.currency) for p in series] == [
        (SEPT, {"meter_category": "Azure OpenAI"}, "2.2", "EUR"),
        (SEPT, {"meter_category": "Azure OpenAI"}, "1.1", "USD"),
        (SEPT, {"meter_category": "Storage"}, "1E-9", "USD"),
    ]


def test_cost_series_by_day_tag_and_filter(store: Store) -> None:
    costs = CostRecordStore(store)
    rid = "/subscriptions/S1/resourceGroups/RG/providers/Microsoft.CognitiveServices/accounts/AOAI"
    costs.replace_slice(
        "cm",
        "s1",
        Basis.ACTUAL,
        SEPT,
        OCT,
        [
            _record(1, "1", resource_id=rid, tags={"team": "search"}),
            _record(1, "2", resource_id=rid, tags={"team": "ads"}),
            _record(2, "4", resource_id=rid),
            _record(2, "8", resource_id="/other"),
        ],
    )
    series = read_cost_series(
        store, SEPT, OCT, basis=Basis.ACTUAL, group_by=["tag:team"], filters={"resource_id": rid}
    )
    assert [(p.period.day, p.group["tag:team"], p.cost.amount) for p in series] == [
        (1, "ads", Decimal(2)),
        (1, "search", Decimal(1)),
        (2, None, Decimal(4)),
    ]
    (stored,) = [
        r for r in read_cost_records(store, SEPT, OCT, basis=Basis.ACTUAL) if r.tags.get("team") == "ads"
    ]
    assert stored.resource_id == rid.lower() and stored.cost == Decimal(2) and stored.source == "cm"
    with pytest.raises(ValidationError, match="cannot group by"):
        read_cost_series(store, SEPT, OCT, basis=Basis.ACTUAL, group_by=["password"])


def test_checkpoints_and_freshness(store: Store) -> None:
    clock = iter([dt.datetime(2026, 11, 2, 6, tzinfo=dt.UTC), dt.datetime(2026, 11, 2, 7, tzinfo=dt.UTC)])
    costs = CostRecordStore(store, clock=lambda: next(clock))
    costs.replace_slice("cm", "s1", Basis.ACTUAL, SEPT, OCT, [_record(5, "1")], detail={"run_id": "r1"})
    costs.replace_slice("cm", "s1", Basis.ACTUAL, SEPT, OCT, [_record(7, "1")], detail={"run_id": "r2"})
    (fresh,) = read_cost_freshness(store)
    assert (fresh.source, fresh.scope, fresh.basis, fresh.last_data_day) == (
        "cm",
        "s1",
        Basis.ACTUAL,
        dt.date(2023, 9, 7),
    )
    assert fresh.collected_at == dt.datetime(2026, 11, 2, 7, tzinfo=dt.UTC)
    (checkpoint,) = read_cost_checkpoints(store, source="cm")
    assert checkpoint.records == 1 and checkpoint.totals["USD"].amount == Decimal(1)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(
            st.integers(1, 30),
            st.decimals(min_value=-1000, max_value=1000, places=12),
            st.sampled_from(["USD", "EUR"]),
        ),
        max_size=12,
    )
)
def test_reingesting_changes_nothing(sqlite_store: Store, rows: list[tuple[int, Decimal, str]]) -> None:
    costs = CostRecordStore(sqlite_store)
    records = [_record(day, str(cost), currency) for day, cost, currency in rows]
    once = costs.replace_slice("cm", "s1", Basis.ACTUAL, SEPT, OCT, records).totals
    twice = costs.replace_slice("cm", "s1", Basis.ACTUAL, SEPT, OCT, records).totals
    expected: dict[str, Decimal] = {}
    for _, cost, currency in rows:  # billed cost is kept exactly as sent (docs/billed-cost.md)
        expected[currency] = expected.get(currency, Decimal(0)) + cost
    assert once == twice == {c: Money(n, c, Basis.ACTUAL) for c, n in expected.items()}
    assert read_cost_totals(sqlite_store, SEPT, OCT, basis=Basis.ACTUAL) == dict(twice)
