"""The Azure emulator speaks the reference wire formats: checked with httpx and the real Azure SDK clients."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import uvicorn
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from aifinops.domain import Basis, CostRecord, MetricSample
from aifinops.emulator import (
    EmulatorState,
    ExportRun,
    Fault,
    SyncASGITransport,
    azure_transport,
    create_emulator,
    put_export_run,
)

ARM = "https://management.azure.com"
SUB = "00000000-0000-0000-0000-0000000000aa"
ACCOUNT = f"/subscriptions/{SUB}/resourceGroups/rg-ai/providers/Microsoft.CognitiveServices/accounts/aoai"
QUERY = f"{ARM}/subscriptions/{SUB}/providers/Microsoft.CostManagement/query?api-version=2025-03-01"


@pytest.fixture
def state() -> EmulatorState:
    return EmulatorState(today=dt.date(2026, 12, 31))


@pytest.fixture
def http(state: EmulatorState) -> Iterator[httpx.Client]:
    token = state.issue_token()
    transport = SyncASGITransport(create_emulator(state))
    with httpx.Client(transport=transport, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def _query(**dataset: Any) -> dict[str, Any]:
    return {
        "type": "ActualCost",
        "timeframe": "Custom",
        "timePeriod": {"from": "2026-11-01T00:00:00Z", "to": "2026-11-30T23:59:59Z"},
        "dataset": {"granularity": "Daily", **dataset},
    }


def _cost(day: int, cost: str, **fields: Any) -> CostRecord:
    return CostRecord(
        billing_day=dt.date(2026, 11, day),
        basis=Basis.ACTUAL,
        cost=Decimal(cost),
        currency="USD",
        subscription_id=SUB,
        resource_id=ACCOUNT.lower(),
        **fields,
    )


# --- Cost Management ------------------------------------------------------------------------------


def test_cost_query_has_the_reference_envelope_and_column_order(
    http: httpx.Client, state: EmulatorState
) -> None:
    state.cost_records = [_cost(1, "12.5", tags={"team": "search"}), _cost(1, "1", tags={"team": "search"})]
    body = _query(
        aggregation={
            "totalCost": {"name": "Cost", "function": "Sum"},
            "totalCostUSD": {"name": "CostUSD", "function": "Sum"},
        },
        grouping=[{"type": "Dimension", "name": "ResourceId"}, {"type": "TagKey", "name": "team"}],
    )
    reply = http.post(QUERY, json=body)
    payload = reply.json()
    assert list(payload) == ["id", "name", "type", "location", "sku", "eTag", "properties"]
    assert payload["type"] == "Microsoft.CostManagement/query"
    assert [c["name"] for c in payload["properties"]["columns"]] == [
        "Cost",
        "CostUSD",
        "UsageDate",
        "ResourceId",
        "TagKey",
        "TagValue",
        "Currency",
    ]
    assert payload["properties"]["rows"] == [[13.5, 13.5, 20261101, ACCOUNT.lower(), "team", "search", "USD"]]
    assert payload["properties"]["nextLink"] is None


def test_daily_ranges_longer_than_31_days_are_truncated(http: httpx.Client, state: EmulatorState) -> None:
    state.cost_records = [
        CostRecord(
            billing_day=dt.date(2026, 10, 1) + dt.timedelta(days=d),
            basis=Basis.ACTUAL,
            cost=Decimal(1),
            currency="USD",
            subscription_id=SUB,
        )
        for d in range(45)
    ]
    body = _query() | {"timePeriod": {"from": "2026-10-01T00:00:00Z", "to": "2026-11-14T23:59:59Z"}}
    rows = http.post(QUERY, json=body).json()["properties"]["rows"]
    assert [r[1] for r in rows][-1] == 20261031 and len(rows) == 31


def test_monthly_granularity_uses_billing_month_datetimes(http: httpx.Client, state: EmulatorState) -> None:
    state.cost_records = [_cost(3, "2"), _cost(20, "3")]
    payload = http.post(QUERY, json=_query(granularity="Monthly")).json()["properties"]
    assert payload["columns"][1] == {"name": "BillingMonth", "type": "Datetime"}
    assert payload["rows"] == [[5.0, "2026-11-01T00:00:00", "USD"]]


def test_next_link_carries_a_skiptoken_and_the_same_body_gets_the_next_page(
    http: httpx.Client, state: EmulatorState
) -> None:
    state.cost_records = [_cost(d, "1") for d in range(1, 6)]
    state.cost_page_size = 2
    first = http.post(QUERY, json=_query()).json()["properties"]
    assert "$skiptoken=" in first["nextLink"] and "api-version=2025-03-01" in first["nextLink"]
    second = http.post(first["nextLink"], json=_query()).json()["properties"]
    assert [r[1] for r in first["rows"] + second["rows"]] == [20261101, 20261102, 20261103, 20261104]


def test_throttled_cost_query_sends_the_cost_management_headers(
    http: httpx.Client, state: EmulatorState
) -> None:
    state.inject("cost", Fault(429, retry_after=9))
    reply = http.post(QUERY, json=_query())
    assert reply.status_code == 429
    assert reply.content == b'{"error":{"code":"429","message":"Too many requests. Please retry."}}'
    for kind in ("qpu", "entity", "tenant"):
        assert reply.headers[f"x-ms-ratelimit-microsoft.costmanagement-{kind}-retry-after"] == "9"
    assert http.post(QUERY, json=_query()).status_code == 200


@pytest.mark.parametrize(
    ("scope", "grouping", "message"),
    [
        (
            f"subscriptions/{SUB}",
            [{"type": "Dimension", "name": n} for n in ("ResourceId", "Meter", "ChargeType")],
            "at most 2",
        ),
        (
            "providers/Microsoft.Billing/billingAccounts/1",
            [{"type": "Dimension", "name": "ResourceId"}],
            "ResourceId",
        ),
    ],
)
def test_groupings_the_service_rejects_get_400(
    http: httpx.Client, scope: str, grouping: Any, message: str
) -> None:
    reply = http.post(
        f"{ARM}/{scope}/providers/Microsoft.CostManagement/query?api-version=2025-03-01",
        json=_query(grouping=grouping),
    )
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "BadRequest"
    assert message in reply.json()["error"]["message"]


def test_arm_calls_need_an_issued_token(state: EmulatorState) -> None:
    with httpx.Client(transport=SyncASGITransport(create_emulator(state))) as anonymous:
        reply = anonymous.post(QUERY, json=_query(), headers={"Authorization": "Bearer forged"})
    assert reply.status_code == 401 and reply.json()["error"]["code"] == "InvalidAuthenticationToken"


# --- Monitor --------------------------------------------------------------------------------------


def _metrics_url(names: str, **extra: str) -> str:
    params = {
        "api-version": "2023-10-01",
        "metricnames": names,
        "interval": "PT1H",
        "aggregation": "Total",
        "timespan": "2026-11-01T00:00:00Z/2026-11-01T03:00:00Z",
    } | extra
    return str(httpx.URL(f"{ARM}{ACCOUNT}/providers/Microsoft.Insights/metrics", params=params))


def test_unknown_metric_gets_the_flat_400_body(http: httpx.Client) -> None:
    reply = http.get(_metrics_url("InputTokens,Foo"))
    assert reply.status_code == 400
    assert reply.content.startswith(
        b'{"code":"BadRequest","message":"Failed to find metric configuration for provider: '
        b"Microsoft.CognitiveServices, resource Type: accounts, metric: Foo, Valid metrics: "
        b"AzureOpenAIRequests,ModelRequests,"
    )
    assert list(reply.json()) == ["code", "message"]


def test_metrics_split_by_deployment_with_every_bucket(http: httpx.Client, state: EmulatorState) -> None:
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    state.metric_samples = [
        MetricSample(
            resource_id=ACCOUNT.lower(),
            metric="InputTokens",
            ts=start + dt.timedelta(minutes=m),
            value=Decimal(100),
            aggregation="total",
            unit="Count",
            deployment=d,
            model="gpt-4o",
        )
        for m, d in ((0, "a"), (30, "a"), (125, "b"))
    ]
    payload = http.get(_metrics_url("InputTokens", **{"$filter": "ModelDeploymentName eq '*'"})).json()
    assert set(payload) == {"cost", "timespan", "interval", "namespace", "resourceregion", "value"}
    assert payload["namespace"] == "microsoft.cognitiveservices/accounts"
    [metric] = payload["value"]
    assert metric["name"] == {"value": "InputTokens", "localizedValue": "InputTokens"}
    assert metric["errorCode"] == "Success"
    series = {s["metadatavalues"][0]["value"]: s["data"] for s in metric["timeseries"]}
    assert series["a"] == [
        {"timeStamp": "2026-11-01T00:00:00Z", "total": 200.0},
        {"timeStamp": "2026-11-01T01:00:00Z", "total": 0.0},
        {"timeStamp": "2026-11-01T02:00:00Z", "total": 0.0},
    ]
    assert metric["timeseries"][0]["metadatavalues"][0]["name"]["value"] == "modeldeploymentname"
    assert [p["total"] for p in series["b"]] == [0.0, 0.0, 100.0]


# --- Retail Prices --------------------------------------------------------------------------------


def _price(name: str, product: str, price: float, kind: str = "Consumption") -> dict[str, Any]:
    return {
        "currencyCode": "USD",
        "retailPrice": price,
        "unitPrice": price,
        "armRegionName": "eastus2",
        "meterName": name,
        "productName": product,
        "serviceName": "Cognitive Services",
        "unitOfMeasure": "1K",
        "type": kind,
        "isPrimaryMeterRegion": True,
    }


def test_retail_prices_filter_page_and_convert(http: httpx.Client, state: EmulatorState) -> None:
    state.prices = [_price(f"gpt 4.1 m{i} Tokens", "Azure OpenAI", 0.002 * (i + 1)) for i in range(5)]
    state.prices.append(_price("Standard S1", "Azure AI Search", 250.0))
    state.prices_page_size = 2
    state.fx_rates["EUR"] = Decimal("0.5")
    url = "https://prices.azure.com/api/retail/prices"
    page = http.get(url, params={"$filter": "productName eq 'Azure OpenAI'", "currencyCode": "'EUR'"}).json()
    assert list(page) == [
        "BillingCurrency",
        "CustomerEntityId",
        "CustomerEntityType",
        "Items",
        "NextPageLink",
        "Count",
    ]
    items = list(page["Items"])
    while page["NextPageLink"]:
        assert "$skip=" in page["NextPageLink"]
        page = http.get(page["NextPageLink"]).json()
        items += page["Items"]
    assert len(items) == 5 and {i["currencyCode"] for i in items} == {"EUR"}
    assert items[0]["retailPrice"] == 0.001 and page["BillingCurrency"] == "EUR"


@pytest.mark.parametrize(("version", "expected"), [("", 5), ("2023-01-01-preview", 0)])
def test_filter_values_are_case_sensitive_from_2023_01_01_preview(
    http: httpx.Client, state: EmulatorState, version: str, expected: int
) -> None:
    state.prices = [_price(f"m{i}", "Azure OpenAI", 0.1) for i in range(5)]
    params = {"$filter": "productName eq 'azure openai' and priceType eq 'Consumption'"}
    if version:
        params["api-version"] = version
    assert http.get("https://prices.azure.com/api/retail/prices", params=params).json()["Count"] == expected


def test_contains_or_and_parentheses_and_bad_filters(http: httpx.Client, state: EmulatorState) -> None:
    state.prices = [
        _price("a", "Azure OpenAI GPT5", 1.0),
        _price("b", "Azure OpenAI", 1.0, "Reservation"),
        _price("c", "Azure AI Search", 1.0),
    ]
    url = "https://prices.azure.com/api/retail/prices"
    text = "(contains(productName, 'GPT5') or priceType eq 'Reservation') and isPrimaryMeterRegion eq true"
    assert [i["meterName"] for i in http.get(url, params={"$filter": text}).json()["Items"]] == ["a", "b"]
    assert http.get(url, params={"$filter": "productName eq"}).status_code == 400


# --- Blob Storage and export folders --------------------------------------------------------------


def test_blob_sdk_lists_and_downloads_an_export_run(http: httpx.Client, state: EmulatorState) -> None:
    csv_text = b'Date,CostInBillingCurrency,Tags\n11/01/2026,1.5,"""team"": ""a""\nb"\n11/02/2026,2,\n'
    run = ExportRun(
        account="stacct",
        container="msexports",
        root_folder="costs",
        export_name="daily-actual",
        export_type="ActualCost",
        scope=f"/subscriptions/{SUB}",
        month=dt.date(2026, 11, 5),
        submitted=dt.datetime(2026, 11, 3, 18, 33, tzinfo=dt.UTC),
        run_id="af754a8e-30fc-4ef3-bfc6-71bd1efb8598",
    )
    folder = put_export_run(state, run, [csv_text])
    assert folder == "costs/daily-actual/20261101-20261130/202611031833/af754a8e-30fc-4ef3-bfc6-71bd1efb8598"
    service = BlobServiceClient(
        "https://127.0.0.1/blob/stacct",
        credential=AzureNamedKeyCredential("stacct", "a2V5"),
        transport=azure_transport(http),
    )
    container = service.get_container_client("msexports")
    assert [b.name for b in container.walk_blobs(name_starts_with="costs/daily-actual/", delimiter="/")] == [
        "costs/daily-actual/20261101-20261130/"
    ]
    names = [b.name for b in container.list_blobs(name_starts_with="costs/")]
    assert names == [f"{folder}/manifest.json", f"{folder}/part_0_0001.csv"]
    manifest = json.loads(container.download_blob(names[0]).readall())
    assert manifest["blobs"] == [{"blobName": names[1], "byteCount": len(csv_text), "dataRowCount": 2}]
    assert manifest["exportConfig"]["resourceId"].endswith(
        "/providers/Microsoft.CostManagement/exports/daily-actual"
    )
    assert container.download_blob(names[1]).readall() == csv_text
    assert container.download_blob(names[1], offset=5, length=4).readall() == csv_text[5:9]
    with pytest.raises(ResourceNotFoundError):
        container.download_blob(f"{folder}/missing.csv").readall()


def test_listing_pages_with_markers(http: httpx.Client, state: EmulatorState) -> None:
    run = ExportRun(
        account="acct",
        container="c",
        root_folder="r",
        export_name="e",
        export_type="FocusCost",
        scope=f"/subscriptions/{SUB}",
        month=dt.date(2026, 11, 1),
        submitted=dt.datetime(2026, 11, 2, tzinfo=dt.UTC),
        run_id="0" * 36,
        compress=True,
    )
    put_export_run(state, run, [b"a,b\n1,2\n"] * 3)
    xml = http.get(
        "https://127.0.0.1/blob/acct/c", params={"restype": "container", "comp": "list", "maxresults": "2"}
    ).text
    assert xml.startswith('<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint=')
    assert "<MaxResults>2</MaxResults>" in xml and "<NextMarker>r/e/20261101-20261130/202611020000/" in xml
    assert http.get("https://127.0.0.1/blob/acct/nope?restype=container&comp=list").status_code == 404


# --- served on a real port ------------------------------------------------------------------------


def test_emulator_serves_real_http_with_uvicorn(state: EmulatorState) -> None:
    state.prices = [_price("gpt 4.1 Inp glbl Tokens", "Azure OpenAI", 0.002)]
    server = uvicorn.Server(
        uvicorn.Config(
            create_emulator(state), host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="none"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        port = server.servers[0].sockets[0].getsockname()[1]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            discovery = client.get("/tenant-1/v2.0/.well-known/openid-configuration").json()
            assert discovery["token_endpoint"] == f"http://127.0.0.1:{port}/tenant-1/oauth2/v2.0/token"
            assert client.get("/api/retail/prices").json()["Items"][0]["retailPrice"] == 0.002
    finally:
        server.should_exit = True
        thread.join(5)
