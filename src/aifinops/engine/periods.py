"""Calendar budget periods (month, quarter, year, custom range) aligned in an IANA time zone (pure).

Boundaries are aware UTC instants: a December budget in ``Europe/Paris`` starts at
``2026-11-30T23:00:00Z``, the instant the local calendar turns. Day-granular cost (Azure billing days, which
carry no zone) is assigned to a period by its calendar date; hour-granular usage by its instant.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "Period",
    "PeriodKind",
    "day_start",
    "local_date",
    "next_period",
    "period_containing",
    "zone",
]


class PeriodKind(StrEnum):
    """How a budget period is cut out of the calendar."""

    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"
    CUSTOM = "custom"


def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name; ValueError naming the value when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {name!r}; use e.g. 'UTC' or 'Europe/Paris'") from exc


def day_start(day: dt.date, tz: str) -> dt.datetime:
    """The first instant of the local calendar ``day`` in ``tz``, as aware UTC.

    Where a DST gap swallows local midnight the day starts at the first instant that exists
    (Python resolves a missing wall time with the offset before the transition, which is exactly that).

    >>> day_start(dt.date(2026, 12, 1), "Europe/Paris").isoformat()
    '2026-11-30T23:00:00+00:00'
    """
    local = dt.datetime(day.year, day.month, day.day, tzinfo=zone(tz))
    return local.astimezone(dt.UTC)


def local_date(ts: dt.datetime, tz: str) -> dt.date:
    """The calendar date of the aware instant ``ts`` in ``tz``."""
    if ts.tzinfo is None:
        raise ValueError(f"timestamps must be timezone-aware, got {ts!r}")
    return ts.astimezone(zone(tz)).date()


@dataclass(frozen=True, slots=True)
class Period:
    """One budget period: local dates ``first_day`` … ``last_day`` in ``tz``; ``start``/``end`` in UTC.

    ``end`` is exclusive: it is the ``start`` of the next period, so a reset happens exactly there.
    """

    kind: PeriodKind
    first_day: dt.date
    last_day: dt.date
    tz: str

    def __post_init__(self) -> None:
        if self.last_day < self.first_day:
            raise ValueError(f"period ends ({self.last_day}) before it starts ({self.first_day})")
        zone(self.tz)

    @property
    def start(self) -> dt.datetime:
        return day_start(self.first_day, self.tz)

    @property
    def end(self) -> dt.datetime:
        return day_start(self.last_day + dt.timedelta(days=1), self.tz)

    @property
    def key(self) -> str:
        """A stable name of the period: ``2026-11``, ``2026-Q4``, ``2026`` or ``2026-11-05..2026-12-04``."""
        if self.kind is PeriodKind.MONTH:
            return f"{self.first_day:%Y-%m}"
        if self.kind is PeriodKind.QUARTER:
            return f"{self.first_day.year}-Q{(self.first_day.month - 1) // 3 + 1}"
        if self.kind is PeriodKind.YEAR:
            return f"{self.first_day.year}"
        return f"{self.first_day.isoformat()}..{self.last_day.isoformat()}"

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    def contains(self, ts: dt.datetime) -> bool:
        return self.start <= ts < self.end

    def contains_day(self, day: dt.date) -> bool:
        return self.first_day <= day <= self.last_day

    def each_day(self) -> list[dt.date]:
        return [self.first_day + dt.timedelta(days=i) for i in range(self.days)]


def _month_add(year: int, month: int, months: int) -> dt.date:
    index = year * 12 + (month - 1) + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _calendar_bounds(day: dt.date, kind: PeriodKind) -> tuple[dt.date, dt.date]:
    if kind is PeriodKind.MONTH:
        first = day.replace(day=1)
        return first, _month_add(first.year, first.month, 1) - dt.timedelta(days=1)
    if kind is PeriodKind.QUARTER:
        first = dt.date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
        return first, _month_add(first.year, first.month, 3) - dt.timedelta(days=1)
    return dt.date(day.year, 1, 1), dt.date(day.year, 12, 31)


def period_containing(
    as_of: dt.datetime,
    kind: PeriodKind,
    tz: str,
    *,
    custom: tuple[dt.date, dt.date] | None = None,
) -> Period | None:
    """The period of ``kind`` in ``tz`` that contains the instant ``as_of``.

    A custom range ``(first_day, last_day)`` (both inclusive, local dates) gives that one period, or None
    when ``as_of`` lies outside it; calendar kinds always give a period.

    >>> as_of = dt.datetime(2026, 11, 30, 23, 30, tzinfo=dt.UTC)
    >>> period_containing(as_of, PeriodKind.MONTH, "Europe/Paris").key
    '2026-12'
    """
    today = local_date(as_of, tz)
    if kind is PeriodKind.CUSTOM:
        if custom is None:
            raise ValueError("a custom period needs its first and last day")
        period = Period(kind, custom[0], custom[1], tz)
        return period if period.contains_day(today) else None
    first, last = _calendar_bounds(today, kind)
    return Period(kind, first, last, tz)


def next_period(period: Period) -> Period | None:
    """The period after ``period`` (None after a custom range, which does not repeat)."""
    if period.kind is PeriodKind.CUSTOM:
        return None
    first, last = _calendar_bounds(period.last_day + dt.timedelta(days=1), period.kind)
    return Period(period.kind, first, last, period.tz)
