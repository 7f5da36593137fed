"""The ingest schema holds every limit of the store: one bad item is refused by name, the batch is kept."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aifinops.domain import MeterKind, Price
from aifinops.store import Store
from aifinops.store.prices import PriceStore
from tests.factories import PRICE_START, event_json

GOOD_OUTCOME = {"task_id": "t1", "outcome": "succeeded", "ended_at": "2026-10-01T10:00:00Z"}


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"quantity": "50000000000", "unit": "images"}, "quantity", "less than or equal to"),
        ({"quantity": 9.3e11, "unit": "images"}, "quantity", "less than or equal to"),
        ({"app": "bad\x00app"}, "app", "NUL"),
        ({"event_id": "e-\x00"}, "event_id", "NUL"),
        ({"task_id": "t\x00"}, "task_id", "NUL"),
        ({"unit": "s\x00", "quantity": "1"}, "unit", "NUL"),
        ({"unit": "u" * 40, "quantity": "1"}, "unit", "at most 32 characters"),
        ({"resource_id": "/subscriptions/\x00"}, "resource_id", "NUL"),
        ({"attributes": {"k": "v\x00"}}, "attributes.k", "NUL"),
        ({"attributes": {"k\x00": "v"}}, "attributes.k\x00.[key]", "NUL"),
        ({"input_tokens": True}, "input_tokens", "integer"),
        ({"requests": False}, "requests", "integer"),
        ({"step": True}, "step", "integer"),
        ({"latency_ms": "12"}, "latency_ms", "integer"),
        ({"priority": "yes"}, "priority", "boolean"),
    ],
)
def test_an_item_beyond_the_store_is_rejected_by_name_and_the_other_99_are_stored(
    client: TestClient, change: dict[str, Any], field: str, reason: str
) -> None:
    batch = [event_json(i) for i in range(100)]
    batch[42] = batch[42] | change
    r = client.post("/api/events", json={"events": batch})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["accepted"], body["rejected"]) == (99, 1), body
    (error,) = body["errors"]
    assert (error["index"], error["field"]) == (42, field)
    assert reason in error["reason"]


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"value_amount": "10000000000", "value_currency": "EUR"}, "value_amount", "less than or equal"),
        ({"value_amount": "-10000000000", "value_currency": "EUR"}, "value_amount", "greater than or equal"),
        ({"value_quantity": "1e13", "value_unit": "minutes"}, "value_quantity", "less than or equal"),
        ({"task_id": "t\x00"}, "task_id", "NUL"),
        ({"use_case": "uc\x00"}, "use_case", "NUL"),
        ({"value_unit": "m\x00", "value_quantity": "1"}, "value_unit", "NUL"),
        ({"value_unit": "m" * 40, "value_quantity": "1"}, "value_unit", "at most 32 characters"),
        ({"ended_at": "9999-12-31T00:00:00Z"}, "ended_at", "in the future"),
    ],
)
def test_an_outcome_beyond_the_store_is_rejected_by_name_and_the_rest_stored(
    client: TestClient, change: dict[str, Any], field: str, reason: str
) -> None:
    items = [GOOD_OUTCOME | {"task_id": f"t{i}"} for i in range(10)]
    items[3] = items[3] | change
    r = client.post("/api/outcomes", json={"outcomes": items})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["accepted"], body["rejected"]) == (9, 1), body
    (error,) = body["errors"]
    assert (error["index"], error["field"]) == (3, field)
    assert reason in error["reason"]


def test_an_outcome_dated_far_ahead_never_blocks_the_real_one(client: TestClient) -> None:
    real = GOOD_OUTCOME | {"tenant": "contoso"}
    future = real | {"outcome": "failed", "ended_at": "9999-01-01T00:00:00Z"}
    client.post("/api/outcomes", json=[future])
    client.post("/api/events", json=[event_json(3)])  # task t1 of contoso
    client.post("/api/outcomes", json=[real])
    assert client.get("/api/tasks/t1").json()["outcome"] == "succeeded"


def test_an_event_whose_cost_the_store_cannot_hold_is_kept_unpriced(store: Store, client: TestClient) -> None:
    """A billion images at 100 USD each is 10¹¹ USD: beyond a 64-bit count of nano-dollars. The event is
    stored and counted as unpriced (and alerted on), never a failed batch."""
    image = Price("image", MeterKind.UNIT, Decimal(100), "USD", PRICE_START, unit_size=1, unit="image")
    PriceStore(store).save([image], now=PRICE_START)
    huge = event_json(1, quantity="1000000000", unit="image", input_tokens=0, cached_input_tokens=0)
    huge |= {"output_tokens": 0, "model": "gpt-image-1", "deployment_type": None}
    r = client.post("/api/events", json=[event_json(0), huge])
    assert r.status_code == 200, r.text
    assert (r.json()["accepted"], r.json()["unpriced"]) == (2, 1)
    (stored,) = [e for e in client.get("/api/tasks/t0").json()["events"] if e["event_id"] == "e1"]
    assert stored["cost"] is None
