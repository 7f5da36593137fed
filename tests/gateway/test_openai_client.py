"""The official openai client (OpenAI and AzureOpenAI, plain and streaming) against the served gateway."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest

from aifinops.domain import EventKind, EventStatus, ProcessingTier, UsageEvent
from aifinops.gateway.app import GatewayApp, create_gateway
from aifinops.gateway.enforcer import Enforcer
from aifinops.gateway.recorder import Recorder
from tests.served import Served

from .conftest import (
    CACHE_WRITES,
    GATEWAY_SECRET,
    TENANT_SECRETS,
    FakeAzureOpenAI,
    ListSink,
    gateway_config,
    memory_keys,
)

MESSAGES: list[Any] = [{"role": "user", "content": "Say hello"}]


@dataclass
class Stack:
    url: str
    upstream: FakeAzureOpenAI
    sink: ListSink
    gateway: GatewayApp
    served: Served

    def events(self) -> list[UsageEvent]:
        """Stop the gateway (its shutdown flushes the recorder) and return what reached the sink."""
        self.served.stop()
        return list(self.sink.events.values())


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    upstream = FakeAzureOpenAI()
    upstream_server = Served(upstream, lifespan="on")
    sink = ListSink()
    config = gateway_config(f"http://127.0.0.1:{upstream_server.port}")
    gateway = create_gateway(
        config,
        keys=memory_keys(),
        enforcer=Enforcer(),
        recorder=Recorder(sink, spool_path=tmp_path / "spool.jsonl", flush_interval=0.01),
    )
    served = Served(gateway, lifespan="on")
    yield Stack(f"http://127.0.0.1:{served.port}", upstream, sink, gateway, served)
    served.stop()
    upstream_server.stop()


def test_openai_client_chat_plain_and_streaming(stack: Stack) -> None:
    client = openai.OpenAI(base_url=stack.url + "/v1", api_key=GATEWAY_SECRET, max_retries=0)
    reply = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert reply.choices[0].message.content == "Hello there." and reply.usage is not None
    assert (
        reply.usage.prompt_tokens_details is not None
        and reply.usage.prompt_tokens_details.cached_tokens == 1024
    )
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello there."
    assert all(c.usage is None for c in chunks)  # the client did not ask for usage: the extra chunk is gone
    client.close()
    events = sorted(stack.events(), key=lambda e: e.input_tokens)
    assert [(e.input_tokens, e.output_tokens, e.status) for e in events] == [
        (12, 4, EventStatus.OK),
        (1200, 300, EventStatus.OK),
    ]
    # The same messages, streamed or not, are the same request; the plain answer says why it stopped.
    assert events[0].request_hash == events[1].request_hash and events[0].request_hash is not None
    assert events[1].finish_reason == "stop"


def test_azure_openai_client_chat_plain_and_streaming_with_usage(stack: Stack) -> None:
    client = openai.AzureOpenAI(
        azure_endpoint=stack.url, api_key=GATEWAY_SECRET, api_version="2024-10-21", max_retries=0
    )
    reply = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert reply.model == "gpt-4o-2024-11-20" and reply.usage is not None and reply.usage.total_tokens == 1500
    stream = client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 16
    client.close()
    sent = [r["path"] for r in stack.upstream.requests]
    assert sent == ["/openai/deployments/gpt-4o-east/chat/completions"] * 2
    assert {(e.kind, e.input_tokens) for e in stack.events()} == {
        (EventKind.CHAT, 1200),
        (EventKind.CHAT, 12),
    }


def test_openai_client_embeddings_and_responses(stack: Stack) -> None:
    client = openai.OpenAI(base_url=stack.url + "/openai/v1", api_key=GATEWAY_SECRET, max_retries=0)
    embedding = client.embeddings.create(model="text-embedding-3-small", input="hello")
    assert embedding.usage.prompt_tokens == 8
    response = client.responses.create(model="gpt-4o", input="Say hello")
    assert response.output_text == "Hello." and response.usage is not None
    streamed = [e.type for e in client.responses.create(model="gpt-4o", input="Say hello", stream=True)]
    assert streamed[-1] == "response.completed"
    client.close()
    kinds = sorted((e.kind.value, e.input_tokens, e.output_tokens) for e in stack.events())
    assert kinds == [("embedding", 8, 0), ("responses", 1200, 300), ("responses", 1200, 300)]


def test_errors_reach_the_client_as_openai_exceptions(stack: Stack) -> None:
    stack.upstream.failures["gpt-4o-east"] = [429]
    azure = openai.AzureOpenAI(
        azure_endpoint=stack.url, api_key=GATEWAY_SECRET, api_version="2024-10-21", max_retries=0
    )
    with pytest.raises(openai.RateLimitError) as limited:
        azure.chat.completions.create(model="solo", messages=MESSAGES)
    assert limited.value.response.headers["retry-after"] == "6"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=stack.url + "/v1", api_key="afo_wrong", max_retries=0).chat.completions.create(
            model="gpt-4o", messages=MESSAGES
        )
    azure.close()
    [event] = stack.events()
    assert event.status is EventStatus.RATE_LIMITED


def test_pooled_upstream_connections_are_reused(stack: Stack) -> None:
    client = openai.OpenAI(base_url=stack.url + "/v1", api_key=GATEWAY_SECRET, max_retries=0)
    for _ in range(5):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    client.close()
    connections = {tuple(r["client"]) for r in stack.upstream.requests}
    assert len(connections) == 1 and len(stack.upstream.requests) == 10 and len(stack.events()) == 10


def test_a_header_never_overrides_the_tenant_of_a_key(stack: Stack) -> None:
    """A key bound to a tenant (by its identity or its tenant limit) may repeat that tenant in
    x-aifinops-tenant but never name another: the call is refused with an OpenAI-style 403 and nothing is
    recorded. Only a key without a tenant lets the header choose it."""

    def call(secret: str, tenant: str | None) -> None:
        headers = {"x-aifinops-tenant": tenant} if tenant else None
        client = openai.OpenAI(
            base_url=stack.url + "/v1", api_key=secret, max_retries=0, default_headers=headers
        )
        try:
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        finally:
            client.close()

    for bound in ("identity", "limit"):
        with pytest.raises(openai.PermissionDeniedError) as refused:
            call(TENANT_SECRETS[bound], "fabrikam")
        assert refused.value.code == "tenant_not_allowed" and "contoso" in refused.value.message
        call(TENANT_SECRETS[bound], "contoso")
        call(TENANT_SECRETS[bound], None)
    call(TENANT_SECRETS["free"], "fabrikam")
    tenants = sorted(e.tenant or "" for e in stack.events())
    assert tenants == ["contoso"] * 4 + ["fabrikam"]


def test_events_carry_the_tier_that_served_each_call_and_its_cache_writes(stack: Stack) -> None:
    """Chat plain and streamed, Responses plain and streamed: the tier the answer reports wins over the one
    asked for, ``priority`` follows it, and prompt-cache writes are read from the usage details."""
    client = openai.OpenAI(base_url=stack.url + "/v1", api_key=GATEWAY_SECRET, max_retries=0)
    cache = {"prompt_cache_key": "case-7"}
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES, service_tier="priority", **cache)
    downgraded = [{"role": "user", "content": "DOWNGRADE me"}]
    client.chat.completions.create(model="gpt-4o", messages=downgraded, service_tier="priority")
    list(
        client.chat.completions.create(
            model="gpt-4o",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
            service_tier="flex",
            **cache,
        )
    )
    client.responses.create(model="gpt-4o", input="hi", service_tier="fast", **cache)
    with client.responses.create(model="gpt-4o", input="hi", stream=True, service_tier="default") as s:
        list(s)
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    client.close()
    got = sorted(
        (e.kind.value, e.input_tokens, e.cache_write_tokens, e.service_tier or "", e.priority)
        for e in stack.events()
    )
    assert got == [
        ("chat", 12, CACHE_WRITES, ProcessingTier.FLEX, False),
        ("chat", 1200, 0, "", False),
        ("chat", 1200, 0, ProcessingTier.STANDARD, False),
        ("chat", 1200, CACHE_WRITES, ProcessingTier.PRIORITY, True),
        ("responses", 1200, 0, ProcessingTier.STANDARD, False),
        ("responses", 1200, CACHE_WRITES, ProcessingTier.PRIORITY, True),
    ]
