"""Reading a period's usage as the estate sees it: who calls which deployment on which account, and what
each use case's calls were priced at per meter (for its cost drivers)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from aifinops.engine.usage_buckets import to_day
from aifinops.store.retention import check_retained
from aifinops.store.store import Store
from aifinops.store.tables import usage_events

__all__ = ["METER_KEYS", "PATH_KEYS", "meter_usage", "usage_paths"]

#: What a usage path row is keyed by.
PATH_KEYS = (
    "app",
    "use_case",
    "deployment",
    "model",
    "deployment_type",
    "region",
    "resource_id",
    "cost_center",
    "team",
    "currency",
)
#: What a meter usage row is keyed by (``retry``: attempt > 1; ``extra_step``: a first attempt of step > 1).
METER_KEYS = (
    "use_case",
    "resource_id",
    "kind",
    "retry",
    "extra_step",
    "input_price_id",
    "cached_input_price_id",
    "output_price_id",
    "unit_price_id",
    "currency",
)
_SUMS = (
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "quantity_nanos",
    "cost_nanos",
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
    """Per app, use case, deployment, model, account and owner dimensions of the UTC days ``[start, end)``:
    events, tokens and estimated cost (``currency`` None for unpriced events)."""
    e = usage_events.c
    keys = [e[k] for k in PATH_KEYS]
    query = sa.select(*keys, *_sums()).where(*_hours(start, end)).group_by(*keys)
    with store.reader() as conn:
        check_retained(conn, start, what="usage paths")
        return [dict(r._mapping) for r in conn.execute(query)]


def meter_usage(store: Store, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """Per use case, account, kind, retry or not, extra step or not and the prices each meter was charged at:
    tokens, quantity and estimated cost of the UTC days ``[start, end)``."""
    e = usage_events.c
    retry = sa.case((e.attempt > 1, 1), else_=0).label("retry")
    extra = sa.case((sa.and_(e.attempt <= 1, e.step > 1), 1), else_=0).label("extra_step")
    keys = [e.use_case, e.resource_id, e.kind, retry, extra, *(e[k] for k in METER_KEYS[5:])]
    query = sa.select(*keys, *_sums()).where(*_hours(start, end)).group_by(*keys)
    with store.reader() as conn:
        check_retained(conn, start, what="meter usage")
        return [dict(r._mapping) for r in conn.execute(query)]
