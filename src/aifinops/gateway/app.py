"""The OpenAI / Azure OpenAI-compatible gateway: a raw ASGI app that authenticates, admits, forwards, meters.

Routes: Azure ``/openai/deployments/{d}/{chat/completions|completions|embeddings}?api-version=…``,
``/openai/v1/{chat/completions|responses|embeddings|completions}``, ``/openai/responses`` and the same under
``/v1/`` for plain OpenAI clients. No framework request models on the hot path: bodies are read once with
orjson and re-encoded only when the gateway changes them (include_usage, a clamped max_tokens, a model name).
"""

from __future__ import annotations

import itertools
import os
from dataclasses import replace
from typing import Any

import httpx
import orjson

from aifinops.domain import EventKind, PricedUsage, UsageEvent
from aifinops.engine.budgets import Action
from aifinops.gateway.budget_guard import BudgetGuard
from aifinops.gateway.enforcer import CallContext, Enforcer
from aifinops.gateway.identity import KeyCache, KeyVerifier, RequestRefused, caller_of
from aifinops.gateway.metrics import CONTENT_TYPE, GatewayMetrics
from aifinops.gateway.proxy import ROUTE_NAMES, ForwardedCall, Forwarding, respond_json, send_bytes
from aifinops.gateway.recorder import Recorder
from aifinops.gateway.routing import GatewayConfig, TokenProvider
from aifinops.gateway.upstream import UpstreamClient
from aifinops.jobs.price_cache import PriceCache
from aifinops.sources.openai_wire import (
    error_body,
    estimate_input_tokens,
    request_max_tokens,
    service_tier_of,
)

__all__ = ["GatewayApp", "create_gateway"]

_ROUTES = {
    "chat/completions": EventKind.CHAT,
    "completions": EventKind.COMPLETION,
    "embeddings": EventKind.EMBEDDING,
    "responses": EventKind.RESPONSES,
}
_MAX_BODY_BYTES = 64 * 1024 * 1024


class GatewayApp:
    """ASGI callable. Build it with :func:`create_gateway`, or from settings with ``gateway.build``."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        keys: KeyVerifier,
        enforcer: Enforcer,
        recorder: Recorder,
        http: httpx.AsyncClient | None = None,
        prices: PriceCache | None = None,
        token_provider: TokenProvider | None = None,
        max_body_bytes: int = _MAX_BODY_BYTES,
        budgets: BudgetGuard | None = None,
    ) -> None:
        self.config = config
        self._budgets = budgets
        self._keys = KeyCache(keys)
        self._enforcer = enforcer
        self._recorder = recorder
        self._prices = prices
        self._upstream = UpstreamClient(config, http=http, tokens=token_provider)
        self._metrics = GatewayMetrics(recorder, prices)
        self._forwarding = Forwarding(
            config,
            self._upstream,
            prices.price if prices is not None else _unpriced,
            recorder,
            enforcer,
            self._metrics,
        )
        self._id_prefix = os.urandom(6).hex()
        self._ids = itertools.count(1)
        self._max_body = max_body_bytes

    @property
    def metrics(self) -> dict[str, int]:
        """The call counters (``aifinops_gateway_<name>_total`` on ``/metrics``)."""
        return self._metrics.counts

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await self._http_request(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def startup(self) -> None:
        if self._prices is not None:
            await self._prices.refresh()  # limits that need prices must not see an empty book after a start
        await self._recorder.start()

    async def shutdown(self) -> None:
        await self._recorder.stop()
        close = getattr(self._enforcer, "aclose", None)  # the Enforcer releases its Redis connections
        if close is not None:
            await close()
        await self._upstream.aclose()

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
            await send_bytes(send, 200, self._metrics.exposition(), content_type=CONTENT_TYPE)
            return
        route = _match(path)
        if route is None:
            missing = error_body(f"no gateway route {path}", "not_found", code="NotFound")
            await respond_json(send, 404, missing)
            return
        if scope["method"] != "POST":
            await respond_json(send, 405, error_body(f"{path} accepts POST only", "invalid_request_error"))
            return
        self._metrics.counts["requests"] += 1
        try:
            await self._serve(scope, receive, send, route)
        except RequestRefused as refused:
            if refused.status == 401:
                self._metrics.counts["unauthorized"] += 1
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
            service_tier=service_tier_of(body),
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
            self._metrics.counts["refused"] += 1
            raise RequestRefused(
                admission.status,
                admission.error or error_body("refused by a gateway limit", "rate_limit_exceeded"),
                admission.headers,
            )
        call = ForwardedCall(
            self._forwarding,
            ctx,
            admission,
            caller,
            kind=kind,
            body=body,
            stream=stream,
            request_id=self.next_request_id(),
        )
        await call.run(send)

    def _apply_budgets(self, ctx: CallContext) -> tuple[CallContext, str | None]:
        """Refuse or downgrade a call while an exceeded store budget with that action covers it."""
        assert self._budgets is not None
        verdict = self._budgets.check(ctx.dims, ctx.deployment)
        if verdict is None:
            return ctx, None
        if verdict.action is Action.BLOCK or not self.config.chain(verdict.downgrade_to or ""):
            self._metrics.counts["refused"] += 1
            raise RequestRefused(403, error_body(verdict.message(), "aifinops_limit", code="budget"))
        return replace(ctx, deployment=verdict.downgrade_to or ctx.deployment), ctx.deployment

    def next_request_id(self) -> str:
        """Unique across processes and restarts (random per-process prefix) without a syscall per call."""
        return f"{self._id_prefix}{next(self._ids):x}"


def create_gateway(
    config: GatewayConfig,
    *,
    keys: KeyVerifier,
    enforcer: Enforcer,
    recorder: Recorder,
    http: httpx.AsyncClient | None = None,
    prices: PriceCache | None = None,
    token_provider: TokenProvider | None = None,
    budgets: BudgetGuard | None = None,
) -> GatewayApp:
    """Build the gateway ASGI app. Nothing starts until the ASGI lifespan (or ``startup()``) runs.

    ``prices`` prices each recorded event (and settles money limits with it); without it events are recorded
    unpriced and priced by the recorder's sink.
    """
    return GatewayApp(
        config,
        budgets=budgets,
        keys=keys,
        enforcer=enforcer,
        recorder=recorder,
        http=http,
        prices=prices,
        token_provider=token_provider,
    )


def _unpriced(event: UsageEvent) -> PricedUsage | None:
    return None


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
