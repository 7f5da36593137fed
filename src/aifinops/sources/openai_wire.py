"""OpenAI / Azure OpenAI wire knowledge: models, usage, statuses, streams and request fields, in one place.

Wire format: the reference openai-wire.md §1–§7. The gateway reads parsed JSON and raw SSE bytes, the SDK the
openai package's response objects: the readers here take either, a field being a mapping key or an attribute.
Azure streams open with an empty-``choices`` prompt-filter chunk (empty id/model) and may carry filter-only
chunks, so nothing indexes ``choices[0]``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from aifinops.domain import EventKind, EventStatus, ProcessingTier

__all__ = [
    "AZURE_OPENAI_HOSTS",
    "CONTENT_FILTER",
    "RESPONSE_FAILED",
    "RESPONSE_FINAL_EVENTS",
    "StreamMeter",
    "Usage",
    "cache_write_tokens",
    "content_filtered",
    "error_body",
    "estimate_input_tokens",
    "finish_reason_of",
    "is_azure_endpoint",
    "is_usage_chunk",
    "max_tokens_key",
    "processing_tier",
    "request_hash",
    "request_max_tokens",
    "service_tier_of",
    "split_model",
    "status_of",
    "status_of_error",
    "tokens_of_chars",
    "usage_from_body",
    "usage_numbers",
    "want_stream_usage",
]

#: The ``finish_reason`` of a filtered completion and the ``error.code`` of a filtered prompt (§7).
CONTENT_FILTER = "content_filter"
#: Responses API stream events carrying the final ``response`` object with its usage (§4).
RESPONSE_FINAL_EVENTS = ("response.completed", "response.incomplete", "response.failed")
RESPONSE_FAILED = "response.failed"
#: Azure OpenAI / Foundry resource host suffixes (§1).
AZURE_OPENAI_HOSTS = (".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com")

_DATED_MODEL = re.compile(r"^(?P<model>.+?)-(?P<version>\d{4}-\d{2}-\d{2})$")
_TEXT_KEYS = ("messages", "input", "prompt", "instructions", "tools", "functions")
_CHARS_PER_TOKEN = 4  # OpenAI's rule of thumb for English text; an estimate, never billed
_TOKENS_PER_MESSAGE = 4
_TOKENS_PER_IMAGE = 85  # a low-detail image; high detail is larger, the estimate stays conservative-low
_MAX_TOKEN_KEYS = ("max_completion_tokens", "max_tokens", "max_output_tokens")
_FILTER_FINISH = (b'"finish_reason":"content_filter"', b'"finish_reason": "content_filter"')
_FAILED_EVENT = b'"' + RESPONSE_FAILED.encode() + b'"'
# ``service_tier`` as the wire spells it → our processing tier. "fast" is a request alias of priority (the
# response says "priority"); "auto" and "scale" name no tier of their own and count as not reported.
_TIERS = {
    "default": ProcessingTier.STANDARD,
    "standard": ProcessingTier.STANDARD,
    "priority": ProcessingTier.PRIORITY,
    "fast": ProcessingTier.PRIORITY,
    "flex": ProcessingTier.FLEX,
}


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of one call. Cached and cache-write tokens are part of input, reasoning tokens part of output;
    ``service_tier`` is the tier that processed the call as the response reports it (None: not reported)."""

    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    model: str | None = None
    content_filtered: bool = False
    failed: bool = False
    finish_reason: str | None = None
    cache_write_tokens: int = 0
    service_tier: ProcessingTier | None = None


def error_body(
    message: str, type_: str, *, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """The OpenAI error envelope ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


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


def is_azure_endpoint(url: str) -> bool:
    """Whether a URL (or a bare host name) is an Azure OpenAI / Foundry resource."""
    host = (urlsplit(url).hostname if "//" in url else url) or ""
    return host.lower().endswith(AZURE_OPENAI_HOSTS)


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage_numbers(usage: Any) -> tuple[int, int, int, int]:
    """(input, cached, output, reasoning) of a Chat/Completions/Embeddings or a Responses usage object.

    >>> usage_numbers({"prompt_tokens": 12, "completion_tokens": 3, "prompt_tokens_details": None})
    (12, 0, 3, 0)
    """
    if isinstance(usage, dict):
        responses = "input_tokens" in usage
    else:
        responses = getattr(usage, "input_tokens", None) is not None
    prefix, inp, out = ("input", "input", "output") if responses else ("prompt", "prompt", "completion")
    in_details = _field(usage, f"{prefix}_tokens_details")
    out_details = _field(usage, f"{out}_tokens_details")
    return (
        _int(_field(usage, f"{inp}_tokens")),
        _int(_field(in_details, "cached_tokens")) if in_details else 0,
        _int(_field(usage, f"{out}_tokens")),
        _int(_field(out_details, "reasoning_tokens")) if out_details else 0,
    )


def cache_write_tokens(usage: Any) -> int:
    """Input tokens written to the prompt cache: ``prompt_tokens_details.cache_write_tokens`` (Chat) or
    ``input_tokens_details.cache_write_tokens`` (Responses); 0 where the wire reports none (§3, §4).

    >>> cache_write_tokens({"input_tokens": 9, "input_tokens_details": {"cache_write_tokens": 4}})
    4
    """
    if usage is None:
        return 0
    details = _field(usage, "input_tokens_details") or _field(usage, "prompt_tokens_details")
    return _int(_field(details, "cache_write_tokens")) if details else 0


def processing_tier(value: Any) -> ProcessingTier | None:
    """Our processing tier of a wire ``service_tier`` value; None for ``auto``, ``scale`` or anything else.

    >>> processing_tier("default"), processing_tier("priority"), processing_tier("auto")
    (<ProcessingTier.STANDARD: 'standard'>, <ProcessingTier.PRIORITY: 'priority'>, None)
    """
    return _TIERS.get(value.strip().lower()) if isinstance(value, str) else None


def service_tier_of(obj: Any) -> ProcessingTier | None:
    """The processing tier a response object (or a request body) names in its ``service_tier``."""
    return processing_tier(_field(obj, "service_tier")) if obj is not None else None


def content_filtered(choices: Any) -> bool:
    """Whether any choice finished because the completion was filtered (HTTP 200, §7)."""
    if not isinstance(choices, list):
        return False
    return any(_field(c, "finish_reason") == CONTENT_FILTER for c in choices if c is not None)


def finish_reason_of(choices: Any) -> str | None:
    """Why generation stopped (``stop``, ``length``, ``content_filter``, ``tool_calls``): the first choice
    that says so, or None (§2)."""
    if not isinstance(choices, list | tuple):
        return None
    for choice in choices:
        reason = _field(choice, "finish_reason") if choice is not None else None
        if isinstance(reason, str) and reason:
            return reason[:32]
    return None


#: Request fields that do not change the answer asked for: transport, accounting, tracing and caching hints.
_UNHASHED = frozenset(
    {"stream", "stream_options", "user", "metadata", "store", "safety_identifier", "prompt_cache_key"}
)


def _plain(value: Any) -> Any:
    """``value`` as JSON-able data: SDK objects by their dump, SDK sentinels (NOT_GIVEN) by their name."""
    dump = getattr(value, "model_dump", None)
    return dump(mode="json") if callable(dump) else repr(value)


def request_hash(body: Mapping[str, Any]) -> str:
    """The hash of a normalized request: identical requests (model, messages, tools, settings) share it
    whatever their key order, stream flag or user id, so repeats inside a task can be counted.

    >>> a = request_hash({"model": "m", "messages": [], "stream": True})
    >>> a == request_hash({"messages": [], "model": "m"}), len(a)
    (True, 32)
    """
    kept = {str(k): v for k, v in body.items() if k not in _UNHASHED}
    data = orjson.dumps(kept, option=orjson.OPT_SORT_KEYS, default=_plain)
    return hashlib.sha256(data).hexdigest()[:32]


def is_usage_chunk(choices: Any) -> bool:
    """Whether a chunk carrying usage is the extra ``include_usage`` one (``choices == []``, §3.1)."""
    return isinstance(choices, list) and not choices


def usage_from_body(obj: Any) -> Usage:
    """Usage of a non-streamed JSON response (chat, completion, embedding or Responses object)."""
    if not isinstance(obj, dict):
        return Usage()
    usage = obj.get("usage")
    numbers = usage_numbers(usage) if isinstance(usage, dict) else (0, 0, 0, 0)
    failed = obj.get("object") == "response" and obj.get("status") == "failed"
    filtered = content_filtered(obj.get("choices"))
    return Usage(
        *numbers,
        model=obj.get("model") or None,
        content_filtered=filtered,
        failed=failed,
        finish_reason=finish_reason_of(obj.get("choices")),
        cache_write_tokens=cache_write_tokens(usage) if isinstance(usage, dict) else 0,
        service_tier=service_tier_of(obj),
    )


def status_of(http_status: int, body: Any = None, usage: Usage | None = None) -> EventStatus:
    """Event status for an upstream HTTP status and its body: the error body of a 400 content filter, or the
    usage read from an answer (a completion finished by the content filter, a failed Responses object)."""
    if http_status < 400:
        if usage is not None and usage.content_filtered:
            return EventStatus.CONTENT_FILTERED
        return EventStatus.ERROR if usage is not None and usage.failed else EventStatus.OK
    error = body.get("error") if isinstance(body, dict) else None
    return status_of_error(http_status, error.get("code") if isinstance(error, dict) else None)


def status_of_error(http_status: int, code: Any = None) -> EventStatus:
    """Event status for an error answer, from its HTTP status and its ``error.code``."""
    if http_status == 429:
        return EventStatus.RATE_LIMITED
    if http_status == 408:
        return EventStatus.TIMEOUT
    if http_status == 400 and code == CONTENT_FILTER:
        return EventStatus.CONTENT_FILTERED
    return EventStatus.ERROR


def want_stream_usage(body: dict[str, Any], kind: EventKind) -> bool:
    """Ask the upstream for the usage chunk; return whether the client itself asked for it.

    Without ``stream_options.include_usage`` a chat/completion stream carries no usage at all (§3.1),
    so the caller always asks and later drops the extra chunk if the client did not.
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


def max_tokens_key(body: Mapping[str, Any], kind: EventKind) -> str:
    """The request field that caps the output: the Responses name, else the one the client used."""
    if kind is EventKind.RESPONSES:
        return "max_output_tokens"
    return "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"


def tokens_of_chars(chars: int) -> int:
    """Estimated tokens of ``chars`` characters of text (~4 a token), rounded up.

    >>> tokens_of_chars(9)
    3
    """
    return (chars + _CHARS_PER_TOKEN - 1) // _CHARS_PER_TOKEN


def _text_tokens(value: Any) -> int:
    """Estimated tokens of every string (and one image unit per image part) nested in ``value``."""
    if isinstance(value, str):
        return tokens_of_chars(len(value))
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

    __slots__ = (
        "_buffer",
        "_cache_writes",
        "_drop_usage_chunk",
        "_failed",
        "_filtered",
        "_model",
        "_numbers",
        "_tier",
    )

    def __init__(self, *, drop_usage_chunk: bool) -> None:
        self._buffer = b""
        self._drop_usage_chunk = drop_usage_chunk
        self._model: str | None = None
        self._numbers: tuple[int, int, int, int] | None = None
        self._filtered = False
        self._failed = False
        self._cache_writes = 0
        self._tier: ProcessingTier | None = None

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
        return Usage(
            *numbers,
            model=self._model,
            content_filtered=self._filtered,
            failed=self._failed,
            cache_write_tokens=self._cache_writes,
            service_tier=self._tier,
        )

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
        if not usage_here and self._model is not None and _FAILED_EVENT not in payload:
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
        # Every chat chunk repeats service_tier; the usage chunk (or response.completed) is always parsed.
        self._tier = service_tier_of(inner) or self._tier
        if obj.get("type") == RESPONSE_FAILED:
            self._failed = True
        if not usage_here or not isinstance(inner.get("usage"), dict):
            return True
        self._numbers = usage_numbers(inner["usage"])
        self._cache_writes = cache_write_tokens(inner["usage"])
        # Only the extra include_usage chunk is removed; usage inside a content chunk stays.
        return not (self._drop_usage_chunk and is_usage_chunk(obj.get("choices")))


def _might_matter(events: bytes) -> bool:
    return (
        (b'"usage"' in events and _has_usage_object(events))
        or (b'"finish_reason"' in events and any(f in events for f in _FILTER_FINISH))
        or _FAILED_EVENT in events
    )
