"""Tests of the Retail Prices adapter against a local emulator of the API and the real captured sample."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import zlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from aifinops.domain import ContextTier, DeploymentType, MeterKind
from aifinops.errors import SourceError, SourceFormatError
from aifinops.sources._http import RetryPolicy
from aifinops.sources.retail_prices import (
    RETAIL_SOURCE,
    fetch_retail_prices,
    parse_retail_page,
    product_filter,
    to_prices,
    unit_size,
)

ENDPOINT = "https://prices.azure.com/api/retail/prices"
# The shared samples sit beside the repository (as in conftest.py; AIFINOPS_SHARED_DIR overrides).
_SHARED = Path(os.environ.get("AIFINOPS_SHARED_DIR", Path(__file__).resolve().parents[3] / "shared"))
SAMPLE = (
    _SHARED / "samples/retail-prices/finfocus-plugin-azure-public/vm_standard_b1s_eastus_capture.first3.json"
)

PTU_RESERVATIONS = "Azure AI Foundry Provisioned Throughput Reservation"

# The real item of reference/retail-prices.md §2.1, field for field (Aug 2025).
REAL_ITEM: dict[str, Any] = {
    "currencyCode": "USD",
    "tierMinimumUnits": 0.0,
    "retailPrice": 0.002,
    "unitPrice": 0.002,
    "armRegionName": "eastus2",
    "location": "US East 2",
    "effectiveStartDate": "2025-04-01T00:00:00Z",
    "meterId": "5d73b08e-8cfd-51c4-bfb1-aaa5a2c47a2b",
    "meterName": "gpt 4.1 Inp glbl Tokens",
    "productId": "DZH318Z0HHG7",
    "skuId": "DZH318Z0HHG7/1J8N",
    "productName": "Azure OpenAI",
    "skuName": "gpt 4.1 Inp glbl",
    "serviceName": "Cognitive Services",
    "serviceId": "DZH31600VF1F",
    "serviceFamily": "AI + Machine Learning",
    "unitOfMeasure": "1K",
    "type": "Consumption",
    "isPrimaryMeterRegion": True,
    "armSkuName": "gpt 4.1 Inp glbl",
}


def _item(
    meter: str, price: str, *, product: str = "Azure OpenAI", unit: str = "1K", **extra: Any
) -> dict[str, Any]:
    """An item shaped like REAL_ITEM for another real meter (names and prices from reference §3.3–3.4)."""
    sku = meter.removesuffix(" Tokens").removesuffix(" Unit")
    meter_id = zlib.crc32("/".join((meter, product, str(extra.get("type")))).encode())
    item = {
        **REAL_ITEM,
        "meterName": meter,
        "skuName": sku,
        "armSkuName": sku,
        "productName": product,
        "unitOfMeasure": unit,
        "retailPrice": float(price),
        "unitPrice": float(price),
        "meterId": f"meter-{meter_id:08x}",
    }
    item.update(extra)
    return item


CATALOGUE: list[dict[str, Any]] = [
    REAL_ITEM,
    _item("gpt 4.1 Outp glbl Tokens", "0.008"),
    _item("gpt 4.1 cached Inp glbl Tokens", "0.0005"),
    _item("gpt 4o mini 0718 cached Inp glbl Tokens", "7.5e-05"),
    _item("gpt 4o 0513 Input global Tokens", "0.005", effectiveEndDate="2025-08-31T23:59:00Z"),
    _item(
        "Provisioned Managed Global Unit",
        "1.0",
        unit="1/Hour",
        armRegionName="Global",
        armSkuName="OpenAI_Provisioned_Managed_Global",
    ),
    _item(
        "Provisioned Managed Global Unit",
        "2652",
        unit="1/Hour",
        type="Reservation",
        reservationTerm="1 Year",
        product=PTU_RESERVATIONS,
    ),
    _item("5.4 longco inp Gl 1M Tokens", "5", product="Azure OpenAI GPT5", unit="1M"),
    _item("GPT 5 Inpt Glbl 1M Tokens", "1.25", product="Azure OpenAI GPT5", unit="1M"),
    _item("GPT 5 Mini cchd Inpt DZone 1M Tokens", "0.0275", product="Azure OpenAI GPT5", unit="1M"),
    _item("5.4 opt Dz 1M Tokens", "16.5", product="Azure OpenAI GPT5", unit="1M"),
]


class RetailPricesEmulator:
    """The Retail Prices API as reference §1–2 describes it.

    `productName eq` filters (values case-sensitive, as with 2023-01-01-preview), `$skip` paging behind a
    PascalCase envelope, and a 429 with Retry-After on the first call.
    """

    def __init__(
        self, items: list[dict[str, Any]], *, page_size: int = 2, throttle_first: bool = True
    ) -> None:
        self.items = items
        self.page_size = page_size
        self.throttle = throttle_first
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.throttle:
            self.throttle = False
            return httpx.Response(429, headers={"Retry-After": "3"}, json={"Error": "Too many requests"})
        params = request.url.params
        match = re.fullmatch(r"productName eq '((?:[^']|'')*)'", params.get("$filter", ""))
        if match is None:
            return httpx.Response(
                400, json={"Error": {"Code": "Invalid filter", "Message": params.get("$filter")}}
            )
        product = match.group(1).replace("''", "'")
        selected = [item for item in self.items if item["productName"] == product]
        skip = int(params.get("$skip", "0"))
        page = selected[skip : skip + self.page_size]
        next_link = None
        if skip + self.page_size < len(selected):
            next_link = str(request.url.copy_set_param("$skip", str(skip + self.page_size))).replace(
                "https://prices.azure.com/", "https://prices.azure.com:443/"
            )
        body = {
            "BillingCurrency": "USD",
            "CustomerEntityId": "Default",
            "CustomerEntityType": "Retail",
            "Items": page,
            "NextPageLink": next_link,
            "Count": len(page),
        }
        return httpx.Response(200, json=body)


def _fetch(emulator: RetailPricesEmulator, products: list[str], sleeps: list[float]) -> Any:
    with httpx.Client(transport=httpx.MockTransport(emulator)) as client:
        return fetch_retail_prices(
            client, endpoint=ENDPOINT, products=products, policy=RetryPolicy(sleep=sleeps.append)
        )


def test_sync_reads_every_page_of_every_product_and_honours_retry_after() -> None:
    emulator = RetailPricesEmulator(CATALOGUE)
    sleeps: list[float] = []
    pages: list[tuple[str, int]] = []
    with httpx.Client(transport=httpx.MockTransport(emulator)) as client:
        result = fetch_retail_prices(
            client,
            endpoint=ENDPOINT,
            products=["Azure OpenAI", "Azure OpenAI GPT5", PTU_RESERVATIONS],
            policy=RetryPolicy(sleep=sleeps.append),
            on_page=lambda product, n: pages.append((product, n)),
        )
    assert sleeps == [3.0]
    assert pages == [
        ("Azure OpenAI", 2),
        ("Azure OpenAI", 2),
        ("Azure OpenAI", 2),
        ("Azure OpenAI GPT5", 2),
        ("Azure OpenAI GPT5", 2),
        (PTU_RESERVATIONS, 1),
    ]
    filters = [r.url.params["$filter"] for r in emulator.requests[1:] if "$skip" not in r.url.params]
    assert filters == [
        "productName eq 'Azure OpenAI'",
        "productName eq 'Azure OpenAI GPT5'",
        f"productName eq '{PTU_RESERVATIONS}'",
    ]
    assert {r.url.params["api-version"] for r in emulator.requests} == {"2023-01-01-preview"}
    assert {r.url.params["currencyCode"] for r in emulator.requests} == {"'USD'"}
    assert result.pages == 6
    assert result.items == 11
    assert result.skipped_reservations == 1
    assert len(result.prices) == 10  # the long-context meter maps to its context tier
    assert result.skipped_meters == ()
    longco = next(p for p in result.prices if p.meter_name == "5.4 longco inp Gl 1M Tokens")
    assert (longco.model, longco.context_tier) == ("gpt-5.4", ContextTier.LONG)


def test_items_map_to_prices_field_for_field() -> None:
    result = _fetch(
        RetailPricesEmulator(CATALOGUE, throttle_first=False), ["Azure OpenAI", "Azure OpenAI GPT5"], []
    )
    by_name = {p.meter_name: p for p in result.prices}
    gpt41 = by_name["gpt 4.1 Inp glbl Tokens"]
    assert (gpt41.model, gpt41.meter_kind, gpt41.price, gpt41.currency, gpt41.unit_size) == (
        "gpt-4.1",
        MeterKind.INPUT,
        Decimal("0.002"),
        "USD",
        1000,
    )
    assert (gpt41.deployment_type, gpt41.region, gpt41.model_version) == (
        DeploymentType.GLOBAL_STANDARD,
        "eastus2",
        None,
    )
    assert gpt41.effective_start == dt.datetime(2025, 4, 1, tzinfo=dt.UTC) and gpt41.effective_end is None
    assert (gpt41.meter_id, gpt41.source) == ("5d73b08e-8cfd-51c4-bfb1-aaa5a2c47a2b", RETAIL_SOURCE)
    assert by_name["gpt 4o mini 0718 cached Inp glbl Tokens"].price == Decimal("0.000075")
    retiring = by_name["gpt 4o 0513 Input global Tokens"]
    assert (retiring.model_version, retiring.effective_end) == (
        "2024-05-13",
        dt.datetime(2025, 8, 31, 23, 59, tzinfo=dt.UTC),
    )
    ptu = by_name["Provisioned Managed Global Unit"]
    assert (ptu.meter_kind, ptu.unit, ptu.unit_size, ptu.region, ptu.deployment_type) == (
        MeterKind.UNIT,
        "ptu_hour",
        1,
        None,
        DeploymentType.GLOBAL_PROVISIONED,
    )
    gpt5 = by_name["GPT 5 Inpt Glbl 1M Tokens"]
    assert (gpt5.unit_size, gpt5.price) == (1_000_000, Decimal("1.25"))


def test_product_names_with_quotes_are_escaped_as_odata_literals() -> None:
    catalogue = [_item("gpt 4.1 Inp glbl Tokens", "0.002", product="Bob's Models")]
    result = _fetch(RetailPricesEmulator(catalogue, throttle_first=False), ["Bob's Models"], [])
    assert product_filter("Bob's Models") == "productName eq 'Bob''s Models'"
    assert len(result.prices) == 1


def test_an_unknown_product_yields_no_prices_and_no_error() -> None:
    result = _fetch(RetailPricesEmulator(CATALOGUE, throttle_first=False), ["azure openai"], [])
    assert (result.prices, result.items, result.pages) == ((), 0, 1)


def test_a_failing_api_raises_a_source_error_naming_the_product_after_the_retries() -> None:
    sleeps: list[float] = []
    transport = httpx.MockTransport(lambda request: httpx.Response(503, text="Service Unavailable"))
    with (
        httpx.Client(transport=transport) as client,
        pytest.raises(SourceError, match="503 for product 'Azure OpenAI'"),
    ):
        fetch_retail_prices(
            client,
            endpoint=ENDPOINT,
            products=["Azure OpenAI"],
            policy=RetryPolicy(max_attempts=3, sleep=sleeps.append),
        )
    assert sleeps == [0.5, 1.0]


def test_a_malformed_item_is_reported_by_index_meter_and_field_and_the_rest_kept() -> None:
    bad = {**REAL_ITEM, "meterName": "gpt 4.1 Outp glbl Tokens", "retailPrice": "n/a"}
    problems: list[str] = []
    items, link = parse_retail_page({"Items": [REAL_ITEM, bad], "NextPageLink": None}, problems=problems)
    assert [i.meter_name for i in items] == ["gpt 4.1 Inp glbl Tokens"] and link is None
    assert problems == [
        "Items[1] (meterName 'gpt 4.1 Outp glbl Tokens'): "
        "field 'retailPrice' must be a number, got 'n/a'; item skipped"
    ]
    with pytest.raises(SourceFormatError, match=r"Items\[1\]: field 'retailPrice'"):
        parse_retail_page({"Items": [REAL_ITEM, bad], "NextPageLink": None})
    with pytest.raises(SourceFormatError, match="'Items' list"):
        parse_retail_page({"value": []})


def test_higher_tiers_other_price_types_and_duplicates_are_not_prices() -> None:
    items, _ = parse_retail_page(
        {
            "Items": [
                REAL_ITEM,
                REAL_ITEM,
                {**REAL_ITEM, "tierMinimumUnits": 1000.0, "retailPrice": 0.001},
                {**REAL_ITEM, "type": "DevTestConsumption"},
            ],
            "NextPageLink": None,
        }
    )
    result = to_prices(items)
    assert (len(result.prices), result.skipped_tiers, result.skipped_other_types) == (1, 1, 1)


@pytest.mark.parametrize(
    ("unit", "size"),
    [
        ("1K", 1000),
        ("1M", 1_000_000),
        ("1 Hour", 1),
        ("1/Hour", 1),
        ("1/Month", 1),
        ("1/Day", 1),
        ("1", 1),
        ("100", 100),
        ("1 Second", 1),
        ("10K", 10_000),
    ],
)
def test_unit_of_measure_gives_the_block_size(unit: str, size: int) -> None:
    assert unit_size(unit) == size


def test_an_unreadable_unit_of_measure_is_a_format_error() -> None:
    with pytest.raises(SourceFormatError, match="unitOfMeasure 'per call'"):
        unit_size("per call")


# --- the real captured sample (samples/FACTS.md §4) --------------------------------------------------------


def _captures() -> list[dict[str, Any]]:
    captures: list[dict[str, Any]] = json.loads(SAMPLE.read_text(encoding="utf-8"))
    return captures


def test_real_capture_envelopes_parse_with_their_counts_and_links() -> None:
    captures = _captures()
    assert [c["status"] for c in captures] == [200, 200, 200]
    for capture in captures:
        assert set(capture["body"]) == {
            "BillingCurrency",
            "CustomerEntityId",
            "CustomerEntityType",
            "Items",
            "NextPageLink",
            "Count",
        }
    pages = [parse_retail_page(c["body"]) for c in captures]
    assert [(len(items), link) for items, link in pages] == [(2, None), (2, None), (0, None)]
    windows, linux = pages[0][0]
    assert (windows.product_name, windows.retail_price) == (
        "Virtual Machines BS Series Windows",
        Decimal("0.014"),
    )
    assert (linux.product_name, linux.retail_price) == ("Virtual Machines BS Series", Decimal("0.0104"))
    for item in pages[0][0]:
        assert item.retail_price == item.unit_price
        assert (item.arm_region_name, item.unit_of_measure, item.type) == ("eastus", "1 Hour", "Consumption")
        assert item.effective_start_date == dt.datetime(2025, 10, 1, tzinfo=dt.UTC)


def test_real_capture_savings_plan_prices_are_kept_exact() -> None:
    items, _ = parse_retail_page(_captures()[1]["body"])
    plans = {p.term: p.retail_price for p in items[1].savings_plan}
    assert plans == {"3 Years": Decimal("0.00468624"), "1 Year": Decimal("0.0070044")}
    assert items[0].savings_plan == ()


def test_real_capture_vm_meters_are_reported_as_unknown_not_guessed() -> None:
    items, _ = parse_retail_page(_captures()[0]["body"])
    result = to_prices(items)
    assert result.prices == ()
    assert [name.split(" [")[0] for name in result.skipped_meters] == ["B1s", "B1s"]
    assert all("no known unit" in name for name in result.skipped_meters)
