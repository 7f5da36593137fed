"""Building the optimizer's daily call groups from the events, one UTC day at a time.

A day is built when first read, or before that in the background for completed UTC days
(:func:`build_completed_days`, called by the serve roll-up writer), so that the first read of a month does
not pay for building it. A day is built again when its stored events no longer match the count it was built
from (late events); re-pricing drops the days it touched (:func:`drop_days`), so they are built again.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy import Connection

from aifinops.engine.usage_buckets import EPOCH
from aifinops.store.optimize_queries import CALL_KEYS, FLAG_KEYS, event_groups_select, stale_days
from aifinops.store.optimize_tables import GROUP_SUMS, optimize_daily, optimize_days
from aifinops.store.retention import check_retained, retention_horizon
from aifinops.store.store import Store

__all__ = ["OptimizeDayStore", "build_completed_days", "drop_days"]

_DAY = dt.timedelta(days=1)
#: One build at a time in a process: a read and the background writer never build the same day together,
#: and the later of the two finds the day built already.
_BUILDING = threading.Lock()

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
        """Build the call groups of ``days`` (day since the epoch → the events it has), each day replaced; a
        day built meanwhile from that many events (by another thread of the process) is left as it is."""
        with _BUILDING:
            self._build(days, now=now)

    def _build(self, days: Mapping[int, int], *, now: dt.datetime) -> None:
        o = optimize_days.c
        with self.store.reader() as conn:
            built = dict(conn.execute(sa.select(o.day, o.events).where(o.day.in_(list(days)))).all())
        for day, events in sorted(days.items()):
            if built.get(day) == events:
                continue
            start = EPOCH + dt.timedelta(days=day)
            select = event_groups_select(start, start + dt.timedelta(days=1), day=day)
            with self.store.session() as conn:
                # A day whose events retention dropped would be built empty: say so instead.
                check_retained(conn, start, what="the optimizer's call groups")
                conn.execute(sa.delete(optimize_daily).where(optimize_daily.c.day == day))
                conn.execute(optimize_daily.insert().from_select(list(_COLUMNS), select))
                conn.execute(sa.delete(optimize_days).where(optimize_days.c.day == day))
                conn.execute(optimize_days.insert().values(day=day, events=events, built_at=now))


def build_completed_days(store: Store, *, now: dt.datetime, limit: int = 1) -> int:
    """Build the call groups of at most ``limit`` completed UTC days (before ``now``'s day, from the retention
    horizon on) that are missing or older than their events, newest first; answers how many were built."""
    with store.reader() as conn:
        horizon = retention_horizon(conn)
    first = 0 if horizon is None else -(-(horizon - EPOCH) // _DAY)
    stale = stale_days(store, first, (now - EPOCH) // _DAY)
    chosen = dict(sorted(stale.items(), reverse=True)[:limit])
    if chosen:
        OptimizeDayStore(store).build(chosen, now=now)
    return len(chosen)
