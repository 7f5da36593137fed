"""Ingest: price usage events with the price in effect at their timestamp and store them exactly once."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aifinops.domain import TaskOutcome, UsageEvent
from aifinops.engine.pricing import PriceBook, price_event
from aifinops.store import Store
from aifinops.store.events import EventStore, event_values, sqlite_time
from aifinops.store.price_queries import read_price_version, read_prices

__all__ = ["IngestResult", "Ingestor"]


@dataclass(frozen=True, slots=True)
class IngestResult:
    accepted: int
    duplicates: int
    unpriced: int


class Ingestor:
    """Prices and stores events. Thread-safe; the price book is reloaded when prices change."""

    def __init__(
        self,
        store: Store,
        *,
        refresh_seconds: float = 5.0,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.store = store
        self.events = EventStore(store)
        self._clock = clock
        self._refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._book: PriceBook | None = None
        self._version: tuple[int, int] | None = None
        self._checked = 0.0

    def book(self) -> PriceBook:
        """The current price book, reloaded from the store at most every ``refresh_seconds``."""
        now = time.monotonic()
        if self._book is not None and now - self._checked < self._refresh_seconds:
            return self._book
        with self._lock:
            version = read_price_version(self.store)
            if self._book is None or version != self._version:
                self._book = PriceBook(read_prices(self.store))
                self._version = version
            self._checked = now
            return self._book

    def invalidate(self) -> None:
        """Force a reload on next use (after prices were saved in this process)."""
        self._checked = 0.0

    def ingest(self, events: Sequence[UsageEvent], *, source: str) -> IngestResult:
        """Price and store ``events``; events already stored (same event_id) are counted as duplicates."""
        book = self.book()
        now = self._clock()
        sqlite = self.events.sqlite
        ingested_at = sqlite_time(now) if sqlite else now
        rows = []
        unpriced = 0
        for event in events:
            priced = price_event(event, book)
            unpriced += priced.cost is None
            rows.append(event_values(event, priced, source=source, ingested_at=ingested_at, sqlite=sqlite))
        result = self.events.insert(rows, source=source, now=now)
        return IngestResult(accepted=result.inserted, duplicates=result.duplicates, unpriced=unpriced)

    def record_outcomes(self, outcomes: Sequence[TaskOutcome]) -> int:
        return self.events.upsert_outcomes(outcomes, now=self._clock())
