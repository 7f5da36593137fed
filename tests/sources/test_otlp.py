"""OTLP trace decoding and the GenAI span → usage event mapping (reference/otel-genai.md)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from types import MappingProxyType
from typing import Any

import pytest
from google.protobuf import json_format
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Status
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

from aifinops.domain import DeploymentType, EventKind, EventStatus, ProcessingTier, UsageEvent
from aifinops.errors import SourceFormatError
from aifinops.jobs.ingest import Ingestor
from aifinops.sources.otlp import Span, decode_otlp_json, decode_otlp_protobuf
from aifinops.sources.otlp_genai import OtlpMapping, SkippedSpan, spans_to_events
from aifinops.store import Store
from tests.wire_examples import OTLP_REFERENCE_BODY as REFERENCE_BODY
from tests.wire_examples import OTLP_REFERENCE_TRACE as TRACE

T_START = 1767225600000000000  # 2026-01-01T00:00:00Z


def test_reference_example_decodes_field_for_field() -> None:
    assert decode_otlp_json(REFERENCE_BODY) == [
        Span(
            trace_id=TRACE,
            span_id="eee19b7ec3c1b174",
            parent_span_id="eee19b7ec3c1b173",
            name="chat gpt-4o",
            kind=3,
            start_ns=1767225600000000000,
            end_ns=1767225601250000000,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "azure.ai.openai",
                "gen_ai.request.model": "gpt-4o-prod",
                "gen_ai.response.model": "gpt-4o-2024-11-20",
                "gen_ai.usage.input_tokens": 1200,
                "gen_ai.usage.output_tokens": 300,
                "gen_ai.usage.cache_read.input_tokens": 1024,
                "gen_ai.response.finish_reasons": ("stop",),
                "server.address": "my-aoai.openai.azure.com",
                "server.port": 443,
            },
            resource={"service.name": "rag-api"},
            status_code=0,
            scope="opentelemetry.instrumentation.openai_v2",
        )
    ]


def test_reference_example_maps_to_exactly_this_usage_event() -> None:
    events, skipped = spans_to_events(decode_otlp_json(REFERENCE_BODY))
    assert skipped == []
    assert events == [
        UsageEvent(
            event_id=f"otel-{TRACE}-eee19b7ec3c1b174",
            ts=dt.datetime(2026, 1, 1, 0, 0, 1, 250000, tzinfo=dt.UTC),
            task_id=TRACE,
            app="rag-api",
            deployment="gpt-4o-prod",
            model="gpt-4o",
            attributes=MappingProxyType(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.response.finish_reasons": "stop",
                    "server.address": "my-aoai.openai.azure.com",
                    "otel.parent_span_id": "eee19b7ec3c1b173",
                }
            ),
            provider="azure_openai",
            model_version="2024-11-20",
            input_tokens=1200,
            cached_input_tokens=1024,
            output_tokens=300,
            kind=EventKind.CHAT,
            status=EventStatus.OK,
            latency_ms=1250,
            finish_reason="stop",
        )
    ]
    assert events[0].ts.utcoffset() == dt.timedelta(0)


# --- building spans -------------------------------------------------------------------------------


def span(
    attrs: dict[str, Any] | None = None,
    *,
    resource: dict[str, Any] | None = None,
    operation: str | None = "chat",
    span_id: str = "00000000000000a1",
    trace_id: str = TRACE,
    **kw: Any,
) -> Span:
    attributes = ({"gen_ai.operation.name": operation} if operation else {}) | (attrs or {})
    values: dict[str, Any] = {
        "trace_id": trace_id,
        "span_id": span_id,
        "name": f"{operation} x",
        "kind": 3,
        "start_ns": T_START,
        "end_ns": T_START + 2_000_000_000,
        "attributes": attributes,
        "resource": resource or {},
    }
    return Span(**(values | kw))


def one(s: Span, mapping: OtlpMapping | None = None) -> UsageEvent:
    events, skipped = spans_to_events([s], mapping)
    assert skipped == [], skipped
    return events[0]


def rejected(s: Span) -> str:
    events, skipped = spans_to_events([s])
    assert events == []
    assert [x.rejected for x in skipped] == [True]
    return skipped[0].reason


# --- model, deployment, provider ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        (
            {"gen_ai.response.model": "gpt-4o-2024-11-20", "gen_ai.request.model": "gpt-4o"},
            ("gpt-4o", "2024-11-20"),
        ),
        ({"gen_ai.response.model": "gpt-4.1-mini", "gen_ai.request.model": "x"}, ("gpt-4.1-mini", None)),
        ({"gen_ai.request.model": "o3-mini-2025-01-31"}, ("o3-mini", "2025-01-31")),
        ({"gen_ai.response.model": "  "}, (None, None)),
        (
            {"aifinops.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06"},
            ("gpt-4o", "2024-08-06"),
        ),
    ],
)
def test_model_is_the_response_model_split_into_name_and_version(
    attrs: dict[str, Any], expected: tuple[str | None, str | None]
) -> None:
    event = one(span(attrs))
    assert (event.model, event.model_version) == expected


@pytest.mark.parametrize(
    ("attrs", "provider", "deployment"),
    [
        ({"gen_ai.provider.name": "azure.ai.openai"}, "azure_openai", "dep-prod"),
        ({"gen_ai.provider.name": "azure.ai.inference"}, "azure_ai_inference", "dep-prod"),
        ({"gen_ai.provider.name": "openai", "server.address": "api.openai.com"}, "openai", None),
        (
            {"gen_ai.provider.name": "openai", "server.address": "x.openai.azure.com"},
            "azure_openai",
            "dep-prod",
        ),
        (
            {"gen_ai.system": "openai", "server.address": "x.cognitiveservices.azure.com"},
            "azure_openai",
            "dep-prod",
        ),
        ({"gen_ai.system": "aws.bedrock"}, "aws_bedrock", None),
        ({"gen_ai.provider.name": "openai", "aifinops.deployment": "mine"}, "openai", "mine"),
        ({}, "azure_openai", None),
    ],
)
def test_provider_and_deployment(attrs: dict[str, Any], provider: str, deployment: str | None) -> None:
    event = one(span({"gen_ai.request.model": "dep-prod"} | attrs))
    assert (event.provider, event.deployment) == (provider, deployment)


# --- tokens ---------------------------------------------------------------------------------------


def test_every_token_attribute_maps_to_its_field() -> None:
    event = one(
        span(
            {
                "gen_ai.usage.input_tokens": 5000,
                "gen_ai.usage.cache_read.input_tokens": 4096,
                "gen_ai.usage.cache_creation.input_tokens": 100,
                "gen_ai.usage.output_tokens": 900,
                "gen_ai.usage.reasoning.output_tokens": 640,
            }
        )
    )
    assert (event.input_tokens, event.cached_input_tokens, event.output_tokens, event.reasoning_tokens) == (
        5000,
        4096,
        900,
        640,
    )
    assert event.cache_write_tokens == 100


def test_deprecated_prompt_and_completion_tokens_are_read_when_alone() -> None:
    old = one(span({"gen_ai.usage.prompt_tokens": 70, "gen_ai.usage.completion_tokens": 7}))
    assert (old.input_tokens, old.output_tokens) == (70, 7)
    both = one(span({"gen_ai.usage.input_tokens": 80, "gen_ai.usage.prompt_tokens": 70}))
    assert both.input_tokens == 80


def test_whole_doubles_count_as_tokens() -> None:
    # JavaScript exporters send whole numbers as doubleValue when the attribute came from a JS number.
    assert one(span({"gen_ai.usage.input_tokens": 12.0})).input_tokens == 12


@pytest.mark.parametrize(
    ("attrs", "field", "reason"),
    [
        ({"gen_ai.usage.input_tokens": -1}, "gen_ai.usage.input_tokens", "whole number ≥ 0"),
        ({"gen_ai.usage.output_tokens": 1.5}, "gen_ai.usage.output_tokens", "whole number ≥ 0"),
        ({"gen_ai.usage.output_tokens": "12"}, "gen_ai.usage.output_tokens", "whole number ≥ 0"),
        ({"gen_ai.usage.input_tokens": True}, "gen_ai.usage.input_tokens", "whole number ≥ 0"),
        (
            {"gen_ai.usage.input_tokens": 10, "gen_ai.usage.cache_read.input_tokens": 11},
            "gen_ai.usage.cache_read.input_tokens",
            "part of gen_ai.usage.input_tokens",
        ),
        (
            {"gen_ai.usage.output_tokens": 10, "gen_ai.usage.reasoning.output_tokens": 11},
            "gen_ai.usage.reasoning.output_tokens",
            "part of gen_ai.usage.output_tokens",
        ),
        ({"aifinops.step": "two"}, "aifinops.step", "whole number"),
        ({"aifinops.deployment_type": "turbo"}, "aifinops.deployment_type", "global_standard"),
    ],
)
def test_a_broken_genai_span_is_rejected_naming_the_attribute(
    attrs: dict[str, Any], field: str, reason: str
) -> None:
    message = rejected(span(attrs))
    assert field in message
    assert reason in message


@given(
    inp=st.integers(min_value=-5, max_value=10**9),
    cached=st.integers(min_value=-5, max_value=10**9),
    out=st.integers(min_value=-5, max_value=10**9),
    reasoning=st.integers(min_value=-5, max_value=10**9),
    present=st.lists(st.booleans(), min_size=4, max_size=4),
)
def test_token_counts_map_to_consistent_events_or_are_rejected_with_a_reason(
    inp: int, cached: int, out: int, reasoning: int, present: list[bool]
) -> None:
    keys = (
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.reasoning.output_tokens",
    )
    attrs = {k: v for k, v, p in zip(keys, (inp, cached, out, reasoning), present, strict=True) if p}
    events, skipped = spans_to_events([span(attrs)])
    assert len(events) + len(skipped) == 1
    if events:
        e = events[0]
        assert 0 <= e.cached_input_tokens <= e.input_tokens
        assert 0 <= e.reasoning_tokens <= e.output_tokens
        assert (e.input_tokens, e.cached_input_tokens, e.output_tokens, e.reasoning_tokens) == tuple(
            attrs.get(k, 0) for k in keys
        )
    else:
        assert skipped[0].rejected
        assert any(k in skipped[0].reason for k in keys)


# --- kind, status, timing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "kind"),
    [
        ("chat", EventKind.CHAT),
        ("generate_content", EventKind.CHAT),
        ("text_completion", EventKind.COMPLETION),
        ("embeddings", EventKind.EMBEDDING),
        ("retrieval", EventKind.RETRIEVAL),
        ("execute_tool", EventKind.TOOL),
        ("invoke_agent", EventKind.AGENT),
        ("create_agent", EventKind.AGENT),
        ("invoke_workflow", EventKind.OTHER),
        ("generate_speech", EventKind.OTHER),
    ],
)
def test_kind_follows_the_operation_name(operation: str, kind: EventKind) -> None:
    assert one(span(operation=operation)).kind is kind


def test_a_retrieval_span_reports_what_it_put_into_the_prompt() -> None:
    attrs = {"gen_ai.data_source.id": "kb-idx", "gen_ai.request.top_k": 8, "aifinops.retrieved_tokens": 6400}
    event = one(span(attrs, operation="retrieval"))
    assert (event.kind, event.retrieved_tokens, event.input_tokens) == (EventKind.RETRIEVAL, 6400, 0)
    assert (event.attributes["gen_ai.data_source.id"], event.attributes["gen_ai.request.top_k"]) == (
        "kb-idx",
        "8",
    )
    assert "aifinops.retrieved_tokens" in rejected(
        span({"aifinops.retrieved_tokens": -1}, operation="retrieval")
    )
    # a model call counts the passages it read in its own input tokens: reporting them again is refused
    assert "retrieval" in rejected(span({"aifinops.retrieved_tokens": 10, "gen_ai.usage.input_tokens": 99}))


def test_tool_span_names_its_tool() -> None:
    event = one(
        span(
            {
                "gen_ai.tool.name": "get_weather",
                "gen_ai.tool.call.id": "call_1",
                "gen_ai.tool.type": "function",
            },
            operation="execute_tool",
            kind=1,
        )
    )
    assert (event.kind, event.tool_name, event.requests) == (EventKind.TOOL, "get_weather", 1)
    assert event.attributes["gen_ai.tool.call.id"] == "call_1"


def test_in_process_agent_usage_is_not_billed_twice_but_a_remote_agent_is_billed() -> None:
    usage = {
        "gen_ai.usage.input_tokens": 900,
        "gen_ai.usage.output_tokens": 90,
        "gen_ai.agent.name": "planner",
    }
    local = one(
        span(usage, operation="invoke_agent", kind=1)
    )  # INTERNAL: its child chat spans carry the tokens
    assert (local.input_tokens, local.output_tokens, local.requests, local.agent) == (0, 0, 0, "planner")
    assert local.attributes["aggregate_input_tokens"] == "900"
    remote = one(span(usage, operation="invoke_agent", kind=3))  # CLIENT: the agent service ran the model
    assert (remote.input_tokens, remote.output_tokens, remote.requests) == (900, 90, 1)


@pytest.mark.parametrize(
    ("status_code", "attrs", "status"),
    [
        (0, {}, EventStatus.OK),
        (1, {}, EventStatus.OK),
        (2, {}, EventStatus.ERROR),
        (2, {"error.type": "429"}, EventStatus.RATE_LIMITED),
        (2, {"error.type": 429}, EventStatus.RATE_LIMITED),
        (2, {"error.type": "openai.RateLimitError"}, EventStatus.RATE_LIMITED),
        (0, {"error.type": "timeout"}, EventStatus.TIMEOUT),
        (2, {"error.type": "openai.APITimeoutError"}, EventStatus.TIMEOUT),
        (2, {"error.type": "408"}, EventStatus.TIMEOUT),
        (2, {"error.type": "content_filter"}, EventStatus.CONTENT_FILTERED),
        (0, {"gen_ai.response.finish_reasons": ("stop", "content_filter")}, EventStatus.CONTENT_FILTERED),
        (2, {"error.type": "_OTHER"}, EventStatus.ERROR),
        (2, {"error.type": "500"}, EventStatus.ERROR),
    ],
)
def test_status_follows_span_status_and_error_type(
    status_code: int, attrs: dict[str, Any], status: EventStatus
) -> None:
    assert one(span(attrs, status_code=status_code)).status is status


def test_status_message_tells_a_timeout_when_error_type_is_missing() -> None:
    event = one(span(status_code=2, status_message="Request timed out."))
    assert event.status is EventStatus.TIMEOUT


def test_time_is_the_span_end_and_latency_its_duration() -> None:
    event = one(span(start_ns=T_START, end_ns=T_START + 1_234_567_891))
    assert event.ts == dt.datetime(2026, 1, 1, 0, 0, 1, 234567, tzinfo=dt.UTC)
    assert event.latency_ms == 1234


@pytest.mark.parametrize(("start", "end"), [(T_START, 0), (T_START, T_START - 1)])
def test_unfinished_or_backwards_spans_are_rejected(start: int, end: int) -> None:
    assert "endTimeUnixNano" in rejected(span(start_ns=start, end_ns=end))


def test_priority_service_tier_marks_the_event_priority() -> None:
    assert one(span({"openai.response.service_tier": "priority"})).priority
    assert not one(span({"openai.response.service_tier": "default"})).priority


@pytest.mark.parametrize(
    ("attrs", "tier"),
    [
        ({"openai.response.service_tier": "priority"}, ProcessingTier.PRIORITY),
        ({"gen_ai.openai.response.service_tier": "flex"}, ProcessingTier.FLEX),
        ({"openai.request.service_tier": "default"}, ProcessingTier.STANDARD),
        ({"gen_ai.openai.request.service_tier": "priority"}, ProcessingTier.PRIORITY),
        # the response says what served the call: a downgraded priority request is standard
        (
            {"openai.request.service_tier": "priority", "openai.response.service_tier": "default"},
            ProcessingTier.STANDARD,
        ),
        ({"openai.request.service_tier": "auto"}, None),
        ({}, None),
    ],
)
def test_service_tier_maps_to_the_processing_tier_and_priority_follows_it(
    attrs: dict[str, str], tier: ProcessingTier | None
) -> None:
    event = one(span(attrs))
    assert event.service_tier is tier
    assert event.priority is (tier is ProcessingTier.PRIORITY)


def test_cache_writes_above_input_reject_the_span_naming_the_attribute() -> None:
    events, skipped = spans_to_events(
        [span({"gen_ai.usage.input_tokens": 10, "gen_ai.usage.cache_creation.input_tokens": 11})]
    )
    assert events == []
    assert skipped[0].rejected
    assert "gen_ai.usage.cache_creation.input_tokens" in skipped[0].reason


# --- identity and allocation ----------------------------------------------------------------------


def test_event_id_is_stable_per_trace_and_span() -> None:
    a, b = one(span()), one(span())
    assert a.event_id == b.event_id == f"otel-{TRACE}-00000000000000a1"
    assert one(span(span_id="00000000000000a2")).event_id != a.event_id


@pytest.mark.parametrize(
    ("attrs", "resource", "task"),
    [
        ({}, {}, TRACE),
        ({"gen_ai.conversation.id": "conv"}, {}, "conv"),
        ({"gen_ai.conversation.id": "conv", "session.id": "sess"}, {}, "sess"),
        ({"session.id": "sess", "aifinops.task_id": "task"}, {}, "task"),
        ({"gen_ai.conversation.id": "conv"}, {"aifinops.task_id": "task"}, "task"),
        ({"aifinops.task_id": "span-task"}, {"aifinops.task_id": "resource-task"}, "span-task"),
    ],
)
def test_task_id_order(attrs: dict[str, Any], resource: dict[str, Any], task: str) -> None:
    assert one(span(attrs, resource=resource)).task_id == task


def test_a_trace_shares_the_task_id_found_on_any_of_its_spans() -> None:
    agent = span({"gen_ai.conversation.id": "conv-9"}, operation="invoke_agent", span_id="00000000000000b1")
    child = span(span_id="00000000000000b2", parent_span_id="00000000000000b1")
    other_trace = span(span_id="00000000000000b3", trace_id="1" * 32)
    events, _ = spans_to_events([child, agent, other_trace])
    assert [e.task_id for e in events] == ["conv-9", "conv-9", "1" * 32]


def test_task_id_attribute_and_app_attribute_are_configurable() -> None:
    mapping = OtlpMapping(task_id_keys=("ticket.id",), app_key="service.namespace")
    event = one(
        span(
            {"ticket.id": "T-1", "gen_ai.conversation.id": "conv"},
            resource={"service.namespace": "support", "service.name": "api"},
        ),
        mapping,
    )
    assert (event.task_id, event.app) == ("T-1", "support")


def test_allocation_dimensions_come_from_aifinops_attributes_span_first() -> None:
    resource = {
        "service.name": "rag-api",
        "deployment.environment.name": "prod",
        "aifinops.tenant": "contoso",
        "aifinops.team": "search",
        "aifinops.cost_center": "CC-1",
        "aifinops.use_case": "resource-level",
    }
    attrs = {
        "aifinops.use_case": "support-chat",
        "aifinops.user_group": "agents",
        "aifinops.step": 3,
        "aifinops.attempt": "2",
        "aifinops.region": "eastus2",
        "aifinops.resource_id": "/subscriptions/s/resourcegroups/rg/providers/x/accounts/a",
        "aifinops.deployment_type": "GlobalStandard",
        "gen_ai.agent.name": "triage",
    }
    e = one(span(attrs, resource=resource))
    assert (e.app, e.use_case, e.tenant, e.team, e.cost_center, e.user_group) == (
        "rag-api",
        "support-chat",
        "contoso",
        "search",
        "CC-1",
        "agents",
    )
    assert (e.environment, e.agent, e.step, e.attempt) == ("prod", "triage", 3, 2)
    assert (e.region, e.deployment_type) == ("eastus2", DeploymentType.GLOBAL_STANDARD)
    assert e.resource_id == "/subscriptions/s/resourcegroups/rg/providers/x/accounts/a"
    overridden = one(span({"aifinops.app": "billing", "aifinops.agent": "a2"}, resource=resource))
    assert (overridden.app, overridden.agent) == ("billing", "a2")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("global_standard", DeploymentType.GLOBAL_STANDARD),
        ("DataZoneStandard", DeploymentType.DATA_ZONE_STANDARD),
        ("Standard", DeploymentType.STANDARD),
        ("GlobalBatch", DeploymentType.GLOBAL_BATCH),
        ("ProvisionedManaged", DeploymentType.PROVISIONED),
        ("DataZoneProvisionedManaged", DeploymentType.DATA_ZONE_PROVISIONED),
    ],
)
def test_deployment_type_accepts_our_value_and_the_azure_sku(raw: str, expected: DeploymentType) -> None:
    assert one(span({"aifinops.deployment_type": raw})).deployment_type is expected


def test_non_genai_spans_are_skipped_not_rejected() -> None:
    http = span({"http.request.method": "POST"}, operation=None, span_id="00000000000000c1")
    events, skipped = spans_to_events([http, span()])
    assert len(events) == 1
    assert skipped == [
        SkippedSpan(TRACE, "00000000000000c1", "None x", "not a GenAI span (no gen_ai.operation.name)", False)
    ]


def test_long_attribute_values_are_cut_to_the_event_attribute_bound() -> None:
    event = one(span({"gen_ai.response.id": "r" * 1000}))
    assert event.attributes["gen_ai.response.id"] == "r" * 256


# --- protobuf and JSON ----------------------------------------------------------------------------


def _any(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, tuple):
        return AnyValue(array_value=ArrayValue(values=[_any(v) for v in value]))
    if isinstance(value, dict):
        return AnyValue(kvlist_value=KeyValueList(values=_kvs(value)))
    return AnyValue(string_value=value)


def _kvs(values: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=_any(v)) for k, v in values.items()]


def proto_request(spans: list[Span]) -> ExportTraceServiceRequest:
    """The protobuf ``ExportTraceServiceRequest`` of ``spans`` (one resource per span)."""
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=_kvs(dict(s.resource))),
                scope_spans=[
                    ScopeSpans(
                        spans=[
                            ProtoSpan(
                                trace_id=bytes.fromhex(s.trace_id),
                                span_id=bytes.fromhex(s.span_id),
                                parent_span_id=bytes.fromhex(s.parent_span_id),
                                name=s.name,
                                kind=s.kind,  # type: ignore[arg-type]
                                start_time_unix_nano=s.start_ns,
                                end_time_unix_nano=s.end_ns,
                                attributes=_kvs(dict(s.attributes)),
                                status=Status(code=s.status_code, message=s.status_message),  # type: ignore[arg-type]
                            )
                        ]
                    )
                ],
            )
            for s in spans
        ]
    )


def otlp_json(request: ExportTraceServiceRequest) -> bytes:
    """The OTLP JSON encoding: proto JSON with hex ids and integer enums (reference §4.1)."""
    data = json_format.MessageToDict(request, use_integers_for_enums=True)
    for rs in data.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for s in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in s:
                        s[key] = base64.b64decode(s[key]).hex()
    return json.dumps(data).encode()


RICH_SPANS = [
    span(
        {
            "gen_ai.usage.input_tokens": 2000,
            "gen_ai.usage.cache_read.input_tokens": 1024,
            "gen_ai.usage.output_tokens": 700,
            "gen_ai.usage.reasoning.output_tokens": 512,
            "gen_ai.response.model": "o3-mini-2025-01-31",
            "gen_ai.request.model": "o3-mini-prod",
            "gen_ai.provider.name": "azure.ai.openai",
            "gen_ai.response.finish_reasons": ("stop", "length"),
            "gen_ai.request.temperature": 0.25,
            "gen_ai.request.stream": True,
            "gen_ai.tool.definitions": {"name": "lookup", "strict": False},
            "opaque": b"\x00\x01",
            "error.type": "openai.RateLimitError",
            "aifinops.step": 4,
        },
        resource={"service.name": "rag-api", "aifinops.tenant": "contoso"},
        parent_span_id="00000000000000f0",
        status_code=2,
        status_message="rate limited",
    ),
    span(operation="execute_tool", span_id="00000000000000a2", kind=1),
    span({"url.full": "https://x"}, operation=None, span_id="00000000000000a3"),
]


def test_protobuf_and_json_give_the_same_spans_and_events() -> None:
    request = proto_request(RICH_SPANS)
    from_proto = decode_otlp_protobuf(request.SerializeToString())
    from_json = decode_otlp_json(otlp_json(request))
    assert from_proto == from_json == RICH_SPANS
    assert spans_to_events(from_proto) == spans_to_events(from_json)
    events, skipped = spans_to_events(from_json)
    assert [e.kind for e in events] == [EventKind.CHAT, EventKind.TOOL]
    assert (events[0].status, events[0].tenant, events[0].step) == (EventStatus.RATE_LIMITED, "contoso", 4)
    assert [s.rejected for s in skipped] == [False]


def test_json_accepts_numbers_for_64_bit_integers_and_ignores_unknown_fields() -> None:
    data = json.loads(REFERENCE_BODY)
    s = data["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    s["startTimeUnixNano"] = T_START
    s["futureField"] = {"anything": 1}
    s["attributes"][4]["value"] = {"intValue": 1200}
    data["resourceSpans"][0]["schemaUrl"] = "https://opentelemetry.io/schemas/1.41.0"
    assert decode_otlp_json(json.dumps(data).encode()) == decode_otlp_json(REFERENCE_BODY)


def _broken(path: list[Any], value: Any) -> bytes:
    data = json.loads(REFERENCE_BODY)
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return json.dumps(data).encode()


_SPAN = ["resourceSpans", 0, "scopeSpans", 0, "spans", 0]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"resourceSpans": [', "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (_broken(["resourceSpans"], {"x": 1}), "resourceSpans must be an array of objects"),
        (
            _broken([*_SPAN, "traceId"], base64.b64encode(bytes.fromhex(TRACE)).decode()),
            "resourceSpans[0].scopeSpans[0].spans[0].traceId must be hex",
        ),
        (_broken([*_SPAN, "spanId"], "eee19b7e"), "spans[0].spanId must be 8 bytes"),
        (_broken([*_SPAN, "traceId"], "0" * 32), "not all zero"),
        (_broken([*_SPAN, "traceId"], ""), "traceId must be 16 bytes"),
        (_broken([*_SPAN, "attributes", 4, "value"], {"intValue": "12x"}), "intValue"),
        (_broken([*_SPAN, "startTimeUnixNano"], "soon"), "startTimeUnixNano"),
    ],
)
def test_undecodable_json_names_the_place_and_the_reason(body: bytes, message: str) -> None:
    with pytest.raises(SourceFormatError, match=re.escape(message)):
        decode_otlp_json(body)


def test_undecodable_protobuf_is_a_format_error() -> None:
    with pytest.raises(SourceFormatError, match="not a protobuf ExportTraceServiceRequest"):
        decode_otlp_protobuf(b"\x0a\xff\xff\xff\xff\x0f garbage")
    bad_id = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(scope_spans=[ScopeSpans(spans=[ProtoSpan(trace_id=b"\x01", span_id=b"\x02")])])
        ]
    )
    with pytest.raises(SourceFormatError, match=r"spans\[0\].traceId must be 16 bytes"):
        decode_otlp_protobuf(bad_id.SerializeToString())


def test_empty_export_has_no_spans() -> None:
    assert decode_otlp_protobuf(b"") == []
    assert decode_otlp_json(b"{}") == []


# --- exactly once ---------------------------------------------------------------------------------


def test_resending_the_same_spans_never_counts_twice(store: Store) -> None:
    ingestor = Ingestor(store)
    body = otlp_json(proto_request(RICH_SPANS))
    first = ingestor.ingest(spans_to_events(decode_otlp_json(body))[0], source="otlp")
    again = ingestor.ingest(
        spans_to_events(decode_otlp_protobuf(proto_request(RICH_SPANS).SerializeToString()))[0], source="otlp"
    )
    assert (first.accepted, first.duplicates) == (2, 0)
    assert (again.accepted, again.duplicates) == (0, 2)


def test_a_span_may_send_the_hash_of_its_request() -> None:
    attrs = {"aifinops.request_hash": "3de24383704d69bf", "gen_ai.response.finish_reasons": ("length",)}
    (event,), _ = spans_to_events([span(attrs)])
    assert (event.request_hash, event.finish_reason) == ("3de24383704d69bf", "length")
