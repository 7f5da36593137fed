"""Client wrapping: usage and status of OpenAI / Azure OpenAI calls, streams included, sent as events."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from aifinops.domain import EventKind, EventStatus, ProcessingTier
from aifinops.errors import ConfigError
from aifinops.sdk.sender import Sender
from aifinops.sdk.tasks import Task, current_task, record_safely, resolve_sender
from aifinops.sources.openai_wire import (
    RESPONSE_FAILED,
    RESPONSE_FINAL_EVENTS,
    cache_write_tokens,
    content_filtered,
    finish_reason_of,
    is_azure_endpoint,
    is_usage_chunk,
    request_hash,
    service_tier_of,
    split_model,
    status_of_error,
    usage_numbers,
    want_stream_usage,
)

__all__ = ["instrument"]


_TOKEN_FIELDS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens")


def _tokens(usage: Any) -> dict[str, int]:
    """Token counts of a Chat / Embeddings or Responses usage object (cached and cache-write ⊂ input,
    reasoning ⊂ output); cache writes only where the wire reports them."""
    if usage is None:
        return {}
    tokens = dict(zip(_TOKEN_FIELDS, usage_numbers(usage), strict=True))
    if writes := min(cache_write_tokens(usage), tokens["input_tokens"]):
        tokens["cache_write_tokens"] = writes
    return tokens


def _status_of(exc: BaseException) -> EventStatus:
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status_of_error(status, getattr(exc, "code", None))
    return EventStatus.TIMEOUT if "Timeout" in type(exc).__name__ else EventStatus.ERROR


@dataclass(frozen=True, slots=True)
class _Recorder:
    sender: Sender
    dims: Mapping[str, str]
    provider: str


@dataclass(slots=True)
class _Call:
    """One instrumented call: what it was, and what its response (or stream) has shown so far."""

    recorder: _Recorder
    kind: EventKind
    deployment: str | None
    task: Task | None
    step: int | None
    hide_usage_chunk: bool
    requested_tier: ProcessingTier | None = (
        None  # the request's service_tier, until a response names the tier that served it
    )
    started: float = field(default_factory=time.perf_counter)
    usage: Any = None
    model: str | None = None
    tier: ProcessingTier | None = None
    status: EventStatus = EventStatus.OK
    finished: bool = False
    request_hash: str | None = None
    finish_reason: str | None = None

    @classmethod
    def start(cls, recorder: _Recorder, kind: EventKind, kwargs: dict[str, Any]) -> _Call:
        # Without include_usage a chat stream reports no usage at all: ask, and hide the extra chunk.
        hide = kind is EventKind.CHAT and bool(kwargs.get("stream")) and not want_stream_usage(kwargs, kind)
        current = current_task()
        step = current.next_step() if current is not None else None
        call = cls(recorder, kind, kwargs.get("model"), current, step, hide, service_tier_of(kwargs))
        call.request_hash = request_hash(kwargs)
        return call

    def response(self, result: Any) -> Any:
        """Note a whole (non-stream) response, report the call, and hand the response back."""
        self.usage, self.model = getattr(result, "usage", None), getattr(result, "model", None)
        self.tier = service_tier_of(result) or self.tier
        self._filtered(getattr(result, "choices", None))
        self.finish_reason = finish_reason_of(getattr(result, "choices", None))
        if getattr(result, "status", None) == "failed":
            self.status = EventStatus.ERROR
        self.finish()
        return result

    def chunk(self, item: Any) -> bool:
        """Note one stream item; False when it is the usage chunk the caller did not ask for."""
        kind = getattr(item, "type", None)
        if isinstance(kind, str) and kind.startswith("response."):  # Responses API stream events
            if kind in RESPONSE_FINAL_EVENTS:
                self.usage, self.model = item.response.usage, item.response.model
                self.tier = service_tier_of(item.response) or self.tier
                self.status = EventStatus.ERROR if kind == RESPONSE_FAILED else self.status
            return True
        self.model = getattr(item, "model", None) or self.model
        self.tier = service_tier_of(item) or self.tier
        choices = getattr(item, "choices", None)
        self._filtered(choices)
        self.finish_reason = finish_reason_of(choices) or self.finish_reason
        if getattr(item, "usage", None) is not None:
            self.usage = item.usage
            return not (self.hide_usage_chunk and is_usage_chunk(choices))
        return True

    def _filtered(self, choices: Any) -> None:
        if content_filtered(choices):
            self.status = EventStatus.CONTENT_FILTERED

    def failed(self, exc: BaseException) -> None:
        self.status = _status_of(exc)
        self.finish()

    @contextlib.contextmanager
    def failing(self) -> Iterator[None]:
        """Report the call as failed when the block raises (the exception goes on to the caller)."""
        try:
            yield
        except Exception as exc:
            self.failed(exc)
            raise

    @contextlib.contextmanager
    def reporting(self) -> Iterator[None]:
        """Report the call when the block ends: failed if it raised, else with what it has seen."""
        try:
            with self.failing():
                yield
        finally:
            self.finish()

    def finish(self) -> None:
        if not self.finished:
            self.finished = True
            record_safely(self._send)

    def _send(self) -> None:
        model, version = split_model(self.model)
        event: dict[str, Any] = {
            "event_id": uuid.uuid4().hex,
            "ts": dt.datetime.now(dt.UTC).isoformat(),
            "kind": str(self.kind),
            "status": str(self.status),
            "provider": self.recorder.provider,
            "deployment": self.deployment,
            "model": model,
            "model_version": version,
            "latency_ms": int((time.perf_counter() - self.started) * 1000),
            "finish_reason": self.finish_reason,
            "request_hash": self.request_hash,
            **self.recorder.dims,
        }
        if self.task is not None:
            event |= {
                "task_id": self.task.task_id,
                "step": self.step,
                "use_case": self.task.use_case,
                "agent": self.task.agent,
                **self.task.dims,
            }
            if self.task.tenant is None:  # e.g. instrument(client, tenant=...): the outcome goes with it
                self.task.tenant = event.get("tenant")
        if self.usage is None and self.status is EventStatus.OK:
            event["attributes"] = {"usage": "missing"}  # e.g. a stream closed before its usage chunk
        event |= _tokens(self.usage)
        if tier := self.tier or self.requested_tier:
            event["service_tier"] = str(tier)  # ingest derives ``priority`` from it
        self.recorder.sender.send_event({k: v for k, v in event.items() if v is not None})


class _Stream:
    """A stream that notes usage as the caller reads it and reports the call when it ends or is closed."""

    def __init__(self, inner: Any, call: _Call) -> None:
        self._inner, self._call = inner, call

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _SyncStream(_Stream):
    """The stream of a synchronous client."""

    def __init__(self, inner: Any, call: _Call) -> None:
        super().__init__(inner, call)
        self._items = self._iterate()

    def _iterate(self) -> Generator[Any, None, None]:
        with self._call.reporting():
            for item in self._inner:
                if self._call.chunk(item):
                    yield item

    def __iter__(self) -> _SyncStream:
        return self

    def __next__(self) -> Any:
        return next(self._items)

    def close(self) -> None:
        self._items.close()
        self._inner.close()

    def __enter__(self) -> _SyncStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _AsyncStream(_Stream):
    """The asyncio twin of :class:`_SyncStream`."""

    def __init__(self, inner: Any, call: _Call) -> None:
        super().__init__(inner, call)
        self._items = self._iterate()

    async def _iterate(self) -> AsyncGenerator[Any, None]:
        with self._call.reporting():
            async for item in self._inner:
                if self._call.chunk(item):
                    yield item

    def __aiter__(self) -> _AsyncStream:
        return self

    async def __anext__(self) -> Any:
        return await self._items.__anext__()

    async def close(self) -> None:
        await self._items.aclose()
        await self._inner.close()

    async def __aenter__(self) -> _AsyncStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _wrap_sync(original: Callable[..., Any], kind: EventKind, recorder: _Recorder) -> Callable[..., Any]:
    def create(*args: Any, **kwargs: Any) -> Any:
        call = _Call.start(recorder, kind, kwargs)
        with call.failing():
            result = original(*args, **kwargs)
        return _SyncStream(result, call) if kwargs.get("stream") else call.response(result)

    return create


def _wrap_async(original: Callable[..., Any], kind: EventKind, recorder: _Recorder) -> Callable[..., Any]:
    async def create(*args: Any, **kwargs: Any) -> Any:
        call = _Call.start(recorder, kind, kwargs)
        with call.failing():
            result = await original(*args, **kwargs)
        return _AsyncStream(result, call) if kwargs.get("stream") else call.response(result)

    return create


def instrument(client: Any, *, sender: Sender | None = None, app: str | None = None, **dims: str) -> Any:
    """Record the usage of ``client`` (openai.OpenAI / AzureOpenAI, sync or async); returns the same client.

    ``chat.completions.create``, ``responses.create`` and ``embeddings.create`` are wrapped on this client
    instance only; calling ``instrument`` twice wraps once. ``app`` and ``dims`` (team, environment, ...) are
    added to every event, the current :func:`task` to every call made inside it.
    """
    import openai

    target = resolve_sender(sender)
    if target is None:
        raise ConfigError(
            "instrument() needs a Sender: pass sender=Sender(url, ingest_key=...) or call sdk.configure"
        )
    azure = isinstance(client, openai.AzureOpenAI | openai.AsyncAzureOpenAI) or is_azure_endpoint(
        str(client.base_url)
    )
    labels = {k: v for k, v in {"app": app, **dims}.items() if v}
    recorder = _Recorder(target, labels, "azure_openai" if azure else "openai")
    wrap = _wrap_async if isinstance(client, openai.AsyncOpenAI) else _wrap_sync
    for resource, kind in (
        (client.chat.completions, EventKind.CHAT),
        (client.responses, EventKind.RESPONSES),
        (client.embeddings, EventKind.EMBEDDING),
    ):
        if getattr(resource.create, "_aifinops_wrapped", False):
            continue
        wrapped = wrap(resource.create, kind, recorder)
        wrapped._aifinops_wrapped = True  # type: ignore[attr-defined]
        resource.create = wrapped
    return client
