"""Parsing the shared query parameters of read routes: time range, granularity, group_by and filters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from types import MappingProxyType
from zoneinfo import ZoneInfo

from starlette.datastructures import QueryParams

from aifinops.api.problems import ProblemError, invalid
from aifinops.domain import Basis
from aifinops.engine.usage_buckets import GRANULARITIES
from aifinops.queries.periods import YEARS, TimeRange, period_range
from aifinops.store.usage_queries import FILTERABLE, UsageQuery

__all__ = [
    "check_filter_names",
    "parse_bases",
    "parse_filters",
    "parse_flag",
    "parse_group_by",
    "parse_range",
    "parse_usage_query",
]

_MAX_RANGE = dt.timedelta(days=3 * 366)


def _instant(value: str, field: str, zone: ZoneInfo) -> dt.datetime:
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            parsed = dt.datetime(day.year, day.month, day.day, tzinfo=zone)
        else:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise invalid(field, f"{value!r} is not an ISO date (2026-10-01) or datetime with zone") from exc
    if parsed.tzinfo is None:
        raise invalid(field, f"{value!r} has no time zone; add Z or an offset, or give a date")
    if parsed.year not in YEARS:
        raise invalid(field, f"{value!r} names a year outside {YEARS.start}..{YEARS.stop - 1}")
    return parsed


def parse_range(params: QueryParams, *, timezone: str, now: dt.datetime) -> TimeRange:
    """``period=YYYY-MM`` or ``YYYY-MM-DD``, or ``start``/``end`` (end exclusive); default: the current month
    so far."""
    zone = ZoneInfo(timezone)
    if "period" in params:
        if "start" in params or "end" in params:
            raise invalid("period", "give either period or start/end, not both")
        return period_range(params["period"], timezone)
    start = _instant(params["start"], "start", zone) if "start" in params else None
    end = _instant(params["end"], "end", zone) if "end" in params else None
    if start is None:
        local = now.astimezone(zone)
        start = dt.datetime(local.year, local.month, 1, tzinfo=zone)
    if end is None:
        end = now
    if end <= start:
        raise invalid("end", f"end {end.isoformat()} must be after start {start.isoformat()}")
    if end - start > _MAX_RANGE:
        raise invalid("end", "the range may span at most 3 years; split the query")
    return TimeRange(start, end)


def parse_group_by(params: QueryParams, allowed: tuple[str, ...] = FILTERABLE) -> tuple[str, ...]:
    raw = params.get("group_by", "")
    names = tuple(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise invalid("group_by", f"unknown dimension(s) {unknown}; choose from {list(allowed)}")
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
        raise invalid("basis", f"{params['basis']!r}: give one or more of {choices}, comma-separated")
    return tuple(b for b in allowed if b.value in names)


_FLAGS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def parse_flag(params: QueryParams, name: str) -> bool:
    """A yes/no parameter (true/false, 1/0, yes/no); absent is no, anything else a 422 naming it."""
    raw = params.get(name)
    if raw is None:
        return False
    if raw.lower() not in _FLAGS:
        raise invalid(name, f"{raw!r} is not one of true, false, 1, 0, yes, no")
    return _FLAGS[raw.lower()]


def check_filter_names(names: Iterable[str]) -> None:
    """Filters a body names (``{"tenant": [...]}``): a name that is no dimension is a 422 naming it.

    (Unknown query parameters are refused before the route runs: ``openapi.reject_unknown_query``.)
    """
    unknown = sorted(set(names) - set(FILTERABLE))
    if unknown:
        raise invalid(unknown[0], f"unknown filter; choose from {list(FILTERABLE)}")


def parse_usage_query(
    params: QueryParams, *, timezone: str, now: dt.datetime, tenant: str | None
) -> UsageQuery:
    granularity = params.get("granularity", "day")
    if granularity not in GRANULARITIES:
        raise invalid("granularity", f"{granularity!r} is not one of {list(GRANULARITIES)}")
    rng = parse_range(params, timezone=timezone, now=now)
    return UsageQuery(
        start=rng.start,
        end=rng.end,
        granularity=granularity,
        group_by=parse_group_by(params),
        filters=MappingProxyType(parse_filters(params, tenant=tenant)),
        timezone=timezone,
    )
