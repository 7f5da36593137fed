"""The estate, cost driver and reconciliation reads as they were computed before the daily meter rollup: one
GROUP BY over the raw usage events of the period. Kept as the oracle the rollup reads are compared with."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from aifinops.engine.usage_buckets import to_day
from aifinops.store.estate_queries import METER_KEYS, PATH_KEYS
from aifinops.store.store import Store
from aifinops.store.tables import usage_events

_SUMS = (
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "quantity_nanos",
    "cost_nanos",
    "cache_write_tokens",
)
_PRICE_IDS = (
    "input_price_id",
    "cached_input_price_id",
    "output_price_id",
    "unit_price_id",
    "cache_write_price_id",
)


def _hours(start: dt.date, end: dt.date) -> list[sa.ColumnElement[bool]]:
    e = usage_events.c
    return [e.hour >= to_day(start) * 24, e.hour < to_day(end) * 24]


def _sums() -> list[Any]:
    e = usage_events.c
    return [
        sa.func.count().label("events"),
        sa.func.sum(sa.case((e.cost_nanos.is_(None), 1), else_=0)).label("unpriced_events"),
        *(sa.func.sum(e[c]).label(c) for c in _SUMS),
    ]


def usage_paths(store: Store, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    e = usage_events.c
    keys = [e[k] for k in PATH_KEYS]
    query = sa.select(*keys, *_sums()).where(*_hours(start, end)).group_by(*keys)
    with store.reader() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def meter_usage(store: Store, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    e = usage_events.c
    retry = sa.case((e.attempt > 1, 1), else_=0).label("retry")
    extra = sa.case((sa.and_(e.attempt <= 1, e.step > 1), 1), else_=0).label("extra_step")
    keys = [e.use_case, e.resource_id, e.kind, retry, extra, *(e[k] for k in METER_KEYS[5:])]
    assert "cache_write_price_id" in METER_KEYS  # the cost drivers price cache writes at their own meter
    query = sa.select(*keys, *_sums()).where(*_hours(start, end)).group_by(*keys)
    with store.reader() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def estimate_rows(store: Store, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """The units per day, account, deployment and prices charged that the reconciliation estimates price."""
    e = usage_events.c
    day = e.hour.op("/")(24).label("day")  # integer division: the UTC day (hour is BIGINT)
    keys = [day, e.resource_id, e.deployment, *(e[m] for m in _PRICE_IDS)]
    sums = [
        sa.func.sum(e[c]).label(c)
        for c in (
            "input_tokens",
            "cached_input_tokens",
            "output_tokens",
            "quantity_nanos",
            "cache_write_tokens",
        )
    ]
    query = (
        sa.select(*keys, *sums)
        .where(*_hours(start, end), e.resource_id.is_not(None), e.cost_nanos.is_not(None))
        .group_by(*keys)
    )
    with store.reader() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]
