"""Azure Retail Prices API adapter: pages of list prices → effective-dated ``Price`` values.

Wire format: reference/retail-prices.md. The API is unauthenticated; the envelope keys are PascalCase and
the item keys camelCase; paging follows ``NextPageLink`` (``$skip``); 429 carries ``Retry-After``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from aifinops.domain import Price
from aifinops.errors import SourceError, SourceFormatError
from aifinops.sources._http import RetryPolicy, iter_pages
from aifinops.sources.meter_names import UnmappedMeter, parse_meter

__all__ = [
    "RETAIL_SOURCE",
    "RetailItem",
    "RetailPricesResult",
    "SavingsPlanPrice",
    "fetch_retail_prices",
    "parse_retail_item",
    "parse_retail_page",
    "product_filter",
    "read_retail_file",
    "service_filter",
    "to_prices",
    "unit_size",
]

#: ``Price.source`` of every price read from the Retail Prices API.
RETAIL_SOURCE = "azure-retail-prices"

# `1K`, `1M`, `100`, `1 Hour`, `1/Hour`, `1/Month`, `10K/Day`, `1 Second` (reference §2.1).
_UNIT_OF_MEASURE = re.compile(r"^\s*(\d+)\s*([KkMm]?)\s*(?:[/ ]\s*[A-Za-z ]+)?\s*$")
_MULTIPLIERS = {"": 1, "k": 1_000, "m": 1_000_000}
# Some meters are not regional; Azure reports them with armRegionName `Global` (or empty).
_NON_REGIONAL = {"", "global"}


@dataclass(frozen=True, slots=True)
class SavingsPlanPrice:
    """One savings-plan price of an item (api-version 2023-01-01-preview)."""

    term: str
    retail_price: Decimal
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class RetailItem:
    """One item of a Retail Prices page, field for field (reference §2.1)."""

    currency_code: str
    tier_minimum_units: Decimal
    retail_price: Decimal
    unit_price: Decimal
    arm_region_name: str
    location: str
    effective_start_date: dt.datetime
    meter_id: str
    meter_name: str
    product_id: str
    sku_id: str
    product_name: str
    sku_name: str
    service_name: str
    service_id: str
    service_family: str
    unit_of_measure: str
    type: str
    is_primary_meter_region: bool
    arm_sku_name: str = ""
    effective_end_date: dt.datetime | None = None
    reservation_term: str | None = None
    savings_plan: tuple[SavingsPlanPrice, ...] = ()


@dataclass(frozen=True, slots=True)
class RetailPricesResult:
    """What one sync read: the prices, and everything it skipped, each with its reason."""

    prices: tuple[Price, ...]
    items: int
    pages: int
    skipped_meters: tuple[str, ...] = ()  # unmapped meters: "name [product]: reason", every one of them
    skipped_reservations: int = 0
    skipped_other_types: int = 0  # e.g. DevTestConsumption
    skipped_tiers: int = 0  # tiers above the first (tierMinimumUnits > 0)
    problems: tuple[str, ...] = ()  # items that could not be read, each naming the field


def _text(raw: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    value = raw.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise SourceFormatError(f"field {name!r} must be a string, got {value!r}")
    return value


def _decimal(raw: Mapping[str, Any], name: str) -> Decimal:
    value = raw.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise SourceFormatError(f"field {name!r} must be a number, got {value!r}")
    try:
        # str() of a float is its shortest round-trip spelling, i.e. the JSON literal Azure sent.
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise SourceFormatError(f"field {name!r} must be a number, got {value!r}") from exc
    if not amount.is_finite():
        raise SourceFormatError(f"field {name!r} must be a finite number, got {value!r}")
    return amount


def _datetime(raw: Mapping[str, Any], name: str) -> dt.datetime:
    text = _text(raw, name)
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise SourceFormatError(f"field {name!r} must be an ISO date-time, got {text!r}") from exc
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _savings_plan(raw: Mapping[str, Any]) -> tuple[SavingsPlanPrice, ...]:
    plans = raw.get("savingsPlan") or []
    if not isinstance(plans, list):
        raise SourceFormatError(f"field 'savingsPlan' must be a list, got {plans!r}")
    return tuple(
        SavingsPlanPrice(_text(p, "term"), _decimal(p, "retailPrice"), _decimal(p, "unitPrice"))
        for p in plans
    )


def parse_retail_item(raw: Mapping[str, Any]) -> RetailItem:
    """One item; raises SourceFormatError naming the field that is missing or malformed."""
    if not isinstance(raw, Mapping):
        raise SourceFormatError(f"an item must be a JSON object, got {type(raw).__name__}")
    end = raw.get("effectiveEndDate")
    return RetailItem(
        currency_code=_text(raw, "currencyCode"),
        tier_minimum_units=_decimal(raw, "tierMinimumUnits"),
        retail_price=_decimal(raw, "retailPrice"),
        unit_price=_decimal(raw, "unitPrice"),
        arm_region_name=_text(raw, "armRegionName", required=False),
        location=_text(raw, "location", required=False),
        effective_start_date=_datetime(raw, "effectiveStartDate"),
        effective_end_date=_datetime(raw, "effectiveEndDate") if end else None,
        meter_id=_text(raw, "meterId"),
        meter_name=_text(raw, "meterName"),
        product_id=_text(raw, "productId", required=False),
        sku_id=_text(raw, "skuId", required=False),
        product_name=_text(raw, "productName"),
        sku_name=_text(raw, "skuName", required=False),
        service_name=_text(raw, "serviceName", required=False),
        service_id=_text(raw, "serviceId", required=False),
        service_family=_text(raw, "serviceFamily", required=False),
        unit_of_measure=_text(raw, "unitOfMeasure"),
        type=_text(raw, "type"),
        is_primary_meter_region=bool(raw.get("isPrimaryMeterRegion", True)),
        arm_sku_name=_text(raw, "armSkuName", required=False),
        reservation_term=_text(raw, "reservationTerm", required=False) or None,
        savings_plan=_savings_plan(raw),
    )


def parse_retail_page(
    payload: Mapping[str, Any], *, problems: list[str] | None = None
) -> tuple[list[RetailItem], str | None]:
    """The items of one page and its ``NextPageLink`` (None on the last page).

    A malformed item raises SourceFormatError, unless ``problems`` is given: then the item is skipped,
    a message naming its index, meter and field is appended, and the valid rest is returned.
    """
    if not isinstance(payload, Mapping) or not isinstance(payload.get("Items"), list):
        raise SourceFormatError("a Retail Prices page must be a JSON object with an 'Items' list")
    link = payload.get("NextPageLink")
    if link is not None and not isinstance(link, str):
        raise SourceFormatError(f"'NextPageLink' must be a string or null, got {link!r}")
    items: list[RetailItem] = []
    for index, raw in enumerate(payload["Items"]):
        try:
            items.append(parse_retail_item(raw))
        except SourceFormatError as exc:
            if problems is None:
                raise SourceFormatError(f"Items[{index}]: {exc}") from exc
            meter = raw.get("meterName") if isinstance(raw, Mapping) else None
            problems.append(f"Items[{index}] (meterName {meter!r}): {exc}; item skipped")
    return items, link or None


def unit_size(unit_of_measure: str) -> int:
    """Units one price covers: ``1K`` → 1000, ``1M`` → 1000000, ``1/Hour`` → 1, ``100`` → 100.

    >>> unit_size("1K"), unit_size("1M"), unit_size("1/Hour"), unit_size("100")
    (1000, 1000000, 1, 100)
    """
    match = _UNIT_OF_MEASURE.match(unit_of_measure)
    if match is None:
        raise SourceFormatError(
            f"unitOfMeasure {unit_of_measure!r} is not a count with an optional K/M and period"
        )
    return int(match.group(1)) * _MULTIPLIERS[match.group(2).lower()]


def _to_price(item: RetailItem) -> Price | UnmappedMeter:
    spec = parse_meter(
        item.meter_name,
        item.product_name,
        item.unit_of_measure,
        sku_name=item.sku_name,
        service_name=item.service_name,
        seen=item.effective_start_date.date(),
    )
    if isinstance(spec, UnmappedMeter):
        return spec
    region = item.arm_region_name.strip()
    return Price(
        model=spec.model,
        meter_kind=spec.meter_kind,
        price=item.retail_price,
        currency=item.currency_code,
        effective_start=item.effective_start_date,
        effective_end=item.effective_end_date,
        unit_size=unit_size(item.unit_of_measure),
        deployment_type=spec.deployment_type,
        region=None if region.lower() in _NON_REGIONAL else region.lower(),
        model_version=spec.model_version,
        unit=spec.unit,
        meter_id=item.meter_id or None,
        meter_name=item.meter_name,
        source=RETAIL_SOURCE,
        product_name=spec.product_name,
        context_tier=spec.context_tier,
        processing_tier=spec.processing_tier,
    )


def to_prices(items: Iterable[RetailItem]) -> RetailPricesResult:
    """Consumption list prices of known meters; reservations, other price types and higher tiers are skipped.

    PriceBook prices are single-rate, so only a meter's first tier (``tierMinimumUnits`` 0) is kept; every
    Azure OpenAI token meter captured so far has one tier only (reference §3.5).
    """
    prices: dict[tuple[str, str, dt.datetime, str, str], Price] = {}
    unknown: set[str] = set()
    problems: list[str] = []
    counts = {"items": 0, "reservations": 0, "other": 0, "tiers": 0}
    for item in items:
        counts["items"] += 1
        if item.type == "Reservation":
            counts["reservations"] += 1
        elif item.type != "Consumption":
            counts["other"] += 1
        elif item.tier_minimum_units > 0:
            counts["tiers"] += 1
        else:
            try:
                price = _to_price(item)
            except SourceFormatError as exc:
                problems.append(f"meter {item.meter_name!r} ({item.meter_id}): {exc}; item skipped")
                continue
            if isinstance(price, UnmappedMeter):
                unknown.add(str(price))
                continue
            # The same meter can come back on several pages or products; keep one.
            key = (
                item.product_name,
                item.meter_id or item.meter_name,
                item.effective_start_date,
                item.currency_code,
                item.arm_region_name.lower(),
            )
            prices[key] = price
    return RetailPricesResult(
        prices=tuple(prices.values()),
        items=counts["items"],
        pages=0,
        skipped_meters=tuple(sorted(unknown)),
        skipped_reservations=counts["reservations"],
        skipped_other_types=counts["other"],
        skipped_tiers=counts["tiers"],
        problems=tuple(problems),
    )


def product_filter(product: str) -> str:
    """The OData ``$filter`` for one product; quotes are doubled as OData string literals require.

    >>> product_filter("Azure OpenAI")
    "productName eq 'Azure OpenAI'"
    """
    return "productName eq '{}'".format(product.replace("'", "''"))


def service_filter(service: str) -> str:
    """The OData ``$filter`` for one serviceName (e.g. ``Foundry Models``, where AI models are sold now).

    >>> service_filter("Foundry Models")
    "serviceName eq 'Foundry Models'"
    """
    return "serviceName eq '{}'".format(service.replace("'", "''"))


def read_retail_file(text: str, *, path: str) -> tuple[list[RetailItem], int]:
    """The items of a saved Retail Prices answer and its page count: one page (``{"Items": [...]}``), a JSON
    list of pages, several pages one after the other, or NDJSON of items (one item per line).

    A malformed page or item raises SourceFormatError naming the file, the page and the item.
    """
    decoder = json.JSONDecoder(parse_float=Decimal)
    values: list[Any] = []
    at, end = 0, len(text)
    while True:
        while at < end and text[at].isspace():
            at += 1
        if at >= end:
            break
        try:
            value, at = decoder.raw_decode(text, at)
        except ValueError as exc:
            line = text.count("\n", 0, at) + 1
            raise SourceFormatError(f"{path}: line {line}: not JSON: {exc}") from exc
        values.append(value)
    if len(values) == 1 and isinstance(values[0], list):
        values = values[0]
    if not values:
        raise SourceFormatError(f"{path}: no Retail Prices page or item in the file")
    items: list[RetailItem] = []
    if all(isinstance(v, Mapping) and "Items" in v for v in values):
        for number, page in enumerate(values, start=1):
            try:
                items.extend(parse_retail_page(page)[0])
            except SourceFormatError as exc:
                raise SourceFormatError(f"{path}: page {number}: {exc}") from exc
        return items, len(values)
    for number, raw in enumerate(values, start=1):
        if isinstance(raw, Mapping) and "Items" in raw:
            raise SourceFormatError(f"{path}: item {number} is a page: a file holds pages or items, not both")
        try:
            items.append(parse_retail_item(raw))
        except SourceFormatError as exc:
            meter = raw.get("meterName") if isinstance(raw, Mapping) else None
            raise SourceFormatError(f"{path}: item {number} (meterName {meter!r}): {exc}") from exc
    return items, 1


def _page_json(response: httpx.Response, product: str) -> Mapping[str, Any]:
    if not response.is_success:
        raise SourceError(
            f"Retail Prices API answered {response.status_code} for product {product!r}: "
            f"{response.text[:300]}; check the product name (case-sensitive) and the endpoint setting"
        )
    try:
        # Exact decimals straight from the JSON text: prices such as 7.5e-05 must not pass through float.
        payload: Mapping[str, Any] = json.loads(response.text, parse_float=Decimal)
    except ValueError as exc:
        raise SourceFormatError(f"Retail Prices page for {product!r} is not JSON: {exc}") from exc
    return payload


def fetch_retail_prices(
    client: httpx.Client,
    *,
    endpoint: str,
    products: list[str],
    services: list[str] | None = None,
    currency: str = "USD",
    api_version: str = "2023-01-01-preview",
    policy: RetryPolicy | None = None,
    on_page: Callable[[str, int], None] | None = None,
) -> RetailPricesResult:
    """Read every page of every product and service (one ``$filter`` each: Azure rejects long filters) into
    prices. A page that is not a Retail Prices page fails the whole read (nothing is half saved).

    ``on_page(name, item_count)`` is called after each page, for progress display.
    """
    items: list[RetailItem] = []
    problems: list[str] = []
    pages = 0
    # iter_pages asks for the next link only after the loop body has parsed the page, so it reads it here.
    state: dict[str, str | None] = {"next": None}
    queries = [(p, product_filter(p)) for p in products] + [(s, service_filter(s)) for s in services or []]
    for product, odata in queries:
        params = {
            "api-version": api_version,
            "currencyCode": f"'{currency}'",
            "$filter": odata,
        }
        first = client.build_request("GET", endpoint, params=params)
        for response in iter_pages(client, first, lambda _response: state["next"], policy):
            page_items, state["next"] = parse_retail_page(_page_json(response, product), problems=problems)
            items.extend(page_items)
            pages += 1
            if on_page is not None:
                on_page(product, len(page_items))
    result = to_prices(items)
    return RetailPricesResult(
        prices=result.prices,
        items=result.items,
        pages=pages,
        skipped_meters=result.skipped_meters,
        skipped_reservations=result.skipped_reservations,
        skipped_other_types=result.skipped_other_types,
        skipped_tiers=result.skipped_tiers,
        problems=tuple(problems) + result.problems,
    )
