"""The background roll-up writer: keeps the usage and task roll-ups caught up with ingest, off its path, and
builds the optimizer's call groups of completed UTC days before a read needs them."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

from aifinops.errors import PastRetentionError, StoreError
from aifinops.store import Store
from aifinops.store.optimize_days import build_completed_days
from aifinops.store.rollups import catch_up

__all__ = ["RollupWriter"]

log = logging.getLogger(__name__)


class RollupWriter:
    """A thread that catches the roll-ups up every ``interval`` seconds (see :mod:`aifinops.store.rollups`).

    A failed catch-up is logged and tried again at the next tick: the watermark only moves with the roll-ups
    it covers, so nothing is lost or counted twice, and reads catch up what is still pending themselves.

    Every ``days_interval`` seconds (None: never) it also looks for completed UTC days whose optimizer call
    groups are missing or stale (late events, re-pricing) and builds them one day per tick, newest first,
    until none is left — the first recommendations read of a month then sums built days instead of grouping
    its events. A read still builds what is missing itself (today, a day that changed since).
    """

    def __init__(self, store: Store, *, interval: float = 0.5, days_interval: float | None = 60.0) -> None:
        self.store = store
        self.interval = interval
        self.days_interval = days_interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._days_due = time.monotonic() + (days_interval or 0.0)
        self.rolled = 0
        self.days_built = 0
        self.errors = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rollup-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.rolled += catch_up(self.store)
                self._build_days()
            except (StoreError, PastRetentionError) as exc:
                self.errors += 1
                log.warning("roll-up catch-up failed, trying again: %s", exc)

    def _build_days(self) -> None:
        """One stale completed day's call groups when due; looks again ``days_interval`` after none left."""
        if self.days_interval is None or time.monotonic() < self._days_due:
            return
        built = 0
        try:
            built = build_completed_days(self.store, now=dt.datetime.now(dt.UTC))
        finally:  # none left, or a failed build: look again later, not at every tick
            if not built:
                self._days_due = time.monotonic() + self.days_interval
        self.days_built += built

    def stop(self) -> None:
        """Stop the thread after its current catch-up, then catch up what is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            self.rolled += catch_up(self.store)
        except StoreError as exc:  # reads catch up themselves; the next start does too
            log.warning("final roll-up catch-up failed: %s", exc)
