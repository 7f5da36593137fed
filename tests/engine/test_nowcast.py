"""Nowcast: actuals replace estimates day by day, never add to them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from aifinops.domain import Basis
from aifinops.engine.budgets import Budget
from aifinops.engine.nowcast import attribute_actual, budget_status, nowcast
from aifinops.engine.periods import PeriodKind, period_containing

D1, D2, D3 = dt.date(2026, 11, 1), dt.date(2026, 11, 2), dt.date(2026, 11, 3)


def test_actual_days_replace_estimates_and_later_days_are_estimated() -> None:
    result = nowcast(
        actual={D1: Decimal("12"), D2: Decimal("11")},
        estimated={D1: Decimal("10"), D2: Decimal("10"), D3: Decimal("3.5")},
        last_complete_day=D2,
        first_day=D1,
        last_day=D3,
        currency="USD",
    )
    assert [(d.day, d.amount, d.basis) for d in result.days] == [
        (D1, Decimal("12"), Basis.ACTUAL),
        (D2, Decimal("11"), Basis.ACTUAL),
        (D3, Decimal("3.5"), Basis.ESTIMATED),
    ]
    assert result.total == Decimal("26.5")
    assert (result.actual_part, result.estimated_part) == (Decimal("23"), Decimal("3.5"))


def test_missing_actual_for_a_complete_day_is_a_billed_zero_not_the_estimate() -> None:
    result = nowcast(
        actual={},
        estimated={D1: Decimal("10")},
        last_complete_day=D1,
        first_day=D1,
        last_day=D1,
        currency="USD",
    )
    assert result.total == 0


def test_no_actuals_yet_means_all_estimated_and_amortized_basis_is_kept() -> None:
    result = nowcast(
        actual={D1: Decimal("99")},
        estimated={D1: Decimal("10")},
        last_complete_day=None,
        first_day=D1,
        last_day=D1,
        currency="USD",
        actual_basis=Basis.AMORTIZED,
    )
    assert result.total == Decimal("10")
    partial = nowcast(
        actual={D1: Decimal("99")},
        estimated={},
        last_complete_day=D1,
        first_day=D1,
        last_day=D1,
        currency="USD",
        actual_basis=Basis.AMORTIZED,
    )
    assert partial.days[0].basis is Basis.AMORTIZED


amount = st.decimals(min_value=0, max_value=10_000, places=3)


@given(
    actual=st.dictionaries(st.sampled_from([D1, D2, D3]), amount),
    estimated=st.dictionaries(st.sampled_from([D1, D2, D3]), amount),
    cut=st.sampled_from([None, D1, D2, D3]),
)
def test_each_day_is_counted_once_from_exactly_one_source(
    actual: dict[dt.date, Decimal], estimated: dict[dt.date, Decimal], cut: dt.date | None
) -> None:
    result = nowcast(
        actual=actual, estimated=estimated, last_complete_day=cut, first_day=D1, last_day=D3, currency="USD"
    )
    expected = sum(
        (actual.get(d, Decimal(0)) if cut is not None and d <= cut else estimated.get(d, Decimal(0)))
        for d in (D1, D2, D3)
    )
    assert result.total == expected
    assert len({d.day for d in result.days}) == len(result.days)


def test_actual_is_attributed_to_a_scope_by_its_estimated_share() -> None:
    shares = attribute_actual(
        actual_total={D1: Decimal("90"), D2: Decimal("50")},
        scope_estimated={D1: Decimal("1"), D2: Decimal("0")},
        total_estimated={D1: Decimal("3")},
    )
    assert shares == {D1: Decimal("30")}


def test_budget_status_on_each_basis_counts_a_day_once_and_forecasts_from_known_days() -> None:
    as_of = dt.datetime(2026, 11, 11, 12, tzinfo=dt.UTC)
    period = period_containing(as_of, PeriodKind.MONTH, "UTC")
    assert period is not None
    days = [dt.date(2026, 11, d) for d in range(1, 12)]
    estimated = {d: Decimal("10") for d in days}
    billed = {d: Decimal("12") for d in days[:10]}  # billed through Nov 10, complete through Nov 9

    def status(basis: Basis, scope: dict[str, tuple[str, ...]] | None = None) -> tuple[Decimal, Decimal]:
        budget = Budget("b", Decimal("1000"), "USD", basis=basis, scope=scope or {})
        result = budget_status(
            budget,
            period=period,
            as_of=as_of,
            history_first_day=dt.date(2026, 11, 1),
            scope_estimated=estimated if not scope else {d: v / 2 for d, v in estimated.items()},
            total_estimated=estimated,
            billed_total=billed,
            last_complete_day=dt.date(2026, 11, 9),
        )
        assert result.forecast is not None and result.forecast.point >= 0
        return result.spend.amount, result.forecast.point

    assert status(Basis.NOWCAST) == (
        Decimal(12 * 9 + 10 * 2),
        Decimal(12 * 9 + 10 * 2) + Decimal("19.5") * 12,
    )
    assert status(Basis.NOWCAST, {"tenant": ("contoso",)})[0] == Decimal(6 * 9 + 5 * 2)
    assert status(Basis.ACTUAL) == (Decimal(120), Decimal(12 * 30))  # forecast from the 9 complete days


@given(
    allocated=st.dictionaries(st.sampled_from([D1, D2, D3]), st.decimals(0, 100, places=2)),
    basis=st.sampled_from([Basis.ACTUAL, Basis.NOWCAST]),
)
def test_a_scoped_budget_spends_its_allocation_where_there_is_one_and_names_each_days_source(
    allocated: dict[dt.date, Decimal], basis: Basis
) -> None:
    as_of = dt.datetime(2026, 11, 3, 18, tzinfo=dt.UTC)
    period = period_containing(as_of, PeriodKind.MONTH, "UTC")
    assert period is not None
    bill = {d: Decimal(40) for d in (D1, D2, D3)}
    scope_estimate = {d: Decimal(1) for d in (D1, D2, D3)}
    result = budget_status(
        Budget("b", Decimal(100), "USD", basis=basis, scope={"use_case": ("a",)}),
        period=period,
        as_of=as_of,
        history_first_day=D1,
        scope_estimated=scope_estimate,
        total_estimated={d: Decimal(4) for d in (D1, D2, D3)},
        billed_total=bill,
        last_complete_day=D2,
        scope_allocated=allocated,
    )
    estimated_day = basis is Basis.NOWCAST
    expected = {
        d: (Decimal(1) if estimated_day and d == D3 else allocated.get(d, Decimal(10)))  # 10 = a quarter
        for d in (D1, D2, D3)
    }
    assert result.spend.amount == sum(expected.values())
    sources = {s.source.value: s.days for s in result.sources}
    assert sum(sources.values()) == 3
    assert sources.get("allocation", 0) == len([d for d in allocated if not (estimated_day and d == D3)])
    assert sources.get("estimated", 0) == int(estimated_day)
