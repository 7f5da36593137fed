"""Time buckets for usage series: epoch hours and days folded into hour/day/month periods in a zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

__all__ = ["EPOCH", "GRANULARITIES", "from_day", "hour_start", "period_start", "to_day", "to_hour"]

GRANULARITIES = ("hour", "day", "month")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EPOCH_DAY = EPOCH.date()


def to_hour(ts: dt.datetime) -> int:
    """Hours since the epoch of an aware datetime (floor).

    >>> to_hour(dt.datetime(1970, 1, 2, 0, 30, tzinfo=dt.UTC))
    24
    """
    return int((ts - EPOCH).total_seconds() // 3600)


def hour_start(hour: int) -> dt.datetime:
    return EPOCH + dt.timedelta(hours=hour)


def to_day(day: dt.date) -> int:
    """Days since the epoch of a (UTC) date, as ``usage_daily.day`` counts them.

    >>> to_day(dt.date(1970, 1, 2)), from_day(20727)
    (1, datetime.date(2026, 10, 1))
    """
    return (day - _EPOCH_DAY).days


def from_day(day: int) -> dt.date:
    return _EPOCH_DAY + dt.timedelta(days=day)


def period_start(ts: dt.datetime, granularity: str, zone: ZoneInfo) -> dt.datetime:
    """The start (aware, in ``zone``) of the hour/day/month period containing ``ts``.

    >>> period_start(dt.datetime(2026, 10, 31, 23, 30, tzinfo=dt.UTC), "month", ZoneInfo("Europe/Paris"))
    datetime.datetime(2026, 11, 1, 0, 0, tzinfo=zoneinfo.ZoneInfo(key='Europe/Paris'))
    """
    local = ts.astimezone(zone)
    if granularity == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    if granularity == "day":
        return dt.datetime(local.year, local.month, local.day, tzinfo=zone)
    if granularity == "month":
        return dt.datetime(local.year, local.month, 1, tzinfo=zone)
    raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
