"""Ingest: price usage events with the price in effect at their timestamp and store them exactly once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aifinops.domain import PricedUsage, TaskOutcome, UsageEvent
from aifinops.engine.price_plans import PricePlans
from aifinops.engine.pricing import PriceBook, PricingRules, price_event
from aifinops.jobs.price_cache import PriceCache
from aifinops.store import Store
from aifinops.store.event_rows import values_row
from aifinops.store.events import EventStore, event_values, sqlite_time
from aifinops.store.outcomes import OutcomeStore
from aifinops.store.rollups import catch_up

__all__ = ["IngestResult", "Ingestor", "PricedEvent"]

#: An event with the estimate it was priced at, or None when it is still to be priced (e.g. the gateway had no
#: price book yet).
PricedEvent = tuple[UsageEvent, PricedUsage | None]


@dataclass(frozen=True, slots=True)
class IngestResult:
    accepted: int
    duplicates: int
    unpriced: int
    past_retention: tuple[str, ...] = ()  # ids of events refused: older than the retention horizon
    # model → the version events without model_version were priced at (the version in effect)
    inferred_versions: Mapping[str, str] = field(default_factory=dict)


class Ingestor:
    """Prices and stores events. Thread-safe; the price book is reloaded when prices change.

    Events are stored without touching the roll-ups. With ``defer_rollups`` (the server, which runs a
    :class:`aifinops.jobs.rollups.RollupWriter`) the roll-ups catch up in the background and reads catch up
    what is still pending; otherwise each call catches them up itself before it returns, in a transaction of
    its own (:func:`aifinops.store.rollups.catch_up`).

    ``prices`` is the price cache to price with (one per process, shared with the gateway); by default a new
    one over the store's prices, checked every ``refresh_seconds``.
    """

    def __init__(
        self,
        store: Store,
        *,
        prices: PriceCache | None = None,
        refresh_seconds: float = 5.0,
        rules: PricingRules | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        defer_rollups: bool = False,
    ) -> None:
        self.store = store
        self.defer_rollups = defer_rollups
        self.events = EventStore(store)
        self.outcomes = OutcomeStore(store)
        self.prices = prices or PriceCache.of_store(store, ttl=refresh_seconds, rules=rules)
        self._clock = clock
        self._plans: PricePlans | None = None

    def book(self) -> PriceBook:
        """The current price book, reloaded from the store when its prices changed."""
        return self.prices.book()

    def ingest(self, events: Sequence[UsageEvent], *, source: str) -> IngestResult:
        """Price and store ``events``; events already stored (same event_id) are counted as duplicates."""
        book = self.prices.book()
        return self._insert(((event, price_event(event, book)) for event in events), source=source)

    def ingest_values(self, events: Sequence[Mapping[str, Any]], *, source: str) -> IngestResult:
        """:meth:`ingest` of events given as their :class:`UsageEvent` fields (absent ones at their defaults,
        ``ts`` aware UTC): validated wire events go straight to rows, priced per price key
        (:class:`PricePlans`), the same rows as ``ingest`` of the events would store."""
        book = self.prices.book()
        plans = self._plans
        if plans is None or plans.book is not book:  # the prices changed: new plans
            plans = self._plans = PricePlans(book)
        now = self._clock()
        sqlite = self.events.sqlite
        ingested_at = sqlite_time(now) if sqlite else now
        price = plans.price
        rows = []
        inferred: dict[str, str] = {}
        for values in events:
            nanos, charge = price(values)
            if charge.inferred_version is not None and (model := values.get("model")) is not None:
                inferred[model] = charge.inferred_version
            rows.append(
                values_row(values, nanos, charge, source=source, ingested_at=ingested_at, sqlite=sqlite)
            )
        return self._store(rows, source=source, now=now, inferred=inferred)

    def ingest_priced(self, events: Sequence[PricedEvent], *, source: str) -> IngestResult:
        """Store events their producer already priced (the gateway settles its limits with that estimate).

        An event without an estimate (the producer had no price book yet) is priced here.
        """
        book: PriceBook | None = None
        ready: list[tuple[UsageEvent, PricedUsage]] = []
        for event, priced in events:
            if priced is None:
                book = book if book is not None else self.prices.book()
                priced = price_event(event, book)
            ready.append((event, priced))
        return self._insert(ready, source=source)

    def _insert(self, events: Iterable[tuple[UsageEvent, PricedUsage]], *, source: str) -> IngestResult:
        now = self._clock()
        sqlite = self.events.sqlite
        ingested_at = sqlite_time(now) if sqlite else now
        rows = []
        inferred: dict[str, str] = {}
        for event, priced in events:
            if priced.inferred_version is not None and event.model is not None:
                inferred[event.model] = priced.inferred_version
            rows.append(event_values(event, priced, source=source, ingested_at=ingested_at, sqlite=sqlite))
        return self._store(rows, source=source, now=now, inferred=inferred)

    def _store(
        self, rows: list[tuple[Any, ...]], *, source: str, now: dt.datetime, inferred: dict[str, str]
    ) -> IngestResult:
        result = self.events.insert(rows, source=source, now=now)
        if result.inserted and not self.defer_rollups:
            catch_up(self.store)
        return IngestResult(
            accepted=result.inserted,
            duplicates=result.duplicates,
            unpriced=result.unpriced,
            past_retention=result.past_retention,
            inferred_versions=inferred,
        )

    def record_outcomes(self, outcomes: Sequence[TaskOutcome]) -> int:
        return self.outcomes.upsert(outcomes, now=self._clock())
