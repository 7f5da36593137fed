"""The provisioned-throughput estimate kept current by ``serve``, and re-run after re-pricing.

Every round re-estimates the complete hours of the previous and the current UTC day; the first round of each
UTC day (and the first one after start) re-estimates the previous and the current month, so calls and prices
that arrive late are covered. The estimate replaces what it estimated before, so rounds never add up.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from aifinops.config import Settings
from aifinops.engine.usage_buckets import EPOCH, to_hour
from aifinops.jobs.provisioned import ProvisionedReport, estimate_provisioned
from aifinops.store.store import Store

__all__ = ["ProvisionedRounds", "estimate_window", "reestimate"]

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


class ProvisionedRounds:
    """One scheduled turn of the estimate (``serve``'s job ``provisioned``): the previous and current day,
    or — on this replica's first turn of a UTC day — the previous and current month."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.settings, self.store, self.clock = settings, store, clock
        self._months_done: dt.date | None = None

    def __call__(self) -> int:
        """Estimate the round's range; returns the events that changed. A failure raises, and the next turn
        retries the months too."""
        now = self.clock()
        months = self._months_done != now.date()
        start, end = estimate_window(now, months=months)
        changed = 0
        if end > start:
            changed = reestimate(self.settings, self.store, start=start, end=end, now=now).changed_events
            log.info("provisioned estimate %s → %s: %d events", start, end, changed)
        if months:
            self._months_done = now.date()
        return changed
