"""Parsing the shared query parameters of read routes: time range, granularity, group_by and filters."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType
from zoneinfo import ZoneInfo

from starlette.datastructures import QueryParams

from aifinops.api.problems import ProblemError
from aifinops.domain import Basis
from aifinops.engine.usage_buckets import GRANULARITIES
from aifinops.store.usage_queries import FILTERABLE, UsageQuery

__all__ = ["TimeRange", "parse_group_by", "parse_range", "parse_usage_query", "period_range"]

_PERIOD = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")
_MAX_RANGE = dt.timedelta(days=3 * 366)


def _bad(field: str, reason: str) -> ProblemError:
    return ProblemError(
        422, "Invalid request", f"{field}: {reason}", errors=[{"field": field, "reason": reason}]
    )


@dataclass(frozen=True, slots=True)
class TimeRange:
    start: dt.datetime
    end: dt.datetime


def _instant(value: str, field: str, zone: ZoneInfo) -> dt.datetime:
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            return dt.datetime(day.year, day.month, day.day, tzinfo=zone)
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _bad(field, f"{value!r} is not an ISO date (2026-10-01) or datetime with zone") from exc
    if parsed.tzinfo is None:
        raise _bad(field, f"{value!r} has no time zone; add Z or an offset, or give a date")
    return parsed


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
    raise _bad("period", f"{value!r} is not a month like 2026-10 or a day like 2026-10-05")


def parse_range(params: QueryParams, *, timezone: str, now: dt.datetime) -> TimeRange:
    """``period=YYYY-MM`` or ``YYYY-MM-DD``, or ``start``/``end`` (end exclusive); default: the current month
    so far."""
    zone = ZoneInfo(timezone)
    if "period" in params:
        if "start" in params or "end" in params:
            raise _bad("period", "give either period or start/end, not both")
        return period_range(params["period"], timezone)
    start = _instant(params["start"], "start", zone) if "start" in params else None
    end = _instant(params["end"], "end", zone) if "end" in params else None
    if start is None:
        local = now.astimezone(zone)
        start = dt.datetime(local.year, local.month, 1, tzinfo=zone)
    if end is None:
        end = now
    if end <= start:
        raise _bad("end", f"end {end.isoformat()} must be after start {start.isoformat()}")
    if end - start > _MAX_RANGE:
        raise _bad("end", "the range may span at most 3 years; split the query")
    return TimeRange(start, end)


def parse_group_by(params: QueryParams, allowed: tuple[str, ...] = FILTERABLE) -> tuple[str, ...]:
    raw = params.get("group_by", "")
    names = tuple(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise _bad("group_by", f"unknown dimension(s) {unknown}; choose from {list(allowed)}")
    return names


def parse_filters(params: QueryParams, *, tenant: str | None) -> dict[str, tuple[str, ...]]:
    """Dimension filters given as ``?app=a,b&tenant=t``; a tenant-limited caller only sees its tenant."""
    filters = {
        name: tuple(v.strip() for v in params[name].split(",") if v.strip())
        for name in FILTERABLE
        if name in params
    }
    if tenant is not None:
        asked = filters.get("tenant")
        if asked and set(asked) != {tenant}:
            raise ProblemError(
                403, "Tenant not allowed", f"this key sees only tenant {tenant!r}, asked {list(asked)}"
            )
        filters["tenant"] = (tenant,)
    return filters


def parse_bases(params: QueryParams, allowed: Sequence[Basis]) -> tuple[Basis, ...] | None:
    """``basis=estimated,actual``: the bases asked for, in ``allowed`` order; None when not given."""
    if "basis" not in params:
        return None
    names = {n.strip() for n in params["basis"].split(",") if n.strip()}
    choices = [b.value for b in allowed]
    unknown = sorted(names - set(choices))
    if unknown or not names:
        raise _bad("basis", f"{params['basis']!r}: give one or more of {choices}, comma-separated")
    return tuple(b for b in allowed if b.value in names)


def billing_days(rng: TimeRange, timezone: str) -> tuple[dt.date, dt.date]:
    """The calendar days in ``timezone`` that a range touches, end exclusive: the billing days to read.

    >>> r = month_range(2026, 10, "Europe/Paris")
    >>> billing_days(r, "Europe/Paris")
    (datetime.date(2026, 10, 1), datetime.date(2026, 11, 1))
    """
    zone = ZoneInfo(timezone)
    last = (rng.end - dt.timedelta(microseconds=1)).astimezone(zone).date()
    return rng.start.astimezone(zone).date(), last + dt.timedelta(days=1)


def check_known(params: QueryParams, known: set[str]) -> None:
    unknown = sorted(set(params) - known - set(FILTERABLE))
    if unknown:
        raise _bad(unknown[0], f"unknown query parameter; known: {sorted(known | set(FILTERABLE))}")


def parse_usage_query(
    params: QueryParams, *, timezone: str, now: dt.datetime, tenant: str | None
) -> UsageQuery:
    granularity = params.get("granularity", "day")
    if granularity not in GRANULARITIES:
        raise _bad("granularity", f"{granularity!r} is not one of {list(GRANULARITIES)}")
    rng = parse_range(params, timezone=timezone, now=now)
    return UsageQuery(
        start=rng.start,
        end=rng.end,
        granularity=granularity,
        group_by=parse_group_by(params),
        filters=MappingProxyType(parse_filters(params, tenant=tenant)),
        timezone=timezone,
    )


__all__ += ["billing_days", "check_known", "month_range", "parse_bases", "parse_filters"]
