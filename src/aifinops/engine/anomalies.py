"""Spend anomalies against a robust, weekday-aware baseline, with the dimension values behind them (pure).

The baseline of a day is the same weekday over the trailing weeks (8 by default); with fewer than
``min_points`` such days it falls back to every day of the trailing four weeks. An hour is compared with
the same hour one, two, … weeks earlier, else with the same hour of each of the trailing 14 days (steps of
24 hours of UTC time, so a DST change shifts the local hour by one for the weeks across it). Expected range:
median ± k·σ where σ = max(1.4826·MAD, 10 % of the median, ``floor``) — the floors keep a perfectly flat
history from turning every cent of noise into an anomaly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TypeVar

from aifinops.domain import NANOS
from aifinops.engine.forecast import median, robust_sigma

__all__ = ["Anomaly", "Contributor", "contributors", "detect_daily", "detect_hourly"]

K = TypeVar("K", dt.date, dt.datetime)
DimensionValue = tuple[str, str]  # (dimension, value), e.g. ("model", "o3")

_ZERO = Decimal(0)
_RELATIVE_FLOOR = Decimal("0.1")


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


def _q(value: Decimal) -> Decimal:
    """Rounded half-even to 10⁻⁹; zero as plain ``0`` (a quantized zero prints as ``0E-9``)."""
    rounded = value.quantize(NANOS, rounding=ROUND_HALF_EVEN)
    return rounded if rounded else Decimal(0)


def _judge(
    *, observed: Decimal, baseline: Sequence[Decimal], k: Decimal, floor: Decimal
) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """(median, low, high, score) of ``observed`` against ``baseline``."""
    center = median(baseline)
    sigma = max(robust_sigma(baseline, center), abs(center) * _RELATIVE_FLOOR, floor)
    low, high = max(_ZERO, center - k * sigma), center + k * sigma
    return center, low, high, (observed - center) / sigma


def _baseline_keys(
    at: K, series: Mapping[K, Decimal], candidates: Callable[[int], list[K]], min_points: int
) -> list[K]:
    seasonal = [key for key in candidates(7) if key in series]
    if len(seasonal) >= min_points:
        return seasonal
    return [key for key in candidates(1) if key in series]


def _check(
    *,
    at: K,
    series: Mapping[K, Decimal],
    keys: list[K],
    breakdown: Mapping[K, Mapping[DimensionValue, Decimal]] | None,
    scope: str,
    grain: str,
    currency: str,
    k: Decimal,
    floor: Decimal,
    min_points: int,
) -> Anomaly | None:
    if at not in series or len(keys) < min_points:
        return None
    observed = series[at]
    center, low, high, score = _judge(observed=observed, baseline=[series[x] for x in keys], k=k, floor=floor)
    if low <= observed <= high:
        return None
    found: tuple[Contributor, ...] = ()
    if breakdown is not None:
        found = contributors(
            observed=breakdown.get(at, {}),
            baseline=[breakdown.get(x, {}) for x in keys],
            spike=observed > center,
        )
    return Anomaly(
        scope=scope,
        grain=grain,
        at=at.isoformat(),
        observed=_q(observed),
        expected=_q(center),
        low=_q(low),
        high=_q(high),
        score=score.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN),
        currency=currency,
        baseline_points=len(keys),
        contributors=found,
    )


def detect_daily(
    *,
    series: Mapping[dt.date, Decimal],
    day: dt.date,
    scope: str,
    currency: str,
    breakdown: Mapping[dt.date, Mapping[DimensionValue, Decimal]] | None = None,
    weeks: int = 8,
    k: Decimal = Decimal(3),
    floor: Decimal = Decimal("0.01"),
    min_points: int = 4,
) -> Anomaly | None:
    """The anomaly of ``day`` in a daily spend ``series`` (None when normal or the history is too short).

    ``series`` must hold zero for days without spend that belong to the history.
    """

    def candidates(step: int) -> list[dt.date]:
        span = weeks * 7 if step == 7 else 28
        return [day - dt.timedelta(days=i) for i in range(step, span + 1, step)]

    keys = _baseline_keys(day, series, candidates, min_points)
    return _check(
        at=day,
        series=series,
        keys=keys,
        breakdown=breakdown,
        scope=scope,
        grain="day",
        currency=currency,
        k=k,
        floor=floor,
        min_points=min_points,
    )


def detect_hourly(
    *,
    series: Mapping[dt.datetime, Decimal],
    hour: dt.datetime,
    scope: str,
    currency: str,
    breakdown: Mapping[dt.datetime, Mapping[DimensionValue, Decimal]] | None = None,
    weeks: int = 4,
    k: Decimal = Decimal(3),
    floor: Decimal = Decimal("0.01"),
    min_points: int = 4,
) -> Anomaly | None:
    """The anomaly of the hour starting at ``hour`` (aware UTC) against the same hour of earlier days."""

    def candidates(step: int) -> list[dt.datetime]:
        span = weeks * 7 if step == 7 else 14
        return [hour - dt.timedelta(days=i) for i in range(step, span + 1, step)]

    keys = _baseline_keys(hour, series, candidates, min_points)
    return _check(
        at=hour,
        series=series,
        keys=keys,
        breakdown=breakdown,
        scope=scope,
        grain="hour",
        currency=currency,
        k=k,
        floor=floor,
        min_points=min_points,
    )


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
