"""Reconciliation shows drift, effective prices against the book, and days with one side missing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from aifinops.domain import Basis, CostRecord, to_nanos
from aifinops.engine.reconciliation import DriftStatus, Estimate, block_size, reconcile

AOAI = "/subscriptions/s/resourcegroups/rg/providers/Microsoft.CognitiveServices/accounts/aoai"
D1, D2, D3 = dt.date(2026, 10, 1), dt.date(2026, 10, 2), dt.date(2026, 10, 3)
INPUT_ID = "A1B2-input"
# gpt-4o input at 2.50 USD per 1M tokens; Azure bills it per 1K (0.0025 per 1K).
BOOK = Decimal("2.50")


def est(day: dt.date, tokens: int, *, deployment: str = "chat-4o", meter_id: str = INPUT_ID) -> Estimate:
    cost = Decimal(tokens) * BOOK / 1_000_000
    return Estimate(
        day,
        AOAI.lower(),
        to_nanos(cost),
        "USD",
        quantity=Decimal(tokens),
        meter_id=meter_id,
        meter_name="gpt 4o 0513 Input global Tokens",
        deployment=deployment,
        unit_price=BOOK,
    )


def bill(
    day: dt.date, cost: str, quantity: str, *, meter_id: str = "a1b2-INPUT", unit: str = "1K"
) -> CostRecord:
    return CostRecord(
        day,
        Basis.ACTUAL,
        Decimal(cost),
        "USD",
        resource_id=AOAI.lower(),
        meter_id=meter_id,
        meter_name="gpt 4o 0513 Input global Tokens",
        quantity=Decimal(quantity),
        unit=unit,
    )


def test_drift_in_money_and_percent_per_meter_and_day() -> None:
    result = reconcile(
        [est(D1, 2_000_000), est(D1, 2_000_000, deployment="rag-4o")],
        [bill(D1, "10.5", "4000")],
        as_of=D3 + dt.timedelta(days=5),
    )
    (row,) = result.rows
    assert (row.estimated_nanos, row.actual_nanos, row.drift_nanos) == (
        10 * 10**9,
        10_500_000_000,
        500_000_000,
    )
    assert row.drift_pct == Decimal("5.00") and row.status is DriftStatus.MATCHED
    assert row.deployments == ("chat-4o", "rag-4o")
    strict = reconcile(
        [est(D1, 4_000_000)], [bill(D1, "10.5", "4000")], as_of=D3, drift_tolerance=Decimal("0.01")
    )
    assert strict.rows[0].status is DriftStatus.DRIFT


def test_effective_price_minds_the_1k_unit_and_flags_a_mismatch() -> None:
    fair = reconcile([est(D1, 4_000_000)], [bill(D1, "10", "4000")], as_of=D3)
    (check,) = fair.prices
    assert (check.effective_price, check.book_price, check.unit_size, check.mismatch) == (
        Decimal("2.500000000"),
        BOOK,
        1_000_000,
        False,
    )
    dearer = reconcile([est(D1, 4_000_000)], [bill(D1, "11", "4000")], as_of=D3)
    assert dearer.prices[0].effective_price == Decimal("2.750000000") and dearer.prices[0].mismatch
    per_million = reconcile([est(D1, 4_000_000)], [bill(D1, "10", "4", unit="1M")], as_of=D3)
    assert not per_million.prices[0].mismatch


def test_missing_telemetry_missing_cost_and_billing_lag_are_told_apart() -> None:
    estimates = [est(D1, 1_000_000), est(D3, 1_000_000)]
    bills = [bill(D1, "2.5", "1000"), bill(D2, "7", "2800")]
    result = reconcile(estimates, bills, as_of=D3 + dt.timedelta(days=1), billing_lag_days=2)
    assert [(r.day, r.status) for r in result.resources] == [
        (D1, DriftStatus.MATCHED),
        (D2, DriftStatus.TELEMETRY_MISSING),
        (D3, DriftStatus.BILLING_LAG),
    ]
    late = reconcile(estimates, bills, as_of=D3 + dt.timedelta(days=10))
    assert late.resources[-1].status is DriftStatus.COST_MISSING
    assert late.resources[1].drift_pct is None


def test_meters_join_by_name_when_ids_are_missing_and_non_ai_bills_are_left_out() -> None:
    estimates = [est(D1, 1_000_000, meter_id="")]
    bills = [
        bill(D1, "2.5", "1000", meter_id=""),
        CostRecord(
            D1, Basis.ACTUAL, Decimal("9"), "USD", resource_id="/subscriptions/s/x/microsoft.compute/vm"
        ),
    ]
    result = reconcile(estimates, bills, as_of=D3)
    assert [(r.meter, r.status) for r in result.rows] == [
        ("gpt 4o 0513 Input global Tokens", DriftStatus.MATCHED)
    ]


def test_currencies_are_never_compared() -> None:
    eur = CostRecord(D1, Basis.ACTUAL, Decimal("2.3"), "EUR", resource_id=AOAI.lower(), meter_id=INPUT_ID)
    result = reconcile([est(D1, 1_000_000)], [eur], as_of=D3 + dt.timedelta(days=10))
    assert sorted((r.currency, r.status) for r in result.resources) == [
        ("EUR", DriftStatus.TELEMETRY_MISSING),
        ("USD", DriftStatus.COST_MISSING),
    ]


@given(st.integers(0, 10**12), st.integers(0, 10**12))
def test_drift_is_actual_minus_estimate(estimated: int, actual: int) -> None:
    e = Estimate(D1, "r/microsoft.cognitiveservices/a", estimated, "USD", meter_id="m")
    records = [
        CostRecord(D1, Basis.ACTUAL, Decimal(actual) / 10**9, "USD", resource_id=e.resource_id, meter_id="m")
    ]
    result = reconcile([e] if estimated else [], records if actual else [], as_of=D1)
    for row in result.rows:
        assert row.drift_nanos == actual - estimated


def test_block_sizes_from_units_of_measure() -> None:
    assert [block_size(u) for u in ("1K", "1M", "10K", "100 Hours", "1/Hour", "1 Hour", "", "Tokens")] == [
        1000,
        1_000_000,
        10_000,
        100,
        1,
        1,
        1,
        1,
    ]
