"""Reading usage events back: per-day token and request sums, and how many tasks an id prefix names."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from aifinops.engine.usage_buckets import from_day, to_day
from aifinops.store.retention import check_retained
from aifinops.store.store import Store
from aifinops.store.tables import usage_events

__all__ = ["DayRequests", "DayTokens", "count_tasks_with_prefix", "daily_requests", "daily_token_sums"]

_PRICE_IDS = ("input_price_id", "cached_input_price_id", "output_price_id")
_TOKENS = ("input_tokens", "cached_input_tokens", "output_tokens")


@dataclass(frozen=True, slots=True)
class DayTokens:
    """The tokens of one UTC day's events on one region and deployment, per the prices they were priced at."""

    day: dt.date
    region: str | None
    deployment: str | None
    price_ids: tuple[int | None, int | None, int | None]  # input, cached input, output
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int


@dataclass(frozen=True, slots=True)
class DayRequests:
    """The requests of one UTC day's events of one app and kind."""

    day: dt.date
    app: str | None
    kind: str | None
    requests: int


def _window(start: dt.date, end: dt.date) -> tuple[sa.ColumnElement[bool], ...]:
    e = usage_events.c
    return e.hour >= to_day(start) * 24, e.hour < to_day(end) * 24


def _day() -> sa.Label[int]:
    """The UTC day of an event as :func:`~aifinops.engine.usage_buckets.to_day` counts it: an integer
    division (``/`` on an integer column would divide truly, giving every hour a day of its own)."""
    return (usage_events.c.hour // 24).label("day")


def daily_token_sums(store: Store, start: dt.date, end: dt.date) -> list[DayTokens]:
    """Tokens of the events of the UTC days ``[start, end)``, per day, region, deployment and prices."""
    e = usage_events.c
    day = _day()
    keys = [day, e.region, e.deployment, *(e[c] for c in _PRICE_IDS)]
    sums = [sa.func.sum(e[c]) for c in _TOKENS]
    with store.reader() as conn:
        check_retained(conn, start, what="token sums per day")
        rows = conn.execute(sa.select(*keys, *sums).where(*_window(start, end)).group_by(*keys)).all()
    return [
        DayTokens(
            from_day(int(d)), region, deployment, (i, c, o), int(inp or 0), int(cached or 0), int(out or 0)
        )
        for d, region, deployment, i, c, o, inp, cached, out in rows
    ]


def daily_requests(store: Store, start: dt.date, end: dt.date) -> list[DayRequests]:
    """Requests of the events of the UTC days ``[start, end)``, per day, app and kind."""
    e = usage_events.c
    day = _day()
    with store.reader() as conn:
        check_retained(conn, start, what="requests per day")
        rows = conn.execute(
            sa.select(day, e.app, e.kind, sa.func.sum(e.requests))
            .where(*_window(start, end))
            .group_by(day, e.app, e.kind)
        ).all()
    return [DayRequests(from_day(int(d)), app, kind, int(n or 0)) for d, app, kind, n in rows]


def count_tasks_with_prefix(store: Store, prefix: str) -> int:
    """How many distinct tasks of the stored events have an id that starts with ``prefix``."""
    e = usage_events.c
    with store.reader() as conn:
        found = conn.execute(
            sa.select(sa.func.count(sa.distinct(e.task_id))).where(
                e.task_id.startswith(prefix, autoescape=True)
            )
        ).scalar()
    return int(found or 0)
