"""The price book in the store: tiers and product in the key, syncs recorded, and a cache-write price that
priced usage is as immutable as any other."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from aifinops.domain import ContextTier, DeploymentType, MeterKind, Price, ProcessingTier, UsageEvent
from aifinops.errors import PricingError
from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from aifinops.store.price_queries import read_price_book_state, read_prices
from aifinops.store.prices import PriceStore, SyncRecord

START = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
G = DeploymentType.GLOBAL_STANDARD


def _price(kind: MeterKind, amount: str, **kw: object) -> Price:
    base: dict[str, object] = {"deployment_type": G, "context_tier": ContextTier.SHORT}
    return Price("gpt-5.6-sol", kind, Decimal(amount), "USD", START, **(base | kw))  # type: ignore[arg-type]


def test_prices_differing_only_by_product_or_tier_are_distinct_and_read_back(store: Store) -> None:
    prices = [
        _price(MeterKind.INPUT, "2"),
        _price(MeterKind.INPUT, "4", processing_tier=ProcessingTier.PRIORITY),
        _price(MeterKind.INPUT, "5", context_tier=ContextTier.LONG),
        _price(MeterKind.INPUT, "1", product_name="Azure Baseten Models"),
    ]
    saved = PriceStore(store).save(prices, now=START)
    assert saved.inserted == 4
    back = {(p.product_name, p.processing_tier, p.context_tier): p.price for p in read_prices(store)}
    assert back == {
        (None, ProcessingTier.STANDARD, ContextTier.SHORT): Decimal("2"),
        (None, ProcessingTier.PRIORITY, ContextTier.SHORT): Decimal("4"),
        (None, ProcessingTier.STANDARD, ContextTier.LONG): Decimal("5"),
        ("Azure Baseten Models", ProcessingTier.STANDARD, ContextTier.SHORT): Decimal("1"),
    }


def test_a_sync_is_recorded_with_the_prices_in_one_transaction(store: Store) -> None:
    record = SyncRecord("azure-retail-prices", START, "USD", prices=1, unmapped=2, provenance="a test")
    PriceStore(store).save([_price(MeterKind.INPUT, "2")], now=START, record=record)
    state = read_price_book_state(store)
    assert (state.prices, state.captured_at, state.source, state.provenance) == (
        1,
        START,
        record.source,
        "a test",
    )


def test_a_cache_write_price_that_priced_usage_cannot_change(store: Store) -> None:
    prices = [_price(MeterKind.INPUT, "2"), _price(MeterKind.CACHE_WRITE, "2.5")]
    PriceStore(store).save(prices, now=START)
    event = UsageEvent(
        "e1", START + dt.timedelta(days=1), model="gpt-5.6-sol", deployment_type=G,
        input_tokens=1000, cache_write_tokens=400,
    )  # fmt: skip
    assert Ingestor(store).ingest([event], source="test").unpriced == 0
    with pytest.raises(PricingError, match="aifinops reprice"):
        PriceStore(store).save([_price(MeterKind.CACHE_WRITE, "3")], now=START)
    assert {p.meter_kind: p.price for p in read_prices(store)}[MeterKind.CACHE_WRITE] == Decimal("2.5")
