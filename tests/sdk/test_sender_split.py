"""The SDK's sender splits a batch the ingest API refuses and keeps every good item of it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aifinops import sdk
from aifinops.api.app import create_app
from aifinops.config import load_settings
from aifinops.store import Store
from tests.factories import event_json


@pytest.fixture
def api(store: Store) -> Iterator[TestClient]:
    """The real ingest API taking at most 10 events per batch, on SQLite and on PostgreSQL."""
    with TestClient(create_app(load_settings(max_batch_events=10), store=store)) as client:
        yield client


def stored(api: TestClient) -> int:
    items = api.get("/api/token-usage", params={"period": "2026-10", "granularity": "month"}).json()["items"]
    return sum(int(i["events"]) for i in items)


def sender(api: TestClient, batch_size: int) -> sdk.Sender:
    return sdk.Sender("http://testserver", http_client=api, batch_size=batch_size, flush_interval=0.01)


def test_a_batch_too_large_for_the_server_is_split_and_every_event_stored(api: TestClient) -> None:
    s = sender(api, batch_size=37)
    for i in range(37):
        s.send_event(event_json(i))
    assert s.flush(10)
    s.close()
    assert stored(api) == 37
    assert (s.stats["sent"], s.stats["rejected"], s.stats["dropped_failed"]) == (37, 0, 0)


def test_one_bad_event_costs_only_itself(api: TestClient) -> None:
    s = sender(api, batch_size=10)
    events: list[dict[str, Any]] = [event_json(i) for i in range(10)]
    events[4] |= {"quantity": "50000000000", "unit": "images"}  # beyond what the store can keep
    for e in events:
        s.send_event(e)
    assert s.flush(10)
    s.close()
    assert stored(api) == 9
    # the server received ten and refused one
    assert (s.stats["sent"], s.stats["rejected"], s.stats["dropped_failed"]) == (10, 1, 0)


def test_an_item_that_is_not_json_is_dropped_alone(api: TestClient) -> None:
    s = sender(api, batch_size=10)
    for i in range(10):
        s.send_event(event_json(i) | ({"ts": dt.datetime.now(dt.UTC)} if i == 7 else {}))
    assert s.flush(10)
    s.close()
    assert stored(api) == 9
    assert (s.stats["sent"], s.stats["rejected"], s.stats["dropped_failed"]) == (9, 1, 0)
