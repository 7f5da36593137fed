"""The one price book cache: reloaded when the store's prices change, read by ingest and the gateway."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial

from aifinops.config import Settings
from aifinops.domain import Price, PricedUsage, UsageEvent
from aifinops.engine.pricing import PriceBook, PricingRules, price_event
from aifinops.errors import StoreError
from aifinops.store import Store
from aifinops.store.price_queries import read_price_version, read_prices

__all__ = ["PriceCache", "pricing_rules"]


def pricing_rules(settings: Settings) -> PricingRules:
    """The alias table and context thresholds of ``settings`` over the defaults."""
    return PricingRules.extended(
        settings.model_aliases, settings.context_thresholds, currency=settings.currency
    )


class PriceCache:
    """The current price book, reloaded when the store's prices change, checked at most every ``ttl`` seconds.

    Two ways to read it. :meth:`book` may read the store (a version check, a reload when it changed), so
    ingest calls it from a worker thread; it raises ``StoreError`` when the store is down. :meth:`current`
    never waits: it answers the last good book (None before the first load) and, when that is older than
    ``ttl``, starts a refresh in a worker thread on the running event loop. A failed refresh keeps the
    previous book and is counted, so a slow or unreachable database neither blocks the gateway nor fails its
    calls. Thread-safe.

    ``version`` answers a cheap fingerprint of the prices that changes when they change, ``load`` all of them
    (:meth:`of_store` reads both from the store).
    """

    def __init__(
        self,
        version: Callable[[], tuple[int, int]],
        load: Callable[[], Sequence[Price]],
        *,
        ttl: float = 5.0,
        rules: PricingRules | None = None,
    ) -> None:
        self._version_of, self._load = version, load
        self._rules = rules
        self._ttl = ttl
        self._lock = threading.Lock()
        self._book: PriceBook | None = None
        self._version: tuple[int, int] | None = None
        self._checked = -math.inf
        self._next = -math.inf
        self._task: asyncio.Task[None] | None = None
        self.errors = 0
        self.last_error: str | None = None

    @classmethod
    def of_store(cls, store: Store, *, ttl: float = 5.0, rules: PricingRules | None = None) -> PriceCache:
        """The cache of ``store``'s prices (priced with ``rules``, the defaults when None)."""
        return cls(partial(read_price_version, store), partial(read_prices, store), ttl=ttl, rules=rules)

    def book(self) -> PriceBook:
        """The current price book, reloaded from the store when its prices changed (at most every ``ttl``)."""
        now = time.monotonic()
        book = self._book
        if book is not None and now - self._checked < self._ttl:
            return book
        with self._lock:
            version = self._version_of()
            if self._book is None or version != self._version:
                self._book = PriceBook(self._load(), rules=self._rules)
                self._version = version
            self._checked = now
            return self._book

    def current(self) -> PriceBook | None:
        """The last good book without waiting; a refresh starts in the background when it is due."""
        if time.monotonic() >= self._next and self._task is None:
            self._next = time.monotonic() + self._ttl
            self._task = asyncio.get_running_loop().create_task(self.refresh())
        return self._book

    def price(self, event: UsageEvent) -> PricedUsage | None:
        """``event`` at the prices in effect at its timestamp; None while no book was loaded yet."""
        book = self.current()
        return price_event(event, book) if book is not None else None

    async def refresh(self) -> None:
        """Check the store for new prices in a worker thread; a failure keeps the previous book."""
        try:
            await asyncio.to_thread(self.book)
        except StoreError as exc:
            self.errors += 1
            self.last_error = str(exc)
        finally:
            self._next = time.monotonic() + self._ttl
            self._task = None

    def invalidate(self) -> None:
        """Check the store on next use (after prices were saved in this process)."""
        self._checked = -math.inf
        self._next = -math.inf
