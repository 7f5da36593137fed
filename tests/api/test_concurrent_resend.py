"""Concurrent, overlapping re-sends to a real server: every request answered 2xx, every event counted once."""

from __future__ import annotations

import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from aifinops.api.app import create_app
from aifinops.config import load_settings
from aifinops.store import Store
from aifinops.store.prices import PriceStore
from tests.factories import PRICE_START, event_json, gpt4o_prices
from tests.served import Served

EVENTS, BATCH, SENDERS = 1200, 300, 8


@pytest.fixture
def server(store: Store) -> Iterator[str]:
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    served = Served(create_app(load_settings(), store=store))
    yield served.url
    served.stop()


def _batches(seed: int) -> list[list[int]]:
    """Overlapping windows of event numbers, each shuffled: writers meet the same ids in other orders."""
    rng = random.Random(seed)
    out = []
    for start in range(0, EVENTS, BATCH // 2):
        window = list(range(start, min(start + BATCH, EVENTS)))
        rng.shuffle(window)
        out.append(window)
    rng.shuffle(out)
    return out


def _send(url: str, seed: int) -> list[tuple[int, int, int]]:
    answers = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for batch in _batches(seed):
            r = client.post("/api/events", json=[event_json(i, input_tokens=1000 + i) for i in batch])
            body = r.json() if r.headers.get("content-type", "").startswith("application/") else {}
            answers.append((r.status_code, body.get("accepted", 0), body.get("duplicates", 0)))
    return answers


def test_concurrent_overlapping_resends_get_no_5xx_and_count_each_event_once(server: str) -> None:
    with ThreadPoolExecutor(SENDERS) as pool:
        answers = [a for result in pool.map(lambda seed: _send(server, seed), range(SENDERS)) for a in result]
    assert [status for status, _, _ in answers if status != 200] == []
    assert sum(accepted for _, accepted, _ in answers) == EVENTS
    usage = httpx.get(f"{server}/api/token-usage", params={"period": "2026-10", "granularity": "month"})
    (month,) = usage.json()["items"]
    assert (month["events"], month["input_tokens"]) == (EVENTS, sum(1000 + i for i in range(EVENTS)))
