"""Reading ``usage_meter_daily`` (see :mod:`aifinops.store.meter_rollup`) for UTC days: the sums of a period
grouped by any of its keys, with '' read back as NULL for text and 0 as NULL for price ids."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from aifinops.engine.usage_buckets import to_day
from aifinops.store.meter_tables import METER_PRICE_IDS, METER_SUMS, usage_meter_daily
from aifinops.store.rollups import rolled_up
from aifinops.store.store import Store

__all__ = ["meter_rows"]

_FLAGS = ("retry", "extra_step")


def _key(name: str) -> sa.ColumnElement[Any]:
    m = usage_meter_daily.c
    if name == "resource_id":  # NULL apart from '' (has_resource), as the events tell them apart
        return sa.case((m.has_resource == 1, m.resource_id), else_=None).label(name)
    if name in METER_PRICE_IDS:
        return sa.func.nullif(m[name], 0).label(name)
    if name in _FLAGS or name in ("day", "kind"):
        return m[name]
    return sa.func.nullif(m[name], "").label(name)


def meter_rows(
    store: Store,
    start: dt.date,
    end: dt.date,
    keys: Sequence[str],
    *,
    sums: Sequence[str] = METER_SUMS,
    priced_with_account: bool = False,
) -> list[dict[str, Any]]:
    """Per value of ``keys`` over the UTC days ``[start, end)``: the ``sums``. ``priced_with_account``: only
    priced events with a resource id."""
    rolled_up(store)  # every event stored before this read is counted
    m = usage_meter_daily.c
    cols = [_key(k) for k in keys]
    where = [m.day >= to_day(start), m.day < to_day(end)]
    if priced_with_account:
        where += [m.has_resource == 1, m.priced == 1]
    query = sa.select(*cols, *(sa.func.sum(m[s]).label(s) for s in sums)).where(*where).group_by(*cols)
    with store.reader() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]
