"""Syncing the price book: the Retail Prices API (or a saved answer of it) → list and contract prices, in one
transaction; the shipped snapshot seeds an empty book; ``serve`` re-syncs on a schedule."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import httpx

from aifinops.config import Settings
from aifinops.domain import Price
from aifinops.sources.price_file import SNAPSHOT, PriceFile, load_price_file, load_snapshot
from aifinops.sources.retail_prices import RETAIL_SOURCE, RetailPricesResult, fetch_retail_prices
from aifinops.store.price_queries import read_price_book_state, read_price_version
from aifinops.store.prices import PriceStore, SavePricesResult, SyncRecord
from aifinops.store.store import Store

__all__ = ["SyncOutcome", "contract_prices", "save_synced", "seed_snapshot", "sync_from_api", "sync_if_due"]

log = logging.getLogger(__name__)
_HTTP_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
CHECK_SECONDS = 3600.0  # serve looks at the price book's age this often at most (a failed sync retries then)


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    result: RetailPricesResult
    saved: SavePricesResult
    contract: int
    files: int


def _key(price: Price) -> tuple[object, ...]:
    return (*price.meter_key, price.effective_start)


def contract_prices(files: Iterable[PriceFile], list_prices: Iterable[Price]) -> list[Price]:
    """The contract prices the discounts of ``files`` give over their own prices and ``list_prices``."""
    files = list(files)
    combined = {_key(price): price for price in list_prices}
    # A price of a file replaces a listed price with the same key, so reloading a file never doubles it.
    combined.update((_key(price), price) for file in files for price in file.prices)
    contract: dict[tuple[object, ...], Price] = {}
    for file in files:
        contract.update((_key(price), price) for price in file.contract_prices(combined.values()))
    return list(contract.values())


def save_synced(
    settings: Settings, store: Store, result: RetailPricesResult, *, source: str = RETAIL_SOURCE
) -> SyncOutcome:
    """Save synced list prices and the contract prices of the configured price files, all or nothing."""
    files = [load_price_file(path) for path in settings.price_files]
    contract = contract_prices(files, list(result.prices))
    now = dt.datetime.now(dt.UTC)
    currencies = sorted({p.currency for p in result.prices}) or [settings.azure.retail_prices_currency]
    record = SyncRecord(
        source=source,
        captured_at=now,
        currency=currencies[0],
        prices=len(result.prices),
        unmapped=len(result.skipped_meters),
        provenance=f"{source}: {result.items} items on {result.pages} pages",
    )
    saved = PriceStore(store).save([*result.prices, *contract], now=now, record=record)
    return SyncOutcome(result, saved, len(contract), len(files))


def sync_from_api(
    settings: Settings,
    store: Store,
    *,
    products: list[str] | None = None,
    services: list[str] | None = None,
    currency: str | None = None,
    client: httpx.Client | None = None,
    on_page: Callable[[str, int], None] | None = None,
) -> SyncOutcome:
    """Read the Retail Prices API (products and services from settings unless given) and save the prices."""
    a = settings.azure
    own = client is None
    http = client or httpx.Client(timeout=_HTTP_TIMEOUT)
    try:
        result = fetch_retail_prices(
            http,
            endpoint=a.retail_prices_endpoint,
            products=a.retail_prices_products if products is None else products,
            services=a.retail_prices_services if services is None else services,
            currency=currency or a.retail_prices_currency,
            on_page=on_page,
        )
    finally:
        if own:
            http.close()
    return save_synced(settings, store, result)


def seed_snapshot(store: Store, *, now: dt.datetime) -> tuple[PriceFile, SavePricesResult] | None:
    """Load the shipped snapshot into an empty price book; None (nothing done) when it holds prices."""
    if read_price_version(store)[0]:
        return None
    snapshot = load_snapshot()
    currencies = sorted({p.currency for p in snapshot.prices})
    record = SyncRecord(
        source=f"snapshot {SNAPSHOT}",
        captured_at=snapshot.captured_at or now,
        currency=currencies[0] if currencies else "USD",
        prices=len(snapshot.prices),
        provenance=snapshot.provenance or "",
    )
    return snapshot, PriceStore(store).save(list(snapshot.prices), now=now, record=record)


def sync_if_due(
    settings: Settings,
    store: Store,
    interval: float,
    *,
    sync: Callable[[], SyncOutcome] | None = None,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> SyncOutcome | None:
    """One turn of serve's price sync: re-read the Retail Prices API when the newest prices are ``interval``
    seconds old or older (a seeded snapshot usually is); a book synced since (by hand, or by another
    replica) waits: None. A failure raises and changes nothing; serve looks again every
    :data:`CHECK_SECONDS` at most, so a failed sync is retried within the hour."""
    age = read_price_book_state(store).age_seconds(clock())
    if age is not None and age < interval:
        return None
    outcome = (sync or (lambda: sync_from_api(settings, store)))()
    log.info(
        "price sync: %d prices (%d new, %d updated), %d unmapped meters",
        len(outcome.result.prices),
        outcome.saved.inserted,
        outcome.saved.updated,
        len(outcome.result.skipped_meters),
    )
    return outcome
