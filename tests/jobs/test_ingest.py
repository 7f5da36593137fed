"""Ingest stores events priced by their producer as they are, and prices only those that come unpriced."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from aifinops.domain import MeterKind, PricedUsage
from aifinops.jobs.ingest import Ingestor
from aifinops.jobs.price_cache import PriceCache
from aifinops.store import Store
from aifinops.store.prices import PriceStore
from tests.factories import PRICE_START, event, gpt4o_prices


def _costs(store: Store) -> dict[str, tuple[int | None, str | None]]:
    with store.reader() as conn:
        rows = conn.execute(sa.text("SELECT event_id, cost_nanos, currency FROM usage_events"))
        return {row[0]: (row[1], row[2]) for row in rows}


def test_priced_events_are_stored_with_their_estimate_and_the_rest_priced_here(store: Store) -> None:
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    settled_at = PricedUsage(Decimal("0.5"), "USD", {MeterKind.INPUT: None})  # the estimate limits settled
    a, b = event(0), event(1)
    result = Ingestor(store).ingest_priced([(a, settled_at), (b, None)], source="gateway")
    assert (result.accepted, result.duplicates, result.unpriced) == (2, 0, 0)
    assert _costs(store) == {a.event_id: (500_000_000, "USD"), b.event_id: (3_250_000, "USD")}


def test_an_unpriced_estimate_stays_unpriced(store: Store) -> None:
    reason = "no input price for unknown-model"
    unpriced = PricedUsage(None, None, {}, unpriced_reason=reason)
    result = Ingestor(store).ingest_priced([(event(0, model="unknown-model"), unpriced)], source="gateway")
    assert result.unpriced == 1
    with store.reader() as conn:
        assert conn.execute(sa.text("SELECT unpriced_reason FROM usage_events")).scalar_one() == reason


def test_the_ingestor_prices_with_the_cache_it_is_given(store: Store) -> None:
    cache = PriceCache.of_store(store, ttl=3600)
    ingestor = Ingestor(store, prices=cache)
    assert ingestor.prices is cache and len(cache.book()) == 0
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    assert ingestor.ingest([event(0)], source="test").unpriced == 1  # the cached book is an hour fresh
    cache.invalidate()
    assert ingestor.ingest([event(1)], source="test").unpriced == 0


def test_unpriced_counts_only_the_events_stored_now(store: Store) -> None:
    ingestor = Ingestor(store)
    first = ingestor.ingest([event(0, model="unknown-model")], source="test")
    again = ingestor.ingest([event(0, model="unknown-model"), event(1, model="unknown-model")], source="test")
    assert (first.accepted, first.unpriced) == (1, 1)
    assert (again.accepted, again.duplicates, again.unpriced) == (1, 1, 1)
