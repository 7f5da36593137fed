"""Client-side instrumentation: business tasks, usage from OpenAI / Azure OpenAI clients, background sending.

::

    from aifinops import sdk

    sender = sdk.Sender("https://aifinops.example.com", ingest_key="afo_...")
    client = sdk.instrument(AzureOpenAI(...), sender=sender, app="helpdesk")
    with sdk.task("ticket-42", use_case="triage", agent="classifier", sender=sender) as t:
        client.chat.completions.create(model="gpt-4o", messages=[...])
        t.succeed(value=Decimal("4.20"), currency="EUR")   # or fail(), escalate(), abandon(); default on exit

Usage is read from responses, streams included: a chat stream gets ``stream_options.include_usage`` when the
caller did not ask for it, and the extra usage chunk is then hidden from the caller. Events and outcomes go
to ``/api/events`` and ``/api/outcomes`` in background batches; the buffer is bounded (the oldest item is
dropped and counted when it is full) and nothing here ever blocks or raises into the application.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import datetime as dt
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from aifinops.domain import EventKind, EventStatus, Outcome
from aifinops.errors import ConfigError
from aifinops.gateway.metering import split_model

__all__ = ["Sender", "Task", "configure", "current_task", "instrument", "task"]

_log = logging.getLogger("aifinops.sdk")
_current: contextvars.ContextVar[Task | None] = contextvars.ContextVar("aifinops_task", default=None)
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_default: list[Sender] = []  # set by configure(); a list so that nothing is created at import time


class Sender:
    """Sends events and outcomes in batches from one daemon thread, with retries and a bounded buffer."""

    def __init__(
        self,
        url: str,
        *,
        ingest_key: str | None = None,
        http_client: httpx.Client | None = None,
        max_buffer: int = 10_000,
        batch_size: int = 500,
        flush_interval: float = 2.0,
        max_retries: int = 5,
        backoff: float = 0.5,
    ) -> None:
        self._headers = {"authorization": f"Bearer {ingest_key}"} if ingest_key else {}
        self._http = http_client or httpx.Client(timeout=10.0)
        self._url = url.rstrip("/")
        self._queues: dict[str, deque[dict[str, Any]]] = {"events": deque(), "outcomes": deque()}
        self._max_buffer, self._batch, self._interval = max_buffer, batch_size, flush_interval
        self._retries, self._backoff = max_retries, backoff
        self._wake, self._stop, self._idle = threading.Event(), threading.Event(), threading.Event()
        self._lock = threading.Lock()
        self.stats = {"sent": 0, "dropped_full": 0, "dropped_failed": 0, "rejected": 0, "retries": 0}
        self._thread = threading.Thread(target=self._run, name="aifinops-sender", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def send_event(self, event: Mapping[str, Any]) -> None:
        self._put("events", dict(event))

    def send_outcome(self, outcome: Mapping[str, Any]) -> None:
        self._put("outcomes", dict(outcome))

    def _put(self, kind: str, item: dict[str, Any]) -> None:
        queue = self._queues[kind]
        with self._lock:
            if len(queue) >= self._max_buffer:
                queue.popleft()  # the oldest goes: recent usage matters more to limits and alerts
                self.stats["dropped_full"] += 1
            queue.append(item)
            self._idle.clear()
        if len(queue) >= self._batch:
            self._wake.set()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wake the sender and wait until both buffers are empty; False on timeout."""
        self._wake.set()
        return self._idle.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Send what is buffered (within ``timeout``) and stop the thread. Safe to call twice."""
        if self._stop.is_set():
            return
        self.flush(timeout)
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        atexit.unregister(self.close)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            try:
                self._drain()
            except Exception:  # the thread must outlive any surprise, or every later event would be lost
                _log.exception("aifinops: the event sender failed; it keeps running")

    def _drain(self) -> None:
        for kind, queue in self._queues.items():
            while queue and not self._stop.is_set():
                with self._lock:
                    batch = [queue.popleft() for _ in range(min(self._batch, len(queue)))]
                self._post(kind, batch)
        with self._lock:
            if not any(self._queues.values()):
                self._idle.set()

    def _post(self, kind: str, batch: list[dict[str, Any]]) -> None:
        for attempt in range(self._retries + 1):
            try:
                response = self._http.post(
                    f"{self._url}/api/{kind}", json={kind: batch}, headers=self._headers
                )
            except httpx.HTTPError as exc:
                _log.warning("aifinops: sending %d %s failed: %s", len(batch), kind, exc)
            else:
                if response.status_code < 300:
                    self.stats["sent"] += len(batch)
                    self.stats["rejected"] += _rejected(response)
                    return
                if response.status_code not in _RETRY_STATUSES:
                    _log.error(
                        "aifinops: %s refused %d %s: %s", self._url, len(batch), kind, response.text[:500]
                    )
                    self.stats["rejected"] += len(batch)
                    return
            if attempt < self._retries:
                self.stats["retries"] += 1
                # Event ids make a re-sent batch count once, so retrying after a lost reply is safe.
                if self._stop.wait(self._backoff * 2**attempt):
                    break
        self.stats["dropped_failed"] += len(batch)


def _rejected(response: httpx.Response) -> int:
    """How many items of an accepted batch the ingest API still refused (its per-item report)."""
    try:
        report = response.json()
    except ValueError:
        return 0
    rejected = report.get("rejected") if isinstance(report, dict) else None
    return len({r.get("index") for r in rejected if isinstance(r, dict)}) if isinstance(rejected, list) else 0


@dataclass(slots=True)
class Task:
    """The business task in progress; calls made inside it are allocated to it."""

    task_id: str
    use_case: str | None = None
    agent: str | None = None
    dims: Mapping[str, str] = field(default_factory=dict)
    outcome: Outcome | None = None
    value_amount: Decimal | None = None
    value_currency: str | None = None
    value_quantity: Decimal | None = None
    value_unit: str | None = None
    _steps: int = 0

    def next_step(self) -> int:
        self._steps += 1
        return self._steps

    def set_outcome(
        self,
        outcome: Outcome,
        *,
        value: Decimal | None = None,
        currency: str | None = None,
        quantity: Decimal | None = None,
        unit: str | None = None,
    ) -> None:
        """Record the outcome and an optional business value (amount + currency, or quantity + unit)."""
        self.outcome = outcome
        if value is not None:
            self.value_amount, self.value_currency = value, currency
        if quantity is not None:
            self.value_quantity, self.value_unit = quantity, unit

    def succeed(self, **value: Any) -> None:
        self.set_outcome(Outcome.SUCCEEDED, **value)

    def fail(self, **value: Any) -> None:
        self.set_outcome(Outcome.FAILED, **value)

    def escalate(self, **value: Any) -> None:
        self.set_outcome(Outcome.ESCALATED, **value)

    def abandon(self, **value: Any) -> None:
        self.set_outcome(Outcome.ABANDONED, **value)

    def to_json(self, ended_at: dt.datetime) -> dict[str, Any]:
        out: dict[str, Any] = {
            "task_id": self.task_id,
            "outcome": str(self.outcome),
            "ended_at": ended_at.isoformat(),
            "use_case": self.use_case,
        }
        if self.value_amount is not None:
            out |= {"value_amount": str(self.value_amount), "value_currency": self.value_currency}
        if self.value_quantity is not None:
            out |= {"value_quantity": str(self.value_quantity), "value_unit": self.value_unit}
        return out


def configure(sender: Sender | None) -> Sender | None:
    """Make ``sender`` the default of :func:`task` and :func:`instrument` (None removes the default)."""
    _default[:] = [sender] if sender is not None else []
    return sender


def _sender(explicit: Sender | None) -> Sender | None:
    return explicit if explicit is not None else (_default[0] if _default else None)


def current_task() -> Task | None:
    """The task of the running context (thread or asyncio task), if any."""
    return _current.get()


@contextlib.contextmanager
def task(
    task_id: str | None = None,
    *,
    use_case: str | None = None,
    agent: str | None = None,
    sender: Sender | None = None,
    **dims: str,
) -> Iterator[Task]:
    """Run a business task: succeeded on normal exit, failed on an exception, unless set explicitly."""
    current = Task(task_id or uuid.uuid4().hex, use_case=use_case, agent=agent, dims=dims)
    token = _current.set(current)
    try:
        yield current
    except BaseException:
        if current.outcome is None:
            current.outcome = Outcome.FAILED
        raise
    finally:
        _current.reset(token)
        if current.outcome is None:
            current.outcome = Outcome.SUCCEEDED
        target = _sender(sender)
        if target is None:
            _log.warning(
                "aifinops: task %s ended without a sender; call sdk.configure(Sender(...))", current.task_id
            )
        else:
            _safely(lambda: target.send_outcome(current.to_json(dt.datetime.now(dt.UTC))))


def _safely(action: Callable[[], None]) -> None:
    try:
        action()
    except Exception:  # recording must never break the application; the failure is logged
        _log.exception("aifinops: recording failed")


def _tokens(usage: Any) -> dict[str, int]:
    """Token counts of a Chat / Embeddings or Responses usage object (cached ⊂ input, reasoning ⊂ output)."""
    if usage is None:
        return {}
    if getattr(usage, "input_tokens", None) is not None:  # Responses naming
        cached = getattr(getattr(usage, "input_tokens_details", None), "cached_tokens", None)
        reasoning = getattr(getattr(usage, "output_tokens_details", None), "reasoning_tokens", None)
        numbers = (usage.input_tokens, cached, getattr(usage, "output_tokens", 0), reasoning)
    else:
        cached = getattr(getattr(usage, "prompt_tokens_details", None), "cached_tokens", None)
        reasoning = getattr(getattr(usage, "completion_tokens_details", None), "reasoning_tokens", None)
        numbers = (
            getattr(usage, "prompt_tokens", 0),
            cached,
            getattr(usage, "completion_tokens", 0),
            reasoning,
        )
    names = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens")
    return {name: int(value or 0) for name, value in zip(names, numbers, strict=True)}


def _status_of(exc: BaseException) -> EventStatus:
    status = getattr(exc, "status_code", None)
    if status == 429:
        return EventStatus.RATE_LIMITED
    if status == 400 and getattr(exc, "code", None) == "content_filter":
        return EventStatus.CONTENT_FILTERED
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
    started: float = field(default_factory=time.perf_counter)
    usage: Any = None
    model: str | None = None
    status: EventStatus = EventStatus.OK
    finished: bool = False

    @classmethod
    def start(cls, recorder: _Recorder, kind: EventKind, kwargs: dict[str, Any]) -> _Call:
        hide = False
        if kind is EventKind.CHAT and kwargs.get("stream"):
            options = dict(kwargs.get("stream_options") or {})
            if not options.get("include_usage"):
                # Without include_usage a stream reports no usage at all (wire reference §3.1).
                kwargs["stream_options"] = {**options, "include_usage": True}
                hide = True
        current = _current.get()
        step = current.next_step() if current is not None else None
        return cls(recorder, kind, kwargs.get("model"), current, step, hide)

    def response(self, result: Any) -> None:
        self.usage, self.model = getattr(result, "usage", None), getattr(result, "model", None)
        self._filtered(getattr(result, "choices", None))
        if getattr(result, "status", None) == "failed":
            self.status = EventStatus.ERROR
        self.finish()

    def chunk(self, item: Any) -> bool:
        """Note one stream item; False when it is the usage chunk the caller did not ask for."""
        kind = getattr(item, "type", None)
        if isinstance(kind, str) and kind.startswith("response."):  # Responses API stream events
            if kind in ("response.completed", "response.incomplete", "response.failed"):
                self.usage, self.model = item.response.usage, item.response.model
                self.status = EventStatus.ERROR if kind == "response.failed" else self.status
            return True
        self.model = getattr(item, "model", None) or self.model
        choices = getattr(item, "choices", None)
        self._filtered(choices)
        if getattr(item, "usage", None) is not None:
            self.usage = item.usage
            return not (self.hide_usage_chunk and not choices)
        return True

    def _filtered(self, choices: Any) -> None:
        if any(getattr(c, "finish_reason", None) == "content_filter" for c in choices or ()):
            self.status = EventStatus.CONTENT_FILTERED

    def failed(self, exc: BaseException) -> None:
        self.status = _status_of(exc)
        self.finish()

    def finish(self) -> None:
        if not self.finished:
            self.finished = True
            _safely(self._send)

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
        if self.usage is None and self.status is EventStatus.OK:
            event["attributes"] = {"usage": "missing"}  # e.g. a stream closed before its usage chunk
        event |= _tokens(self.usage)
        self.recorder.sender.send_event({k: v for k, v in event.items() if v is not None})


class _SyncStream:
    """A stream that notes usage as the caller reads it and reports the call when it ends or is closed."""

    def __init__(self, inner: Any, call: _Call) -> None:
        self._inner, self._call = inner, call
        self._items = self._iterate()

    def _iterate(self) -> Generator[Any, None, None]:
        try:
            for item in self._inner:
                if self._call.chunk(item):
                    yield item
        except Exception as exc:
            self._call.failed(exc)
            raise
        finally:
            self._call.finish()

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

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _AsyncStream:
    """The asyncio twin of :class:`_SyncStream`."""

    def __init__(self, inner: Any, call: _Call) -> None:
        self._inner, self._call = inner, call
        self._items = self._iterate()

    async def _iterate(self) -> Any:
        try:
            async for item in self._inner:
                if self._call.chunk(item):
                    yield item
        except Exception as exc:
            self._call.failed(exc)
            raise
        finally:
            self._call.finish()

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

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _wrap_sync(original: Callable[..., Any], kind: EventKind, recorder: _Recorder) -> Callable[..., Any]:
    def create(*args: Any, **kwargs: Any) -> Any:
        call = _Call.start(recorder, kind, kwargs)
        try:
            result = original(*args, **kwargs)
        except Exception as exc:
            call.failed(exc)
            raise
        if kwargs.get("stream"):
            return _SyncStream(result, call)
        call.response(result)
        return result

    return create


def _wrap_async(original: Callable[..., Any], kind: EventKind, recorder: _Recorder) -> Callable[..., Any]:
    async def create(*args: Any, **kwargs: Any) -> Any:
        call = _Call.start(recorder, kind, kwargs)
        try:
            result = await original(*args, **kwargs)
        except Exception as exc:
            call.failed(exc)
            raise
        if kwargs.get("stream"):
            return _AsyncStream(result, call)
        call.response(result)
        return result

    return create


def instrument(client: Any, *, sender: Sender | None = None, app: str | None = None, **dims: str) -> Any:
    """Record the usage of ``client`` (openai.OpenAI / AzureOpenAI, sync or async); returns the same client.

    ``chat.completions.create``, ``responses.create`` and ``embeddings.create`` are wrapped on this client
    instance only; calling ``instrument`` twice wraps once. ``app`` and ``dims`` (team, environment, ...) are
    added to every event, the current :func:`task` to every call made inside it.
    """
    import openai

    target = _sender(sender)
    if target is None:
        raise ConfigError(
            "instrument() needs a Sender: pass sender=Sender(url, ingest_key=...) or call sdk.configure"
        )
    azure = isinstance(client, openai.AzureOpenAI | openai.AsyncAzureOpenAI) or ".azure.com" in str(
        client.base_url
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
