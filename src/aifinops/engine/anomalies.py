"""Spend anomalies against a robust, weekday-aware baseline, with the dimension values behind them (pure).

The baseline of a day is the same weekday over the trailing weeks (8 by default); with fewer than
``min_points`` such days it falls back to the days of the same kind — weekdays for a weekday, weekend days
for a weekend day — of the trailing four weeks, never to a mix of both (a Sunday judged against weekdays is
always a "drop"). An hour is compared with the same hour one, two, … weeks earlier, else with the same hour
of the trailing 14 days of the same kind (steps of 24 hours of UTC time, so a DST change shifts the local
hour by one for the weeks across it). With fewer than ``min_points`` of those either, the verdict is
``insufficient_history``: nothing is alerted on a baseline too short to judge.

Expected range: median ± k·σ where σ = max(1.4826·MAD, ``relative_floor`` × median, ``floor``). A MAD of
four points is itself noisy and can be near zero; the relative floor (15 % by default, so the range is at
least ±45 %) keeps ordinary day-to-day noise of ±12 % from alarming, while a 3× spike or a 70 % collapse
still falls outside, and the absolute floor keeps a flat history of cents quiet. Back-test in
``tests/engine/test_anomalies.py``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import TypeVar

from aifinops.domain import NANOS
from aifinops.engine.forecast import median, robust_sigma

__all__ = [
    "Anomaly",
    "Contributor",
    "Sensitivity",
    "Status",
    "Verdict",
    "contributors",
    "detect_daily",
    "detect_hourly",
    "judge_daily",
    "judge_hourly",
]

K = TypeVar("K", dt.date, dt.datetime)
DimensionValue = tuple[str, str]  # (dimension, value), e.g. ("model", "o3")

_ZERO = Decimal(0)
RELATIVE_FLOOR = Decimal("0.15")


class Status(StrEnum):
    """What a check of one day or hour concluded."""

    NORMAL = "normal"
    ANOMALY = "anomaly"
    INSUFFICIENT_HISTORY = "insufficient_history"  # too few comparable points to judge: never alerted
    NO_DATA = "no_data"  # the day or hour itself is not in the series


@dataclass(frozen=True, slots=True)
class Contributor:
    """One dimension value and how far its spend moved from its own baseline."""

    dimension: str
    value: str
    expected: Decimal
    observed: Decimal

    @property
    def delta(self) -> Decimal:
        return self.observed - self.expected


@dataclass(frozen=True, slots=True)
class Anomaly:
    """An observed spend outside its expected range, for one scope and one day or hour."""

    scope: str
    grain: str  # "day" | "hour"
    at: str  # ISO date or ISO hour start (UTC)
    observed: Decimal
    expected: Decimal
    low: Decimal
    high: Decimal
    score: Decimal  # (observed − expected) / σ
    currency: str
    baseline_points: int
    contributors: tuple[Contributor, ...] = ()

    @property
    def direction(self) -> str:
        return "spike" if self.observed > self.expected else "drop"

    @property
    def explanation(self) -> str:
        drivers = "; ".join(f"{c.dimension}={c.value} {c.delta:+.2f}" for c in self.contributors[:3])
        return (
            f"{self.scope} {self.grain} {self.at}: {self.observed:.2f} {self.currency} vs expected "
            f"{self.low:.2f}–{self.high:.2f} (median {self.expected:.2f}, score {self.score:.1f})"
            + (f"; driven by {drivers}" if drivers else "")
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of checking one scope at one day or hour, with the baseline it was judged against."""

    scope: str
    grain: str  # "day" | "hour"
    at: str
    status: Status
    baseline: str  # "same weekday", "same hour, same weekday", "weekdays", "weekend days", …
    baseline_points: int
    needed: int  # the fewest points a baseline must have to judge
    anomaly: Anomaly | None = None

    @property
    def explanation(self) -> str:
        if self.anomaly is not None:
            return self.anomaly.explanation
        if self.status is Status.INSUFFICIENT_HISTORY:
            return (
                f"{self.scope} {self.grain} {self.at}: not judged, {self.baseline_points} comparable "
                f"point(s) ({self.baseline}) and {self.needed} needed"
            )
        return f"{self.scope} {self.grain} {self.at}: {self.status.value}"


def _q(value: Decimal) -> Decimal:
    """Rounded half-even to 10⁻⁹; zero as plain ``0`` (a quantized zero prints as ``0E-9``)."""
    rounded = value.quantize(NANOS, rounding=ROUND_HALF_EVEN)
    return rounded if rounded else Decimal(0)


def _judge(
    *, observed: Decimal, baseline: Sequence[Decimal], k: Decimal, floor: Decimal, relative_floor: Decimal
) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """(median, low, high, score) of ``observed`` against ``baseline``."""
    center = median(baseline)
    sigma = max(robust_sigma(baseline, center), abs(center) * relative_floor, floor)
    low, high = max(_ZERO, center - k * sigma), center + k * sigma
    return center, low, high, (observed - center) / sigma


def _weekend(key: dt.date) -> bool:
    return key.weekday() >= 5


def _baseline_keys(
    at: K, series: Mapping[K, Decimal], candidates: Callable[[int], list[K]], min_points: int
) -> tuple[list[K], str]:
    """The same weekday's keys when there are enough, else those of the same kind of day (and which)."""
    seasonal = [key for key in candidates(7) if key in series]
    if len(seasonal) >= min_points:
        return seasonal, "same weekday"
    weekend = _weekend(at)
    return [key for key in candidates(1) if key in series and _weekend(key) == weekend], (
        "weekend days" if weekend else "weekdays"
    )


@dataclass(frozen=True, slots=True)
class Sensitivity:
    """How a check judges: the range is median ± ``k``·σ, σ floored at ``relative_floor`` × median and at
    ``floor``; a baseline needs ``min_points`` comparable points."""

    k: Decimal = Decimal(3)
    floor: Decimal = Decimal("0.01")
    relative_floor: Decimal = RELATIVE_FLOOR
    min_points: int = 4


def _check(
    *,
    at: K,
    series: Mapping[K, Decimal],
    candidates: Callable[[int], list[K]],
    breakdown: Mapping[K, Mapping[DimensionValue, Decimal]] | None,
    scope: str,
    grain: str,
    currency: str,
    rules: Sensitivity,
) -> Verdict:
    found, baseline = _baseline_keys(at, series, candidates, rules.min_points)
    verdict = Verdict(scope, grain, at.isoformat(), Status.NORMAL, baseline, len(found), rules.min_points)
    if at not in series:
        return replace(verdict, status=Status.NO_DATA)
    if len(found) < rules.min_points:
        return replace(verdict, status=Status.INSUFFICIENT_HISTORY)
    observed = series[at]
    center, low, high, score = _judge(
        observed=observed,
        baseline=[series[x] for x in found],
        k=rules.k,
        floor=rules.floor,
        relative_floor=rules.relative_floor,
    )
    if low <= observed <= high:
        return verdict
    drivers: tuple[Contributor, ...] = ()
    if breakdown is not None:
        drivers = contributors(
            observed=breakdown.get(at, {}),
            baseline=[breakdown.get(x, {}) for x in found],
            spike=observed > center,
        )
    anomaly = Anomaly(
        scope=scope,
        grain=grain,
        at=at.isoformat(),
        observed=_q(observed),
        expected=_q(center),
        low=_q(low),
        high=_q(high),
        score=score.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN),
        currency=currency,
        baseline_points=len(found),
        contributors=drivers,
    )
    return replace(verdict, status=Status.ANOMALY, anomaly=anomaly)


def judge_daily(
    *,
    series: Mapping[dt.date, Decimal],
    day: dt.date,
    scope: str,
    currency: str,
    breakdown: Mapping[dt.date, Mapping[DimensionValue, Decimal]] | None = None,
    weeks: int = 8,
    rules: Sensitivity = Sensitivity(),
) -> Verdict:
    """Judge ``day`` in a daily spend ``series``: normal, an anomaly, or not judged (too little history).

    ``series`` must hold zero for days without spend that belong to the history.
    """

    def candidates(step: int) -> list[dt.date]:
        span = weeks * 7 if step == 7 else 28
        return [day - dt.timedelta(days=i) for i in range(step, span + 1, step)]

    return _check(
        at=day,
        series=series,
        candidates=candidates,
        breakdown=breakdown,
        scope=scope,
        grain="day",
        currency=currency,
        rules=rules,
    )


def judge_hourly(
    *,
    series: Mapping[dt.datetime, Decimal],
    hour: dt.datetime,
    scope: str,
    currency: str,
    breakdown: Mapping[dt.datetime, Mapping[DimensionValue, Decimal]] | None = None,
    weeks: int = 4,
    rules: Sensitivity = Sensitivity(),
) -> Verdict:
    """Judge the hour starting at ``hour`` (aware UTC) against the same hour of earlier days."""

    def candidates(step: int) -> list[dt.datetime]:
        span = weeks * 7 if step == 7 else 14
        return [hour - dt.timedelta(days=i) for i in range(step, span + 1, step)]

    return _check(
        at=hour,
        series=series,
        candidates=candidates,
        breakdown=breakdown,
        scope=scope,
        grain="hour",
        currency=currency,
        rules=rules,
    )


def detect_daily(
    *,
    series: Mapping[dt.date, Decimal],
    day: dt.date,
    scope: str,
    currency: str,
    breakdown: Mapping[dt.date, Mapping[DimensionValue, Decimal]] | None = None,
) -> Anomaly | None:
    """The anomaly of ``day`` (None when normal or not judged): :func:`judge_daily` with its defaults."""
    return judge_daily(series=series, day=day, scope=scope, currency=currency, breakdown=breakdown).anomaly


def detect_hourly(
    *,
    series: Mapping[dt.datetime, Decimal],
    hour: dt.datetime,
    scope: str,
    currency: str,
    breakdown: Mapping[dt.datetime, Mapping[DimensionValue, Decimal]] | None = None,
) -> Anomaly | None:
    """The anomaly of the hour (None when normal or not judged): :func:`judge_hourly` with its defaults."""
    return judge_hourly(series=series, hour=hour, scope=scope, currency=currency, breakdown=breakdown).anomaly


def contributors(
    *,
    observed: Mapping[DimensionValue, Decimal],
    baseline: Sequence[Mapping[DimensionValue, Decimal]],
    spike: bool = True,
    top: int = 5,
) -> tuple[Contributor, ...]:
    """The dimension values whose spend moved most in the anomaly's direction, largest move first.

    Each value is compared with its own median over the baseline points (absent = zero), so a model
    switch shows as the new model up and the old one down, and one looping agent as that agent alone.
    A value that was always the only one of its dimension (the scope's own tenant, the one app) says
    nothing about the jump and is left out.
    """
    keys = set(observed).union(*baseline)
    values_of: dict[str, set[str]] = {}
    for dimension, value in keys:
        values_of.setdefault(dimension, set()).add(value)
    found = []
    for dimension, value in keys:
        if len(values_of[dimension]) == 1 and all((dimension, value) in point for point in baseline):
            continue
        expected = median([point.get((dimension, value), _ZERO) for point in baseline]) if baseline else _ZERO
        contributor = Contributor(dimension, value, _q(expected), _q(observed.get((dimension, value), _ZERO)))
        if (contributor.delta > 0) if spike else (contributor.delta < 0):
            found.append(contributor)
    found.sort(key=lambda c: (-abs(c.delta), c.dimension, c.value))
    return tuple(found[:top])
