"""/api/token-usage?source=apim beside the apps' own usage, and /api/telemetry-cost by table and app."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import MappingProxyType

from fastapi.testclient import TestClient

from aifinops.domain import Basis, CostRecord, InventoryResource, MetricSample
from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from aifinops.store.cost_records import CostRecordStore
from aifinops.store.inventory import InventoryStore
from aifinops.store.metric_samples import MetricSampleStore
from tests.factories import T0, event, event_json

WS = "6d2b4c1e-0000-4a51-9c0e-2f4d8e6a1b90"
LAW = "/subscriptions/s1/resourcegroups/rg/providers/microsoft.operationalinsights/workspaces/law"
APPI = "/subscriptions/s1/resourcegroups/rg/providers/microsoft.insights/components/appi-hr"
APIM = "/subscriptions/s1/resourcegroups/rg/providers/microsoft.apimanagement/service/apim-hr"


def _sample(metric: str, value: int, *, deployment: str = "d-4o", **dims: str) -> MetricSample:
    return MetricSample(
        resource_id=WS,
        metric=metric,
        ts=T0.replace(minute=0),
        value=Decimal(value),
        aggregation="total",
        unit="Count",
        deployment=deployment,
        dimensions=MappingProxyType(dims),
    )


def test_apim_token_counts_are_compared_with_the_apps_own(client: TestClient, store: Store) -> None:
    client.post("/api/events", json=[event_json(i) for i in range(2)])  # the apps: 2 × 1000 in, 2 × 100 out
    Ingestor(store).ingest([event(9, event_id="apim-c9")], source="apim")  # read from APIM: not the apps'
    samples = [
        _sample("ApiManagementGatewayLlmLog.PromptTokens", 4000),
        _sample("ApiManagementGatewayLlmLog.CompletionTokens", 400),
        _sample("ApiManagementGatewayLlmLog.Requests", 4),
        _sample("Prompt Tokens", 3900, app="hr"),
    ]
    MetricSampleStore(store).replace(
        [WS],
        sorted({s.metric for s in samples}),
        start=T0 - dt.timedelta(hours=1),
        end=T0 + dt.timedelta(hours=2),
        samples=samples,
    )
    body = client.get(
        "/api/token-usage", params={"period": "2026-10", "source": "apim", "granularity": "month"}
    ).json()
    (item,) = body["items"]
    assert (body["source"], body["basis"], item["deployment"]) == ("apim", "usage", "d-4o")
    assert item["input_tokens"] == {"apim": 4000, "apim_metrics": 3900, "apps": 2000, "gap_percent": "50.00"}
    assert item["requests"] == {"apim": 4, "apim_metrics": None, "apps": 2, "gap_percent": "50.00"}


def test_an_unknown_token_usage_source_names_the_choices(client: TestClient) -> None:
    r = client.get("/api/token-usage", params={"source": "apimm"})
    assert r.status_code == 422 and "apim" in r.json()["detail"]


def test_telemetry_cost_by_table_and_sending_app(client: TestClient, store: Store) -> None:
    day = dt.date(2026, 10, 5)
    at = dt.datetime(2026, 10, 5, 10, tzinfo=dt.UTC)

    def usage(data_type: str, mb: int) -> MetricSample:
        dims = MappingProxyType({"data_type": data_type, "workspace": LAW})
        return MetricSample(WS, "Usage.BillableMB", at, Decimal(mb), "total", "MB", dimensions=dims)

    def billed(data_type: str, resource: str, size: int) -> MetricSample:
        dims = MappingProxyType({"data_type": data_type, "resource": resource})
        return MetricSample(WS, "Usage.BilledBytes", at, Decimal(size), "total", "Bytes", dimensions=dims)

    samples = [
        usage("AppDependencies", 3000),
        usage("ApiManagementGatewayLlmLog", 1000),
        billed("AppDependencies", APPI, 700),
        billed("AppDependencies", APIM, 300),
    ]
    MetricSampleStore(store).replace(
        [WS],
        ["Usage.BillableMB", "Usage.BilledBytes"],
        start=at,
        end=at + dt.timedelta(hours=1),
        samples=samples,
    )
    records = [
        CostRecord(
            day,
            Basis.ACTUAL,
            Decimal("9.20"),
            "USD",
            resource_id=LAW,
            meter_category="Log Analytics",
            meter_name="Analytics Logs Data Ingestion",
        ),
        CostRecord(
            day,
            Basis.ACTUAL,
            Decimal("0.40"),
            "USD",
            resource_id=LAW,
            meter_category="Log Analytics",
            meter_name="Analytics Logs Retention",
        ),
        CostRecord(
            day,
            Basis.ACTUAL,
            Decimal("5"),
            "USD",
            resource_id="/subscriptions/s1/x",
            meter_category="Storage",
            meter_name="Hot LRS",
        ),
    ]
    CostRecordStore(store).replace_slice(
        "test", "subscriptions/s1", Basis.ACTUAL, day, day + dt.timedelta(days=1), records
    )
    InventoryStore(store).replace(
        ["s1"],
        [
            InventoryResource(
                APPI, "appi-hr", "microsoft.insights/components", "s1", "rg", tags={"app": "hr-assistant"}
            )
        ],
    )
    body = client.get("/api/telemetry-cost", params={"period": "2026-10"}).json()
    (ws,) = body["workspaces"]
    assert (ws["workspace"], ws["billable_gb"]) == (LAW, "4")
    assert ws["cost"] == [{"currency": "USD", "amount": "9.6"}]
    assert ws["ingestion_price_per_gb"] == [{"currency": "USD", "amount": "2.3"}]
    by = {(i["data_type"], i["resource"]): i for i in body["items"]}
    appi = by[("AppDependencies", APPI)]
    assert (appi["app"], appi["gb"]) == ("hr-assistant", "2.1")
    assert appi["costs"] == [
        {"kind": "ingestion", "currency": "USD", "amount": "4.83", "basis": "actual"},  # 9.20 × 3/4 × 0.7
        {"kind": "retention", "currency": "USD", "amount": "0.21", "basis": "actual"},
    ]
    assert by[("ApiManagementGatewayLlmLog", None)]["costs"][0]["amount"] == "2.3"
    total = sum(Decimal(c["amount"]) for i in body["items"] for c in i["costs"])
    assert total == Decimal("9.60")  # every charge split exactly, the storage record left alone
    assert client.get("/api/telemetry-cost", params={"basis": "estimated"}).status_code == 422


def test_each_log_query_has_its_freshness_in_metrics_and_the_snapshot(
    client: TestClient, store: Store
) -> None:
    from aifinops.store.log_watermarks import LogWatermarkStore

    at = dt.datetime(2026, 10, 3, 12, tzinfo=dt.UTC)
    LogWatermarkStore(store).advance(
        WS,
        "apim_requests",
        watermark=at,
        source="apim:apim_requests",
        rows=3,
        issues=0,
        last_data_ts=at,
        now=at,
    )
    text = client.get("/metrics").text
    assert 'aifinops_last_ingest_timestamp_seconds{source="apim:apim_requests"}' in text
    fresh = client.get("/api/snapshot", params={"period": "2026-10", "fresh": "true"}).json()["freshness"]
    assert {"source": "apim:apim_requests", "last_data_ts": at.isoformat()}.items() <= next(
        f for f in fresh if f["source"] == "apim:apim_requests"
    ).items()


def test_collect_help_names_the_log_sources() -> None:
    from typer.testing import CliRunner

    from aifinops.cli import app

    out = CliRunner().invoke(app, ["collect", "--help"], terminal_width=200).output
    assert all(name in out for name in ("apim", "appinsights", "loganalytics"))
