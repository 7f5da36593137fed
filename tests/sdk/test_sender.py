"""SDK Sender: batches reach the ingest API with backoff, a full buffer drops the oldest, refusals count."""

from __future__ import annotations

import httpx

from aifinops import sdk
from tests.sdk.conftest import Ingest


def test_sender_retries_with_backoff_then_delivers() -> None:
    ingest = Ingest(failures=2)
    sender = sdk.Sender(
        "http://aifinops",
        flush_interval=0.05,
        backoff=0.01,
        http_client=httpx.Client(transport=httpx.MockTransport(ingest)),
    )
    sender.send_event({"event_id": "e1"})
    assert sender.flush(5)
    sender.close()
    assert ingest.items("events") == [{"event_id": "e1"}] and sender.stats["retries"] == 2


def test_full_buffer_drops_the_oldest_and_counts() -> None:
    ingest = Ingest()
    sender = sdk.Sender(
        "http://aifinops",
        max_buffer=3,
        flush_interval=60,
        http_client=httpx.Client(transport=httpx.MockTransport(ingest)),
    )
    for i in range(5):
        sender.send_event({"event_id": f"e{i}"})
    assert sender.stats["dropped_full"] == 2
    assert sender.flush(5)
    sender.close()
    assert [e["event_id"] for e in ingest.items("events")] == ["e2", "e3", "e4"]


def test_a_refused_batch_is_not_retried() -> None:
    ingest = Ingest(failures=1, status=401)
    sender = sdk.Sender(
        "http://aifinops",
        flush_interval=0.01,
        http_client=httpx.Client(transport=httpx.MockTransport(ingest)),
    )
    sender.send_event({"event_id": "e1"})
    assert sender.flush(5)
    sender.close()
    assert sender.stats["rejected"] == 1 and sender.stats["retries"] == 0


def test_items_the_ingest_api_rejects_are_counted_once_each() -> None:
    def partly(request: httpx.Request) -> httpx.Response:
        rejected = [
            {"index": 0, "field": "ts", "reason": "needs a time zone"},
            {"index": 0, "field": "step", "reason": "must be ≥ 0"},
        ]
        return httpx.Response(200, json={"accepted": 1, "duplicates": 0, "rejected": rejected})

    sender = sdk.Sender(
        "http://aifinops",
        flush_interval=0.01,
        http_client=httpx.Client(transport=httpx.MockTransport(partly)),
    )
    sender.send_event({"event_id": "bad"})
    sender.send_event({"event_id": "good"})
    assert sender.flush(5)
    sender.close()
    assert sender.stats["sent"] == 2 and sender.stats["rejected"] == 1
