"""OpenTelemetry GenAI spans mapped to usage events.

Pure: spans in, domain values out. Attribute names: the reference otel-genai.md (semantic conventions
v1.41.0); decoding the OTLP body into spans is :mod:`aifinops.sources.otlp`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from aifinops.domain import DeploymentType, EventKind, EventStatus, ProcessingTier, UsageEvent
from aifinops.errors import ValidationError
from aifinops.sources.openai_wire import CONTENT_FILTER, is_azure_endpoint, processing_tier, split_model
from aifinops.sources.otlp import AttrValue, Span

__all__ = [
    "OtlpMapping",
    "SkippedSpan",
    "spans_to_events",
]

SPAN_KIND_CLIENT = 3
STATUS_OK, STATUS_ERROR = 1, 2
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_DEFAULT_PROVIDER = "azure_openai"  # what HTTP ingest assumes when an event names no provider
_PROVIDERS = {"azure.ai.openai": "azure_openai", "azure.ai.inference": "azure_ai_inference"}
_OPERATIONS = {
    "chat": EventKind.CHAT,
    "generate_content": EventKind.CHAT,
    "text_completion": EventKind.COMPLETION,
    "embeddings": EventKind.EMBEDDING,
    "retrieval": EventKind.RETRIEVAL,
    "execute_tool": EventKind.TOOL,
    "invoke_agent": EventKind.AGENT,
    "create_agent": EventKind.AGENT,
    "invoke_workflow": EventKind.OTHER,
}
# In-process agent and workflow spans report usage summed over their child inference spans
# (reference §2, "usage.* (aggregate)"): counting it again would bill every token twice.
_AGGREGATE_OPERATIONS = frozenset({"invoke_agent", "create_agent", "invoke_workflow"})
# Span attributes copied into the event's bounded ``attributes`` map (values cut to 256 characters).
_KEPT_ATTRIBUTES = (
    "gen_ai.operation.name",
    "gen_ai.response.id",
    "gen_ai.response.finish_reasons",
    "gen_ai.conversation.id",
    "gen_ai.agent.id",
    "gen_ai.tool.call.id",
    "gen_ai.tool.type",
    "error.type",
    "server.address",
    "gen_ai.data_source.id",
    "gen_ai.request.top_k",
)
_RETRIEVED = "aifinops.retrieved_tokens"
_MAX_ATTRIBUTE_CHARS = 256
_TOKEN_FIELDS = (
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cache_write_tokens",
)
# The tier that served the call, else the one asked for; ``gen_ai.openai.*`` are the older names
# (otel-genai.md §1).
_TIER_KEYS = (
    "openai.response.service_tier",
    "gen_ai.openai.response.service_tier",
    "openai.request.service_tier",
    "gen_ai.openai.request.service_tier",
)


@dataclass(frozen=True, slots=True)
class SkippedSpan:
    """A span that produced no event: ``rejected`` when it was an invalid GenAI span, else not GenAI."""

    trace_id: str
    span_id: str
    name: str
    reason: str
    rejected: bool


@dataclass(frozen=True, slots=True)
class OtlpMapping:
    """Which attributes name the business task and the app.

    ``task_id_keys`` are tried in order, each on the span, then its resource, then any other span of the same
    trace in the same export; the trace id is the last resort.
    """

    task_id_keys: tuple[str, ...] = ("aifinops.task_id", "session.id", "gen_ai.conversation.id")
    app_key: str = "service.name"


def spans_to_events(
    spans: Iterable[Span], mapping: OtlpMapping | None = None
) -> tuple[list[UsageEvent], list[SkippedSpan]]:
    """One usage event per GenAI span (one with ``gen_ai.operation.name``); the others are skipped.

    A GenAI span whose attributes break the conventions (a negative or non-integer token count, cached tokens
    above input tokens, an end before its start, …) is skipped as ``rejected`` with the attribute and reason.
    """
    mapping = mapping or OtlpMapping()
    spans = list(spans)
    trace_values = _trace_values(spans, mapping.task_id_keys)
    events: list[UsageEvent] = []
    skipped: list[SkippedSpan] = []
    for span in spans:
        operation = span.attributes.get("gen_ai.operation.name")
        if not isinstance(operation, str) or not operation.strip():
            skipped.append(_skip(span, "not a GenAI span (no gen_ai.operation.name)", rejected=False))
            continue
        try:
            events.append(_event(span, operation.strip(), mapping, trace_values))
        except ValidationError as exc:
            skipped.append(_skip(span, str(exc), rejected=True))
    return events, skipped


def _skip(span: Span, reason: str, *, rejected: bool) -> SkippedSpan:
    return SkippedSpan(span.trace_id, span.span_id, span.name, reason, rejected)


def _trace_values(spans: Sequence[Span], keys: Sequence[str]) -> dict[tuple[str, str], str]:
    """The first value of each task key seen on any span of each trace (children often lack it)."""
    found: dict[tuple[str, str], str] = {}
    for span in spans:
        for key in keys:
            value = _text(span.attributes.get(key))
            if value is not None:
                found.setdefault((span.trace_id, key), value)
    return found


def _event(
    span: Span, operation: str, mapping: OtlpMapping, trace_values: Mapping[tuple[str, str], str]
) -> UsageEvent:
    attrs = span.attributes
    ts, latency_ms = _times(span)
    provider, azure = _provider(attrs)
    request_model = _text(attrs.get("gen_ai.request.model"))
    model, version = split_model(_text(attrs.get("gen_ai.response.model")) or request_model)
    aggregate = operation in _AGGREGATE_OPERATIONS and span.kind != SPAN_KIND_CLIENT
    usage = _usage(attrs)
    inp, cached, out, reasoning, writes = (0, 0, 0, 0, 0) if aggregate else usage
    tier = _service_tier(attrs)
    kind = _OPERATIONS.get(operation, EventKind.OTHER)
    return UsageEvent(
        event_id=f"otel-{span.trace_id}-{span.span_id}",
        ts=ts,
        task_id=_task_id(span, mapping.task_id_keys, trace_values),
        step=_count_attribute(span, "aifinops.step"),
        attempt=_count_attribute(span, "aifinops.attempt") or 1,
        app=_dimension(span, "app") or _text(span.resource.get(mapping.app_key)),
        use_case=_dimension(span, "use_case"),
        agent=_dimension(span, "agent") or _text(attrs.get("gen_ai.agent.name")),
        tenant=_dimension(span, "tenant"),
        user_group=_dimension(span, "user_group"),
        cost_center=_dimension(span, "cost_center"),
        team=_dimension(span, "team"),
        environment=_dimension(span, "environment") or _environment(span.resource),
        deployment=_dimension(span, "deployment") or (request_model if azure else None),
        model=_dimension(span, "model") or model,
        attributes=_kept_attributes(span, usage if aggregate else None),
        provider=provider,
        model_version=version,
        deployment_type=_deployment_type(span),
        region=_dimension(span, "region"),
        resource_id=_dimension(span, "resource_id"),
        priority=tier is ProcessingTier.PRIORITY,
        input_tokens=inp,
        cached_input_tokens=cached,
        output_tokens=out,
        reasoning_tokens=reasoning,
        cache_write_tokens=writes,
        service_tier=tier,
        requests=0 if aggregate else 1,
        kind=kind,
        status=_status(span),
        latency_ms=latency_ms,
        tool_name=_text(attrs.get("gen_ai.tool.name")),
        finish_reason=_finish_reason(attrs),
        request_hash=(_text(attrs.get("aifinops.request_hash")) or "")[:64] or None,
        retrieved_tokens=_retrieved(attrs, kind),
    )


def _retrieved(attrs: Mapping[str, AttrValue], kind: EventKind) -> int:
    """``aifinops.retrieved_tokens``: what a retrieval or tool span put into the prompt (no GenAI attribute
    says it; ``gen_ai.request.top_k`` counts passages, not tokens)."""
    tokens = _tokens(attrs, _RETRIEVED)
    if tokens and kind not in (EventKind.RETRIEVAL, EventKind.TOOL):
        raise ValidationError(
            f"{_RETRIEVED} belongs on a retrieval or execute_tool span, not a {kind.value} span: the model "
            "call's gen_ai.usage.input_tokens already count the passages it read",
            field=_RETRIEVED,
        )
    return tokens


def _finish_reason(attrs: Mapping[str, AttrValue]) -> str | None:
    """The first of ``gen_ai.response.finish_reasons`` (one per choice)."""
    finish = attrs.get("gen_ai.response.finish_reasons")
    first = finish[0] if isinstance(finish, tuple) and finish else None
    return first[:32] if isinstance(first, str) and first else None


def _times(span: Span) -> tuple[dt.datetime, int]:
    """The event time (the span's end, aware UTC, to the microsecond) and the latency in milliseconds."""
    if span.end_ns <= 0:
        raise ValidationError("endTimeUnixNano is missing: the span has not ended", field="endTimeUnixNano")
    if span.end_ns < span.start_ns:
        raise ValidationError(
            f"endTimeUnixNano {span.end_ns} is before startTimeUnixNano {span.start_ns}",
            field="endTimeUnixNano",
        )
    return _EPOCH + dt.timedelta(microseconds=span.end_ns // 1000), (span.end_ns - span.start_ns) // 1_000_000


def _text(value: AttrValue) -> str | None:
    """A non-empty string attribute, stripped; other types and blanks count as absent."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _dimension(span: Span, name: str) -> str | None:
    """``aifinops.<name>`` from the span, else from its resource."""
    key = f"aifinops.{name}"
    return _text(span.attributes.get(key)) or _text(span.resource.get(key))


def _task_id(span: Span, keys: Sequence[str], trace_values: Mapping[tuple[str, str], str]) -> str:
    for key in keys:
        value = (
            _text(span.attributes.get(key))
            or _text(span.resource.get(key))
            or trace_values.get((span.trace_id, key))
        )
        if value is not None:
            return value
    return span.trace_id


def _environment(resource: Mapping[str, AttrValue]) -> str | None:
    # ``deployment.environment`` was renamed ``deployment.environment.name`` in semconv 1.27.
    return _text(resource.get("deployment.environment.name")) or _text(resource.get("deployment.environment"))


def _provider(attrs: Mapping[str, AttrValue]) -> tuple[str, bool]:
    """Our provider name and whether the endpoint is Azure (where gen_ai.request.model is the deployment)."""
    name = _text(attrs.get("gen_ai.provider.name")) or _text(attrs.get("gen_ai.system"))
    azure_host = is_azure_endpoint(_text(attrs.get("server.address")) or "")
    if name is None:
        return ("azure_openai" if azure_host else _DEFAULT_PROVIDER), azure_host
    if name == "openai" and azure_host:  # the OpenAI client pointed at an Azure OpenAI endpoint
        return "azure_openai", True
    mapped = _PROVIDERS.get(name, name.replace(".", "_"))
    return mapped, azure_host or name.startswith("azure.")


def _tokens(attrs: Mapping[str, AttrValue], *keys: str) -> int:
    """The first present token-count attribute of ``keys``: a whole number from 0 up."""
    for key in keys:
        value = attrs.get(key)
        if value is None:
            continue
        # JavaScript SDKs send whole numbers as doubleValue when they cannot tell them from floats.
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValidationError(f"{key} must be a whole number ≥ 0, got {value!r}", field=key)
        return value
    return 0


def _usage(attrs: Mapping[str, AttrValue]) -> tuple[int, int, int, int, int]:
    """(input, cached, output, reasoning, cache-write) tokens; deprecated prompt/completion names are a
    fallback."""
    inp = _tokens(attrs, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
    out = _tokens(attrs, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
    cached = _tokens(attrs, "gen_ai.usage.cache_read.input_tokens")
    reasoning = _tokens(attrs, "gen_ai.usage.reasoning.output_tokens")
    writes = _tokens(attrs, "gen_ai.usage.cache_creation.input_tokens")
    if writes > inp:
        raise ValidationError(
            f"gen_ai.usage.cache_creation.input_tokens ({writes}) are part of gen_ai.usage.input_tokens "
            f"({inp}) and cannot exceed them",
            field="gen_ai.usage.cache_creation.input_tokens",
        )
    if cached > inp:
        raise ValidationError(
            f"gen_ai.usage.cache_read.input_tokens ({cached}) are part of gen_ai.usage.input_tokens ({inp}) "
            "and cannot exceed them",
            field="gen_ai.usage.cache_read.input_tokens",
        )
    if reasoning > out:
        raise ValidationError(
            f"gen_ai.usage.reasoning.output_tokens ({reasoning}) are part of gen_ai.usage.output_tokens "
            f"({out}) and cannot exceed them",
            field="gen_ai.usage.reasoning.output_tokens",
        )
    return inp, cached, out, reasoning, writes


def _count_attribute(span: Span, key: str) -> int | None:
    """A whole-number ``aifinops.*`` attribute (an int, or a string of digits as baggage carries it)."""
    value = span.attributes.get(key, span.resource.get(key))
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(f"{key} must be a whole number ≥ 0, got {value!r}", field=key)
    return value


def _deployment_type(span: Span) -> DeploymentType | None:
    """``aifinops.deployment_type`` as our value (``global_standard``) or Azure's SKU (``GlobalStandard``)."""
    raw = _dimension(span, "deployment_type")
    if raw is None:
        return None
    snake = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", raw).lower().removesuffix("_managed")
    try:
        return DeploymentType(snake)
    except ValueError as exc:
        raise ValidationError(
            f"aifinops.deployment_type {raw!r} is not one of {[d.value for d in DeploymentType]}",
            field="aifinops.deployment_type",
        ) from exc


def _service_tier(attrs: Mapping[str, AttrValue]) -> ProcessingTier | None:
    """The first service tier attribute that names a tier (``auto`` names none)."""
    for key in _TIER_KEYS:
        tier = processing_tier(_text(attrs.get(key)))
        if tier is not None:
            return tier
    return None


def _status(span: Span) -> EventStatus:
    """Span status + ``error.type`` (an exception class or an HTTP status code) → event status."""
    attrs = span.attributes
    finish = attrs.get("gen_ai.response.finish_reasons")
    if isinstance(finish, tuple) and CONTENT_FILTER in finish:
        return EventStatus.CONTENT_FILTERED
    error_type = _attribute_text(attrs.get("error.type"))
    if span.status_code == STATUS_OK or (span.status_code != STATUS_ERROR and not error_type):
        return EventStatus.OK
    text = f"{error_type} {span.status_message}".lower()
    if "content_filter" in text or "contentfilter" in text:
        return EventStatus.CONTENT_FILTERED
    if re.search(r"\b429\b|ratelimit|rate_limit|too many requests", text):
        return EventStatus.RATE_LIMITED
    if re.search(r"\b(408|504)\b|timeout|timed out", text):
        return EventStatus.TIMEOUT
    return EventStatus.ERROR


def _attribute_text(value: AttrValue) -> str:
    """A scalar or an array of scalars as text (arrays comma-joined); bytes and maps as ``""``."""
    if isinstance(value, tuple):
        return ",".join(_attribute_text(v) for v in value)
    if value is None or isinstance(value, bytes | Mapping):
        return ""
    return str(value)


def _kept_attributes(span: Span, aggregate: tuple[int, ...] | None) -> Mapping[str, str]:
    out: dict[str, str] = {}
    for key in _KEPT_ATTRIBUTES:
        text = _attribute_text(span.attributes.get(key))
        if text:
            out[key] = text[:_MAX_ATTRIBUTE_CHARS]
    if span.parent_span_id:
        out["otel.parent_span_id"] = span.parent_span_id
    # Kept for visibility, never billed: the child inference spans carry the same tokens.
    for name, count in zip(_TOKEN_FIELDS, aggregate or (), strict=False):
        if count:
            out[f"aggregate_{name}"] = str(count)
    return MappingProxyType(out)
