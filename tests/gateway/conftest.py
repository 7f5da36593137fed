"""Gateway test fixtures: a fake Azure OpenAI data plane speaking the reference wire format, keys, sinks."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qs

import orjson
import pytest

from aifinops.domain import PricedUsage, UsageEvent
from aifinops.gateway.enforcer import Admission, CallContext
from aifinops.gateway.routing import GatewayConfig, parse_gateway_config
from aifinops.store.keys import ApiKey
from tests.wire_examples import PROMPT_FILTER_CHUNK, RESPONSES_USAGE, chat_completion

UPSTREAM_KEY = "upstream-secret-key-123"
GATEWAY_SECRET = "afo_k1_testsecret"
READ_SECRET = "afo_k2_readonly"
#: Gateway keys that may send x-aifinops-tenant: bound to contoso by identity, by tenant limit, or unbound.
TENANT_SECRETS = {"identity": "afo_k3_identity", "limit": "afo_k4_limit", "free": "afo_k5_free"}
WORDS = ["Hel", "lo", " there", "."]
CHOICE_FILTER = {
    "hate": {"filtered": False, "severity": "safe"},
    "protected_material_text": {"filtered": False, "detected": False},
}
STREAM_USAGE = {
    "prompt_tokens": 12,
    "completion_tokens": 4,
    "total_tokens": 16,
    "prompt_tokens_details": {"cached_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0},
}
MODEL = "gpt-4o-2024-11-20"
#: Prompt-cache writes the fake reports for a call that sends a ``prompt_cache_key`` (part of its input).
CACHE_WRITES = 8


@dataclass
class FakeAzureOpenAI:
    """An ASGI Azure OpenAI resource: deployment routes, v1 Responses, key/bearer auth, scripted failures."""

    api_key: str = UPSTREAM_KEY
    failures: dict[str, list[int]] = field(default_factory=dict)  # deployment -> statuses to answer first
    requests: list[dict[str, Any]] = field(default_factory=list)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        request = orjson.loads(body) if body else {}
        self.requests.append(
            {
                "path": scope["path"],
                "query": parse_qs(scope["query_string"].decode()),
                "headers": headers,
                "body": request,
                "client": scope.get("client"),
            }
        )
        if (
            headers.get("api-key") != self.api_key
            and headers.get("authorization") != f"Bearer {self.api_key}"
        ):
            await _json(
                send,
                401,
                {
                    "error": {
                        "code": "401",
                        "message": "Access denied due to invalid subscription key or wrong API endpoint.",
                    }
                },
            )
            return
        await self._route(scope["path"], request, send)

    async def _route(self, path: str, request: dict[str, Any], send: Any) -> None:
        if path == "/openai/v1/responses":
            deployment, op = request.get("model", ""), "responses"
        elif path.startswith("/openai/deployments/"):
            deployment, _, op = path[len("/openai/deployments/") :].partition("/")
        else:
            await _json(send, 404, {"error": {"code": "404", "message": "Resource not found"}})
            return
        pending = self.failures.get(deployment)
        if pending:
            await _failure(send, pending.pop(0), op)
            return
        if _text_of(request).find("BLOCKME") >= 0:
            await _json(send, 400, _content_filter_error())
            return
        if op == "chat/completions":
            await (_chat_stream(send, request) if request.get("stream") else _json(send, 200, _chat(request)))
        elif op == "completions":
            await _json(
                send,
                200,
                {
                    "id": "cmpl-1",
                    "object": "text_completion",
                    "created": 1767225600,
                    "model": MODEL,
                    "choices": [{"text": "ok", "index": 0, "finish_reason": "stop", "logprobs": None}],
                    "usage": {"prompt_tokens": 6, "completion_tokens": 20, "total_tokens": 26},
                },
            )
        elif op == "embeddings":
            await _json(
                send,
                200,
                {
                    "object": "list",
                    "model": "text-embedding-3-small",
                    "data": [{"object": "embedding", "index": 0, "embedding": [0.0023, -0.0091]}],
                    "usage": {"prompt_tokens": 8, "total_tokens": 8},
                },
            )
        elif op == "responses":
            await (
                _responses_stream(send, request)
                if request.get("stream")
                else _json(send, 200, _served_as(request, _response_obj()))
            )
        else:
            await _json(send, 404, {"error": {"code": "404", "message": f"unknown operation {op}"}})


def _text_of(request: Mapping[str, Any]) -> str:
    return orjson.dumps(request.get("messages") or request.get("input") or "").decode()


def _chat(request: Mapping[str, Any]) -> dict[str, Any]:
    content = "".join(WORDS)
    filtered = "FILTERME" in _text_of(request)
    return _served_as(
        request,
        chat_completion(
            model=MODEL,
            content=content,
            finish_reason="content_filter" if filtered else "stop",
            choice_filter=CHOICE_FILTER,
        ),
    )


def _served_tier(request: Mapping[str, Any]) -> str | None:
    """The ``service_tier`` the answer reports: the one asked for ("fast" answers "priority"), except that a
    prompt saying DOWNGRADE is served at the standard tier, as a long-context priority call is."""
    asked = request.get("service_tier")
    if asked is None:
        return None
    if "DOWNGRADE" in _text_of(request):
        return "default"
    return "priority" if asked == "fast" else str(asked)


def _served_as(request: Mapping[str, Any], obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` (a chat completion, a Responses object or the usage-carrying chunk) as served for
    ``request``: with the tier that served it, and the prompt-cache writes of a ``prompt_cache_key`` call."""
    obj = copy.deepcopy(obj)
    if (tier := _served_tier(request)) is not None:
        obj["service_tier"] = tier
    usage = obj.get("usage")
    if request.get("prompt_cache_key") and isinstance(usage, dict):
        details = "input_tokens_details" if "input_tokens" in usage else "prompt_tokens_details"
        usage[details] = {**(usage.get(details) or {}), "cache_write_tokens": CACHE_WRITES}
    return obj


def _response_obj() -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 1767225600,
        "status": "completed",
        "model": MODEL,
        "output": [
            {
                "type": "message",
                "id": "msg_1",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Hello.", "annotations": []}],
            }
        ],
        "usage": RESPONSES_USAGE,
    }


async def _chat_stream(send: Any, request: Mapping[str, Any]) -> None:
    include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
    usage_field: dict[str, Any] = {"usage": None} if include_usage else {}
    base = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1767225600,
        "model": MODEL,
        "system_fingerprint": "fp_abc123",
    }
    if (tier := _served_tier(request)) is not None:
        base["service_tier"] = tier  # every chunk repeats it
    events: list[dict[str, Any]] = [PROMPT_FILTER_CHUNK]
    events.append(
        {
            **base,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
            **usage_field,
        }
    )
    events += [
        {**base, "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}], **usage_field}
        for w in WORDS
    ]
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], **usage_field})
    if include_usage:
        events.append(_served_as(request, {**base, "choices": [], "usage": STREAM_USAGE}))
    await _sse_start(send)
    for event in events:
        await _sse(send, b"data: " + orjson.dumps(event) + b"\n\n")
    await _sse(send, b"data: [DONE]\n\n", more=False)


async def _responses_stream(send: Any, request: Mapping[str, Any]) -> None:
    final = _served_as(request, _response_obj())
    created = {**final, "status": "in_progress", "usage": None, "output": []}
    events = [
        ("response.created", {"type": "response.created", "sequence_number": 0, "response": created}),
        (
            "response.output_text.delta",
            {
                "type": "response.output_text.delta",
                "sequence_number": 1,
                "item_id": "msg_1",
                "output_index": 0,
                "content_index": 0,
                "delta": "Hello.",
            },
        ),
        ("response.completed", {"type": "response.completed", "sequence_number": 2, "response": final}),
    ]
    await _sse_start(send)
    for index, (name, data) in enumerate(events):
        chunk = b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
        await _sse(send, chunk, more=index < len(events) - 1)


def _content_filter_error() -> dict[str, Any]:
    return {
        "error": {
            "message": "The response was filtered due to the prompt triggering Azure OpenAI's content "
            "management policy.",
            "type": None,
            "param": "prompt",
            "code": "content_filter",
            "status": 400,
            "innererror": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": {"sexual": {"filtered": True, "severity": "high"}},
            },
        }
    }


async def _failure(send: Any, status: int, op: str) -> None:
    if status == 429:
        await _json(
            send,
            429,
            {
                "error": {
                    "code": "429",
                    "message": f"Requests to the ChatCompletions_Create "
                    f"Operation ({op}) have exceeded token rate limit. Please retry after "
                    "6 seconds.",
                }
            },
            extra=[(b"retry-after", b"6"), (b"retry-after-ms", b"6000")],
        )
    else:
        await _json(
            send, status, {"error": {"code": "InternalServerError", "message": "The server had an error"}}
        )


async def _json(send: Any, status: int, obj: Any, *, extra: Sequence[tuple[bytes, bytes]] = ()) -> None:
    data = orjson.dumps(obj)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
        (b"apim-request-id", b"apim-1"),
        (b"x-ms-region", b"East US 2"),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def _sse_start(send: Any) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/event-stream; charset=utf-8"),
                (b"apim-request-id", b"apim-2"),
            ],
        }
    )


async def _sse(send: Any, chunk: bytes, *, more: bool = True) -> None:
    await send({"type": "http.response.body", "body": chunk, "more_body": more})


class MemoryKeys:
    """A key verifier over fixed keys (the SQL one, ``store.key_queries.verify_key``, is tested with the
    store)."""

    def __init__(self, keys: Mapping[str, ApiKey]) -> None:
        self._keys = dict(keys)
        self.lookups = 0

    def __call__(self, secret: str) -> ApiKey | None:
        self.lookups += 1
        return self._keys.get(secret)


class ListSink:
    """An ingest target that keeps events (and their estimates) by id, idempotent like the store."""

    def __init__(self) -> None:
        self.events: dict[str, UsageEvent] = {}
        self.estimates: dict[str, PricedUsage | None] = {}
        self.calls = 0

    def ingest(self, events: Sequence[UsageEvent], *, source: str) -> None:
        self.ingest_priced([(event, None) for event in events], source=source)

    def ingest_priced(self, events: Sequence[tuple[UsageEvent, PricedUsage | None]], *, source: str) -> None:
        self.calls += 1
        for event, priced in events:
            self.events.setdefault(event.event_id, event)
            self.estimates.setdefault(event.event_id, priced)


def gateway_key(**overrides: Any) -> ApiKey:
    values: dict[str, Any] = {
        "key_id": "k1",
        "name": "checkout-app",
        "scopes": frozenset({"gateway"}),
        "identity": MappingProxyType(
            {
                "app": "checkout",
                "team": "payments",
                "cost_center": "CC-42",
                "environment": "prod",
                "tenant": "contoso",
            }
        ),
        "policy": None,
        "allowed_headers": frozenset({"task-id", "use-case", "agent", "step", "attempt"}),
        "created_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    }
    values.update(overrides)
    return ApiKey(**values)


def memory_keys() -> MemoryKeys:
    return MemoryKeys(
        {
            GATEWAY_SECRET: gateway_key(),
            READ_SECRET: gateway_key(key_id="k2", name="reader", scopes=frozenset({"read"})),
            TENANT_SECRETS["identity"]: gateway_key(key_id="k3", allowed_headers=frozenset({"tenant"})),
            TENANT_SECRETS["limit"]: gateway_key(
                key_id="k4", tenant="contoso", identity={"app": "a"}, allowed_headers=frozenset({"tenant"})
            ),
            TENANT_SECRETS["free"]: gateway_key(
                key_id="k5", identity={"app": "a"}, allowed_headers=frozenset({"tenant"})
            ),
        }
    )


def gateway_config(endpoint: str = "http://upstream.test", *, west: str | None = None) -> GatewayConfig:
    return parse_gateway_config(
        {
            "upstreams": {
                "east": {"endpoint": endpoint, "api_key": UPSTREAM_KEY, "api_version": "2024-10-21"},
                "west": {"endpoint": west or endpoint, "api_key": UPSTREAM_KEY},
            },
            "deployments": {
                "gpt-4o": {
                    "upstream": "east",
                    "upstream_deployment": "gpt-4o-east",
                    "fallbacks": ["gpt-4o-west"],
                    "retry_on": [429, 503],
                    "deployment_type": "global_standard",
                    "region": "eastus2",
                },
                "gpt-4o-west": {"upstream": "west", "region": "westus"},
                "solo": {"upstream": "east", "upstream_deployment": "gpt-4o-east", "fallbacks": []},
                "text-embedding-3-small": {"upstream": "east"},
            },
        }
    )


@pytest.fixture
def fake_upstream() -> FakeAzureOpenAI:
    return FakeAzureOpenAI()


class AllowAll:
    """An enforcer with no policies: admits everything and remembers what it saw."""

    def __init__(self) -> None:
        self.admitted: list[CallContext] = []
        self.settled: list[tuple[int, int]] = []
        self.costs: list[tuple[Decimal | None, str | None]] = []
        self.released = 0

    async def admit(self, ctx: CallContext) -> Admission:
        self.admitted.append(ctx)
        return Admission(
            allowed=True,
            status=200,
            error=None,
            deployment=ctx.deployment,
            max_tokens=None,
            reservation_id=None,
            headers=MappingProxyType({}),
        )

    async def settle(
        self,
        admission: Admission,
        ctx: CallContext,
        *,
        input_tokens: int,
        output_tokens: int,
        cost: Decimal | None,
        currency: str | None,
    ) -> None:
        self.settled.append((input_tokens, output_tokens))
        self.costs.append((cost, currency))

    async def release(self, admission: Admission, ctx: CallContext) -> None:
        self.released += 1
