"""The background roll-up writer: keeps the usage and task roll-ups caught up with ingest, off its path."""

from __future__ import annotations

import logging
import threading

from aifinops.errors import StoreError
from aifinops.store import Store
from aifinops.store.rollups import catch_up

__all__ = ["RollupWriter"]

log = logging.getLogger(__name__)


class RollupWriter:
    """A thread that catches the roll-ups up every ``interval`` seconds (see :mod:`aifinops.store.rollups`).

    A failed catch-up is logged and tried again at the next tick: the watermark only moves with the roll-ups
    it covers, so nothing is lost or counted twice, and reads catch up what is still pending themselves.
    """

    def __init__(self, store: Store, *, interval: float = 0.5) -> None:
        self.store = store
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rolled = 0
        self.errors = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rollup-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.rolled += catch_up(self.store)
            except StoreError as exc:
                self.errors += 1
                log.warning("roll-up catch-up failed, trying again: %s", exc)

    def stop(self) -> None:
        """Stop the thread after its current catch-up, then catch up what is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            self.rolled += catch_up(self.store)
        except StoreError as exc:  # reads catch up themselves; the next start does too
            log.warning("final roll-up catch-up failed: %s", exc)
