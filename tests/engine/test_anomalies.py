"""Anomalies against a robust weekday-aware baseline, with the dimension values that drove them."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal

import pytest

from aifinops.engine.anomalies import Status, contributors, detect_daily, detect_hourly, judge_daily
from tests.factories import weekday_shaped_history

DAY = dt.date(2026, 11, 25)  # a Wednesday


def history(weekday: str = "100", weekend: str = "10", days: int = 56) -> dict[dt.date, Decimal]:
    series = {}
    for i in range(1, days + 1):
        day = DAY - dt.timedelta(days=i)
        jitter = Decimal(i % 5)
        series[day] = Decimal(weekend if day.weekday() >= 5 else weekday) + jitter
    return series


def test_a_normal_day_is_not_an_anomaly() -> None:
    series = history() | {DAY: Decimal("103")}
    assert detect_daily(series=series, day=DAY, scope="all", currency="USD") is None


def test_a_weekend_level_sunday_is_normal_but_a_weekday_level_sunday_is_a_spike() -> None:
    sunday = dt.date(2026, 11, 22)
    series = {d: v for d, v in history().items() if d < sunday}
    assert (
        detect_daily(series=series | {sunday: Decimal("11")}, day=sunday, scope="all", currency="USD") is None
    )
    spike = detect_daily(series=series | {sunday: Decimal("100")}, day=sunday, scope="all", currency="USD")
    assert spike is not None and spike.direction == "spike" and spike.baseline_points == 7


def test_spike_names_expected_range_observed_and_the_model_switch_behind_it() -> None:
    series = history() | {DAY: Decimal("400")}
    usual = {
        ("model", "gpt-4o-mini"): Decimal("80"),
        ("tenant", "contoso"): Decimal("50"),
        ("tenant", "fabrikam"): Decimal("50"),
    }
    breakdown = {d: usual for d in series if d != DAY}
    breakdown[DAY] = {
        ("model", "gpt-4o-mini"): Decimal("20"),
        ("model", "o3"): Decimal("380"),
        ("tenant", "contoso"): Decimal("350"),
        ("tenant", "fabrikam"): Decimal("50"),
    }
    anomaly = detect_daily(series=series, day=DAY, scope="app=support", currency="USD", breakdown=breakdown)
    assert anomaly is not None
    assert anomaly.observed == Decimal("400") and anomaly.low < anomaly.expected < anomaly.high < Decimal(
        "400"
    )
    assert [(c.dimension, c.value, c.delta) for c in anomaly.contributors] == [
        ("model", "o3", Decimal("380")),
        ("tenant", "contoso", Decimal("300")),
    ]
    assert "driven by model=o3 +380.00" in anomaly.explanation


def test_a_drop_reports_the_values_that_fell() -> None:
    found = contributors(
        observed={("agent", "triage"): Decimal("0"), ("agent", "planner"): Decimal("20")},
        baseline=[{("agent", "triage"): Decimal("40"), ("agent", "planner"): Decimal("20")}] * 4,
        spike=False,
    )
    assert [(c.value, c.delta) for c in found] == [("triage", Decimal("-40"))]


def test_too_little_history_gives_no_verdict() -> None:
    series = {DAY - dt.timedelta(days=1): Decimal("1"), DAY: Decimal("1000")}
    assert detect_daily(series=series, day=DAY, scope="all", currency="USD") is None


def test_flat_history_does_not_flag_cents_of_noise() -> None:
    series = {DAY - dt.timedelta(days=i): Decimal("50") for i in range(1, 29)} | {DAY: Decimal("52")}
    assert detect_daily(series=series, day=DAY, scope="all", currency="USD") is None


def test_hourly_agent_loop_is_caught_against_the_same_hour_of_earlier_days() -> None:
    hour = dt.datetime(2026, 11, 25, 14, tzinfo=dt.UTC)
    series = {hour - dt.timedelta(hours=h): Decimal("2") + Decimal(h % 3) / 10 for h in range(1, 24 * 15)}
    series[hour] = Decimal("40")
    breakdown = {h: {("agent", "planner"): v} for h, v in series.items()}
    breakdown[hour] = {("agent", "planner"): Decimal("2"), ("agent", "researcher"): Decimal("38")}
    anomaly = detect_hourly(series=series, hour=hour, scope="all", currency="USD", breakdown=breakdown)
    assert anomaly is not None and anomaly.grain == "hour" and anomaly.at == "2026-11-25T14:00:00+00:00"
    assert anomaly.contributors[0].value == "researcher"


def test_a_value_that_always_was_the_whole_scope_is_not_a_contributor() -> None:
    usual = {("tenant", "contoso"): Decimal("10"), ("model", "gpt-4o-mini"): Decimal("10")}
    found = contributors(
        observed={
            ("tenant", "contoso"): Decimal("90"),
            ("model", "gpt-4o-mini"): Decimal("10"),
            ("model", "o3"): Decimal("80"),
            ("agent", "looper"): Decimal("80"),
        },
        baseline=[usual] * 4,
    )
    assert [(c.dimension, c.value) for c in found] == [("agent", "looper"), ("model", "o3")]


# --- back-test: a generated history of many scopes, asked day by day -----------------------------------


@dataclass
class BackTest:
    clean: int = 0
    false_alarms: int = 0
    unjudged: int = 0
    planted: int = 0
    caught: int = 0


def back_test(
    *, seed: int, scopes: int, days: int, factor: Decimal, noise: float = 0.12, gaussian: bool = False
) -> BackTest:
    """Each scope gets one planted day (spend × ``factor``) after three weeks; every day is asked in turn,
    with the history known up to it, as ``/api/anomalies`` is each morning."""
    rng = random.Random(seed)
    first = dt.date(2026, 9, 7)
    out = BackTest()
    for scope in range(scopes):
        series = weekday_shaped_history(rng, first=first, days=days, noise=noise, gaussian=gaussian)
        planted = first + dt.timedelta(days=rng.randrange(21, days))
        series[planted] *= factor
        for i in range(days):
            day = first + dt.timedelta(days=i)
            known = {d: v for d, v in series.items() if d <= day}
            verdict = judge_daily(series=known, day=day, scope=str(scope), currency="USD")
            if day == planted:
                out.planted += 1
                out.caught += verdict.status is Status.ANOMALY
            else:
                out.clean += 1
                out.false_alarms += verdict.status is Status.ANOMALY
                out.unjudged += verdict.status is Status.INSUFFICIENT_HISTORY
    return out


@pytest.mark.parametrize("factor", [Decimal(3), Decimal("0.3")], ids=["3x-spikes", "70pc-collapses"])
def test_back_test_flags_at_most_one_percent_of_clean_days_and_catches_every_planted_one(
    factor: Decimal,
) -> None:
    """100 scopes × 45 days of weekday-shaped spend with ±12 % noise, each with one planted 3× spike (or 70 %
    collapse) after three weeks: ≤ 1 % of the clean scope-days alarm and every planted day is caught.

    Measured (seeds 11–13): 0 of 4,400 clean days flagged, 100 of 100 planted days caught, for both; the
    first 8 days of each scope say ``insufficient_history``. Before, the same history flagged 16 % of the
    clean days (weekend days judged against weekdays, a MAD of three points) and missed up to 13 % of the
    planted days.
    """
    result = back_test(seed=11, scopes=100, days=45, factor=factor)
    assert result.false_alarms <= result.clean // 100, result
    assert result.caught == result.planted, result


@pytest.mark.parametrize("factor", [Decimal(3), Decimal("0.3")], ids=["3x-spikes", "70pc-collapses"])
def test_back_test_with_normal_noise_of_twelve_percent_still_stays_under_one_percent(factor: Decimal) -> None:
    """The harsher reading, normal noise with σ = 12 % (a day off by 36 % now and then): measured 0.23 % of
    8,800 clean days flagged; 200 of 200 spikes and 193 of 200 collapses caught (seed 11, 200 scopes)."""
    result = back_test(seed=11, scopes=200, days=45, factor=factor, gaussian=True)
    assert result.false_alarms <= result.clean // 100, result
    assert result.caught >= result.planted * 95 // 100, result
