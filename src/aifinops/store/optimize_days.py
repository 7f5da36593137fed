"""Building the optimizer's daily call groups from the events, one UTC day at a time, when first read.

A day is built again when its stored events no longer match the count it was built from (late events);
re-pricing drops the days it touched (:func:`drop_days`), so they are built again on the next read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy import Connection

from aifinops.engine.usage_buckets import EPOCH
from aifinops.store.optimize_queries import CALL_KEYS, FLAG_KEYS, event_groups_select
from aifinops.store.optimize_tables import GROUP_SUMS, optimize_daily, optimize_days
from aifinops.store.retention import check_retained
from aifinops.store.store import Store

__all__ = ["OptimizeDayStore", "drop_days"]

_COLUMNS = ("day", *CALL_KEYS, *FLAG_KEYS, *GROUP_SUMS, "first_task", "last_task", "resource_id")


def drop_days(conn: Connection, first: int, following: int) -> None:
    """Forget the call groups of the days ``[first, following)`` (their events were re-priced)."""
    conn.execute(
        sa.delete(optimize_daily).where(optimize_daily.c.day >= first, optimize_daily.c.day < following)
    )
    conn.execute(
        sa.delete(optimize_days).where(optimize_days.c.day >= first, optimize_days.c.day < following)
    )


class OptimizeDayStore:
    """Writes ``optimize_daily`` and ``optimize_days``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def build(self, days: Mapping[int, int], *, now: dt.datetime) -> None:
        """Build the call groups of ``days`` (day since the epoch → the events it has), each day replaced."""
        for day, events in sorted(days.items()):
            start = EPOCH + dt.timedelta(days=day)
            select = event_groups_select(start, start + dt.timedelta(days=1), day=day)
            with self.store.session() as conn:
                # A day whose events retention dropped would be built empty: say so instead.
                check_retained(conn, start, what="the optimizer's call groups")
                conn.execute(sa.delete(optimize_daily).where(optimize_daily.c.day == day))
                conn.execute(optimize_daily.insert().from_select(list(_COLUMNS), select))
                conn.execute(sa.delete(optimize_days).where(optimize_days.c.day == day))
                conn.execute(optimize_days.insert().values(day=day, events=events, built_at=now))
