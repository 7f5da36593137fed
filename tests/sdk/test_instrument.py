"""SDK: tasks allocate calls, the real openai client is instrumented (streams too), sending never hurts."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest

from aifinops import sdk
from aifinops.errors import ConfigError
from tests.sdk.conftest import Ingest
from tests.wire_examples import PROMPT_FILTER_CHUNK, RESPONSES_USAGE, chat_completion

ENDPOINT = "https://res.openai.azure.com"
MODEL = "gpt-4o-2024-11-20"


def _chat_chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1767225600,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        "usage": None,
    }


def _sse(events: list[dict[str, Any]]) -> bytes:
    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"


def _chat(body: dict[str, Any]) -> httpx.Response:
    if not body.get("stream"):
        return httpx.Response(
            200,
            json=chat_completion(
                model=MODEL,
                content="Hello.",
                finish_reason="stop",
                choice_filter={"hate": {"filtered": False, "severity": "safe"}},
            ),
        )
    # Azure opens with an empty prompt-filter chunk (wire reference §3.1).
    events: list[dict[str, Any]] = [PROMPT_FILTER_CHUNK]
    events += [
        _chat_chunk({"role": "assistant", "content": "Hel"}, None),
        _chat_chunk({"content": "lo"}, None),
        _chat_chunk({}, "stop"),
    ]
    if (body.get("stream_options") or {}).get("include_usage"):
        usage = {
            "prompt_tokens": 12,
            "completion_tokens": 3,
            "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        }
        events.append({**_chat_chunk({}, None), "choices": [], "usage": usage})
    return httpx.Response(200, content=_sse(events), headers={"content-type": "text/event-stream"})


def _responses(body: dict[str, Any]) -> httpx.Response:
    response = {
        "id": "resp_1",
        "object": "response",
        "created_at": 1767225600,
        "model": MODEL,
        "status": "completed",
        "output": [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": RESPONSES_USAGE,
    }
    if not body.get("stream"):
        return httpx.Response(200, json=response)
    events = [
        {
            "type": "response.created",
            "sequence_number": 0,
            "response": {**response, "status": "in_progress", "usage": None},
        },
        {
            "type": "response.output_text.delta",
            "sequence_number": 1,
            "item_id": "m1",
            "output_index": 0,
            "content_index": 0,
            "delta": "Hi",
            "logprobs": [],
        },
        {"type": "response.completed", "sequence_number": 2, "response": response},
    ]
    content = b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)
    return httpx.Response(200, content=content, headers={"content-type": "text/event-stream"})


def fake_azure_openai(request: httpx.Request) -> httpx.Response:
    """Azure OpenAI data plane for the routes the SDK instruments (reference/openai-wire.md)."""
    assert request.headers["api-key"] == "upstream-key" and request.url.params["api-version"] == "2024-10-21"
    body = json.loads(request.content)
    path = request.url.path
    if path.endswith("/chat/completions"):
        if body["messages"][0]["content"] == "too fast":
            return httpx.Response(
                429,
                json={
                    "error": {
                        "code": "429",
                        "message": "Requests ... exceeded call rate limit ... Please retry after 6 seconds.",
                    }
                },
                headers={"retry-after": "6"},
            )
        return _chat(body)
    if path.endswith("/responses"):
        return _responses(body)
    if path.endswith("/embeddings"):
        return httpx.Response(
            200,
            json={
                "object": "list",
                "model": "text-embedding-3-small",
                "data": [{"object": "embedding", "index": 0, "embedding": [0.0023, -0.0091]}],
                "usage": {"prompt_tokens": 8, "total_tokens": 8},
            },
        )
    return httpx.Response(404, json={"error": {"code": "DeploymentNotFound", "message": path}})


@pytest.fixture
def sender(ingest: Ingest) -> Iterator[sdk.Sender]:
    s = sdk.Sender(
        "http://aifinops",
        ingest_key="afo_k_ingest",
        flush_interval=0.05,
        backoff=0.01,
        http_client=httpx.Client(transport=httpx.MockTransport(ingest)),
    )
    yield s
    s.close()


def azure(async_: bool = False) -> Any:
    kwargs: dict[str, Any] = {
        "api_key": "upstream-key",
        "azure_endpoint": ENDPOINT,
        "api_version": "2024-10-21",
        "max_retries": 0,
    }
    if async_:
        return openai.AsyncAzureOpenAI(
            http_client=httpx.AsyncClient(transport=httpx.MockTransport(fake_azure_openai)), **kwargs
        )
    return openai.AzureOpenAI(
        http_client=httpx.Client(transport=httpx.MockTransport(fake_azure_openai)), **kwargs
    )


def test_task_allocates_calls_and_sends_its_outcome_with_value(sender: sdk.Sender, ingest: Ingest) -> None:
    client = sdk.instrument(azure(), sender=sender, app="helpdesk", team="web")
    with sdk.task("ticket-42", use_case="triage", agent="classifier", sender=sender) as task:
        reply = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        client.embeddings.create(model="emb-small", input="hi")
        task.succeed(value=Decimal("4.20"), currency="EUR")
    assert reply.choices[0].message.content == "Hello."
    assert sender.flush(5)
    chat, emb = ingest.items("events")
    assert chat["task_id"] == "ticket-42" and chat["step"] == 1 and emb["step"] == 2
    assert (chat["use_case"], chat["agent"], chat["app"], chat["team"]) == (
        "triage",
        "classifier",
        "helpdesk",
        "web",
    )
    assert (
        chat["input_tokens"],
        chat["cached_input_tokens"],
        chat["output_tokens"],
        chat["reasoning_tokens"],
    ) == (1200, 1024, 300, 128)
    assert (chat["deployment"], chat["model"], chat["model_version"]) == ("gpt-4o", "gpt-4o", "2024-11-20")
    assert chat["kind"] == "chat" and chat["status"] == "ok" and chat["provider"] == "azure_openai"
    assert (emb["kind"], emb["input_tokens"], emb["output_tokens"]) == ("embedding", 8, 0)
    (outcome,) = ingest.items("outcomes")
    assert (
        outcome["outcome"] == "succeeded"
        and outcome["value_amount"] == "4.20"
        and outcome["value_currency"] == "EUR"
    )
    assert ingest.auth == {"Bearer afo_k_ingest"}


def test_the_outcome_names_the_tenant_of_its_task(sender: sdk.Sender, ingest: Ingest) -> None:
    """A task is its id within its tenant: the outcome carries the tenant of the task (given to the task, or
    to the instrumented client its calls went through), so it lands on that tenant's task."""
    client = sdk.instrument(azure(), sender=sender, app="helpdesk", tenant="contoso")
    with sdk.task("ticket-1", sender=sender):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    with sdk.task("ticket-2", sender=sender, tenant="fabrikam"):
        pass
    with sdk.task("ticket-3", sender=sender):
        pass
    assert sender.flush(5)
    outcomes = {o["task_id"]: o.get("tenant") for o in ingest.items("outcomes")}
    assert outcomes == {"ticket-1": "contoso", "ticket-2": "fabrikam", "ticket-3": None}


def test_stream_gets_usage_and_hides_the_extra_chunk(sender: sdk.Sender, ingest: Ingest) -> None:
    client = sdk.instrument(azure(), sender=sender)
    stream = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"
    assert all(c.usage is None for c in chunks)  # the caller never asked for the usage chunk
    assert sender.flush(5)
    (event,) = ingest.items("events")
    assert (
        event["input_tokens"],
        event["output_tokens"],
        event.get("task_id"),
    ) == (12, 3, None)


def test_stream_that_asked_for_usage_keeps_its_chunk(sender: sdk.Sender, ingest: Ingest) -> None:
    client = sdk.instrument(azure(), sender=sender)
    with client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    ) as stream:
        chunks = list(stream)
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 15
    assert sender.flush(5) and ingest.items("events")[0]["output_tokens"] == 3


def test_responses_stream_and_failed_task(sender: sdk.Sender, ingest: Ingest) -> None:
    client = sdk.instrument(azure(), sender=sender)
    with pytest.raises(RuntimeError), sdk.task("t-9", use_case="summarize", sender=sender):
        events = list(client.responses.create(model="gpt-4o", input="hi", stream=True))
        assert events[-1].type == "response.completed"
        raise RuntimeError("the app failed")
    assert sender.flush(5)
    (event,) = ingest.items("events")
    assert (event["kind"], event["input_tokens"], event["cached_input_tokens"], event["task_id"]) == (
        "responses",
        1200,
        1024,
        "t-9",
    )
    assert ingest.items("outcomes")[0]["outcome"] == "failed"


def test_rate_limited_call_is_recorded_and_the_error_reaches_the_app(
    sender: sdk.Sender, ingest: Ingest
) -> None:
    client = sdk.instrument(azure(), sender=sender)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "too fast"}])
    assert sender.flush(5)
    assert ingest.items("events")[0]["status"] == "rate_limited"


def test_async_client_records_calls_and_streams_in_the_task_context(
    sender: sdk.Sender, ingest: Ingest
) -> None:
    client = sdk.instrument(azure(async_=True), sender=sender, app="bot")

    async def run() -> list[Any]:
        with sdk.task("a-1", agent="planner", sender=sender):
            await client.responses.create(model="gpt-4o", input="hi")
            stream = await client.chat.completions.create(
                model="gpt-4o", stream=True, messages=[{"role": "user", "content": "hi"}]
            )
            return [c async for c in stream]

    chunks = asyncio.run(run())
    assert all(c.usage is None for c in chunks)
    assert sender.flush(5)
    responses, chat = ingest.items("events")
    assert (responses["task_id"], responses["step"], responses["output_tokens"]) == ("a-1", 1, 300)
    assert (chat["step"], chat["input_tokens"], chat["agent"], chat["app"]) == (2, 12, "planner", "bot")


def test_instrument_twice_records_once(sender: sdk.Sender, ingest: Ingest) -> None:
    client = sdk.instrument(sdk.instrument(azure(), sender=sender), sender=sender)
    client.embeddings.create(model="emb", input="x")
    assert sender.flush(5) and len(ingest.items("events")) == 1


def test_unreachable_ingest_never_blocks_or_raises_into_the_app() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    sender = sdk.Sender(
        "http://aifinops",
        flush_interval=0.01,
        backoff=0.01,
        max_retries=2,
        http_client=httpx.Client(transport=httpx.MockTransport(down)),
    )
    client = sdk.instrument(azure(), sender=sender)
    client.embeddings.create(model="emb", input="x")  # returns although every send fails
    assert sender.flush(5)
    sender.close()
    assert sender.stats["dropped_failed"] == 1 and sender.stats["sent"] == 0


def test_configured_sender_is_the_default_and_instrument_without_one_fails_at_setup(ingest: Ingest) -> None:
    with pytest.raises(ConfigError, match="needs a Sender"):
        sdk.instrument(azure())
    sender = sdk.configure(
        sdk.Sender(
            "http://aifinops",
            flush_interval=0.01,
            http_client=httpx.Client(transport=httpx.MockTransport(ingest)),
        )
    )
    try:
        client = sdk.instrument(azure())
        with sdk.task("t-default") as task:
            client.embeddings.create(model="emb", input="x")
            task.escalate(quantity=Decimal(3), unit="minutes")
        assert sender.flush(5)
        assert ingest.items("events")[0]["task_id"] == "t-default"
        (outcome,) = ingest.items("outcomes")
        assert (outcome["outcome"], outcome["value_quantity"], outcome["value_unit"]) == (
            "escalated",
            "3",
            "minutes",
        )
    finally:
        sdk.configure(None)
        sender.close()


def test_identical_requests_share_a_request_hash_and_the_finish_reason_is_sent(
    sender: sdk.Sender, ingest: Ingest
) -> None:
    client = sdk.instrument(azure(), sender=sender, app="helpdesk")
    with sdk.task("ticket-7", use_case="triage", sender=sender):
        for text in ("hi", "hi", "bye"):
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": text}])
        stream = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        for _ in stream:
            pass
    assert sender.flush(5)
    first, again, other, streamed = ingest.items("events")
    assert first["request_hash"] == again["request_hash"] == streamed["request_hash"]
    assert other["request_hash"] != first["request_hash"] and len(first["request_hash"]) == 32
    assert first["finish_reason"] == streamed["finish_reason"] == "stop"


def _tiered_openai(request: httpx.Request) -> httpx.Response:
    """Azure OpenAI answering with the tier that served each call and the prompt-cache writes it made
    (openai-wire.md §3–§4): a priority request downgraded to standard, and a flex Responses stream."""
    body = json.loads(request.content)
    if request.url.path.endswith("/chat/completions"):
        answer = copy.deepcopy(
            chat_completion(model=MODEL, content="Hello.", finish_reason="stop", choice_filter={})
        )
        answer["usage"]["prompt_tokens_details"]["cache_write_tokens"] = 150
        return httpx.Response(200, json={**answer, "service_tier": "default"})
    usage = {**RESPONSES_USAGE, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 1000}}
    response = {
        "id": "resp_1",
        "object": "response",
        "created_at": 1767225600,
        "model": MODEL,
        "status": "completed",
        "output": [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage,
        "service_tier": body["service_tier"],
    }
    done = {"type": "response.completed", "sequence_number": 0, "response": response}
    content = f"event: {done['type']}\ndata: {json.dumps(done)}\n\n".encode()
    return httpx.Response(200, content=content, headers={"content-type": "text/event-stream"})


def test_calls_carry_the_tier_that_served_them_and_their_cache_writes(
    sender: sdk.Sender, ingest: Ingest
) -> None:
    import datetime as dt

    from aifinops.api.ingest_schemas import EventIn, check_event, to_event, validate_items
    from aifinops.domain import ProcessingTier

    client = sdk.instrument(
        openai.AzureOpenAI(
            api_key="upstream-key",
            azure_endpoint=ENDPOINT,
            api_version="2024-10-21",
            max_retries=0,
            http_client=httpx.Client(transport=httpx.MockTransport(_tiered_openai)),
        ),
        sender=sender,
    )
    client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], service_tier="priority"
    )
    with client.responses.create(model="gpt-4o", input="hi", stream=True, service_tier="flex") as stream:
        list(stream)
    assert sender.flush(5)
    chat, responses = ingest.items("events")
    assert (chat["service_tier"], chat["cache_write_tokens"]) == ("standard", 150)
    assert (responses["service_tier"], responses["cache_write_tokens"]) == ("flex", 1000)
    # What the SDK sends is what /api/events takes: the tier decides ``priority``.
    now = dt.datetime.now(dt.UTC)
    valid, rejected = validate_items(EventIn, [chat, responses], lambda e: check_event(e, now))
    assert rejected == []
    events = [to_event(v) for _, v in valid]
    assert [(e.service_tier, e.priority) for e in events] == [
        (ProcessingTier.STANDARD, False),
        (ProcessingTier.FLEX, False),
    ]


def test_a_priority_request_without_a_tier_in_the_answer_counts_as_priority(
    sender: sdk.Sender, ingest: Ingest
) -> None:
    client = sdk.instrument(azure(), sender=sender)
    client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], service_tier="priority"
    )
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert sender.flush(5)
    asked, plain = ingest.items("events")
    assert asked["service_tier"] == "priority"
    assert "service_tier" not in plain and "cache_write_tokens" not in plain
