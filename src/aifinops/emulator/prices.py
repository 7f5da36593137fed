"""Azure Retail Prices API: PascalCase envelope, ``$filter``, ``currencyCode`` and ``$skip`` paging."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from aifinops.emulator.odata import FilterError, compile_filter
from aifinops.emulator.state import EmulatorState

__all__ = ["PricesRejected", "list_prices"]

# Items carry the field `type`; the filter names it `priceType` (reference/retail-prices.md §1).
_FIELD_ALIASES = {"priceType": "type"}
_CASE_SENSITIVE_FROM = "2023-01-01-preview"


class PricesRejected(Exception):
    """A request the service answers with 400."""


def list_prices(state: EmulatorState, params: dict[str, str], base_url: str) -> dict[str, Any]:
    """One page of the Retail Prices API for ``params`` (the query string, decoded)."""
    version = params.get("api-version", "")
    try:
        predicate = compile_filter(params.get("$filter", ""), case_sensitive=version >= _CASE_SENSITIVE_FROM)
    except FilterError as exc:
        raise PricesRejected(f"Invalid $filter: {exc}") from exc
    currency = params.get("currencyCode", "USD").strip("'\"").upper()
    rate = Decimal(1) if currency == "USD" else state.fx_rates.get(currency)
    if rate is None:
        raise PricesRejected(f"Invalid currencyCode '{currency}'.")
    matched = [item for item in state.prices if predicate(_filter_view(item))]
    try:
        skip = int(params.get("$skip", "0"))
    except ValueError as exc:
        raise PricesRejected(f"Invalid $skip '{params.get('$skip')}'.") from exc
    page = matched[skip : skip + state.prices_page_size]
    next_link = None
    if skip + len(page) < len(matched):
        query = {k: v for k, v in params.items() if k != "$skip"} | {"$skip": str(skip + len(page))}
        next_link = f"{base_url}?{urlencode(query, safe='$')}"
    return {
        "BillingCurrency": currency,
        "CustomerEntityId": "Default",
        "CustomerEntityType": "Retail",
        "Items": [_convert(item, currency, rate) for item in page],
        "NextPageLink": next_link,
        "Count": len(page),
    }


def _filter_view(item: dict[str, Any]) -> dict[str, Any]:
    return item | {alias: item.get(field) for alias, field in _FIELD_ALIASES.items()}


def _convert(item: dict[str, Any], currency: str, rate: Decimal) -> dict[str, Any]:
    if currency == "USD":
        return item
    converted = dict(item, currencyCode=currency)
    for key in ("retailPrice", "unitPrice"):
        if key in item:
            converted[key] = Decimal(str(item[key])) * rate
    return converted
