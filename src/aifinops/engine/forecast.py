"""Period-end spend forecast from daily spend: weekday- and partial-day aware, banded, never negative (pure).

Method, in words (``Forecast.explanation`` says the same with the numbers):

1. Training days are the complete days of the trailing window (default 28) before the local day of
   ``as_of``, from the first day that has data; a missing day after that is a zero-spend day.
2. With at least two weeks of training, each weekday gets a factor: the median of its days over the
   mean of the seven medians; with one week, working days and weekend days get one factor each; with
   less every factor is 1 (the weekly shape cannot be told apart from noise).
3. The run rate is the median of the weekday-adjusted values of the last 14 training days: medians keep
   one spike from moving the forecast. The band's σ is the larger of 1.4826 × their MAD (a robust
   standard deviation) and their sample standard deviation: a spike does not move the point, but it
   shows how far a month may stray. One sample gives σ = the run rate. With no training day at all, the
   run rate is the period-to-date average once 6 hours have passed, with σ = that average.
4. The forecast is the spend so far plus the run rate × weekday factor for the rest of today (by the
   elapsed fraction of the local day) and each remaining day. The band adds ± t·σ·(√n + n/√m) for n days
   left and m run-rate samples (day noise plus run-rate uncertainty), t being Student's quantile for
   m − 1 degrees of freedom at ``z`` (few samples, wider band); it never goes below the spend so far nor
   below zero. The band covers day-to-day variation and the run rate's uncertainty, not a change of
   regime (a new workload, a runaway agent): the anomaly detector is there for those.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from aifinops.domain import NANOS
from aifinops.engine.periods import Period, day_start, local_date

__all__ = ["Forecast", "forecast_period_end", "median", "robust_sigma"]

_ZERO = Decimal(0)
_ONE = Decimal(1)
_MAD_TO_SIGMA = Decimal("1.4826")
_LEVEL_DAYS = 14
_MIN_WEEKDAY_DAYS = 14
_MIN_WEEKEND_DAYS = 7
_MIN_ELAPSED_DAYS = Decimal("0.25")


def median(values: Sequence[Decimal]) -> Decimal:
    """The median of a non-empty sequence (mean of the two middle values for an even count)."""
    if not values:
        raise ValueError("median of no values")
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def robust_sigma(values: Sequence[Decimal], center: Decimal | None = None) -> Decimal:
    """1.4826 × the median absolute deviation: the standard deviation of normal data, robust to spikes."""
    center = median(values) if center is None else center
    return _MAD_TO_SIGMA * median([abs(v - center) for v in values])


@dataclass(frozen=True, slots=True)
class Forecast:
    """A period-end forecast with its band and the figures that explain it (all in ``currency``)."""

    point: Decimal
    low: Decimal
    high: Decimal
    spent: Decimal
    run_rate: Decimal  # weekday-adjusted spend of an average day
    days_elapsed: Decimal
    days_left: Decimal
    weekday_factors: tuple[Decimal, ...]  # Monday … Sunday
    training_days: int
    method: str
    currency: str

    @property
    def explanation(self) -> str:
        return (
            f"spent {_show(self.spent)} {self.currency} in {_show(self.days_elapsed)} days; run rate "
            f"{_show(self.run_rate)} {self.currency}/day "
            f"({self.method}, {self.training_days} training days); "
            f"{_show(self.days_left)} days left → {_show(self.point)} {self.currency} "
            f"(band {_show(self.low)}–{_show(self.high)})"
        )


def _show(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN))


def _training(daily: Mapping[dt.date, Decimal], today: dt.date, window: int) -> list[tuple[dt.date, Decimal]]:
    first_known = min((d for d in daily if d < today), default=None)
    if first_known is None:
        return []
    start = max(first_known, today - dt.timedelta(days=window))
    span = (today - start).days
    return [
        (start + dt.timedelta(days=i), daily.get(start + dt.timedelta(days=i), _ZERO)) for i in range(span)
    ]


def _weekday_factors(training: list[tuple[dt.date, Decimal]]) -> tuple[Decimal, ...]:
    if len(training) < _MIN_WEEKEND_DAYS:
        return (_ONE,) * 7
    by_weekday: list[list[Decimal]] = [[] for _ in range(7)]
    for day, amount in training:
        by_weekday[day.weekday()].append(max(amount, _ZERO))
    if len(training) < _MIN_WEEKDAY_DAYS:
        # One week tells working days from weekends, not Monday from Tuesday.
        workdays = median([v for values in by_weekday[:5] for v in values])
        weekend = median([v for values in by_weekday[5:] for v in values])
        medians = [workdays] * 5 + [weekend] * 2
    else:
        medians = [median(values) for values in by_weekday]
    overall = sum(medians, _ZERO) / 7
    if overall <= 0:
        return (_ONE,) * 7
    return tuple(m / overall for m in medians)


def _level(
    training: list[tuple[dt.date, Decimal]], factors: tuple[Decimal, ...]
) -> tuple[Decimal, Decimal, int]:
    """The run rate (median), the band's sigma and the sample count from the last training days.

    The run rate is robust, the band is not: a spike is left out of the expected spend but kept in how far
    the spend may stray, so sigma is the larger of the robust sigma and the sample standard deviation.
    """
    adjusted = [
        max(amount, _ZERO) / factors[day.weekday()]
        for day, amount in training[-_LEVEL_DAYS:]
        if factors[day.weekday()] > 0
    ]
    if not adjusted:
        return _ZERO, _ZERO, 0
    level = median(adjusted)
    if len(adjusted) < 2:  # one day tells nothing of the spread: as uncertain as the level itself
        return level, level, 1
    mean = sum(adjusted, _ZERO) / len(adjusted)
    spread = (sum(((v - mean) ** 2 for v in adjusted), _ZERO) / (len(adjusted) - 1)).sqrt()
    return level, max(robust_sigma(adjusted, level), spread), len(adjusted)


def _t_quantile(z: Decimal, df: int) -> Decimal:
    """Student's t quantile at the normal quantile ``z`` for ``df`` degrees of freedom (Cornish-Fisher).

    A few training days estimate sigma loosely; t widens the band accordingly (1.645 → 2.35 at 3 df, 1.70 at
    27) and tends to ``z``. The expansion is within 1 % from 2 degrees of freedom and is used from 1.
    """
    v = Decimal(max(df, 1))
    z2 = z * z
    return (
        z
        + (z2 * z + z) / (4 * v)
        + (5 * z2 * z2 * z + 16 * z2 * z + 3 * z) / (96 * v * v)
        + (3 * z2 * z2 * z2 * z + 19 * z2 * z2 * z + 17 * z2 * z - 15 * z) / (384 * v * v * v)
    )


def _remaining_weight(
    period: Period, today: dt.date, fraction_left: Decimal, factors: tuple[Decimal, ...]
) -> tuple[Decimal, Decimal]:
    """Σ weekday factor over what is left of the period (today by its fraction), and the days left."""
    weight = fraction_left * factors[today.weekday()] if period.contains_day(today) else _ZERO
    days_left = fraction_left if period.contains_day(today) else _ZERO
    first = max(today + dt.timedelta(days=1), period.first_day)
    count = max(0, (period.last_day - first).days + 1)
    # Whole weeks weigh the sum of all factors; only the leftover days are added one by one.
    weight += (count // 7) * sum(factors, _ZERO)
    weight += sum((factors[(first.weekday() + i) % 7] for i in range(count % 7)), _ZERO)
    return weight, days_left + count


def _fraction_of_day_left(as_of: dt.datetime, today: dt.date, tz: str) -> Decimal:
    start, end = day_start(today, tz), day_start(today + dt.timedelta(days=1), tz)
    left = Decimal((end - as_of).total_seconds()) / Decimal((end - start).total_seconds())
    return min(max(left, _ZERO), _ONE)


def forecast_period_end(
    *,
    daily: Mapping[dt.date, Decimal],
    period: Period,
    as_of: dt.datetime,
    currency: str,
    window_days: int = 28,
    z: Decimal = Decimal("1.645"),
) -> Forecast:
    """Forecast the spend of ``period`` at its end from local-day spend ``daily`` known at ``as_of``.

    ``daily`` may hold days before the period (they train the run rate and weekday factors) and the
    partial current day; days after the local day of ``as_of`` are ignored.
    """
    today = local_date(as_of, period.tz)
    spent = sum((a for d, a in daily.items() if period.contains_day(d) and d <= today), _ZERO)
    fraction_left = _fraction_of_day_left(as_of, today, period.tz)
    elapsed_days = Decimal(max(0, min((today - period.first_day).days, period.days))) + (
        (_ONE - fraction_left) if period.contains_day(today) else _ZERO
    )
    training = _training(daily, today, window_days)
    factors = _weekday_factors(training)
    level, sigma, samples = _level(training, factors)
    method = (
        "weekday-adjusted median"
        if len(training) >= _MIN_WEEKDAY_DAYS
        else "workday/weekend-adjusted median"
        if len(training) >= _MIN_WEEKEND_DAYS
        else "median of recent days"
    )
    if samples == 0 and elapsed_days >= _MIN_ELAPSED_DAYS:
        # No complete day yet: extrapolate what the period has spent so far. Not from minutes of data:
        # a burst in the first minutes would project to a multiple of the budget and fire a forecast alert.
        # Its spread is unknown: the band is as wide as the run rate itself.
        level, method = max(spent, _ZERO) / elapsed_days, "period-to-date average"
        sigma, samples = level, 1
    weight, days_left = _remaining_weight(period, today, fraction_left, factors)
    point = max(spent, _ZERO) + level * weight
    quantile = _t_quantile(z, samples - 1) if samples else z
    half_width = (
        quantile * sigma * (days_left.sqrt() + (days_left / Decimal(samples).sqrt() if samples else _ZERO))
    )
    low = max(_ZERO, spent, point - half_width)
    return Forecast(
        point=_q(point),
        low=_q(min(low, point)),
        high=_q(point + half_width),
        spent=_q(spent),
        run_rate=_q(level),
        days_elapsed=_q(elapsed_days),
        days_left=_q(days_left),
        weekday_factors=tuple(_q(f) for f in factors),
        training_days=len(training),
        method=method,
        currency=currency,
    )


def _q(value: Decimal) -> Decimal:
    """Rounded half-even to 10⁻⁹; zero as plain ``0`` (a quantized zero prints as ``0E-9``)."""
    rounded = value.quantize(NANOS, rounding=ROUND_HALF_EVEN)
    return rounded if rounded else Decimal(0)
