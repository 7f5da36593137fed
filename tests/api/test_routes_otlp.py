"""POST /v1/traces: OTLP/HTTP exports (protobuf or JSON, gzip or not) become usage events, stored once."""

from __future__ import annotations

import copy
import gzip
import json
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from google.rpc.status_pb2 import Status as RpcStatus
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from aifinops.api.app import create_app
from aifinops.config import Settings, load_settings
from aifinops.store import Store
from aifinops.store.keys import KeyStore
from aifinops.store.prices import PriceStore
from tests.factories import PRICE_START, gpt4o_prices
from tests.served import Served
from tests.wire_examples import OTLP_REFERENCE_BODY as REFERENCE_BODY
from tests.wire_examples import OTLP_REFERENCE_TRACE as TRACE

PROBLEM = "application/problem+json"
PROTOBUF = {"content-type": "application/x-protobuf"}
JSON = {"content-type": "application/json"}


def otlp_app(store: Store, settings: Settings | None = None) -> FastAPI:
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    app = create_app(settings or load_settings(), store=store)
    return app


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    """A client of the API with the OTLP route, on SQLite and on PostgreSQL."""
    with TestClient(otlp_app(store)) as c:
        yield c


@pytest.fixture
def sqlite_client(sqlite_store: Store) -> Iterator[TestClient]:
    """The same on SQLite only, for protocol behaviour that does not depend on the database."""
    with TestClient(otlp_app(sqlite_store)) as c:
        yield c


def reference(**changes: Any) -> dict[str, Any]:
    """The reference example as a dict, with attributes added to its span and resource."""
    data: dict[str, Any] = json.loads(REFERENCE_BODY)
    rs = data["resourceSpans"][0]
    for key, value in changes.pop("resource", {}).items():
        rs["resource"]["attributes"].append({"key": key, "value": value})
    span = rs["scopeSpans"][0]["spans"][0]
    for key, value in changes.items():
        span["attributes"].append({"key": key, "value": value})
    return data


def sdk_spans(*, reasoning: int = 0) -> tuple[list[ReadableSpan], str]:
    """Spans recorded by the real OpenTelemetry SDK: a chat call and a tool call in one trace; its id."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "rag-api"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test.genai")
    with tracer.start_as_current_span("chat gpt-4o-prod", kind=SpanKind.CLIENT) as chat:
        chat.set_attributes(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "azure.ai.openai",
                "gen_ai.request.model": "gpt-4o-prod",
                "gen_ai.usage.input_tokens": 100,
                "gen_ai.usage.output_tokens": 20,
                "gen_ai.usage.reasoning.output_tokens": reasoning,
            }
        )
        with tracer.start_as_current_span("execute_tool search") as tool:
            tool.set_attributes({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"})
    provider.shutdown()
    return list(memory.get_finished_spans()), format(chat.get_span_context().trace_id, "032x")


def protobuf(spans: list[ReadableSpan]) -> bytes:
    """The bytes the OTLP/HTTP exporter sends for ``spans``."""
    return encode_spans(spans).SerializeToString()


PRICED = {"resource": {"aifinops.deployment_type": {"stringValue": "global_standard"}}}


def test_reference_example_becomes_one_priced_event_of_its_trace(client: TestClient) -> None:
    r = client.post("/v1/traces", json=reference(**PRICED))
    assert (r.status_code, r.headers["content-type"], r.json()) == (200, "application/json", {})
    task = client.get(f"/api/tasks/{TRACE}").json()
    [event] = task["events"]
    assert {k: event[k] for k in ("event_id", "kind", "status", "deployment", "model", "latency_ms")} == {
        "event_id": f"otel-{TRACE}-eee19b7ec3c1b174",
        "kind": "chat",
        "status": "ok",
        "deployment": "gpt-4o-prod",
        "model": "gpt-4o",
        "latency_ms": 1250,
    }
    assert (event["input_tokens"], event["cached_input_tokens"], event["output_tokens"]) == (1200, 1024, 300)
    # (1200 − 1024) × 2.50 + 1024 × 1.25 + 300 × 10.00 per 1M tokens
    assert Decimal(event["cost"]) == Decimal("0.00472")


def test_resending_an_export_never_counts_twice(client: TestClient) -> None:
    spans, trace = sdk_spans()
    for _ in range(3):
        assert client.post("/v1/traces", content=protobuf(spans), headers=PROTOBUF).status_code == 200
    for _ in range(2):
        assert client.post("/v1/traces", content=REFERENCE_BODY, headers=JSON).status_code == 200
    task = client.get(f"/api/tasks/{trace}").json()
    assert sorted((e["kind"], e["input_tokens"]) for e in task["events"]) == [("chat", 100), ("tool", 0)]
    assert len(client.get(f"/api/tasks/{TRACE}").json()["events"]) == 1


def test_protobuf_request_gets_a_protobuf_answer(sqlite_client: TestClient) -> None:
    spans, _ = sdk_spans()
    r = sqlite_client.post("/v1/traces", content=protobuf(spans), headers=PROTOBUF)
    assert (r.status_code, r.headers["content-type"]) == (200, "application/x-protobuf")
    answer = ExportTraceServiceResponse.FromString(r.content)
    assert not answer.HasField("partial_success")


@pytest.mark.parametrize("encoding", ["json", "protobuf"])
def test_gzip_bodies_are_accepted(sqlite_client: TestClient, encoding: str) -> None:
    spans, trace = sdk_spans()
    body, headers, task = (
        (REFERENCE_BODY, JSON, TRACE) if encoding == "json" else (protobuf(spans), PROTOBUF, trace)
    )
    r = sqlite_client.post(
        "/v1/traces", content=gzip.compress(body), headers=headers | {"content-encoding": "gzip"}
    )
    assert r.status_code == 200
    assert sqlite_client.get(f"/api/tasks/{task}").status_code == 200


def test_invalid_spans_are_a_partial_success_and_the_rest_is_kept(client: TestClient) -> None:
    data = reference()
    spans = data["resourceSpans"][0]["scopeSpans"][0]["spans"]
    bad_tokens = copy.deepcopy(spans[0]) | {"spanId": "eee19b7ec3c1b175"}
    bad_tokens["attributes"][6]["value"] = {"intValue": "5000"}  # cache_read above input_tokens
    long_app = copy.deepcopy(spans[0]) | {"spanId": "eee19b7ec3c1b176"}
    long_app["attributes"].append({"key": "aifinops.app", "value": {"stringValue": "x" * 300}})
    future = copy.deepcopy(spans[0]) | {
        "spanId": "eee19b7ec3c1b177",
        "startTimeUnixNano": "4102444799000000000",
        "endTimeUnixNano": "4102444800000000000",  # 2100-01-01
    }
    http = {"traceId": TRACE, "spanId": "eee19b7ec3c1b178", "name": "GET /", "endTimeUnixNano": "1"}
    huge = copy.deepcopy(spans[0]) | {"spanId": "eee19b7ec3c1b179"}
    huge["attributes"][4]["value"] = {"intValue": "60000000"}  # above the per-event token ceiling
    spans += [bad_tokens, long_app, future, http, huge]
    r = client.post("/v1/traces", json=data)
    assert r.status_code == 200
    partial = r.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "4"  # the HTTP span is not GenAI: skipped, not rejected
    message = partial["errorMessage"]
    assert "eee19b7ec3c1b175" in message and "gen_ai.usage.cache_read.input_tokens" in message
    assert "eee19b7ec3c1b176: app: String should have at most 128 characters" in message
    assert "eee19b7ec3c1b177: ts:" in message and "in the future" in message
    assert "eee19b7ec3c1b179: input_tokens: Input should be less than or equal to 50000000" in message
    assert [e["event_id"][-4:] for e in client.get(f"/api/tasks/{TRACE}").json()["events"]] == ["b174"]


def test_partial_success_in_protobuf(sqlite_client: TestClient) -> None:
    spans, trace = sdk_spans(reasoning=50)  # 50 reasoning tokens out of 20 output tokens
    r = sqlite_client.post("/v1/traces", content=protobuf(spans), headers=PROTOBUF)
    answer = ExportTraceServiceResponse.FromString(r.content)
    assert answer.partial_success.rejected_spans == 1
    assert "gen_ai.usage.reasoning.output_tokens (50)" in answer.partial_success.error_message
    assert [e["kind"] for e in sqlite_client.get(f"/api/tasks/{trace}").json()["events"]] == ["tool"]


@pytest.mark.parametrize(
    ("body", "headers", "status", "detail"),
    [
        (b'{"resourceSpans": [', JSON, 400, "not valid JSON"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz"}]}]}]}', JSON, 400, "traceId"),
        (REFERENCE_BODY, {"content-type": "text/plain"}, 415, "application/x-protobuf"),
        (REFERENCE_BODY, JSON | {"content-encoding": "br"}, 415, "'br' is not supported"),
        (b"not gzip", JSON | {"content-encoding": "gzip"}, 400, "not valid gzip"),
        (gzip.compress(REFERENCE_BODY)[:-12], JSON | {"content-encoding": "gzip"}, 400, "truncated"),
    ],
)
def test_json_clients_get_problem_details(
    sqlite_client: TestClient, body: bytes, headers: dict[str, str], status: int, detail: str
) -> None:
    r = sqlite_client.post("/v1/traces", content=body, headers=headers)
    assert (r.status_code, r.headers["content-type"]) == (status, PROBLEM)
    assert detail in r.json()["detail"]


def test_protobuf_clients_get_a_google_rpc_status(sqlite_client: TestClient) -> None:
    r = sqlite_client.post("/v1/traces", content=b"\x0a\xff\xff\xff\xff\x0f garbage", headers=PROTOBUF)
    assert (r.status_code, r.headers["content-type"]) == (400, "application/x-protobuf")
    status = RpcStatus.FromString(r.content)
    assert status.code == 3  # INVALID_ARGUMENT: exporters do not retry a 400
    assert "not a protobuf ExportTraceServiceRequest" in status.message


def test_body_limits_hold_before_and_after_gunzip(sqlite_store: Store) -> None:
    with TestClient(otlp_app(sqlite_store, load_settings(max_body_bytes=2048))) as c:
        big = json.dumps(reference(**{"pad": {"stringValue": "x" * 4000}})).encode()
        assert c.post("/v1/traces", content=big, headers=JSON).status_code == 413
        bomb = gzip.compress(b" " * 10_000_000 + REFERENCE_BODY)  # ~10 KB on the wire, 10 MB inflated
        r = c.post("/v1/traces", content=bomb, headers=JSON | {"content-encoding": "gzip"})
        assert (r.status_code, r.headers["content-type"]) == (413, PROBLEM)
        assert "AIFINOPS_MAX_BODY_BYTES" in r.json()["detail"]
        assert c.post("/v1/traces", content=REFERENCE_BODY, headers=JSON).status_code == 200


def test_ingest_scope_is_required_and_a_tenant_key_sends_only_its_tenant(sqlite_store: Store) -> None:
    keys = KeyStore(sqlite_store)
    _, reader = keys.create(name="reader", scopes={"read"})
    _, contoso = keys.create(name="contoso-ingest", scopes={"ingest"}, tenant="contoso")
    with TestClient(otlp_app(sqlite_store)) as c:
        assert c.post("/v1/traces", content=REFERENCE_BODY, headers=JSON).status_code == 401
        auth = {"authorization": f"Bearer {reader}"}
        assert c.post("/v1/traces", content=REFERENCE_BODY, headers=JSON | auth).status_code == 403
        foreign = reference(**{"aifinops.tenant": {"stringValue": "fabrikam"}})
        r = c.post("/v1/traces", json=foreign, headers={"authorization": f"Bearer {contoso}"})
        assert r.json()["partialSuccess"]["rejectedSpans"] == "1"
        assert "may only send tenant 'contoso'" in r.json()["partialSuccess"]["errorMessage"]
        r = c.post(
            "/v1/traces", content=REFERENCE_BODY, headers=JSON | {"authorization": f"Bearer {contoso}"}
        )
        assert r.json() == {}
        events = c.get(f"/api/tasks/{TRACE}", headers=auth).json()["events"]
        assert len(events) == 1
        contoso_usage = c.get(
            "/api/token-usage", params={"period": "2026-01", "group_by": "tenant"}, headers=auth
        ).json()["items"]
        assert {i["tenant"] for i in contoso_usage} == {"contoso"}


# --- the real OpenTelemetry SDK and OTLP/HTTP exporter --------------------------------------------


def _agent_run(provider: TracerProvider) -> str:
    """An in-process agent that calls a model, a tool, the model again, and an HTTP API; its trace id."""
    tracer = provider.get_tracer("test.genai")
    with tracer.start_as_current_span("invoke_agent support", kind=SpanKind.INTERNAL) as agent:
        agent.set_attributes(
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "support",
                "gen_ai.conversation.id": "conv-42",
                "gen_ai.usage.input_tokens": 2600,
                "gen_ai.usage.output_tokens": 420,
            }
        )
        for step, (tokens, cached) in enumerate(((1200, 1024), (1400, 0))):
            with tracer.start_as_current_span("chat gpt-4o-prod", kind=SpanKind.CLIENT) as chat:
                chat.set_attributes(
                    {
                        "gen_ai.operation.name": "chat",
                        "gen_ai.provider.name": "azure.ai.openai",
                        "gen_ai.request.model": "gpt-4o-prod",
                        "gen_ai.response.model": "gpt-4o-2024-11-20",
                        "gen_ai.usage.input_tokens": tokens,
                        "gen_ai.usage.cache_read.input_tokens": cached,
                        "gen_ai.usage.output_tokens": 210,
                        "aifinops.step": step,
                        # the second call wrote its prompt to the cache; "auto" names no tier
                        "gen_ai.usage.cache_creation.input_tokens": 0 if step == 0 else 1024,
                        "openai.response.service_tier": "default" if step == 0 else "auto",
                    }
                )
            if step == 0:
                with tracer.start_as_current_span("execute_tool lookup_order") as tool:
                    tool.set_attributes(
                        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup_order"}
                    )
                    tool.set_status(StatusCode.ERROR)
                    tool.set_attribute("error.type", "TimeoutError")
        with tracer.start_as_current_span("GET /orders", kind=SpanKind.CLIENT) as http:
            http.set_attribute("http.request.method", "GET")
        return format(agent.get_span_context().trace_id, "032x")


class _Noted(SpanExporter):
    """The real OTLP exporter, noting each export's result so that a refused export fails by name."""

    def __init__(self, inner: OTLPSpanExporter) -> None:
        self.inner, self.results = inner, list[SpanExportResult]()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        self.results.append(result)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()


@pytest.mark.parametrize("compression", [Compression.Gzip, Compression.NoCompression])
def test_the_real_otel_exporter_sends_genai_spans_that_become_task_events(
    store: Store, monkeypatch: pytest.MonkeyPatch, compression: Compression
) -> None:
    keys = KeyStore(store)
    _, ingest = keys.create(name="otel", scopes={"ingest"})
    _, reader = keys.create(name="reader", scopes={"read"})
    served = Served(otlp_app(store))
    try:
        # Configured the way the README says: the standard OTel environment variables.
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{served.url}/v1/traces")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", f"authorization=Bearer%20{ingest}")
        resource = Resource.create(
            {
                "service.name": "support-bot",
                "aifinops.use_case": "support",
                "aifinops.deployment_type": "GlobalStandard",
            }
        )
        provider = TracerProvider(resource=resource)
        exporter = _Noted(OTLPSpanExporter(compression=compression))
        provider.add_span_processor(BatchSpanProcessor(exporter))
        trace = _agent_run(provider)
        assert provider.force_flush(10_000)
        provider.shutdown()
        assert exporter.results == [SpanExportResult.SUCCESS]
        with TestClient(otlp_app(store)) as c:
            task = c.get("/api/tasks/conv-42", headers={"authorization": f"Bearer {reader}"}).json()
    finally:
        served.stop()
    events = task["events"]
    assert all(e["event_id"].startswith(f"otel-{trace}-") for e in events)
    assert sorted((e["kind"], e["status"]) for e in events) == [  # the HTTP span is not GenAI
        ("agent", "ok"),
        ("chat", "ok"),
        ("chat", "ok"),
        ("tool", "timeout"),
    ]
    chats = [e for e in events if e["kind"] == "chat"]
    assert [
        (e["step"], e["input_tokens"], e["cached_input_tokens"], e["cache_write_tokens"], e["service_tier"])
        for e in chats
    ] == [(0, 1200, 1024, 0, "standard"), (1, 1400, 0, 1024, None)]
    agent = next(e for e in events if e["kind"] == "agent")
    assert (agent["input_tokens"], agent["cost"]) == (0, "0")  # its children carry the tokens
    # (176 × 2.50 + 1024 × 1.25 + 210 × 10 + 1400 × 2.50 + 210 × 10) per 1M tokens
    assert sum(Decimal(e["cost"]) for e in events) == Decimal("0.00942")
    assert next(e for e in events if e["kind"] == "tool")["tool_name"] == "lookup_order"
