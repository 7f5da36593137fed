"""Nowcast: actual cost through the last complete billing day plus estimated cost after it (pure).

A day is counted once, from exactly one source: when actuals arrive for a day they *replace* that day's
estimate. Days up to ``last_complete_day`` come from actuals (a missing day there is a billed zero), later
days from usage estimates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from aifinops.domain import NANOS, Basis
from aifinops.engine.budgets import Budget, BudgetStatus, evaluate_budget
from aifinops.engine.forecast import Forecast, forecast_period_end
from aifinops.engine.periods import Period, day_start, local_date
from aifinops.engine.spend_sources import SpendSource, source_days

__all__ = ["DailyAmount", "Nowcast", "attribute_actual", "budget_status", "nowcast"]


@dataclass(frozen=True, slots=True)
class DailyAmount:
    """The spend of one calendar day and the source it was taken from (actual/amortized or estimated)."""

    day: dt.date
    amount: Decimal
    basis: Basis


@dataclass(frozen=True, slots=True)
class Nowcast:
    """A daily series with one source per day; ``total`` is its exact sum, on the ``nowcast`` basis."""

    days: tuple[DailyAmount, ...]
    currency: str
    last_complete_day: dt.date | None

    @property
    def total(self) -> Decimal:
        return sum((d.amount for d in self.days), Decimal(0))

    @property
    def actual_part(self) -> Decimal:
        return sum((d.amount for d in self.days if d.basis is not Basis.ESTIMATED), Decimal(0))

    @property
    def estimated_part(self) -> Decimal:
        return sum((d.amount for d in self.days if d.basis is Basis.ESTIMATED), Decimal(0))

    def as_mapping(self) -> dict[dt.date, Decimal]:
        return {d.day: d.amount for d in self.days}


def nowcast(
    *,
    actual: Mapping[dt.date, Decimal],
    estimated: Mapping[dt.date, Decimal],
    last_complete_day: dt.date | None,
    first_day: dt.date,
    last_day: dt.date,
    currency: str,
    actual_basis: Basis = Basis.ACTUAL,
) -> Nowcast:
    """Merge actual and estimated daily spend over ``first_day``…``last_day`` (inclusive).

    >>> d = dt.date(2026, 11, 1)
    >>> nc = nowcast(actual={d: Decimal("10")}, estimated={d: Decimal("9"), d.replace(day=2): Decimal("4")},
    ...              last_complete_day=d, first_day=d, last_day=d.replace(day=2), currency="USD")
    >>> nc.total, nc.actual_part, nc.estimated_part
    (Decimal('14'), Decimal('10'), Decimal('4'))
    """
    days: list[DailyAmount] = []
    day = first_day
    while day <= last_day:
        if last_complete_day is not None and day <= last_complete_day:
            days.append(DailyAmount(day, actual.get(day, Decimal(0)), actual_basis))
        elif day in estimated:
            days.append(DailyAmount(day, estimated[day], Basis.ESTIMATED))
        day += dt.timedelta(days=1)
    return Nowcast(tuple(days), currency, last_complete_day)


def attribute_actual(
    *,
    actual_total: Mapping[dt.date, Decimal],
    scope_estimated: Mapping[dt.date, Decimal],
    total_estimated: Mapping[dt.date, Decimal],
) -> dict[dt.date, Decimal]:
    """A scope's share of each day's actual cost, in proportion to its share of that day's estimated cost.

    Billed cost carries no allocation dimensions (tenant, use case, agent), so a dimension-filtered scope
    gets ``actual × scope_estimate / total_estimate`` per day, rounded half-even to 10⁻⁹. A day with no
    estimate at all attributes nothing to a filtered scope.

    >>> d = dt.date(2026, 11, 1)
    >>> attribute_actual(actual_total={d: Decimal("100")}, scope_estimated={d: Decimal("1")},
    ...                  total_estimated={d: Decimal("4")})
    {datetime.date(2026, 11, 1): Decimal('25.000000000')}
    """
    shares: dict[dt.date, Decimal] = {}
    for day, amount in actual_total.items():
        denominator = total_estimated.get(day, Decimal(0))
        if denominator <= 0:
            continue
        share = amount * scope_estimated.get(day, Decimal(0)) / denominator
        shares[day] = share.quantize(NANOS, rounding=ROUND_HALF_EVEN)
    return shares


def budget_status(
    budget: Budget,
    *,
    period: Period,
    as_of: dt.datetime,
    history_first_day: dt.date,
    scope_estimated: Mapping[dt.date, Decimal],
    total_estimated: Mapping[dt.date, Decimal],
    billed_total: Mapping[dt.date, Decimal],
    last_complete_day: dt.date | None,
    scope_allocated: Mapping[dt.date, Decimal] | None = None,
) -> BudgetStatus:
    """A budget's status from daily inputs: spend on its basis, period-end forecast, crossed thresholds.

    ``billed_total`` is the unfiltered billed cost per day on the budget's billed basis (amortized for an
    amortized budget, actual otherwise). A dimension-scoped budget spends ``scope_allocated`` — what the
    stored allocation charged the scope — on the days it holds, and its estimated share of the bill on the
    other billed days (:mod:`aifinops.engine.spend_sources`). ``history_first_day`` is where the forecast's
    training history starts.
    """
    today = local_date(as_of, period.tz)
    billed, billed_from = _scoped_billed(
        budget, scope_estimated, total_estimated, billed_total, scope_allocated
    )
    forecast: Forecast | None = None
    if budget.basis is Basis.NOWCAST:
        daily = nowcast(
            actual=billed,
            estimated=scope_estimated,
            last_complete_day=last_complete_day,
            first_day=history_first_day,
            last_day=today,
            currency=budget.currency,
        ).as_mapping()
        forecast = forecast_period_end(daily=daily, period=period, as_of=as_of, currency=budget.currency)
    else:
        daily = billed
        if last_complete_day is not None:
            # Billed cost is known through the last complete day: forecast from there, not from now.
            known = {d: v for d, v in billed.items() if d <= last_complete_day}
            forecast_as_of = min(
                day_start(last_complete_day + dt.timedelta(days=1), period.tz),
                period.end - dt.timedelta(microseconds=1),
            )
            forecast = forecast_period_end(
                daily=known, period=period, as_of=forecast_as_of, currency=budget.currency
            )
    spent = [d for d in daily if period.contains_day(d) and d <= today]
    spend = sum((daily[d] for d in spent), Decimal(0))
    sources: dict[dt.date, SpendSource] = {}
    for d in {*spent, *(d for d in billed_total if period.contains_day(d) and d <= today)}:
        if budget.basis is Basis.NOWCAST and (last_complete_day is None or d > last_complete_day):
            if d in scope_estimated:
                sources[d] = SpendSource.ESTIMATED
        elif d in billed or d in billed_total:
            sources[d] = billed_from(d)
    return evaluate_budget(
        budget, period=period, spend=spend, forecast=forecast, sources=source_days(sources)
    )


def _scoped_billed(
    budget: Budget,
    scope_estimated: Mapping[dt.date, Decimal],
    total_estimated: Mapping[dt.date, Decimal],
    billed_total: Mapping[dt.date, Decimal],
    scope_allocated: Mapping[dt.date, Decimal] | None,
) -> tuple[dict[dt.date, Decimal], Callable[[dt.date], SpendSource]]:
    """The budget's billed spend per day, and where each day's came from."""
    if not budget.scope:
        return dict(billed_total), lambda _: SpendSource.BILLED
    billed = attribute_actual(
        actual_total=billed_total, scope_estimated=scope_estimated, total_estimated=total_estimated
    )
    allocated = dict(scope_allocated or {})
    billed.update(allocated)
    return billed, lambda d: SpendSource.ALLOCATION if d in allocated else SpendSource.ESTIMATE_SHARE
