"""The scheduled price sync of `serve`, the price book's age in /metrics and the snapshot."""

from __future__ import annotations

import datetime as dt

import pytest

from aifinops.config import Settings
from aifinops.errors import SourceError
from aifinops.jobs.price_sync import SyncOutcome, seed_snapshot, sync_from_api, sync_if_due
from aifinops.queries.price_book import price_book_json
from aifinops.store import Store
from aifinops.store.price_queries import read_price_book_state, read_prices

NOW = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)


def _settings(store: Store, endpoint: str) -> Settings:
    return Settings(
        database_url=str(store.url),
        azure={"retail_prices_endpoint": endpoint, "retail_prices_products": ["Azure OpenAI"]},  # type: ignore[arg-type]
    )


def test_serve_syncs_at_once_when_the_seeded_snapshot_is_older_than_the_interval(
    sqlite_store: Store, retail_prices_server: tuple[str, object]
) -> None:
    endpoint, _ = retail_prices_server
    settings = _settings(sqlite_store, endpoint)
    assert seed_snapshot(sqlite_store, now=NOW) is not None
    assert price_book_json(sqlite_store, now=NOW)["age_seconds"] == 30 * 86_400
    runs: list[SyncOutcome] = []

    def once() -> SyncOutcome:
        runs.append(sync_from_api(settings, sqlite_store, services=[]))
        return runs[-1]

    assert sync_if_due(settings, sqlite_store, 86_400, sync=once, clock=lambda: NOW) is runs[0]
    assert len(runs) == 1 and runs[0].saved.inserted == 3
    state = read_price_book_state(sqlite_store)
    assert state.source == "azure-retail-prices" and state.captured_at is not None
    assert state.captured_at > NOW  # captured by the sync, just now


def test_an_unreachable_api_changes_nothing_and_is_retried(sqlite_store: Store) -> None:
    settings = _settings(sqlite_store, "http://127.0.0.1:9/api/retail/prices")
    seed_snapshot(sqlite_store, now=NOW)
    before = len(read_prices(sqlite_store))
    attempts: list[str] = []

    def failing() -> SyncOutcome:
        attempts.append("tried")
        try:
            return sync_from_api(settings, sqlite_store, services=[])
        except Exception as exc:  # the real failure of an unreachable endpoint, re-raised as it comes
            raise SourceError(str(exc)) from exc

    for _ in range(
        2
    ):  # each of serve's turns tries again (hourly at most), the failure raised to the schedule
        with pytest.raises(SourceError):
            sync_if_due(settings, sqlite_store, 0.01, sync=failing, clock=lambda: NOW)
    assert attempts == ["tried", "tried"]
    assert len(read_prices(sqlite_store)) == before
    assert read_price_book_state(sqlite_store).source == "snapshot prices-2026-09.yaml"


def test_a_book_synced_within_the_interval_waits_for_its_turn(sqlite_store: Store) -> None:
    seed_snapshot(sqlite_store, now=NOW)
    ran: list[int] = []
    settings = _settings(sqlite_store, "http://127.0.0.1:9/")
    turn = sync_if_due(settings, sqlite_store, 10**9, sync=lambda: ran.append(1), clock=lambda: NOW)  # type: ignore[arg-type, func-returns-value]
    assert turn is None and ran == []


@pytest.mark.parametrize("seeded", [False, True])
def test_price_book_json_gives_size_capture_and_age(sqlite_store: Store, seeded: bool) -> None:
    if seeded:
        seed_snapshot(sqlite_store, now=NOW)
    book = price_book_json(sqlite_store, now=NOW)
    if seeded:
        assert book["prices"] == 1567 and book["captured_at"] == "2026-09-01T00:00:00+00:00"
        assert book["source"] == "snapshot prices-2026-09.yaml"
    else:
        assert book == {
            "prices": 0,
            "captured_at": None,
            "synced_at": None,
            "source": None,
            "age_seconds": None,
        }
