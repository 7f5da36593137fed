"""Token usage from OpenAI / Azure OpenAI responses: JSON bodies and SSE streams, read incrementally.

Wire format: the reference openai-wire.md §3–§5. Azure streams open with an empty-``choices``
prompt-filter chunk (empty id/model) and may carry filter-only chunks, so nothing indexes ``choices[0]``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from aifinops.domain import EventKind, EventStatus

__all__ = [
    "StreamMeter",
    "Usage",
    "estimate_input_tokens",
    "request_max_tokens",
    "split_model",
    "status_of",
    "usage_from_body",
    "want_stream_usage",
]

_DATED_MODEL = re.compile(r"^(?P<model>.+?)-(?P<version>\d{4}-\d{2}-\d{2})$")
_TEXT_KEYS = ("messages", "input", "prompt", "instructions", "tools", "functions")
_CHARS_PER_TOKEN = 4  # OpenAI's rule of thumb for English text; an estimate, never billed
_TOKENS_PER_MESSAGE = 4
_TOKENS_PER_IMAGE = 85  # a low-detail image; high detail is larger, the estimate stays conservative-low
_MAX_TOKEN_KEYS = ("max_completion_tokens", "max_tokens", "max_output_tokens")
_FILTER_FINISH = (b'"finish_reason":"content_filter"', b'"finish_reason": "content_filter"')


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of one call. Cached tokens are part of input, reasoning tokens part of output."""

    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    model: str | None = None
    content_filtered: bool = False
    failed: bool = False


def split_model(model: str | None) -> tuple[str | None, str | None]:
    """Split a dated model name into (model, version).

    >>> split_model("gpt-4o-2024-11-20")
    ('gpt-4o', '2024-11-20')
    >>> split_model("gpt-4")
    ('gpt-4', None)
    """
    if not model:
        return None, None
    match = _DATED_MODEL.match(model)
    if match is None:
        return model, None
    return match["model"], match["version"]


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _usage_numbers(usage: Mapping[str, Any]) -> tuple[int, int, int, int]:
    """(input, cached, output, reasoning) from a Chat/Completions/Embeddings or a Responses usage object."""
    if "input_tokens" in usage:  # Responses API naming
        in_details = usage.get("input_tokens_details") or {}
        out_details = usage.get("output_tokens_details") or {}
        return (
            _int(usage.get("input_tokens")),
            _int(in_details.get("cached_tokens")),
            _int(usage.get("output_tokens")),
            _int(out_details.get("reasoning_tokens")),
        )
    in_details = usage.get("prompt_tokens_details") or {}
    out_details = usage.get("completion_tokens_details") or {}
    return (
        _int(usage.get("prompt_tokens")),
        _int(in_details.get("cached_tokens")),
        _int(usage.get("completion_tokens")),
        _int(out_details.get("reasoning_tokens")),
    )


def _filtered(obj: Mapping[str, Any]) -> bool:
    choices = obj.get("choices")
    if not isinstance(choices, list):
        return False
    return any(isinstance(c, dict) and c.get("finish_reason") == "content_filter" for c in choices)


def usage_from_body(obj: Any) -> Usage:
    """Usage of a non-streamed JSON response (chat, completion, embedding or Responses object)."""
    if not isinstance(obj, dict):
        return Usage()
    usage = obj.get("usage")
    numbers = _usage_numbers(usage) if isinstance(usage, dict) else (0, 0, 0, 0)
    failed = obj.get("object") == "response" and obj.get("status") == "failed"
    return Usage(*numbers, model=obj.get("model") or None, content_filtered=_filtered(obj), failed=failed)


def status_of(http_status: int, error_body: Any = None) -> EventStatus:
    """Event status for an upstream HTTP status (and its error body, for the 400 content filter)."""
    if http_status < 400:
        return EventStatus.OK
    if http_status == 429:
        return EventStatus.RATE_LIMITED
    if http_status == 408:
        return EventStatus.TIMEOUT
    if http_status == 400 and isinstance(error_body, dict):
        error = error_body.get("error")
        if isinstance(error, dict) and error.get("code") == "content_filter":
            return EventStatus.CONTENT_FILTERED
    return EventStatus.ERROR


def want_stream_usage(body: dict[str, Any], kind: EventKind) -> bool:
    """Ask the upstream for the usage chunk; return whether the client itself asked for it.

    Without ``stream_options.include_usage`` a chat/completion stream carries no usage at all (§3.1),
    so the gateway always asks and later drops the extra chunk if the client did not.
    """
    if kind not in (EventKind.CHAT, EventKind.COMPLETION):
        return True  # Responses streams always end with response.completed carrying usage
    options = body.get("stream_options")
    options = dict(options) if isinstance(options, dict) else {}
    asked = bool(options.get("include_usage"))
    if not asked:
        options["include_usage"] = True
        body["stream_options"] = options
    return asked


def request_max_tokens(body: Mapping[str, Any]) -> int | None:
    """The output cap the client asked for, under whichever name the API uses."""
    for key in _MAX_TOKEN_KEYS:
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _text_tokens(value: Any) -> int:
    """Estimated tokens of every string (and one image unit per image part) nested in ``value``."""
    if isinstance(value, str):
        return (len(value) + _CHARS_PER_TOKEN - 1) // _CHARS_PER_TOKEN
    if isinstance(value, list):
        if value and isinstance(value[0], int):  # embeddings input already given as token ids
            return len(value)
        return sum(_text_tokens(item) for item in value)
    if isinstance(value, dict):
        if value.get("type") in ("image_url", "input_image"):
            return _TOKENS_PER_IMAGE
        return sum(_text_tokens(v) for k, v in value.items() if k not in ("role", "type", "name"))
    return 0


def estimate_input_tokens(body: Mapping[str, Any]) -> int:
    """Offline input-token estimate of a request body (no tokenizer): ~4 characters per token.

    >>> estimate_input_tokens({"messages": [{"role": "user", "content": "Hello there, gateway"}]})
    9
    """
    total = 0
    for key in _TEXT_KEYS:
        value = body.get(key)
        if value is not None:
            total += _text_tokens(value)
    messages = body.get("messages")
    if isinstance(messages, list):
        total += _TOKENS_PER_MESSAGE * len(messages)
    return total


def _has_usage_object(data: bytes) -> bool:
    """True when ``"usage"`` is followed by an object, not ``null``: cheaper than parsing every chunk."""
    start = 0
    while (at := data.find(b'"usage"', start)) >= 0:
        rest = data[at + 7 : at + 16].lstrip(b": \t")
        if rest.startswith(b"{"):
            return True
        start = at + 7
    return False


class StreamMeter:
    """Reads an SSE stream chunk by chunk, collects usage, and drops the usage chunk the client did not want.

    ``feed`` returns the bytes to forward now: every complete event, in order. A trailing partial event is
    held until its end arrives, so nothing is buffered beyond one event.
    """

    __slots__ = ("_buffer", "_drop_usage_chunk", "_failed", "_filtered", "_model", "_numbers")

    def __init__(self, *, drop_usage_chunk: bool) -> None:
        self._buffer = b""
        self._drop_usage_chunk = drop_usage_chunk
        self._model: str | None = None
        self._numbers: tuple[int, int, int, int] | None = None
        self._filtered = False
        self._failed = False

    def feed(self, chunk: bytes) -> bytes:
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n")
        data = self._buffer + chunk if self._buffer else chunk
        end = data.rfind(b"\n\n")
        if end < 0:
            self._buffer = data
            return b""
        complete, self._buffer = data[: end + 2], data[end + 2 :]
        if self._model is not None and not _might_matter(complete):
            return complete
        kept = [event for event in complete.split(b"\n\n") if event and self._keep(event)]
        return b"\n\n".join(kept) + b"\n\n" if kept else b""

    def close(self) -> bytes:
        """Flush a final event that arrived without its blank-line terminator."""
        rest, self._buffer = self._buffer, b""
        if rest.strip() and self._keep(rest.rstrip(b"\n")):
            return rest
        return b""

    def usage(self) -> Usage:
        numbers = self._numbers or (0, 0, 0, 0)
        return Usage(*numbers, model=self._model, content_filtered=self._filtered, failed=self._failed)

    @property
    def saw_usage(self) -> bool:
        return self._numbers is not None

    def _keep(self, event: bytes) -> bool:
        at = event.find(b"data:")
        if at < 0:
            return True  # comments, retry: lines, event-only blocks
        payload = event[at + 5 :].strip()
        if payload == b"[DONE]" or not payload.startswith(b"{"):
            return True
        if payload.find(b'"finish_reason"') >= 0 and any(f in payload for f in _FILTER_FINISH):
            self._filtered = True
        usage_here = _has_usage_object(payload)
        if not usage_here and self._model is not None and b'"response.failed"' not in payload:
            return True
        try:
            obj = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return True  # not ours to judge; the client sees exactly what the upstream sent
        return self._take(obj, usage_here)

    def _take(self, obj: Any, usage_here: bool) -> bool:
        if not isinstance(obj, dict):
            return True
        response = obj.get("response")
        inner: dict[str, Any] = response if isinstance(response, dict) else obj
        if self._model is None and inner.get("model"):
            self._model = str(inner["model"])
        if obj.get("type") == "response.failed":
            self._failed = True
        if not usage_here or not isinstance(inner.get("usage"), dict):
            return True
        self._numbers = _usage_numbers(inner["usage"])
        # Only the extra include_usage chunk (choices == []) is removed; usage inside a content chunk stays.
        return not (self._drop_usage_chunk and obj.get("choices") == [])


def _might_matter(events: bytes) -> bool:
    return (
        (b'"usage"' in events and _has_usage_object(events))
        or (b'"finish_reason"' in events and any(f in events for f in _FILTER_FINISH))
        or b'"response.failed"' in events
    )
