"""Reading usage per day and tasks as flat rows, streamed, for the exported tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from sqlalchemy import and_, select

from aifinops.domain import DIMENSIONS
from aifinops.engine.usage_buckets import from_day, to_day
from aifinops.store.rollups import rolled_up
from aifinops.store.store import Store
from aifinops.store.tables import ROLLUP_SUMS, task_outcomes, task_rollup, usage_daily

__all__ = ["task_rows", "usage_day_rows"]

_BATCH = 10_000


def usage_day_rows(store: Store, start: dt.date, end: dt.date) -> Iterator[dict[str, Any]]:
    """The daily usage rollup of the UTC days ``[start, end)``: one row per day, dimensions, kind, status
    and currency (``''`` for unpriced events), with its sums; ``day`` as a date."""
    rolled_up(store)
    t = usage_daily
    keys = [t.c.day, *(t.c[d] for d in DIMENSIONS), t.c.kind, t.c.status, t.c.currency]
    stmt = (
        select(*keys, *(t.c[n] for n in ROLLUP_SUMS))
        .where(t.c.day >= to_day(start), t.c.day < to_day(end))
        .order_by(*keys)
    )
    with store.reader() as conn:
        for r in conn.execution_options(yield_per=_BATCH).execute(stmt).mappings():
            row = dict(r)
            row["day"] = from_day(row["day"])
            yield row


def task_rows(store: Store, start: dt.datetime, end: dt.datetime) -> Iterator[dict[str, Any]]:
    """Tasks whose events started in ``[start, end)``: one row per task (tenant, id) and currency of its
    estimated cost (``''``: its unpriced events), with its dimensions, counts and outcome (None = open)."""
    rolled_up(store)
    t, o = task_rollup, task_outcomes
    stmt = (
        select(t, o.c.outcome, o.c.ended_at)
        .select_from(t.outerjoin(o, and_(o.c.tenant == t.c.tenant, o.c.task_id == t.c.task_id)))
        .where(t.c.first_ts >= start, t.c.first_ts < end)
        .order_by(t.c.first_ts, t.c.tenant, t.c.task_id, t.c.currency)
    )
    with store.reader() as conn:
        for r in conn.execution_options(yield_per=_BATCH).execute(stmt).mappings():
            yield dict(r)
