"""The OpenAPI document is the contract: every parameter, key and error it has, and schemathesis holds the
API to it on SQLite and on PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

PROBLEM = "application/problem+json"
INVALID = {"integer": "x1", "boolean": "maybe"}


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
                r = sqlite_client.get(_path(path), params={param["name"]: "x"})
                assert "unknown query parameter" not in r.text, (path, param["name"])
                continue
            r = sqlite_client.get(_path(path), params={param["name"]: bad})
            assert r.status_code == 422, (path, param["name"], r.text)
            assert param["name"] in r.json()["detail"], (path, param["name"], r.text)
            checked += 1
    assert checked > 20
