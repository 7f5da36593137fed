"""SDK: a retrieval is sent as an event of the running task, at the step of the call that reads it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from aifinops import sdk
from aifinops.api.ingest_schemas import EventIn, check_event, to_event, validate_items
from tests.sdk.conftest import Ingest
from tests.sdk.test_instrument import azure


@pytest.fixture
def sender(ingest: Ingest) -> Iterator[sdk.Sender]:
    s = sdk.Sender(
        "http://aifinops",
        flush_interval=0.05,
        backoff=0.01,
        http_client=httpx.Client(transport=httpx.MockTransport(ingest)),
    )
    yield s
    s.close()


def test_a_retrieval_takes_the_step_of_the_call_that_reads_it(sender: sdk.Sender, ingest: Ingest) -> None:
    client = sdk.instrument(azure(), sender=sender)
    with sdk.task("q-1", use_case="doc-qa", sender=sender):
        sdk.record_retrieval(6_000, source="ai-search", query="refund policy?", sender=sender)
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        sdk.record_retrieval(6_000, source="ai-search", query="refund policy?", sender=sender)
    assert sender.flush(5)
    first, chat, again = ingest.items("events")
    assert (first["kind"], first["retrieved_tokens"], first["tool_name"]) == ("retrieval", 6000, "ai-search")
    assert (first["task_id"], first["use_case"], first["step"], chat["step"], again["step"]) == (
        "q-1",
        "doc-qa",
        1,
        1,
        2,
    )
    assert first["request_hash"] == again["request_hash"] and "refund" not in str(first)  # hashed, not sent
    assert "input_tokens" not in first  # the passages are counted in the chat call's input


def test_the_sent_retrieval_is_a_valid_ingest_event(sender: sdk.Sender, ingest: Ingest) -> None:
    sdk.record_retrieval(1_500, source="ai-search", sender=sender)
    assert sender.flush(5)
    (item,) = ingest.items("events")
    values, rejected = validate_items(EventIn, [item])
    assert rejected == []
    assert to_event(values[0][1]).retrieved_tokens == 1500


@pytest.mark.parametrize("bad", [-1, 2.5, True])
def test_a_bad_count_is_dropped_not_raised(sender: sdk.Sender, ingest: Ingest, bad: object) -> None:
    sdk.record_retrieval(bad, sender=sender)  # type: ignore[arg-type]
    assert sender.flush(5)
    assert ingest.items("events") == []


def test_retrieved_tokens_on_a_model_call_are_refused_naming_the_field() -> None:
    import datetime as dt

    from aifinops.domain import EventKind

    now = dt.datetime(2026, 10, 2, tzinfo=dt.UTC)
    event = {"event_id": "e", "ts": now, "kind": EventKind.CHAT, "retrieved_tokens": 10}
    field, reason = check_event(event, now) or ("", "")
    assert field == "retrieved_tokens" and "retrieval" in reason
    assert check_event({**event, "kind": EventKind.RETRIEVAL}, now) is None
