"""The OpenAPI document is the contract: every parameter, key and error it has, and schemathesis holds the
API to it on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from aifinops.api.app import create_app
from aifinops.config import load_settings
from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from aifinops.store.keys import KeyStore
from aifinops.store.prices import PriceStore
from tests.factories import PRICE_START, event, gpt4o_prices

PROBLEM = "application/problem+json"
PROBES = {"/healthz", "/readyz"}
INVALID = {"integer": "x1", "boolean": "maybe"}
#: Generated requests per operation and store (AIFINOPS_TEST_CONTRACT_EXAMPLES digs deeper).
EXAMPLES = int(os.environ.get("AIFINOPS_TEST_CONTRACT_EXAMPLES", "10"))


def operations(client: TestClient) -> list[tuple[str, str, dict[str, Any]]]:
    doc = client.get("/openapi.json").json()
    return [(m.upper(), path, op) for path, ops in doc["paths"].items() for m, op in ops.items()]


def query_params(op: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in op.get("parameters", []) if p["in"] == "query"]


def test_keys_and_problem_answers_are_in_the_document(sqlite_client: TestClient) -> None:
    doc = sqlite_client.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "an aifinops API key: `aifinops keys create`",
    }
    assert "Problem" in doc["components"]["schemas"]
    for method, path, op in operations(sqlite_client):
        if path in PROBES:  # orchestrators probe without a key
            assert "security" not in op and "503" in op["responses"], (method, path)
            continue
        assert op["security"] == [{"bearer": []}, {"apiKey": []}], (method, path)
        for status in ("401", "403", "422", "503"):
            content = op["responses"][status]["content"]
            assert content[PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}, (method, path)
        assert "Retry-After" in op["responses"]["503"]["headers"]
        if "{" in path:
            assert "404" in op["responses"], (method, path)


def test_every_query_parameter_has_a_type_and_a_description(sqlite_client: TestClient) -> None:
    for method, path, op in operations(sqlite_client):
        for param in query_params(op):
            assert param.get("description"), (method, path, param["name"])
            assert param["schema"].get("type") or param["schema"].get("anyOf"), (method, path, param["name"])


def _path(path: str) -> str:
    return path.replace("{task_id}", "t1").replace("{name}", "b1")


def test_an_undocumented_query_parameter_is_refused_by_every_operation(sqlite_client: TestClient) -> None:
    for method, path, _ in operations(sqlite_client):
        r = sqlite_client.request(method, _path(path), params={"colour": "blue"})
        assert (r.status_code, r.headers["content-type"]) == (422, PROBLEM), (method, path, r.text)
        assert r.json()["errors"][0]["field"] == "colour"


def _with(op: dict[str, Any], name: str, value: str) -> dict[str, str]:
    """``name=value``, with a month beside it when the operation takes a period (some need one)."""
    takes_period = any(p["name"] == "period" for p in query_params(op))
    if takes_period and name not in ("period", "start", "end"):
        return {"period": "2026-10", name: value}
    return {name: value}


def _invalid(schema: dict[str, Any]) -> str | None:
    """A value outside ``schema``, or None when any text is valid."""
    schema = next((s for s in schema.get("anyOf", []) if s.get("type") != "null"), schema)
    if "enum" in schema:
        return "not-one-of-them"
    if "pattern" in schema or schema.get("format") == "date-time":
        return "!"
    return INVALID.get(schema.get("type", "string"))


def test_every_documented_parameter_is_read_by_its_route(sqlite_client: TestClient) -> None:
    """A documented parameter with a constrained value is refused when the value is wrong (so the route reads
    it); one that takes any text is accepted (never an unknown parameter)."""
    checked = 0
    for method, path, op in operations(sqlite_client):
        if method != "GET":
            continue
        for param in query_params(op):
            bad = _invalid(param["schema"])
            if bad is None:
                r = sqlite_client.get(_path(path), params=_with(op, param["name"], "x"))
                assert "unknown query parameter" not in r.text, (path, param["name"])
                continue
            r = sqlite_client.get(_path(path), params=_with(op, param["name"], bad))
            assert r.status_code == 422, (path, param["name"], r.text)
            assert param["name"] in r.json()["detail"], (path, param["name"], r.text)
            checked += 1
    assert checked > 20


# --- what schemathesis found ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        {"period": "0000-01"},
        {"period": "9999-12-31"},
        {"start": "0001-01-01"},
        {"start": "2026-10-01", "end": "9999-12-31T23:00:00-05:00"},
    ],
)
def test_a_year_beyond_the_calendar_is_a_422_not_a_500(
    sqlite_client: TestClient, query: dict[str, str]
) -> None:
    r = sqlite_client.get("/api/token-usage", params=query)
    assert (r.status_code, r.headers["content-type"]) == (422, PROBLEM), r.text
    assert "year" in r.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/api/costs?basis=actual&group_by=agent", None, 404),  # no stored allocation
        ("GET", "/api/allocation?period=2026-10", None, 404),
        ("POST", "/api/budgets", b"\xff{", 400),  # a body that is not JSON
        ("POST", "/api/guard", b"\xff{", 400),
    ],
)
def test_every_answer_an_operation_gives_is_documented(
    sqlite_client: TestClient, method: str, path: str, body: bytes | None, status: int
) -> None:
    r = sqlite_client.request(method, path, content=body, headers={"content-type": "application/json"})
    assert (r.status_code, r.headers["content-type"]) == (status, PROBLEM), r.text
    documented = sqlite_client.get("/openapi.json").json()["paths"][path.split("?")[0]][method.lower()]
    assert str(status) in documented["responses"]


# --- schemathesis: generated requests against the whole document ------------------------------------

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _contract_app(store: Store) -> tuple[Any, str]:
    """The API over ``store`` with priced usage and one admin key; the key's secret."""
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    Ingestor(store).ingest([event(i) for i in range(6)], source="test")
    _, secret = KeyStore(store).create(name="contract", scopes={"admin"})
    return create_app(load_settings(), store=store), secret


def _run(operation: Any, mode: GenerationMode, auth: dict[str, str], count: list[int]) -> None:
    """Up to EXAMPLES generated requests of one operation in one mode; raises the first failure."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,  # the same requests on every run: CI never meets a new case by chance
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def run(case: schemathesis.Case) -> None:
        count[0] += 1
        case.call_and_validate(headers=auth, checks=CHECKS)

    run()


def test_every_operation_keeps_to_the_document(store: Store) -> None:
    """Zero server errors and zero answers outside the document, for every operation, valid and invalid
    requests, on both stores. Figures: ``pytest -s`` prints operations, requests and seconds."""
    app, secret = _contract_app(store)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    auth = {"authorization": f"Bearer {secret}"}
    started, count, failures, operations_run = time.monotonic(), [0], [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations_run += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if mode is GenerationMode.NEGATIVE and operation.path in PROBES:
                continue  # no parameter, body or key: nothing there to make invalid
            try:
                _run(operation, mode, auth, count)
            except (Exception, BaseExceptionGroup) as exc:  # try every operation; report all below
                failures.append(f"{operation.label} ({mode.value}): {exc}"[:3000])
    print(
        f"\nschemathesis on {store.dialect}: {operations_run} operations, {count[0]} requests, "
        f"{time.monotonic() - started:.1f} s, {len(failures)} failing"
    )
    assert failures == [], "\n\n".join(failures)


# --- the document against each route's accepted parameters -------------------------------------------


def test_every_query_parameter_is_typed_without_null_and_constrained_where_the_route_is(
    sqlite_client: TestClient,
) -> None:
    """Clients see each query parameter's plain type (optional is ``required: false``, never ``anyOf`` with
    null), and the enums, patterns and formats the route enforces."""
    doc = {(m, p): op for m, p, op in operations(sqlite_client)}
    for (method, path), op in doc.items():
        for param in query_params(op):
            assert "anyOf" not in param["schema"], (method, path, param)
            assert param["schema"]["type"] in ("string", "integer"), (method, path, param)
            assert isinstance(param["required"], bool), (method, path, param)

    def schema(path: str, name: str) -> dict[str, Any]:
        return next(p["schema"] for p in query_params(doc[("GET", path)]) if p["name"] == name)

    assert schema("/api/costs", "basis")["enum"] == ["estimated", "actual", "amortized"]
    assert schema("/api/allocation", "basis")["enum"] == ["actual", "amortized"]
    assert schema("/api/reconciliation", "as_of")["format"] == "date"
    assert schema("/api/allocation", "start")["format"] == "date"
    assert schema("/api/budgets/status", "as_of")["format"] == "date-time"
    assert schema("/api/anomalies", "by")["enum"][0] == "app"
    assert schema("/api/token-usage", "granularity")["enum"] == ["hour", "day", "month"]


def test_every_enum_value_the_document_lists_is_accepted_by_its_route(sqlite_client: TestClient) -> None:
    """The other direction: no documented choice is refused by the route as invalid for that parameter."""
    checked = 0
    for method, path, op in operations(sqlite_client):
        if method != "GET":
            continue
        for param in query_params(op):
            for value in param["schema"].get("enum", []):
                r = sqlite_client.get(_path(path), params=_with(op, param["name"], value))
                fields = [e["field"] for e in r.json().get("errors", [])] if r.status_code == 422 else []
                assert param["name"] not in fields, (path, param["name"], value, r.text)
                checked += 1
    assert checked > 30


def test_docs_are_served_from_the_package_with_no_outside_host(sqlite_client: TestClient) -> None:
    page = sqlite_client.get("/docs")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert "http" not in page.text.replace("http-equiv", "")  # no absolute URL: every load is this origin
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "docs-init.js"):
        r = sqlite_client.get(f"/docs/{name}")
        assert r.status_code == 200 and len(r.content) > 100, name
    assert sqlite_client.get("/docs/../app.py").status_code == 404
    assert sqlite_client.get("/redoc").status_code == 404


def test_an_unknown_parameter_is_named_with_what_the_operation_takes(sqlite_client: TestClient) -> None:
    """One check refuses unknown query parameters, with the operation's documented set (worked out once per
    route, so a second request gives the same answer): it names the parameter and what the operation takes."""
    for _ in range(2):
        r = sqlite_client.get("/api/inventory", params={"unowned": "true", "colour": "blue"})
        assert r.status_code == 422
        assert (
            r.json()["detail"] == "colour: unknown query parameter; this operation takes ['type', 'unowned']"
        )
