"""The gateway proxy end to end over ASGI: routes, auth, headers, streaming, fallbacks, errors, metering."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx
import orjson
import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError

from aifinops.domain import DeploymentType, EventKind, EventStatus, Price, PricedUsage, UsageEvent
from aifinops.engine.pricing import PriceBook
from aifinops.errors import ConfigError, StoreError
from aifinops.gateway.app import GatewayApp, create_gateway
from aifinops.gateway.enforcer import Admission, CallContext
from aifinops.gateway.identity import KeyCache, RequestRefused
from aifinops.gateway.recorder import Recorder
from aifinops.gateway.routing import (
    CredentialTokens,
    GatewayConfig,
    load_gateway_config,
    parse_gateway_config,
    upstream_request_parts,
)
from aifinops.jobs.price_cache import PriceCache
from aifinops.store.keys import ApiKey
from tests.factories import gpt4o_prices

from .conftest import (
    GATEWAY_SECRET,
    READ_SECRET,
    UPSTREAM_KEY,
    AllowAll,
    FakeAzureOpenAI,
    ListSink,
    MemoryKeys,
    gateway_config,
    memory_keys,
)

AZURE_CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
AUTH = {"api-key": GATEWAY_SECRET}
MESSAGES = [{"role": "user", "content": "Say hello"}]


@dataclass
class Harness:
    client: httpx.AsyncClient
    app: GatewayApp
    upstream: FakeAzureOpenAI
    sink: ListSink
    enforcer: Any
    recorder: Recorder
    keys: MemoryKeys

    async def events(self) -> list[UsageEvent]:
        await self.recorder.flush()
        return sorted(self.sink.events.values(), key=lambda e: e.event_id)


@asynccontextmanager
async def _serve(
    upstream: FakeAzureOpenAI, spool: Path, enforcer: Any, *, config: GatewayConfig | None = None
) -> AsyncIterator[Harness]:
    sink, keys = ListSink(), memory_keys()
    recorder = Recorder(sink, spool_path=spool, flush_interval=0.01)
    upstream_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=upstream))
    app = create_gateway(
        config or gateway_config(), keys=keys, enforcer=enforcer, recorder=recorder, http=upstream_http
    )
    await app.startup()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        yield Harness(client, app, upstream, sink, enforcer, recorder, keys)
    await app.shutdown()
    await upstream_http.aclose()


@pytest.fixture
async def gw(fake_upstream: FakeAzureOpenAI, tmp_path: Path) -> AsyncIterator[Harness]:
    async with _serve(fake_upstream, tmp_path / "spool.jsonl", AllowAll()) as harness:
        yield harness


async def test_azure_chat_is_forwarded_with_the_upstream_key_and_metered(gw: Harness) -> None:
    response = await gw.client.post(AZURE_CHAT, headers=AUTH, json={"messages": MESSAGES})
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "Hello there."
    assert response.headers["apim-request-id"] == "apim-1"
    sent = gw.upstream.requests[0]
    assert sent["path"] == "/openai/deployments/gpt-4o-east/chat/completions"
    assert sent["query"] == {"api-version": ["2024-10-21"]}
    assert sent["headers"]["api-key"] == UPSTREAM_KEY
    assert GATEWAY_SECRET not in orjson.dumps(sent["headers"]).decode()
    assert UPSTREAM_KEY not in response.text and UPSTREAM_KEY not in str(response.headers)
    [event] = await gw.events()
    assert (event.input_tokens, event.cached_input_tokens, event.output_tokens, event.reasoning_tokens) == (
        1200,
        1024,
        300,
        128,
    )
    assert (event.model, event.model_version, event.deployment) == ("gpt-4o", "2024-11-20", "gpt-4o")
    assert (event.app, event.team, event.cost_center, event.environment, event.tenant) == (
        "checkout",
        "payments",
        "CC-42",
        "prod",
        "contoso",
    )
    assert event.kind is EventKind.CHAT and event.status is EventStatus.OK
    assert event.deployment_type is DeploymentType.GLOBAL_STANDARD and event.region == "eastus2"
    assert event.event_id.startswith("gw-") and event.event_id.endswith("-1")
    assert response.headers["x-aifinops-request-id"] in event.event_id
    assert gw.enforcer.settled == [(1200, 300)]


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "invalid_api_key"),
        ({"api-key": "afo_nope"}, 401, "invalid_api_key"),
        ({"authorization": "Bearer afo_nope"}, 401, "invalid_api_key"),
        ({"api-key": READ_SECRET}, 403, "insufficient_scope"),
    ],
)
async def test_missing_unknown_or_wrong_scope_key_is_refused_in_openai_shape(
    gw: Harness, headers: dict[str, str], status: int, code: str
) -> None:
    response = await gw.client.post(AZURE_CHAT, headers=headers, json={"messages": MESSAGES})
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code and error["message"] and "type" in error and "param" in error
    assert gw.upstream.requests == [] and await gw.events() == []


async def test_allowed_headers_set_allocation_and_task_fields(gw: Harness) -> None:
    headers = {
        **AUTH,
        "x-aifinops-task-id": "T-9",
        "x-aifinops-use-case": "refunds",
        "x-aifinops-agent": "triage",
        "x-aifinops-step": "3",
        "x-aifinops-attempt": "2",
    }
    response = await gw.client.post(AZURE_CHAT, headers=headers, json={"messages": MESSAGES})
    assert response.status_code == 200
    [event] = await gw.events()
    assert (event.task_id, event.use_case, event.agent, event.step, event.attempt) == (
        "T-9",
        "refunds",
        "triage",
        3,
        2,
    )
    assert gw.enforcer.admitted[0].dims["use_case"] == "refunds"


@pytest.mark.parametrize(
    ("header", "value", "status", "param"),
    [
        ("x-aifinops-tenant", "fabrikam", 403, "x-aifinops-tenant"),
        ("x-aifinops-step", "two", 400, "x-aifinops-step"),
        ("x-aifinops-attempt", "0", 400, "x-aifinops-attempt"),
    ],
)
async def test_disallowed_or_malformed_allocation_header_is_refused(
    gw: Harness, header: str, value: str, status: int, param: str
) -> None:
    response = await gw.client.post(AZURE_CHAT, headers={**AUTH, header: value}, json={"messages": MESSAGES})
    assert response.status_code == status
    assert response.json()["error"]["param"] == param
    assert gw.upstream.requests == []


async def test_stream_without_include_usage_is_metered_and_the_extra_chunk_removed(gw: Harness) -> None:
    body = {"messages": MESSAGES, "stream": True}
    response = await gw.client.post(AZURE_CHAT, headers=AUTH, json=body)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    assert gw.upstream.requests[0]["body"]["stream_options"] == {"include_usage": True}
    chunks = [line[6:] for line in response.text.split("\n\n") if line.startswith("data: ")]
    assert chunks[-1] == "[DONE]"
    parsed = [orjson.loads(c) for c in chunks[:-1]]
    assert all(not isinstance(p.get("usage"), dict) for p in parsed)
    assert "".join(c["delta"].get("content", "") for p in parsed for c in p["choices"]) == "Hello there."
    [event] = await gw.events()
    assert (event.input_tokens, event.output_tokens, event.status) == (12, 4, EventStatus.OK)
    assert event.model == "gpt-4o" and dict(event.attributes) == {}


async def test_stream_with_include_usage_keeps_the_usage_chunk(gw: Harness) -> None:
    body = {"messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}
    response = await gw.client.post(AZURE_CHAT, headers=AUTH, json=body)
    chunks = [orjson.loads(line[6:]) for line in response.text.split("\n\n") if line.startswith("data: {")]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 16
    [event] = await gw.events()
    assert (event.input_tokens, event.output_tokens) == (12, 4)


async def test_rate_limited_deployment_falls_back_and_both_attempts_are_recorded(gw: Harness) -> None:
    gw.upstream.failures["gpt-4o-east"] = [429]
    response = await gw.client.post(AZURE_CHAT, headers=AUTH, json={"messages": MESSAGES})
    assert response.status_code == 200
    assert [r["path"] for r in gw.upstream.requests] == [
        "/openai/deployments/gpt-4o-east/chat/completions",
        "/openai/deployments/gpt-4o-west/chat/completions",
    ]
    first, second = await gw.events()
    assert (first.status, first.attempt, first.deployment, first.input_tokens) == (
        EventStatus.RATE_LIMITED,
        1,
        "gpt-4o",
        0,
    )
    assert (second.status, second.attempt, second.deployment, second.input_tokens) == (
        EventStatus.OK,
        2,
        "gpt-4o-west",
        1200,
    )
    assert gw.app.metrics["fallbacks"] == 1


async def test_upstream_429_without_fallback_is_returned_faithfully(gw: Harness) -> None:
    gw.upstream.failures["gpt-4o-east"] = [429]
    response = await gw.client.post(
        "/openai/deployments/solo/chat/completions?api-version=2024-10-21",
        headers=AUTH,
        json={"messages": MESSAGES},
    )
    assert response.status_code == 429
    assert response.headers["retry-after"] == "6" and response.headers["retry-after-ms"] == "6000"
    assert response.json()["error"]["code"] == "429"
    [event] = await gw.events()
    assert event.status is EventStatus.RATE_LIMITED and event.deployment == "solo"
    assert gw.enforcer.released == 1 and gw.enforcer.settled == []


async def test_fallback_chain_exhausted_returns_the_last_answer(gw: Harness) -> None:
    gw.upstream.failures.update({"gpt-4o-east": [503], "gpt-4o-west": [500]})
    response = await gw.client.post(AZURE_CHAT, headers=AUTH, json={"messages": MESSAGES})
    assert response.status_code == 500
    assert [e.status for e in await gw.events()] == [EventStatus.ERROR, EventStatus.ERROR]


@pytest.mark.parametrize(("text", "status"), [("BLOCKME", 400), ("FILTERME", 200)])
async def test_content_filtered_calls_are_recorded_as_such(gw: Harness, text: str, status: int) -> None:
    body = {"messages": [{"role": "user", "content": text}]}
    response = await gw.client.post(AZURE_CHAT, headers=AUTH, json=body)
    assert response.status_code == status
    [event] = await gw.events()
    assert event.status is EventStatus.CONTENT_FILTERED


@pytest.mark.parametrize("prefix", ["/v1", "/openai/v1"])
async def test_v1_embeddings_take_the_deployment_from_the_body(gw: Harness, prefix: str) -> None:
    response = await gw.client.post(
        f"{prefix}/embeddings",
        headers={"authorization": f"Bearer {GATEWAY_SECRET}"},
        json={"model": "text-embedding-3-small", "input": "hello world"},
    )
    assert response.status_code == 200
    assert gw.upstream.requests[0]["path"] == "/openai/deployments/text-embedding-3-small/embeddings"
    [event] = await gw.events()
    assert (event.kind, event.input_tokens, event.output_tokens, event.model) == (
        EventKind.EMBEDDING,
        8,
        0,
        "text-embedding-3-small",
    )


async def test_v1_completions_are_metered(gw: Harness) -> None:
    response = await gw.client.post("/v1/completions", headers=AUTH, json={"model": "solo", "prompt": "Say"})
    assert response.status_code == 200
    [event] = await gw.events()
    assert (event.kind, event.input_tokens, event.output_tokens) == (EventKind.COMPLETION, 6, 20)


@pytest.mark.parametrize("stream", [False, True])
async def test_responses_api_goes_to_the_v1_route_with_the_upstream_deployment(
    gw: Harness, stream: bool
) -> None:
    response = await gw.client.post(
        "/openai/v1/responses", headers=AUTH, json={"model": "gpt-4o", "input": "Say hello", "stream": stream}
    )
    assert response.status_code == 200
    sent = gw.upstream.requests[0]
    assert sent["path"] == "/openai/v1/responses" and sent["body"]["model"] == "gpt-4o-east"
    assert "stream_options" not in sent["body"]
    if stream:
        assert "event: response.completed" in response.text
    [event] = await gw.events()
    assert (
        event.kind,
        event.input_tokens,
        event.cached_input_tokens,
        event.output_tokens,
        event.reasoning_tokens,
    ) == (EventKind.RESPONSES, 1200, 1024, 300, 128)


async def test_unknown_deployment_and_route_get_openai_errors(gw: Harness) -> None:
    missing = await gw.client.post(
        "/v1/chat/completions", headers=AUTH, json={"model": "gpt-9", "messages": []}
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "DeploymentNotFound"
    unknown = await gw.client.post("/openai/deployments/gpt-4o/images/generations", headers=AUTH, json={})
    assert unknown.status_code == 404
    bad = await gw.client.post(
        AZURE_CHAT, headers={**AUTH, "content-type": "application/json"}, content=b"{nope"
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"
    assert gw.upstream.requests == []


class _Refuse(AllowAll):
    async def admit(self, ctx: CallContext) -> Admission:
        return Admission(
            allowed=False,
            status=429,
            error={
                "error": {
                    "message": "daily budget 10 USD of app checkout reached (10.01 USD)",
                    "type": "rate_limit_exceeded",
                    "code": "budget",
                    "param": None,
                }
            },
            deployment=ctx.deployment,
            max_tokens=None,
            reservation_id=None,
            headers=MappingProxyType({"retry-after": "3600"}),
        )


class _Clamp(AllowAll):
    async def admit(self, ctx: CallContext) -> Admission:
        return Admission(
            allowed=True,
            status=200,
            error=None,
            deployment="gpt-4o-west",
            max_tokens=50,
            reservation_id="r1",
            headers=MappingProxyType({"x-aifinops-downgraded-from": "gpt-4o"}),
        )


async def test_refused_call_never_reaches_the_upstream_and_is_not_recorded(
    fake_upstream: FakeAzureOpenAI, tmp_path: Path
) -> None:
    async with _serve(fake_upstream, tmp_path / "spool.jsonl", _Refuse()) as gw:
        await _refused(gw)


async def _refused(gw: Harness) -> None:
    response = await gw.client.post(AZURE_CHAT, headers=AUTH, json={"messages": MESSAGES})
    assert response.status_code == 429 and response.headers["retry-after"] == "3600"
    assert response.json()["error"]["code"] == "budget"
    assert gw.upstream.requests == [] and await gw.events() == []
    assert gw.app.metrics["refused"] == 1


async def test_admission_downgrade_and_max_tokens_clamp_reach_the_upstream(
    fake_upstream: FakeAzureOpenAI, tmp_path: Path
) -> None:
    async with _serve(fake_upstream, tmp_path / "spool.jsonl", _Clamp()) as gw:
        await _clamped(gw)


async def _clamped(gw: Harness) -> None:
    response = await gw.client.post(AZURE_CHAT, headers=AUTH, json={"messages": MESSAGES, "max_tokens": 4000})
    assert response.headers["x-aifinops-downgraded-from"] == "gpt-4o"
    sent = gw.upstream.requests[0]
    assert (
        sent["path"] == "/openai/deployments/gpt-4o-west/chat/completions"
        and sent["body"]["max_tokens"] == 50
    )
    [event] = await gw.events()
    assert event.deployment == "gpt-4o-west"


async def test_unreachable_upstream_gives_502_and_an_error_event(tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    sink = ListSink()
    recorder = Recorder(sink, spool_path=tmp_path / "spool.jsonl")
    upstream = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    app = create_gateway(
        gateway_config(), keys=memory_keys(), enforcer=AllowAll(), recorder=recorder, http=upstream
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        response = await client.post(AZURE_CHAT, headers=AUTH, json={"messages": MESSAGES})
    await recorder.flush()
    assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_unavailable"
    assert [e.status for e in sink.events.values()] == [EventStatus.ERROR, EventStatus.ERROR]
    await upstream.aclose()


async def test_key_lookups_are_cached(gw: Harness) -> None:
    for _ in range(3):
        await gw.client.post(AZURE_CHAT, headers=AUTH, json={"messages": MESSAGES})
    assert gw.keys.lookups == 1


def test_config_errors_name_the_file_key_and_choices() -> None:
    with pytest.raises(
        ConfigError, match=r"gw.yaml: deployments.a.upstream is 'nowhere'; choose from \['east'\]"
    ):
        parse_gateway_config(
            {
                "upstreams": {"east": {"endpoint": "https://x", "api_key": "k"}},
                "deployments": {"a": {"upstream": "nowhere"}},
            },
            source="gw.yaml",
        )
    with pytest.raises(ConfigError, match="fallbacks names 'b'"):
        parse_gateway_config(
            {
                "upstreams": {"east": {"endpoint": "https://x", "api_key": "k"}},
                "deployments": {"a": {"upstream": "east", "fallbacks": ["b"]}},
            }
        )
    with pytest.raises(ConfigError, match=r"deployments.a: unknown key\(s\) \['fallback'\]"):
        parse_gateway_config(
            {
                "upstreams": {"east": {"endpoint": "https://x", "api_key": "k"}},
                "deployments": {"a": {"upstream": "east", "fallback": ["b"]}},
            }
        )
    with pytest.raises(ConfigError, match="api_key_env names 'NOPE_KEY', which is not set"):
        parse_gateway_config(
            {"upstreams": {"east": {"endpoint": "https://x", "api_key_env": "NOPE_KEY"}}}, environ={}
        )


def test_upstream_keys_never_show_in_reprs() -> None:
    config = gateway_config()
    assert UPSTREAM_KEY not in repr(config) and UPSTREAM_KEY not in str(config.upstreams["east"])
    assert config.upstreams["east"].api_key is not None
    assert config.upstreams["east"].api_key.get_secret_value() == UPSTREAM_KEY


class _Credential:
    """An azure-identity style async credential."""

    def __init__(self, *, fail: bool = False) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.fail = fail

    async def get_token(self, *scopes: str) -> AccessToken:
        self.calls.append(scopes)
        if self.fail:
            raise ClientAuthenticationError("AADSTS700016: application not found in the directory")
        return AccessToken(UPSTREAM_KEY, int(time.time()) + 3600)


async def _entra_gateway(upstream: FakeAzureOpenAI, credential: _Credential, sink: ListSink) -> GatewayApp:
    config = parse_gateway_config(
        {
            "upstreams": {"east": {"endpoint": "http://upstream.test", "auth": "entra"}},
            "deployments": {"gpt-4o": {"upstream": "east"}},
        }
    )
    recorder = Recorder(sink, spool_path=Path(os.getcwd()) / "spool.jsonl")
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=upstream))
    return create_gateway(
        config,
        keys=memory_keys(),
        enforcer=AllowAll(),
        recorder=recorder,
        http=http,
        token_provider=CredentialTokens(credential),
    )


async def test_entra_upstreams_get_a_cached_bearer_token_and_no_api_key(
    fake_upstream: FakeAzureOpenAI,
) -> None:
    credential, sink = _Credential(), ListSink()
    app = await _entra_gateway(fake_upstream, credential, sink)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        for _ in range(2):
            response = await client.post(AZURE_CHAT, headers=AUTH, json={"messages": MESSAGES})
            assert response.status_code == 200
    assert credential.calls == [("https://cognitiveservices.azure.com/.default",)]
    sent = fake_upstream.requests[0]["headers"]
    assert sent["authorization"] == f"Bearer {UPSTREAM_KEY}" and "api-key" not in sent


async def test_entra_token_failure_gives_502_naming_the_role(fake_upstream: FakeAzureOpenAI) -> None:
    sink = ListSink()
    app = await _entra_gateway(fake_upstream, _Credential(fail=True), sink)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        response = await client.post(AZURE_CHAT, headers=AUTH, json={"messages": MESSAGES})
    assert response.status_code == 502 and "SourceAuthError" in response.json()["error"]["message"]
    assert fake_upstream.requests == []


async def test_cached_price_book_keeps_the_last_good_book_when_the_store_fails() -> None:
    class Prices:
        calls = 0

        def version(self) -> tuple[int, int]:
            self.calls += 1
            if self.calls > 1:
                raise StoreError("database error on sqlite:///x.db: OperationalError: disk I/O error")
            return 1, 1

        def load(self) -> list[Price]:
            return []

    prices = Prices()
    cached = PriceCache(prices.version, prices.load, ttl=0.0)
    assert cached.current() is None  # never blocks: the first load runs in the background
    await asyncio.sleep(0.05)
    book = cached.current()
    assert isinstance(book, PriceBook)
    await asyncio.sleep(0.05)
    assert cached.current() is book and cached.errors >= 1 and "disk I/O error" in (cached.last_error or "")


def test_entra_upstream_without_a_token_provider_is_a_config_error(tmp_path: Path) -> None:
    config = parse_gateway_config(
        {"upstreams": {"east": {"endpoint": "https://x", "auth": "entra"}}, "deployments": {}}
    )
    with pytest.raises(ConfigError, match="no token provider"):
        create_gateway(
            config,
            keys=memory_keys(),
            enforcer=AllowAll(),
            recorder=Recorder(ListSink(), spool_path=tmp_path / "s.jsonl"),
        )


async def test_failed_attempts_carry_the_configured_model(tmp_path: Path) -> None:
    upstream = FakeAzureOpenAI(failures={"gpt-4o-east": [503]})
    config = parse_gateway_config(
        {
            "upstreams": {"east": {"endpoint": "http://upstream.test", "api_key": UPSTREAM_KEY}},
            "deployments": {
                "solo": {
                    "upstream": "east",
                    "upstream_deployment": "gpt-4o-east",
                    "model": "gpt-4o",
                    "model_version": "2024-08-06",
                }
            },
        }
    )
    async with _serve(upstream, tmp_path / "spool.jsonl", AllowAll(), config=config) as gw:
        response = await gw.client.post(
            "/v1/chat/completions", headers=AUTH, json={"model": "solo", "messages": []}
        )
        assert response.status_code == 503
        [event] = await gw.events()
    assert (event.model, event.model_version, event.status) == ("gpt-4o", "2024-08-06", EventStatus.ERROR)


def test_gateway_config_file_resolves_env_keys_policies_and_upstream_urls(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(
        "upstreams:\n  east:\n    endpoint: https://contoso.openai.azure.com/\n    api_key_env: EAST_KEY\n"
        "deployments:\n  gpt-4o: {upstream: east, upstream_deployment: gpt-4o-prod}\n"
        "policies_file: limits.yaml\n"
    )
    config = load_gateway_config(path, environ={"EAST_KEY": "s3cret"})
    assert config.policies_file == str(tmp_path / "limits.yaml")
    east, deployment = config.upstreams["east"], config.deployments["gpt-4o"]
    assert east.api_key is not None and east.api_key.get_secret_value() == "s3cret"
    assert upstream_request_parts(east, deployment, route="chat") == (
        "https://contoso.openai.azure.com/openai/deployments/gpt-4o-prod/chat/completions"
        "?api-version=2024-10-21",
        None,
    )
    assert upstream_request_parts(east, deployment, route="responses") == (
        "https://contoso.openai.azure.com/openai/v1/responses",
        "gpt-4o-prod",
    )
    with pytest.raises(ConfigError, match=r"cannot read gateway config .*missing.yaml"):
        load_gateway_config(tmp_path / "missing.yaml")


class _DownKeys:
    """A key store whose database is down after the first lookup."""

    def __init__(self) -> None:
        self.inner, self.down = memory_keys(), False

    def __call__(self, secret: str) -> ApiKey | None:
        if self.down:
            raise StoreError(
                "database error on sqlite:///x.db: OperationalError: unable to open database file"
            )
        return self.inner(secret)


async def test_key_store_outage_keeps_known_keys_and_refuses_unknown_ones_with_503() -> None:
    keys = _DownKeys()
    cache = KeyCache(keys, ttl=0.0)  # every lookup goes to the store
    assert (await cache.authenticate([(b"api-key", GATEWAY_SECRET.encode())])).key_id == "k1"
    keys.down = True
    assert (await cache.authenticate([(b"api-key", GATEWAY_SECRET.encode())])).key_id == "k1"
    with pytest.raises(RequestRefused) as refused:
        await cache.authenticate([(b"api-key", b"afo_other")])
    assert refused.value.status == 503 and refused.value.headers == {"retry-after": "5"}


def test_the_cli_refuses_to_start_without_a_gateway_config() -> None:
    from aifinops.config import load_settings
    from aifinops.gateway.build import build_gateway

    with pytest.raises(ConfigError, match="AIFINOPS_GATEWAY__CONFIG_FILE"):
        build_gateway(load_settings())


class _Prices:
    """A price store holding gpt-4o prices for every deployment type."""

    def version(self) -> tuple[int, int]:
        return 1, 1

    def load(self) -> list[Price]:
        return [dataclasses.replace(p, deployment_type=None) for p in gpt4o_prices()]


async def test_each_attempt_is_priced_once_and_recorded_with_the_estimate_its_limits_settled(
    tmp_path: Path,
) -> None:
    upstream = FakeAzureOpenAI(failures={"gpt-4o-east": [429]})
    sink, enforcer = ListSink(), AllowAll()
    recorder = Recorder(sink, spool_path=tmp_path / "spool.jsonl")
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=upstream))
    app = create_gateway(
        gateway_config(),
        keys=memory_keys(),
        enforcer=enforcer,
        recorder=recorder,
        http=http,
        prices=PriceCache(_Prices().version, _Prices().load),
    )
    await app.startup()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        response = await client.post(AZURE_CHAT, headers=AUTH, json={"messages": MESSAGES})
    await app.shutdown()
    await http.aclose()
    assert response.status_code == 200
    # (1200 − 1024) × 2.50 + 1024 × 1.25 + 300 × 10 per 1M tokens
    assert enforcer.costs == [(Decimal("0.00472"), "USD")]
    rate_limited, served = sorted(sink.events)
    assert sink.estimates[rate_limited] == PricedUsage(Decimal(0), None, {})  # no usage, nothing to price
    estimate = sink.estimates[served]
    assert estimate is not None and (estimate.cost, estimate.currency) == (Decimal("0.00472"), "USD")


async def test_without_a_price_book_events_are_recorded_for_the_sink_to_price(gw: Harness) -> None:
    response = await gw.client.post(AZURE_CHAT, headers=AUTH, json={"messages": MESSAGES})
    assert response.status_code == 200
    [event] = await gw.events()
    assert gw.sink.estimates[event.event_id] is None
