"""/api/inventory with the ownership matrix, and /api/token-usage?source=monitor beside app usage."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from fastapi.testclient import TestClient

from aifinops.domain import InventoryResource, MetricSample
from aifinops.store import Store
from aifinops.store.inventory import InventoryStore
from aifinops.store.metric_samples import MetricSampleStore
from tests.factories import T0, event_json

ACCOUNT = "/subscriptions/s1/resourcegroups/rg/providers/microsoft.cognitiveservices/accounts/aoai"


def test_inventory_lists_resources_and_flags_those_without_owner(client: TestClient, store: Store) -> None:
    InventoryStore(store).replace(
        ["s1"],
        [
            InventoryResource(
                resource_id=ACCOUNT,
                name="aoai",
                type="microsoft.cognitiveservices/accounts",
                subscription_id="s1",
                resource_group="rg",
                tags={"owner": "ai-team", "app": "chat"},
            ),
            InventoryResource(
                resource_id=ACCOUNT + "-2",
                name="aoai-2",
                type="microsoft.cognitiveservices/accounts",
                subscription_id="s1",
                resource_group="rg",
                tags={"env": "dev"},
            ),
        ],
    )
    body = client.get("/api/inventory").json()
    assert (body["resources"], body["without_owner"]) == (2, 1)
    orphan = next(i for i in body["items"] if i["name"] == "aoai-2")
    assert orphan["environment"] == "dev" and "owner" in orphan["missing"]
    assert client.get("/api/inventory", params={"unowned": "true"}).json()["resources"] == 1


def test_monitor_tokens_are_compared_with_what_apps_reported(client: TestClient, store: Store) -> None:
    client.post("/api/events", json=[event_json(i) for i in range(4)])  # 4 × 1000 input, 4 × 100 output
    ts = T0.replace(minute=0)
    samples = [
        MetricSample(
            resource_id=ACCOUNT,
            metric=m,
            ts=ts,
            value=Decimal(v),
            aggregation="Total",
            unit="Count",
            deployment="d-4o",
        )
        for m, v in (("InputTokens", 5000), ("OutputTokens", 400), ("ModelRequests", 5))
    ]
    MetricSampleStore(store).replace(
        [ACCOUNT],
        ["InputTokens", "OutputTokens", "ModelRequests"],
        start=T0,
        end=T0 + dt.timedelta(days=1),
        samples=samples,
    )
    body = client.get(
        "/api/token-usage", params={"source": "monitor", "start": "2026-10-01", "end": "2026-10-02"}
    ).json()
    (item,) = body["items"]
    assert item["deployment"] == "d-4o"
    assert item["input_tokens"] == {"monitor": 5000, "apps": 4000, "gap_percent": "20.00"}
    assert item["output_tokens"] == {"monitor": 400, "apps": 400, "gap_percent": "0.00"}


def test_a_team_tag_names_the_owner_when_there_is_no_owner_tag(client: TestClient, store: Store) -> None:
    InventoryStore(store).replace(
        ["s1"],
        [
            InventoryResource(
                resource_id=ACCOUNT,
                name="aoai",
                type="microsoft.cognitiveservices/accounts",
                subscription_id="s1",
                resource_group="rg",
                tags={"team": "ai-platform"},
            ),
        ],
    )
    (item,) = client.get("/api/inventory").json()["items"]
    assert item["owner"] == "ai-platform"
