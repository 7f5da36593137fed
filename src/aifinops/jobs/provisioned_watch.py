"""The provisioned-throughput estimate kept current by ``serve``, and re-run after re-pricing.

Every round re-estimates the complete hours of the previous and the current UTC day; the first round of each
UTC day (and the first one after start) re-estimates the previous and the current month, so calls and prices
that arrive late are covered. The estimate replaces what it estimated before, so rounds never add up.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable

from aifinops.config import Settings
from aifinops.engine.usage_buckets import EPOCH, to_hour
from aifinops.jobs.provisioned import ProvisionedReport, estimate_provisioned
from aifinops.store.store import Store

__all__ = ["estimate_window", "reestimate", "watch_provisioned"]

log = logging.getLogger(__name__)


def estimate_window(now: dt.datetime, *, months: bool) -> tuple[dt.datetime, dt.datetime]:
    """The range a round estimates: from the start of the previous day (``months``: of the previous month) to
    the last complete hour before ``now``."""
    day = dt.datetime(now.year, now.month, now.day, tzinfo=dt.UTC)
    if months:
        first = day.replace(day=1)
        start = (first - dt.timedelta(days=1)).replace(day=1)
    else:
        start = day - dt.timedelta(days=1)
    return start, EPOCH + dt.timedelta(hours=to_hour(now))


def reestimate(
    settings: Settings, store: Store, *, start: dt.datetime, end: dt.datetime, now: dt.datetime
) -> ProvisionedReport:
    """Estimate every provisioned deployment over ``[start, end)``, replacing the earlier estimate; what
    cannot be estimated is logged with its fix."""
    report = estimate_provisioned(
        store, settings.provisioned, start=start, end=end, now=now, currency=settings.currency
    )
    for d in report.deployments:
        if d.problem is not None:
            log.warning("provisioned %s: %d calls not estimated: %s", d.deployment, d.events, d.problem)
    return report


def watch_provisioned(
    settings: Settings,
    store: Store,
    stop: threading.Event,
    interval: float,
    *,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> None:
    """Re-estimate now, then every ``interval`` seconds until ``stop``; a failing round is logged and the next
    one retries (the months included)."""
    months_done: dt.date | None = None
    while True:
        now = clock()
        months = months_done != now.date()
        start, end = estimate_window(now, months=months)
        try:
            if end > start:
                report = reestimate(settings, store, start=start, end=end, now=now)
                log.info("provisioned estimate %s → %s: %d events", start, end, report.changed_events)
            if months:
                months_done = now.date()
        except Exception:  # serve must keep running
            log.exception("provisioned estimate failed")
        if stop.wait(interval):
            return
