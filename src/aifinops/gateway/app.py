"""The OpenAI / Azure OpenAI-compatible gateway: a raw ASGI app that authenticates, admits, forwards, meters.

Routes: Azure ``/openai/deployments/{d}/{chat/completions|completions|embeddings}?api-version=…``,
``/openai/v1/{chat/completions|responses|embeddings|completions}``, ``/openai/responses`` and the same under
``/v1/`` for plain OpenAI clients. No framework request models on the hot path: bodies are read once with
orjson and re-encoded only when the gateway changes them (include_usage, a clamped max_tokens, a model name).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

import httpx
import orjson

from aifinops.domain import EventKind, UsageEvent
from aifinops.engine.budgets import Action
from aifinops.engine.pricing import PriceBook, price_event
from aifinops.errors import ConfigError, StoreError
from aifinops.gateway.budget_guard import BudgetGuard
from aifinops.gateway.enforcer import CallContext, Enforcer
from aifinops.gateway.identity import KeyCache, KeyVerifier, RequestRefused, caller_of
from aifinops.gateway.proxy import ROUTE_NAMES, ForwardedCall, respond_json, send_bytes
from aifinops.gateway.recorder import Recorder
from aifinops.gateway.routing import Deployment, GatewayConfig, TokenProvider, upstream_request_parts
from aifinops.gateway.transport import UpstreamTransport
from aifinops.sources.openai_wire import error_body, estimate_input_tokens, request_max_tokens

__all__ = ["CachedPriceBook", "GatewayApp", "create_gateway"]

_ROUTES = {
    "chat/completions": EventKind.CHAT,
    "completions": EventKind.COMPLETION,
    "embeddings": EventKind.EMBEDDING,
    "responses": EventKind.RESPONSES,
}
_MAX_BODY_BYTES = 64 * 1024 * 1024


_BOOK_TTL = 5.0


class CachedPriceBook:
    """The last good price book, refreshed in a worker thread every few seconds, never on the call path.

    The store's book loader does database I/O; a slow or unreachable database must neither block the event
    loop nor fail calls, so a failed refresh keeps the previous book and is counted.
    """

    def __init__(self, load: Callable[[], PriceBook | None], *, ttl: float = _BOOK_TTL) -> None:
        self._load = load
        self._ttl = ttl
        self._book: PriceBook | None = None
        self._next = 0.0
        self._task: asyncio.Task[None] | None = None
        self.errors = 0
        self.last_error: str | None = None

    def __call__(self) -> PriceBook | None:
        if time.monotonic() >= self._next and self._task is None:
            self._next = time.monotonic() + self._ttl
            self._task = asyncio.get_running_loop().create_task(self.refresh())
        return self._book

    async def refresh(self) -> None:
        try:
            self._book = await asyncio.to_thread(self._load)
        except StoreError as exc:
            self.errors += 1
            self.last_error = str(exc)
        finally:
            self._next = time.monotonic() + self._ttl
            self._task = None


class GatewayApp:
    """ASGI callable. Build it with :func:`create_gateway`."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        keys: KeyVerifier,
        enforcer: Enforcer,
        recorder: Recorder,
        http: httpx.AsyncClient | None = None,
        book_provider: Callable[[], PriceBook | None] | None = None,
        token_provider: TokenProvider | None = None,
        max_body_bytes: int = _MAX_BODY_BYTES,
        budgets: BudgetGuard | None = None,
    ) -> None:
        self.config = config
        self._budgets = budgets
        self._keys = KeyCache(keys)
        self._enforcer = enforcer
        self._recorder = recorder
        self._own_http = http is None
        self._http = http or _default_client(config)
        if book_provider is not None and not isinstance(book_provider, CachedPriceBook):
            book_provider = CachedPriceBook(book_provider)
        self._books = book_provider
        if token_provider is None and any(u.auth == "entra" for u in config.upstreams.values()):
            raise ConfigError(
                "an upstream uses auth: entra but the gateway has no token provider (credential)"
            )
        self._tokens = token_provider
        self._targets: dict[tuple[str, str], tuple[httpx.URL, str | None]] = {}
        self._id_prefix = os.urandom(6).hex()
        self._ids = itertools.count(1)
        self._max_body = max_body_bytes
        self.metrics: dict[str, int] = {
            "requests": 0,
            "refused": 0,
            "unauthorized": 0,
            "upstream_attempts": 0,
            "upstream_errors": 0,
            "fallbacks": 0,
        }

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await self._http_request(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def startup(self) -> None:
        if self._books is not None:
            await self._books.refresh()  # limits that need prices must not see an empty book after a start
        await self._recorder.start()

    async def shutdown(self) -> None:
        await self._recorder.stop()
        close = getattr(self._enforcer, "aclose", None)  # the Enforcer releases its Redis connections
        if close is not None:
            await close()
        if self._own_http:
            await self._http.aclose()

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http_request(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path: str = scope["path"]
        if scope["method"] == "GET" and path in ("/health", "/healthz"):
            await respond_json(send, 200, {"ok": True, "store": self._recorder.store_available})
            return
        if scope["method"] == "GET" and path == "/metrics":
            await send_bytes(send, 200, self.exposition(), content_type=b"text/plain; version=0.0.4")
            return
        route = _match(path)
        if route is None:
            missing = error_body(f"no gateway route {path}", "not_found", code="NotFound")
            await respond_json(send, 404, missing)
            return
        if scope["method"] != "POST":
            await respond_json(send, 405, error_body(f"{path} accepts POST only", "invalid_request_error"))
            return
        self.metrics["requests"] += 1
        try:
            await self._serve(scope, receive, send, route)
        except RequestRefused as refused:
            if refused.status == 401:
                self.metrics["unauthorized"] += 1
            await respond_json(send, refused.status, refused.body, refused.headers)

    async def _serve(
        self, scope: dict[str, Any], receive: Any, send: Any, route: tuple[EventKind, str | None]
    ) -> None:
        kind, path_deployment = route
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        key = await self._keys.authenticate(headers)
        caller = caller_of(key, headers)
        body = await _read_json(receive, self._max_body)
        deployment = path_deployment or body.get("model")
        if not isinstance(deployment, str) or not self.config.chain(deployment):
            raise RequestRefused(
                404,
                error_body(
                    f"The API deployment {deployment!r} does not exist on this gateway; configured: "
                    f"{sorted(self.config.deployments)}",
                    "invalid_request_error",
                    code="DeploymentNotFound",
                ),
            )
        stream = body.get("stream") is True and kind is not EventKind.EMBEDDING
        ctx = CallContext(
            key=key,
            dims=caller.dims,
            task_id=caller.task_id,
            step=caller.step,
            attempt=caller.attempt,
            deployment=deployment,
            route=ROUTE_NAMES[kind],
            requested_max_tokens=request_max_tokens(body),
            estimated_input_tokens=estimate_input_tokens(body),
            stream=stream,
        )
        downgraded_from = None
        if self._budgets is not None:
            ctx, downgraded_from = self._apply_budgets(ctx)
        admission = await self._enforcer.admit(ctx)
        if downgraded_from is not None and admission.allowed:
            admission = replace(
                admission, headers={**admission.headers, "x-aifinops-downgraded-from": downgraded_from}
            )
        if not admission.allowed:
            self.metrics["refused"] += 1
            raise RequestRefused(
                admission.status,
                admission.error or error_body("refused by a gateway limit", "rate_limit_exceeded"),
                admission.headers,
            )
        call = ForwardedCall(self, ctx, admission, caller, kind=kind, body=body, stream=stream)
        await call.run(send)

    def _apply_budgets(self, ctx: CallContext) -> tuple[CallContext, str | None]:
        """Refuse or downgrade a call while an exceeded store budget with that action covers it."""
        assert self._budgets is not None
        verdict = self._budgets.check(ctx.dims, ctx.deployment)
        if verdict is None:
            return ctx, None
        if verdict.action is Action.BLOCK or not self.config.chain(verdict.downgrade_to or ""):
            self.metrics["refused"] += 1
            raise RequestRefused(403, error_body(verdict.message(), "aifinops_limit", code="budget"))
        return replace(ctx, deployment=verdict.downgrade_to or ctx.deployment), ctx.deployment

    def exposition(self) -> bytes:
        """Gateway counters in the Prometheus text format (refused calls are counted here, never recorded)."""
        lines = []
        for name, value in self.metrics.items():
            lines += [
                f"# TYPE aifinops_gateway_{name}_total counter",
                f"aifinops_gateway_{name}_total {value}",
            ]
        for name, value in self._recorder.counts.items():
            lines += [
                f"# TYPE aifinops_gateway_usage_events_{name}_total counter",
                f"aifinops_gateway_usage_events_{name}_total {value}",
            ]
        if self._books is not None:
            lines += [
                "# TYPE aifinops_gateway_price_book_errors_total counter",
                f"aifinops_gateway_price_book_errors_total {self._books.errors}",
            ]
        lines += [
            "# TYPE aifinops_gateway_usage_events_queued gauge",
            f"aifinops_gateway_usage_events_queued {self._recorder.pending}",
            "# TYPE aifinops_gateway_store_up gauge",
            f"aifinops_gateway_store_up {int(self._recorder.store_available)}",
        ]
        return ("\n".join(lines) + "\n").encode()

    def next_request_id(self) -> str:
        """Unique across processes and restarts (random per-process prefix) without a syscall per call."""
        return f"{self._id_prefix}{next(self._ids):x}"

    def upstream_target(self, deployment: Deployment, route: str) -> tuple[httpx.URL, str | None]:
        """The parsed upstream URL (and body.model) for a deployment and route, parsed once and cached."""
        key = (deployment.name, route)
        target = self._targets.get(key)
        if target is None:
            upstream = self.config.upstreams[deployment.upstream]
            url, model = upstream_request_parts(upstream, deployment, route=route)
            target = self._targets[key] = (httpx.URL(url), model)
        return target

    async def upstream_headers(self, upstream_name: str) -> dict[str, str]:
        upstream = self.config.upstreams[upstream_name]
        headers = {"content-type": "application/json", "accept-encoding": "identity"}
        if upstream.auth == "entra" and self._tokens is not None:
            headers["authorization"] = "Bearer " + await self._tokens.token()
        elif upstream.api_key is not None:
            headers["api-key"] = upstream.api_key.get_secret_value()
        return headers

    def price(self, event: UsageEvent) -> tuple[Decimal | None, str | None]:
        """Estimated cost of one event for settling limits; None while no price book is available."""
        book = self._books() if self._books is not None else None
        if book is None:
            return None, None
        priced = price_event(event, book)
        return priced.cost, priced.currency

    def record(self, event: UsageEvent) -> None:
        self._recorder.record(event)

    @property
    def http(self) -> httpx.AsyncClient:
        return self._http

    @property
    def enforcer(self) -> Enforcer:
        return self._enforcer


def create_gateway(
    config: GatewayConfig,
    *,
    keys: KeyVerifier,
    enforcer: Enforcer,
    recorder: Recorder,
    http: httpx.AsyncClient | None = None,
    book_provider: Callable[[], PriceBook | None] | None = None,
    token_provider: TokenProvider | None = None,
    budgets: BudgetGuard | None = None,
) -> GatewayApp:
    """Build the gateway ASGI app. Nothing starts until the ASGI lifespan (or ``startup()``) runs."""
    return GatewayApp(
        config,
        budgets=budgets,
        keys=keys,
        enforcer=enforcer,
        recorder=recorder,
        http=http,
        book_provider=book_provider,
        token_provider=token_provider,
    )


def _default_client(config: GatewayConfig) -> httpx.AsyncClient:
    transport = UpstreamTransport(max_connections=config.max_connections)
    timeout = httpx.Timeout(config.timeout_seconds, connect=10.0)
    return httpx.AsyncClient(transport=transport, timeout=timeout, trust_env=False)


def _match(path: str) -> tuple[EventKind, str | None] | None:
    """(kind, deployment from the path or None when it comes from body.model)."""
    if path.startswith("/openai/deployments/"):
        deployment, _, rest = path[20:].partition("/")
        kind = _ROUTES.get(rest)
        return (kind, deployment) if kind and deployment and kind is not EventKind.RESPONSES else None
    for prefix in ("/openai/v1/", "/v1/", "/openai/"):
        if path.startswith(prefix):
            kind = _ROUTES.get(path[len(prefix) :].rstrip("/"))
            if kind is not None and (prefix != "/openai/" or kind is EventKind.RESPONSES):
                return kind, None
            return None
    return None


async def _read_json(receive: Any, limit: int) -> dict[str, Any]:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestRefused(
                413, error_body(f"request body exceeds {limit} bytes", "invalid_request_error")
            )
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    try:
        body = orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError as exc:
        raise RequestRefused(
            400,
            error_body(
                f"request body is not valid JSON: {exc}", "invalid_request_error", code="invalid_json"
            ),
        ) from exc
    if not isinstance(body, dict):
        raise RequestRefused(400, error_body("request body must be a JSON object", "invalid_request_error"))
    return body
