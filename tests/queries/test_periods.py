"""The time ranges read models take, and how a bad period is reported: the field and the bare reason."""

from __future__ import annotations

import datetime as dt

import pytest

from aifinops.errors import ValidationError
from aifinops.queries.periods import TimeRange, billing_days, day_range, month_range, period_range


def test_a_period_is_a_month_or_a_day_in_the_zone() -> None:
    month = period_range("2026-10", "Europe/Paris")
    assert month == month_range(2026, 10, "Europe/Paris")
    assert month.start.isoformat() == "2026-10-01T00:00:00+02:00"
    assert month.end.isoformat() == "2026-11-01T00:00:00+01:00"  # the clocks went back in between
    day = period_range("2026-10-25", "Europe/Paris")
    assert (day.end - day.start) == dt.timedelta(days=1)


@pytest.mark.parametrize("value", ["2026-13", "2026-02-30", "October", "2026-1"])
def test_a_bad_period_names_the_field_and_the_reason(value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        period_range(value, "UTC")
    assert caught.value.field == "period"
    assert caught.value.reason == f"{value!r} is not a month like 2026-10 or a day like 2026-10-05"
    assert str(caught.value) == f"period: {caught.value.reason}"


def test_billing_days_are_the_local_days_a_range_touches() -> None:
    rng = TimeRange(
        dt.datetime(2026, 10, 5, 22, 30, tzinfo=dt.UTC), dt.datetime(2026, 10, 6, 22, 30, tzinfo=dt.UTC)
    )
    assert billing_days(rng, "UTC") == (dt.date(2026, 10, 5), dt.date(2026, 10, 7))
    assert billing_days(rng, "Europe/Paris") == (dt.date(2026, 10, 6), dt.date(2026, 10, 8))


def test_day_range_is_utc_midnights() -> None:
    rng = day_range(dt.date(2026, 10, 1), dt.date(2026, 11, 1))
    assert rng == TimeRange(dt.datetime(2026, 10, 1, tzinfo=dt.UTC), dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
