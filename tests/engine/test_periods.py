"""Calendar periods in a time zone: boundaries as UTC instants, resets exactly at local midnight."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aifinops.engine.periods import Period, PeriodKind, day_start, next_period, period_containing

UTC = dt.UTC
PARIS = "Europe/Paris"


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def test_month_in_paris_resets_at_local_midnight_not_utc_midnight() -> None:
    before = period_containing(at(2026, 11, 30, 22, 59, 59), PeriodKind.MONTH, PARIS)
    after = period_containing(at(2026, 11, 30, 23, 0, 0), PeriodKind.MONTH, PARIS)
    assert before is not None and after is not None
    assert (before.key, after.key) == ("2026-11", "2026-12")
    assert before.end == after.start == at(2026, 11, 30, 23)


def test_month_boundary_follows_dst_offset() -> None:
    # Paris is UTC+2 in summer: April starts at 22:00 UTC on March 31; November at 23:00 on October 31.
    april = period_containing(at(2026, 4, 10), PeriodKind.MONTH, PARIS)
    november = period_containing(at(2026, 11, 10), PeriodKind.MONTH, PARIS)
    assert april is not None and november is not None
    assert april.start == at(2026, 3, 31, 22)
    assert november.start == at(2026, 10, 31, 23)


def test_quarter_and_year_keys_and_bounds_in_a_western_zone() -> None:
    quarter = period_containing(at(2027, 1, 1, 4, 59), PeriodKind.QUARTER, "America/New_York")
    year = period_containing(at(2027, 1, 1, 5, 0), PeriodKind.YEAR, "America/New_York")
    assert quarter is not None and year is not None
    assert quarter.key == "2026-Q4" and quarter.first_day == dt.date(2026, 10, 1)
    assert quarter.end == at(2027, 1, 1, 5)
    assert year.key == "2027" and year.start == at(2027, 1, 1, 5)


def test_custom_range_is_inclusive_and_absent_outside() -> None:
    custom = (dt.date(2026, 11, 5), dt.date(2026, 12, 4))
    inside = period_containing(at(2026, 12, 4, 22, 59), PeriodKind.CUSTOM, PARIS, custom=custom)
    outside = period_containing(at(2026, 12, 4, 23, 0), PeriodKind.CUSTOM, PARIS, custom=custom)
    assert inside is not None and inside.key == "2026-11-05..2026-12-04" and inside.days == 30
    assert outside is None
    assert next_period(inside) is None


def test_day_start_in_a_dst_gap_at_midnight_is_the_first_existing_instant() -> None:
    # Santiago springs forward at local midnight (00:00 → 01:00) on 2026-09-06: the day starts at 04:00 UTC.
    assert day_start(dt.date(2026, 9, 6), "America/Santiago") == at(2026, 9, 6, 4)


def test_naive_as_of_and_unknown_zone_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        period_containing(dt.datetime(2026, 11, 1), PeriodKind.MONTH, "UTC")
    with pytest.raises(ValueError, match="Mars/Olympus"):
        period_containing(at(2026, 11, 1), PeriodKind.MONTH, "Mars/Olympus")


@given(
    ts=st.datetimes(
        min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2090, 1, 1), timezones=st.just(UTC)
    ),
    kind=st.sampled_from([PeriodKind.MONTH, PeriodKind.QUARTER, PeriodKind.YEAR]),
    tz=st.sampled_from(
        ["UTC", PARIS, "America/New_York", "Asia/Kolkata", "Pacific/Auckland", "America/Santiago"]
    ),
)
def test_periods_tile_time_without_gaps(ts: dt.datetime, kind: PeriodKind, tz: str) -> None:
    period = period_containing(ts, kind, tz)
    assert period is not None and period.contains(ts)
    following = next_period(period)
    assert following is not None and following.start == period.end
    assert period_containing(period.end, kind, tz) == following
    assert period_containing(period.end - dt.timedelta(microseconds=1), kind, tz) == period


def test_period_rejects_reversed_days() -> None:
    with pytest.raises(ValueError, match="ends"):
        Period(PeriodKind.CUSTOM, dt.date(2026, 2, 1), dt.date(2026, 1, 1), "UTC")
