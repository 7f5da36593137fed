"""/api/recommendations and /api/whatif over HTTP; a tenant-limited key is held to its tenant."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aifinops.api.app import create_app
from aifinops.config import load_settings
from aifinops.demo.simulation import Waste
from aifinops.store import Store
from aifinops.store.keys import KeyStore
from tests.factories import load_simulated_month


@pytest.fixture
def client(sqlite_store: Store) -> Iterator[tuple[TestClient, dict[str, str], dict[str, str]]]:
    load_simulated_month(sqlite_store, Waste("doc-qa", retries=0.3, loops=0.1), scale=0.05)
    keys = KeyStore(sqlite_store)
    _, admin = keys.create(name="reader", scopes={"read"})
    _, contoso = keys.create(name="contoso-reader", scopes={"read"}, tenant="contoso")
    with TestClient(create_app(load_settings(), store=sqlite_store)) as c:
        yield c, {"Authorization": f"Bearer {admin}"}, {"Authorization": f"Bearer {contoso}"}


def _usd(amounts: list[dict[str, str]]) -> str:
    (usd,) = [a["amount"] for a in amounts if a["currency"] == "USD"]
    return usd


def test_recommendations_list_the_levers_in_order_with_scenarios_the_whatif_accepts(
    client: tuple[TestClient, dict[str, str], dict[str, str]],
) -> None:
    http, admin, _ = client
    r = http.get("/api/recommendations", params={"period": "2026-10"}, headers=admin)
    assert r.status_code == 200, r.text
    recs: list[dict[str, Any]] = r.json()["recommendations"]
    levers = [x["lever"] for x in recs]
    assert levers == ["loops", "retries", "caching"]  # doc-qa's prompts are never cached either
    loops = recs[0]
    assert loops["scope"]["use_case"] == "doc-qa" and loops["policy"]["max_steps"] >= 1
    assert loops["sample_task_ids"] and loops["evidence"] and loops["confidence"]["assumptions"]
    w = http.post("/api/whatif", json={"period": "2026-10", "scenario": loops["scenario"]}, headers=admin)
    assert w.status_code == 200, w.text
    assert _usd(w.json()["savings"]) == _usd(loops["savings"])
    assert w.json()["succeeded_tasks"]["after"] <= w.json()["succeeded_tasks"]["before"]


def test_a_tenant_limited_key_sees_only_its_tenant(
    client: tuple[TestClient, dict[str, str], dict[str, str]],
) -> None:
    http, admin, contoso = client
    mine = http.get("/api/recommendations", params={"period": "2026-10"}, headers=contoso).json()
    assert mine["filters"] == {"tenant": ["contoso"]}
    every = http.get("/api/recommendations", params={"period": "2026-10"}, headers=admin).json()
    assert float(_usd(mine["all_applied"]["before"])) < float(_usd(every["all_applied"]["before"]))
    other = http.get(
        "/api/recommendations", params={"period": "2026-10", "tenant": "fabrikam"}, headers=contoso
    )
    assert other.status_code == 403
    w = http.post(
        "/api/whatif",
        json={"period": "2026-10", "scenario": [], "filters": {"tenant": ["fabrikam"]}},
        headers=contoso,
    )
    assert w.status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"period": "2026-10", "scenario": [{"lever": "loops", "max_steps": -1}]}, "scenario[0].max_steps"),
        (
            {"period": "2026-10", "scenario": [{"lever": "retrieval", "max_retrieved_tokens": 0}]},
            "scenario[0].max_retrieved_tokens",
        ),
        ({"period": "2026-13", "scenario": []}, "period"),
        ({"period": "2026-10", "scenario": [], "filters": {"colour": ["red"]}}, "colour"),
    ],
)
def test_a_bad_whatif_is_a_422_naming_the_field(
    client: tuple[TestClient, dict[str, str], dict[str, str]], body: dict[str, Any], field: str
) -> None:
    http, admin, _ = client
    r = http.post("/api/whatif", json=body, headers=admin)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == field


def test_the_openapi_document_describes_every_query_parameter(
    client: tuple[TestClient, dict[str, str], dict[str, str]],
) -> None:
    http, admin, _ = client
    doc = http.get("/openapi.json", headers=admin).json()
    names = {p["name"] for p in doc["paths"]["/api/recommendations"]["get"]["parameters"]}
    assert {"period", "start", "end", "tenant", "use_case", "deployment"} <= names
    assert "/api/whatif" in doc["paths"]
    scenario = doc["components"]["schemas"]["WhatIfIn"]["properties"]["scenario"]["description"]
    assert "retrieval (max_retrieved_tokens)" in scenario and "loops (max_steps)" in scenario


def test_a_retrieval_budget_is_priced_on_the_passages_the_events_reported(
    client: tuple[TestClient, dict[str, str], dict[str, str]],
) -> None:
    http, admin, _ = client
    part = {"lever": "retrieval", "scope": {"use_case": "doc-qa"}, "max_retrieved_tokens": 4096}
    w = http.post("/api/whatif", json={"period": "2026-10", "scenario": [part]}, headers=admin)
    assert w.status_code == 200, w.text
    # doc-qa's retrievals return 12,000–24,000 tokens each: a 4,096 budget takes the rest out of o3 prompts
    assert float(_usd(w.json()["savings"])) > 0
    assert any("max_retrieved_tokens" in a for a in w.json()["assumptions"])


def test_the_snapshot_carries_the_recommendations_in_short(
    client: tuple[TestClient, dict[str, str], dict[str, str]],
) -> None:
    http, admin, _ = client
    full = http.get("/api/recommendations", params={"period": "2026-10"}, headers=admin).json()
    snap = http.get("/api/snapshot", params={"period": "2026-10", "fresh": "true"}, headers=admin).json()
    items = snap["recommendations"]["items"]
    assert [(i["lever"], i["scope"], i["savings"]) for i in items] == [
        (r["lever"], r["scope"], r["savings"]) for r in full["recommendations"]
    ]
    assert snap["recommendations"]["all_applied"]["savings"] == full["all_applied"]["savings"]


def test_recommendations_whatif_and_snapshot_use_the_configured_optimize_settings(
    sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_simulated_month(sqlite_store, Waste("doc-qa", retries=0.3, loops=0.1), scale=0.05)
    _, admin = KeyStore(sqlite_store).create(name="reader", scopes={"read"})
    headers = {"Authorization": f"Bearer {admin}"}
    part = {"lever": "provisioning", "scope": {"deployment": "gpt-4.1-mini-glbl"}, "ptu_units": 15}
    answers = {}
    for min_share, throughput in (("0.02", "{}"), ("1", '{"gpt-4.1-mini-glbl": 1}')):
        monkeypatch.setenv("AIFINOPS_OPTIMIZE__MIN_SHARE", min_share)
        monkeypatch.setenv("AIFINOPS_OPTIMIZE__PTU_THROUGHPUT", throughput)
        with TestClient(create_app(load_settings(), store=sqlite_store)) as http:
            recs = http.get("/api/recommendations", params={"period": "2026-10"}, headers=headers).json()
            snap = http.get("/api/snapshot", params={"period": "2026-10", "fresh": "true"}, headers=headers)
            w = http.post("/api/whatif", json={"period": "2026-10", "scenario": [part]}, headers=headers)
        assert w.status_code == 200, w.text
        answers[min_share] = (recs["recommendations"], snap.json()["recommendations"]["items"], w.json())
    assert answers["0.02"][0] and answers["0.02"][1]
    # a finding must save all its scope's cost: nothing is worth recommending
    assert answers["1"][0] == [] and answers["1"][1] == []
    # a PTU serving one token a minute spills almost every token over to pay-as-you-go
    assert answers["1"][2]["after"] != answers["0.02"][2]["after"]
