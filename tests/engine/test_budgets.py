"""Budget definitions, evaluation against thresholds, and the once-per-period alert state machine."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aifinops.domain import Basis
from aifinops.engine.budgets import (
    Action,
    Budget,
    Enforcement,
    Threshold,
    ThresholdType,
    alerts_to_fire,
    budget_from_dict,
    budget_to_dict,
    evaluate_budget,
    scope_label,
    scope_matches,
)
from aifinops.engine.forecast import forecast_period_end
from aifinops.engine.periods import PeriodKind

PARIS = "Europe/Paris"
THRESHOLDS = (
    Threshold(Decimal(50)),
    Threshold(Decimal(80)),
    Threshold(Decimal(100)),
    Threshold(Decimal(100), ThresholdType.FORECAST),
)


def budget(**overrides: object) -> Budget:
    values: dict[str, object] = {
        "name": "contoso-summary",
        "amount": Decimal("1000"),
        "currency": "EUR",
        "scope": {"tenant": ("contoso",), "use_case": ("case-summary",)},
        "thresholds": THRESHOLDS,
        "tz": PARIS,
    }
    values.update(overrides)
    return Budget(**values)  # type: ignore[arg-type]


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def test_thresholds_cross_on_actual_ratio_and_forecast_ratio() -> None:
    b = budget()
    period = b.period_at(at(2026, 11, 16), "UTC")
    assert period is not None
    daily = {dt.date(2026, 11, d): Decimal("40") for d in range(1, 16)}
    forecast = forecast_period_end(daily=daily, period=period, as_of=at(2026, 11, 16), currency="EUR")
    status = evaluate_budget(b, period=period, spend=Decimal("600"), forecast=forecast)
    assert status.ratio == Decimal("0.6") and status.forecast_ratio is not None and status.forecast_ratio > 1
    assert [t.key for t in status.crossed] == ["actual:50", "forecast:100"]
    assert not status.exceeded and status.enforced is None
    assert status.spend.basis is Basis.NOWCAST and status.spend.currency == "EUR"


def test_enforcement_applies_only_while_exceeded() -> None:
    b = budget(enforcement=Enforcement(Action.DOWNGRADE, "gpt-4o-mini"))
    period = b.period_at(at(2026, 11, 16), "UTC")
    assert period is not None
    under = evaluate_budget(b, period=period, spend=Decimal("999.99"), forecast=None)
    over = evaluate_budget(b, period=period, spend=Decimal("1000"), forecast=None)
    assert under.enforced is None
    assert over.enforced == Enforcement(Action.DOWNGRADE, "gpt-4o-mini")


def test_each_threshold_fires_once_per_period_and_rearms_at_the_paris_boundary() -> None:
    b = budget()
    fired: dict[str, set[str]] = {}

    def run(as_of: dt.datetime, spend: str) -> list[str]:
        period = b.period_at(as_of, "UTC")
        assert period is not None
        status = evaluate_budget(b, period=period, spend=Decimal(spend), forecast=None)
        new = alerts_to_fire(status, fired=fired.get(period.key, set()), as_of=as_of)
        fired.setdefault(period.key, set()).update(a.threshold.key for a in new)
        return [f"{a.period_key}/{a.threshold.key}" for a in new]

    assert run(at(2026, 11, 20), "850") == ["2026-11/actual:50", "2026-11/actual:80"]
    assert run(at(2026, 11, 21), "700") == []  # dips below 80 %: stays fired
    assert run(at(2026, 11, 22), "900") == []  # rises again: still once
    assert run(at(2026, 11, 30, 22, 59), "1000") == ["2026-11/actual:100"]
    # 23:00 UTC on Nov 30 is midnight in Paris: the December period starts armed.
    assert run(at(2026, 11, 30, 23, 0), "600") == ["2026-12/actual:50"]


def test_alert_names_observed_spend_amount_and_threshold() -> None:
    b = budget()
    period = b.period_at(at(2026, 11, 20), "UTC")
    assert period is not None
    status = evaluate_budget(b, period=period, spend=Decimal("512.3"), forecast=None)
    (alert,) = alerts_to_fire(status, fired=(), as_of=at(2026, 11, 20))
    assert alert.summary == (
        "Budget contoso-summary (2026-11): spend 512.30 EUR is 51.2% of 1000.00 EUR (nowcast), threshold 50%"
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"amount": Decimal(0)}, "amount must be positive"),
        ({"currency": "eur"}, "currency"),
        ({"scope": {"colour": ("blue",)}}, "unknown dimension"),
        ({"basis": Basis.ESTIMATED}, "basis"),
        ({"period": PeriodKind.CUSTOM}, "custom range"),
        ({"thresholds": (Threshold(Decimal(80)), Threshold(Decimal(80)))}, "repeat"),
        ({"tz": "Nowhere/City"}, "Nowhere/City"),
        ({"name": "bad name!"}, "name"),
    ],
)
def test_invalid_budgets_name_the_field(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        budget(**overrides)


def test_downgrade_needs_a_target_and_thresholds_stay_in_range() -> None:
    with pytest.raises(ValueError, match="downgrade"):
        Enforcement(Action.DOWNGRADE)
    with pytest.raises(ValueError, match="percent"):
        Threshold(Decimal(0))


def test_scope_matching_and_label() -> None:
    scope = budget().scope
    assert scope_matches(scope, {"tenant": "contoso", "use_case": "case-summary", "model": "o3"})
    assert not scope_matches(scope, {"tenant": "fabrikam", "use_case": "case-summary"})
    assert scope_matches({}, {"tenant": "anyone"})
    assert scope_label(scope) == "tenant=contoso, use_case=case-summary"


def test_budget_round_trips_through_its_json_form() -> None:
    original = budget(
        period=PeriodKind.CUSTOM,
        custom=(dt.date(2026, 11, 5), dt.date(2026, 12, 4)),
        enforcement=Enforcement(Action.BLOCK),
    )
    data = budget_to_dict(original)
    assert data["amount"] == "1000" and data["thresholds"][3] == {"percent": "100", "type": "forecast"}
    assert budget_from_dict(data) == original


def test_budget_from_config_shorthand_and_errors_name_the_field() -> None:
    parsed = budget_from_dict(
        {
            "name": "all",
            "amount": 500,
            "currency": "USD",
            "scope": {"tenant": "contoso"},
            "thresholds": [50, {"percent": "100", "type": "forecast"}],
        }
    )
    assert parsed.scope == {"tenant": ("contoso",)} and parsed.basis is Basis.NOWCAST
    with pytest.raises(ValueError, match=r"thresholds\[1\]"):
        budget_from_dict(
            {"name": "x", "amount": 1, "currency": "USD", "thresholds": [50, {"percent": "abc"}]}
        )
    with pytest.raises(ValueError, match="period"):
        budget_from_dict({"name": "x", "amount": 1, "currency": "USD", "period": "week"})
    with pytest.raises(ValueError, match="colour"):
        budget_from_dict({"name": "x", "amount": 1, "currency": "USD", "colour": "red"})


@given(
    steps=st.lists(
        st.tuples(st.integers(min_value=0, max_value=24 * 120), st.integers(min_value=0, max_value=2000)),
        min_size=1,
        max_size=40,
    )
)
def test_every_crossed_threshold_fires_exactly_once_per_period(steps: list[tuple[int, int]]) -> None:
    b = budget(thresholds=THRESHOLDS[:3])
    fired: dict[str, set[str]] = {}
    seen: list[tuple[str, str]] = []
    crossed: set[tuple[str, str]] = set()
    for offset, spend in sorted(steps):
        as_of = at(2026, 10, 1) + dt.timedelta(hours=offset)
        period = b.period_at(as_of, "UTC")
        assert period is not None
        status = evaluate_budget(b, period=period, spend=Decimal(spend), forecast=None)
        crossed |= {(period.key, t.key) for t in status.crossed}
        new = alerts_to_fire(status, fired=fired.get(period.key, set()), as_of=as_of)
        fired.setdefault(period.key, set()).update(a.threshold.key for a in new)
        seen += [(a.period_key, a.threshold.key) for a in new]
    assert len(seen) == len(set(seen)) and set(seen) == crossed
