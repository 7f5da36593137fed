"""Spend anomalies over the stored usage: the last complete day or hour per scope, with its contributors.

Reads estimated spend with :func:`aifinops.store.spend_queries.spend_sums` and judges it with
:mod:`aifinops.engine.anomalies` (``/api/anomalies`` and the demo). A scope whose baseline is too short to
judge is listed as not judged (``insufficient_history``), never as an anomaly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aifinops.domain import DIMENSIONS, from_nanos
from aifinops.engine.anomalies import Anomaly, Status, Verdict, judge_daily, judge_hourly
from aifinops.engine.budgets import scope_label
from aifinops.engine.periods import local_date, zone
from aifinops.store import Store
from aifinops.store.spend_queries import spend_sums

__all__ = ["AnomalyFindings", "anomalies_json", "find_anomalies", "period_anomalies"]


@dataclass(frozen=True, slots=True)
class AnomalyFindings:
    """What one check found: the anomalies, the scopes not judged (and why), how many scopes were judged."""

    anomalies: list[Anomaly] = field(default_factory=list)
    not_judged: list[Verdict] = field(default_factory=list)
    judged: int = 0


def find_anomalies(
    store: Store,
    *,
    filters: dict[str, tuple[str, ...]],
    by: str | None,
    hourly: bool,
    at: dt.datetime,
    tz: str,
    currency: str,
) -> AnomalyFindings:
    """Check the last complete local day (or UTC hour) before ``at``, per scope or value of ``by``."""
    today = local_date(at, tz)
    target: Any = (
        at.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=1)
        if hourly
        else today - dt.timedelta(days=1)
    )

    def sums(
        group: tuple[str, ...], scope: dict[str, tuple[str, ...]]
    ) -> list[tuple[Any, tuple[str, ...], int]]:
        first = today - dt.timedelta(days=29 if hourly else 57)
        return spend_sums(
            store,
            first_day=first,
            end=at,
            tz=zone(tz),
            currency=currency,
            group=group,
            filters=scope,
            hourly=hourly,
        )

    def check(points: dict[Any, Decimal], label: str, breakdown: Any = None) -> Verdict:
        if hourly:
            return judge_hourly(
                series=points, hour=target, scope=label, currency=currency, breakdown=breakdown
            )
        return judge_daily(series=points, day=target, scope=label, currency=currency, breakdown=breakdown)

    series: dict[str, dict[Any, Decimal]] = {}
    for bucket, values, nanos in sums((by,) if by else (), filters):
        series.setdefault(values[0] if by else "", {})[bucket] = from_nanos(nanos)
    anomalies: list[Anomaly] = []
    verdicts = []
    for value, points in sorted(series.items()):
        scope = {**filters, **({by: (value,)} if by else {})}
        _fill_zeros(points, target, hourly)
        verdict = check(points, scope_label(scope))
        verdicts.append(verdict)
        if verdict.status is Status.ANOMALY:
            anomaly = check(points, scope_label(scope), _breakdown(sums, scope)).anomaly
            if anomaly is not None:
                anomalies.append(anomaly)
    return AnomalyFindings(
        anomalies,
        [v for v in verdicts if v.status is Status.INSUFFICIENT_HISTORY],
        sum(v.status in (Status.NORMAL, Status.ANOMALY) for v in verdicts),
    )


def _breakdown(
    sums: Callable[[tuple[str, ...], dict[str, tuple[str, ...]]], list[tuple[Any, tuple[str, ...], int]]],
    scope: dict[str, tuple[str, ...]],
) -> dict[Any, dict[tuple[str, str], Decimal]]:
    """The scope's spend per bucket and dimension value, for the contributors of an anomaly."""
    breakdown: dict[Any, dict[tuple[str, str], Decimal]] = {}
    for dim in DIMENSIONS:
        for bucket, values, nanos in sums((dim,), scope):
            if values[0]:  # spend without a value for this dimension explains nothing
                breakdown.setdefault(bucket, {})[(dim, values[0])] = from_nanos(nanos)
    return breakdown


def _fill_zeros(points: dict[Any, Decimal], target: Any, hourly: bool) -> None:
    """Spend-free buckets between the first one with data and ``target`` are zeros, not gaps."""
    if not points:
        return
    step = dt.timedelta(hours=1) if hourly else dt.timedelta(days=1)
    key = min(points)
    while key <= target:
        points.setdefault(key, Decimal(0))
        key += step


def anomalies_json(found: AnomalyFindings, *, at: dt.datetime, hourly: bool, currency: str) -> dict[str, Any]:
    """``/api/anomalies``: what :func:`find_anomalies` found at ``at``, as JSON."""
    return {
        "at": at.isoformat(),
        "grain": "hour" if hourly else "day",
        "currency": currency,
        "judged": found.judged,
        "anomalies": [_anomaly_json(a) for a in found.anomalies],
        "not_judged": [
            {
                "scope": v.scope,
                "at": v.at,
                "status": v.status.value,
                "baseline": v.baseline,
                "baseline_points": v.baseline_points,
                "needed": v.needed,
                "explanation": v.explanation,
            }
            for v in found.not_judged
        ],
    }


def _anomaly_json(a: Anomaly) -> dict[str, Any]:
    return {
        "scope": a.scope,
        "grain": a.grain,
        "at": a.at,
        "direction": a.direction,
        "observed": str(a.observed),
        "expected": str(a.expected),
        "expected_range": {"low": str(a.low), "high": str(a.high)},
        "score": str(a.score),
        "currency": a.currency,
        "basis": "estimated",
        "baseline_points": a.baseline_points,
        "contributors": [
            {
                "dimension": c.dimension,
                "value": c.value,
                "expected": str(c.expected),
                "observed": str(c.observed),
                "delta": str(c.delta),
            }
            for c in a.contributors
        ],
        "explanation": a.explanation,
    }


_WINDOW = 56  # days of history before the judged day that find_anomalies reads (today - 57 .. the day)


def period_anomalies(
    store: Store, start: dt.date, end: dt.date, *, by: str | None, tz: str, currency: str
) -> list[dict[str, Any]]:
    """Every local day of ``[start, end)`` judged exactly as ``/api/anomalies`` judges its last complete day
    (:func:`find_anomalies` at the next midnight), from one read of the spend per day, not one per day."""
    place = zone(tz)

    def sums(group: tuple[str, ...], first: dt.date) -> list[tuple[Any, tuple[str, ...], int]]:
        following = dt.datetime(end.year, end.month, end.day, tzinfo=place)
        return spend_sums(
            store, first_day=first, end=following, tz=place, currency=currency, group=group, filters={}
        )

    series: dict[str, dict[dt.date, Decimal]] = {}
    for day, values, nanos in sums((by,) if by else (), start - dt.timedelta(days=_WINDOW)):
        series.setdefault(values[0] if by else "", {})[day] = from_nanos(nanos)
    # The contributors' spend per value of ``by``, day and dimension value: read in one pass over every
    # dimension, once the first anomalous day is known (its window is the earliest needed).
    breakdowns: dict[str, dict[dt.date, dict[tuple[str, str], Decimal]]] | None = None

    def breakdown_of(value: str, since: dt.date) -> dict[dt.date, dict[tuple[str, str], Decimal]]:
        nonlocal breakdowns
        if breakdowns is None:
            nanos_of: dict[str, dict[dt.date, dict[tuple[str, str], int]]] = {}
            for day, values, nanos in sums(DIMENSIONS, since):
                row = dict(zip(DIMENSIONS, values, strict=True))
                per_day = nanos_of.setdefault(row[by] or "" if by else "", {}).setdefault(day, {})
                for dim, dim_value in row.items():
                    if dim_value:  # spend without a value for this dimension explains nothing
                        per_day[(dim, dim_value)] = per_day.get((dim, dim_value), 0) + nanos
            breakdowns = {
                key: {d: {k: from_nanos(n) for k, n in b.items()} for d, b in days.items()}
                for key, days in nanos_of.items()
            }
        return breakdowns.get(value, {})

    found: list[dict[str, Any]] = []
    day = start
    while day < end:
        first = day - dt.timedelta(days=_WINDOW)
        for value in sorted(series):
            points = {d: v for d, v in series[value].items() if first <= d <= day}
            if not points:
                continue
            label = scope_label({by: (value,)} if by else {})
            _fill_zeros(points, day, False)
            verdict = judge_daily(series=points, day=day, scope=label, currency=currency)
            if verdict.status is not Status.ANOMALY:
                continue
            window = {d: b for d, b in breakdown_of(value, first).items() if first <= d <= day}
            anomaly = judge_daily(
                series=points, day=day, scope=label, currency=currency, breakdown=window
            ).anomaly
            if anomaly is not None:
                found.append(_anomaly_json(anomaly))
        day += dt.timedelta(days=1)
    return found
