"""Anomalies against a robust weekday-aware baseline, with the dimension values that drove them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from aifinops.engine.anomalies import contributors, detect_daily, detect_hourly

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
