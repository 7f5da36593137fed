"""POST /v1/traces holds the limits of POST /api/events: a batch cap and the store's limits, span by span."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aifinops.api.app import create_app
from aifinops.config import load_settings
from aifinops.store import Store
from tests.wire_examples import OTLP_REFERENCE_BODY, OTLP_REFERENCE_TRACE

CAP = 5


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(load_settings(max_batch_events=CAP), store=store)) as c:
        yield c


def export(n: int, **attributes: Any) -> dict[str, Any]:
    """The reference export with ``n`` GenAI spans (span ids 1…n); ``attributes`` added to span 1."""
    data: dict[str, Any] = json.loads(OTLP_REFERENCE_BODY)
    spans = data["resourceSpans"][0]["scopeSpans"][0]["spans"]
    template = spans[0]
    spans[:] = [copy.deepcopy(template) | {"spanId": f"{i + 1:016x}"} for i in range(n)]
    for key, value in attributes.items():
        spans[1]["attributes"].append({"key": key, "value": {"stringValue": value}})
    return data


def stored_events(client: TestClient) -> list[str]:
    return [e["event_id"] for e in client.get(f"/api/tasks/{OTLP_REFERENCE_TRACE}").json()["events"]]


@pytest.mark.parametrize(
    ("key", "value"),
    [("aifinops.app", "rag\x00api"), ("gen_ai.response.id", "chatcmpl-\x00"), ("aifinops.tenant", "\x00")],
)
def test_a_nul_in_an_attribute_rejects_that_span_and_keeps_the_others(
    client: TestClient, key: str, value: str
) -> None:
    r = client.post("/v1/traces", json=export(3, **{key: value}))
    assert r.status_code == 200, r.text
    partial = r.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1"
    assert "0000000000000002" in partial["errorMessage"] and "NUL" in partial["errorMessage"]
    assert len(stored_events(client)) == 2


def test_more_genai_spans_than_the_batch_cap_are_a_partial_success_keeping_the_first(
    client: TestClient,
) -> None:
    """OTLP answers a partly accepted export with 200 and partialSuccess (never retried); a 413 would make
    the exporter drop every span of it (reference otel-genai.md §4: other 4xx are not retried)."""
    r = client.post("/v1/traces", json=export(CAP + 3))
    assert r.status_code == 200, r.text
    partial = r.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "3"
    assert f"more than {CAP} GenAI spans" in partial["errorMessage"]
    assert "AIFINOPS_MAX_BATCH_EVENTS" in partial["errorMessage"]
    assert len(stored_events(client)) == CAP
