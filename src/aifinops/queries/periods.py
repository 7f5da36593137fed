"""The time ranges read models take: a month or a day in a zone, and the billing days a range touches."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from aifinops.errors import ValidationError

__all__ = ["YEARS", "TimeRange", "billing_days", "day_range", "month_range", "period_range"]

_PERIOD = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")
#: The years a period or a range may name: any later and the end of the range, or its conversion to UTC, falls
#: beyond the last year a datetime can hold.
YEARS = range(1970, 9999)


@dataclass(frozen=True, slots=True)
class TimeRange:
    """The instants ``[start, end)``."""

    start: dt.datetime
    end: dt.datetime


def month_range(year: int, month: int, timezone: str) -> TimeRange:
    """The calendar month in ``timezone``, end exclusive."""
    zone = ZoneInfo(timezone)
    start = dt.datetime(year, month, 1, tzinfo=zone)
    end = dt.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=zone)
    return TimeRange(start, end)


def period_range(value: str, timezone: str) -> TimeRange:
    """``YYYY-MM`` (a calendar month) or ``YYYY-MM-DD`` (a day) in ``timezone``, end exclusive.

    >>> r = period_range("2026-10-05", "UTC")
    >>> r.start.isoformat(), r.end.isoformat()
    ('2026-10-05T00:00:00+00:00', '2026-10-06T00:00:00+00:00')
    """
    m = _PERIOD.match(value)
    if m and int(m.group(1)) not in YEARS:
        reason = f"{value!r} names a year outside {YEARS.start}..{YEARS.stop - 1}"
        raise ValidationError(f"period: {reason}", field="period", reason=reason)
    if m and 1 <= int(m.group(2)) <= 12 and m.group(3) is None:
        return month_range(int(m.group(1)), int(m.group(2)), timezone)
    if m and m.group(3) is not None:
        try:
            day = dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            day = None
        if day is not None:
            zone = ZoneInfo(timezone)
            start = dt.datetime(day.year, day.month, day.day, tzinfo=zone)
            following = day + dt.timedelta(days=1)
            return TimeRange(start, dt.datetime(following.year, following.month, following.day, tzinfo=zone))
    reason = f"{value!r} is not a month like 2026-10 or a day like 2026-10-05"
    raise ValidationError(f"period: {reason}", field="period", reason=reason)


def billing_days(rng: TimeRange, timezone: str) -> tuple[dt.date, dt.date]:
    """The calendar days in ``timezone`` that a range touches, end exclusive: the billing days to read.

    >>> r = month_range(2026, 10, "Europe/Paris")
    >>> billing_days(r, "Europe/Paris")
    (datetime.date(2026, 10, 1), datetime.date(2026, 11, 1))
    """
    zone = ZoneInfo(timezone)
    last = (rng.end - dt.timedelta(microseconds=1)).astimezone(zone).date()
    return rng.start.astimezone(zone).date(), last + dt.timedelta(days=1)


def day_range(start: dt.date, end: dt.date) -> TimeRange:
    """The UTC instants of the billing days ``[start, end)``.

    >>> day_range(dt.date(2026, 10, 1), dt.date(2026, 11, 1)).end.isoformat()
    '2026-11-01T00:00:00+00:00'
    """
    return TimeRange(
        dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC),
        dt.datetime.combine(end, dt.time(), tzinfo=dt.UTC),
    )
