"""Forwarding one admitted call: the deployment chain with fallbacks, JSON and SSE relay, priced events."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from aifinops.domain import EventKind, EventStatus, PricedUsage, ProcessingTier, UsageEvent
from aifinops.errors import SourceAuthError
from aifinops.gateway.enforcer import Admission, CallContext, Enforcer
from aifinops.gateway.identity import Caller
from aifinops.gateway.metrics import GatewayMetrics
from aifinops.gateway.recorder import Recorder
from aifinops.gateway.routing import Deployment, GatewayConfig
from aifinops.gateway.upstream import UpstreamClient
from aifinops.sources.openai_wire import (
    StreamMeter,
    Usage,
    error_body,
    max_tokens_key,
    request_hash,
    service_tier_of,
    split_model,
    status_of,
    usage_from_body,
    want_stream_usage,
)

__all__ = ["ROUTE_NAMES", "ForwardedCall", "Forwarding", "respond_json", "send_bytes"]

ROUTE_NAMES = {
    EventKind.CHAT: "chat",
    EventKind.COMPLETION: "completions",
    EventKind.EMBEDDING: "embeddings",
    EventKind.RESPONSES: "responses",
}
_DROP_RESPONSE_HEADERS = frozenset(
    {
        b"content-length",
        b"transfer-encoding",
        b"connection",
        b"keep-alive",
        b"content-encoding",
        b"set-cookie",
        b"server",
        b"date",
    }
)


@dataclass(frozen=True, slots=True)
class Forwarding:
    """What every forwarded call works with: routes, the upstream, prices, the recorder, limits, counters.

    ``price`` estimates an event at the prices in effect (None while no price book is loaded); the estimate
    settles the call's limits and is recorded with the event, so the call is priced once.
    """

    config: GatewayConfig
    upstream: UpstreamClient
    price: Callable[[UsageEvent], PricedUsage | None]
    recorder: Recorder
    enforcer: Enforcer
    metrics: GatewayMetrics


class ForwardedCall:
    """One admitted client call: forwards along the deployment chain, streams back, meters each attempt."""

    def __init__(
        self,
        forwarding: Forwarding,
        ctx: CallContext,
        admission: Admission,
        caller: Caller,
        *,
        kind: EventKind,
        body: dict[str, Any],
        stream: bool,
        request_id: str,
    ) -> None:
        self.fw, self.ctx, self.admission, self.caller = forwarding, ctx, admission, caller
        self.kind, self.body, self.stream = kind, body, stream
        self.request_id = request_id
        self.client_wants_usage = want_stream_usage(body, kind) if stream else True
        self.request_hash = request_hash(body)  # what the caller asked, before the policy's max_tokens
        if admission.max_tokens is not None:
            body[max_tokens_key(body, kind)] = admission.max_tokens
        self._payload: bytes | None = None  # the upstream body, encoded once for every attempt
        self.settled = False

    async def run(self, send: Any) -> None:
        config = self.fw.config
        chain = config.chain(self.admission.deployment) or config.chain(self.ctx.deployment)
        try:
            for index, deployment in enumerate(chain):
                last = index == len(chain) - 1
                if index:
                    self.fw.metrics.counts["fallbacks"] += 1
                if await self._attempt(send, deployment, index=index, last=last):
                    return
        finally:
            if not self.settled:
                await self.fw.enforcer.release(self.admission, self.ctx)

    async def _attempt(self, send: Any, deployment: Deployment, *, index: int, last: bool) -> bool:
        """Try one deployment; True when a response went to the client."""
        started = time.perf_counter()
        counts = self.fw.metrics.counts
        counts["upstream_attempts"] += 1
        url, payload = self._upstream_request(deployment)
        try:
            response = await self.fw.upstream.send(deployment, url, payload)
        except (httpx.HTTPError, SourceAuthError) as exc:
            counts["upstream_errors"] += 1
            timed_out = isinstance(exc, httpx.TimeoutException)
            status = EventStatus.TIMEOUT if timed_out else EventStatus.ERROR
            self._record(deployment, index, Usage(), status, started)
            if not last:
                return False
            code = 504 if timed_out else 502
            await respond_json(
                send,
                code,
                error_body(
                    f"upstream {deployment.upstream} for deployment {deployment.name} failed: "
                    f"{type(exc).__name__}",
                    "upstream_error",
                    code="upstream_unavailable",
                ),
                {"x-aifinops-request-id": self.request_id},
            )
            return True
        try:
            if response.status_code in deployment.retry_on and not last:
                await response.aread()
                self._record(
                    deployment,
                    index,
                    Usage(),
                    status_of(response.status_code, _loads(response.content)),
                    started,
                )
                return False
            if self.stream and response.status_code == 200 and _is_sse(response):
                await self._relay_stream(send, response, deployment, index=index, started=started)
            else:
                await self._relay_body(send, response, deployment, index=index, started=started)
            return True
        finally:
            await response.aclose()

    def _upstream_request(self, deployment: Deployment) -> tuple[httpx.URL, bytes]:
        url, model_in_body = self.fw.upstream.target(deployment, ROUTE_NAMES[self.kind])
        if model_in_body is not None and self.body.get("model") != model_in_body:
            return url, orjson.dumps({**self.body, "model": model_in_body})
        if self._payload is None:
            self._payload = orjson.dumps(self.body)
        return url, self._payload

    async def _relay_body(
        self, send: Any, response: httpx.Response, deployment: Deployment, *, index: int, started: float
    ) -> None:
        content = await response.aread()
        parsed = _loads(content)
        usage = usage_from_body(parsed) if response.status_code < 400 else Usage()
        status = status_of(response.status_code, parsed, usage)
        headers = self._response_headers(response)
        headers.append((b"content-length", str(len(content)).encode()))
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": content})
        await self._finish(deployment, index, usage, status, started)

    async def _relay_stream(
        self, send: Any, response: httpx.Response, deployment: Deployment, *, index: int, started: float
    ) -> None:
        meter = StreamMeter(drop_usage_chunk=not self.client_wants_usage)
        await send(
            {"type": "http.response.start", "status": 200, "headers": self._response_headers(response)}
        )
        status = EventStatus.OK
        try:
            async for chunk in response.aiter_bytes():
                out = meter.feed(chunk)
                if out:
                    await send({"type": "http.response.body", "body": out, "more_body": True})
        except httpx.HTTPError as exc:
            # The client already has a 200 and part of the stream; it sees the stream end early.
            status = EventStatus.TIMEOUT if isinstance(exc, httpx.TimeoutException) else EventStatus.ERROR
        await send({"type": "http.response.body", "body": meter.close(), "more_body": False})
        usage = meter.usage()
        if not meter.saw_usage:
            # No usage chunk (upstream error mid-stream or a non-compliant upstream): never record zero input.
            usage = Usage(
                input_tokens=self.ctx.estimated_input_tokens,
                model=usage.model,
                content_filtered=usage.content_filtered,
                failed=usage.failed,
            )
        if status is EventStatus.OK:  # the stream ended normally: what it carried decides
            status = status_of(response.status_code, None, usage)
        await self._finish(deployment, index, usage, status, started, estimated=not meter.saw_usage)

    def _response_headers(self, response: httpx.Response) -> list[tuple[bytes, bytes]]:
        headers = [(k, v) for k, v in response.headers.raw if k.lower() not in _DROP_RESPONSE_HEADERS]
        headers.append((b"x-aifinops-request-id", self.request_id.encode()))
        headers.extend((k.encode(), v.encode()) for k, v in self.admission.headers.items())
        return headers

    async def _finish(
        self,
        deployment: Deployment,
        index: int,
        usage: Usage,
        status: EventStatus,
        started: float,
        *,
        estimated: bool = False,
    ) -> None:
        priced = self._record(deployment, index, usage, status, started, estimated=estimated)
        if status is EventStatus.OK or usage.input_tokens or usage.output_tokens:
            self.settled = True
            await self.fw.enforcer.settle(
                self.admission,
                self.ctx,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cost=priced.cost if priced is not None else None,
                currency=priced.currency if priced is not None else None,
            )

    def _record(
        self,
        deployment: Deployment,
        index: int,
        usage: Usage,
        status: EventStatus,
        started: float,
        *,
        estimated: bool = False,
    ) -> PricedUsage | None:
        """Record one attempt as a usage event with its estimate, which it returns (None: no price book)."""
        # The response names the model actually served; failed attempts fall back to the configured one.
        model, version = split_model(usage.model or deployment.model)
        version = version or deployment.model_version
        dims = self.caller.dims
        # The tier that served the call as the response says; else the one the client asked for.
        tier = usage.service_tier or service_tier_of(self.body)
        event = UsageEvent(
            event_id=f"gw-{self.request_id}-{index + 1}",
            ts=dt.datetime.now(dt.UTC),
            task_id=self.ctx.task_id,
            step=self.ctx.step,
            attempt=self.ctx.attempt + index,
            app=dims.get("app"),
            use_case=dims.get("use_case"),
            agent=dims.get("agent"),
            tenant=dims.get("tenant"),
            user_group=dims.get("user_group"),
            cost_center=dims.get("cost_center"),
            team=dims.get("team"),
            environment=dims.get("environment"),
            deployment=deployment.name,
            model=model,
            model_version=version,
            attributes={"usage": "estimated"} if estimated else {},
            deployment_type=deployment.deployment_type,
            region=deployment.region,
            resource_id=deployment.resource_id,
            priority=tier is ProcessingTier.PRIORITY,
            input_tokens=usage.input_tokens,
            cached_input_tokens=usage.cached_input_tokens,
            output_tokens=usage.output_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            cache_write_tokens=min(usage.cache_write_tokens, usage.input_tokens),
            service_tier=tier,
            kind=self.kind,
            status=status,
            latency_ms=int((time.perf_counter() - started) * 1000),
            finish_reason=usage.finish_reason,
            request_hash=self.request_hash,
        )
        priced = self.fw.price(event)
        self.fw.recorder.record(event, priced)
        return priced


def _loads(content: bytes) -> Any:
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return None


def _is_sse(response: httpx.Response) -> bool:
    content_type: str = response.headers.get("content-type", "")
    return content_type.startswith("text/event-stream")


async def respond_json(
    send: Any, status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> None:
    await send_bytes(send, status, orjson.dumps(body), headers=headers)


async def send_bytes(
    send: Any,
    status: int,
    content: bytes,
    *,
    headers: Mapping[str, str] | None = None,
    content_type: bytes = b"application/json",
) -> None:
    raw = [(b"content-type", content_type), (b"content-length", str(len(content)).encode())]
    if headers:
        raw.extend((k.encode(), str(v).encode()) for k, v in headers.items())
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": content})
