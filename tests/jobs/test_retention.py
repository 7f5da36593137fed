"""Retention on serve's schedule: applied at once, then every interval, until stopped."""

from __future__ import annotations

import datetime as dt
import threading

from aifinops.jobs.ingest import Ingestor
from aifinops.jobs.retention import run_retention, watch_retention
from aifinops.store import Store
from aifinops.store.retention import retention_horizon
from tests.factories import T0, event


def test_the_schedule_applies_retention_and_stops_when_told(store: Store) -> None:
    Ingestor(store).ingest([event(1, ts=T0 - dt.timedelta(days=40)), event(2)], source="t")
    stop = threading.Event()
    stop.set()  # one round, then the wait returns at once
    now = T0 + dt.timedelta(days=3)
    watch_retention(store, keep_months=1, stop=stop, interval=3600, clock=lambda: now)
    with store.reader() as conn:
        assert retention_horizon(conn) == dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM usage_events").scalar_one() == 1


def test_retention_rolls_up_events_still_pending_before_their_month_goes(store: Store) -> None:
    old = T0 - dt.timedelta(days=40)
    Ingestor(store, defer_rollups=True).ingest([event(1, ts=old), event(2, ts=old), event(3)], source="t")
    with store.reader() as conn:  # nothing rolled up yet: the background writer has not run
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM usage_daily").scalar_one() == 0
    run_retention(store, keep_months=1, now=T0 + dt.timedelta(days=3))
    with store.reader() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM usage_events").scalar_one() == 1
        assert conn.exec_driver_sql("SELECT SUM(requests) FROM usage_daily").scalar_one() == 3
