"""Retention of raw usage events: by hand (``aifinops retention``) or on serve's schedule."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable

from aifinops.store import Store
from aifinops.store.partitions import ensure_partitions, months_ahead
from aifinops.store.retention import RetentionReport, apply_retention
from aifinops.store.rollups import catch_up_in

__all__ = ["keep_months_horizon", "retain", "run_retention", "watch_retention"]

_log = logging.getLogger(__name__)


def keep_months_horizon(now: dt.datetime, keep_months: int) -> dt.datetime:
    """The first instant kept: the start of the UTC month ``keep_months`` before the current one (the current
    month and ``keep_months`` full months before it are kept).

    >>> keep_months_horizon(dt.datetime(2026, 12, 5, tzinfo=dt.UTC), 3)
    datetime.datetime(2026, 9, 1, 0, 0, tzinfo=datetime.timezone.utc)
    >>> keep_months_horizon(dt.datetime(2026, 2, 1, tzinfo=dt.UTC), 14)
    datetime.datetime(2024, 12, 1, 0, 0, tzinfo=datetime.timezone.utc)
    """
    if keep_months < 1:
        raise ValueError(f"keep_months must be at least 1, got {keep_months}")
    t = now.astimezone(dt.UTC)
    index = t.year * 12 + (t.month - 1) - keep_months
    return dt.datetime(index // 12, index % 12 + 1, 1, tzinfo=dt.UTC)


def run_retention(store: Store, *, keep_months: int, now: dt.datetime) -> RetentionReport:
    """Drop the raw events before :func:`keep_months_horizon` (rolled up first) and create the coming
    months' partitions."""
    report = apply_retention(
        store,
        horizon=keep_months_horizon(now, keep_months),
        keep_months=keep_months,
        now=now,
        before_drop=catch_up_in,  # the roll-ups count every event before its month goes
    )
    ensure_partitions(store, months_ahead(now))
    return report


def retain(store: Store, keep_months: int, *, now: dt.datetime | None = None) -> None:
    """One scheduled round of retention (serve's ``retention`` job), logged when it dropped events."""
    report = run_retention(store, keep_months=keep_months, now=now or dt.datetime.now(dt.UTC))
    if report.deleted_events:
        _log.info("retention: %d events before %s dropped", report.deleted_events, report.horizon)


def watch_retention(
    store: Store,
    *,
    keep_months: int,
    stop: threading.Event,
    interval: float,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> None:
    """Apply retention now, then every ``interval`` seconds until ``stop`` is set; a failing round is logged
    and the next one retries."""
    while True:
        try:
            retain(store, keep_months, now=clock())
        except Exception:  # serve must keep running
            _log.exception("retention failed")
        if stop.wait(interval):
            return
