"""Azure Cost Management Query API client: daily actual or amortized cost as CostRecords.

Wire format: reference/cost-management.md §2. Columns are read by name from ``properties.columns``; rows are
positional arrays matching them. Amounts are decoded straight from the JSON text into Decimal.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from aifinops.domain import Basis, CostRecord
from aifinops.errors import SourceAuthError, SourceError, SourceFormatError, ValidationError
from aifinops.sources._http import ARM_ENDPOINT, ArmClient, RetryPolicy
from aifinops.sources.azure_auth import TokenProvider

__all__ = ["API_VERSION", "CostManagementClient", "month_windows", "parse_query_response"]

API_VERSION = "2025-03-01"

_TYPES = {Basis.ACTUAL: "ActualCost", Basis.AMORTIZED: "AmortizedCost"}
_SCOPES = re.compile(
    r"^(subscriptions/[^/]+(/resourcegroups/[^/]+)?"
    r"|providers/microsoft\.management/managementgroups/[^/]+"
    r"|providers/microsoft\.billing/billingaccounts/[^/]+"
    r"(/(billingprofiles/[^/]+(/invoicesections/[^/]+)?|departments/[^/]+|enrollmentaccounts/[^/]+"
    r"|customers/[^/]+))?)$",
    re.IGNORECASE,
)
# The billing-currency amount is preferred; USD columns only when nothing else is present.
_COST_COLUMNS = ("cost", "pretaxcost", "totalcost", "costinbillingcurrency", "costusd", "pretaxcostusd")
_EARLIEST = dt.date(2014, 5, 1)  # the service rejects earlier dates (reference §2.4)
_MAX_GROUPINGS = 2
#: Dimension column → CostRecord field. Both the grouping name and the column name the service returns.
_FIELDS = {
    "resourcegroup": "resource_group",
    "resourcegroupname": "resource_group",
    "resourcelocation": "location",
    "resourcetype": "resource_type",
    "servicename": "service_name",
    "metercategory": "meter_category",
    "metersubcategory": "meter_subcategory",
    "meter": "meter_name",
    "metername": "meter_name",
    "meterid": "meter_id",
    "chargetype": "charge_type",
    "pricingmodel": "pricing_model",
    "subscriptionid": "subscription_id",
    "unitofmeasure": "unit",
}


@dataclass(frozen=True, slots=True)
class _Columns:
    """Positions of the columns that matter, found by name, case-insensitively."""

    cost: int
    currency: int | None
    currency_is_usd: bool
    date: int | None
    quantity: int | None
    resource_id: int | None
    tag_key: int | None
    tag_value: int | None
    fields: Mapping[str, int]


def parse_query_response(
    payload: Mapping[str, Any], *, basis: Basis, scope: str, day: dt.date | None = None
) -> tuple[list[CostRecord], str | None]:
    """The records of one Query API page and its ``nextLink``.

    ``day`` dates the rows of a response without a date column (granularity ``None``); without it such a
    response is a SourceFormatError. A bad row raises SourceFormatError naming the row and the column.

    >>> body = {"properties": {"nextLink": None, "columns": [{"name": "Cost", "type": "Number"},
    ...   {"name": "UsageDate", "type": "Number"}, {"name": "Currency", "type": "String"}],
    ...   "rows": [[1.5, 20261101, "EUR"]]}}
    >>> records, link = parse_query_response(body, basis=Basis.ACTUAL, scope="subscriptions/s1")
    >>> records[0].cost, records[0].currency, records[0].billing_day
    (Decimal('1.5'), 'EUR', datetime.date(2026, 11, 1))
    """
    properties = payload.get("properties")
    if not isinstance(properties, Mapping) or not isinstance(properties.get("columns"), list):
        raise SourceFormatError(f"Cost Management response for {scope} has no properties.columns")
    columns = _locate(properties["columns"], scope)
    if columns.date is None and day is None:
        raise SourceFormatError(
            f"Cost Management response for {scope} has no UsageDate/BillingMonth column; query with Daily "
            "granularity or pass day="
        )
    records = [
        _record(row, i, columns, basis=basis, scope=scope, day=day)
        for i, row in enumerate(properties.get("rows") or [])
    ]
    link = properties.get("nextLink")
    return records, link if isinstance(link, str) and link else None


def _locate(raw_columns: list[Any], scope: str) -> _Columns:
    names = [str(c.get("name", "")).lower() if isinstance(c, Mapping) else "" for c in raw_columns]
    index = {name: i for i, name in reversed(list(enumerate(names)))}
    cost_name = next((n for n in _COST_COLUMNS if n in index), None)
    if cost_name is None:
        raise SourceFormatError(
            f"Cost Management response for {scope} has no cost column among {names}; "
            f"expected one of {list(_COST_COLUMNS)}"
        )
    currency_is_usd = cost_name.endswith("usd")
    if "currency" not in index and not currency_is_usd:
        raise SourceFormatError(f"Cost Management response for {scope} has no Currency column: {names}")
    date = next(
        (index[n] for n in ("usagedate", "billingmonth", "date", "usagedatetime") if n in index), None
    )
    quantity = next((index[n] for n in ("usagequantity", "quantity") if n in index), None)
    return _Columns(
        cost=index[cost_name],
        currency=None if currency_is_usd else index["currency"],
        currency_is_usd=currency_is_usd,
        date=date,
        quantity=quantity,
        resource_id=index.get("resourceid"),
        tag_key=index.get("tagkey"),
        tag_value=index.get("tagvalue"),
        fields={field: index[name] for name, field in _FIELDS.items() if name in index},
    )


def _record(
    row: Any, number: int, columns: _Columns, *, basis: Basis, scope: str, day: dt.date | None
) -> CostRecord:
    where = f"Cost Management response for {scope}, row {number}"
    if not isinstance(row, list):
        raise SourceFormatError(f"{where}: expected an array, got {type(row).__name__}")
    try:
        cost = _decimal(row[columns.cost])
        quantity = None if columns.quantity is None else _decimal(row[columns.quantity])
        currency = "USD" if columns.currency is None else str(row[columns.currency]).strip().upper()
        billing_day = day if columns.date is None else _day(row[columns.date])
        values = {field: _text(row[i]) for field, i in columns.fields.items()}
        resource_id = None if columns.resource_id is None else _text(row[columns.resource_id])
        tags = _tags(row, columns)
    except (IndexError, ValueError, InvalidOperation, TypeError) as exc:
        raise SourceFormatError(f"{where}: {exc}; the row does not match properties.columns") from exc
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise SourceFormatError(f"{where}: Currency {currency!r} is not an ISO 4217 code")
    if billing_day is None:
        raise SourceFormatError(f"{where}: no billing day; query with Daily granularity or pass day=")
    resource_id = resource_id.lower() if resource_id else None
    values.setdefault("subscription_id", _segment(resource_id, "subscriptions"))
    values.setdefault("resource_group", _segment(resource_id, "resourcegroups"))
    return CostRecord(
        billing_day=billing_day,
        basis=basis,
        cost=cost,
        currency=currency,
        scope=scope,
        source="cost_management",
        resource_id=resource_id,
        quantity=quantity,
        tags=tags,
        **values,
    )


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"amount {value!r} is not a number")
    # str() of a float is its shortest round-trip text, which is what the service wrote.
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _day(value: Any) -> dt.date:
    text = str(value).strip()
    if re.fullmatch(r"\d{8}", text):  # UsageDate: yyyyMMdd as a number
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).date()  # BillingMonth and ISO dates


def _text(value: Any) -> str | None:
    text = "" if value is None else str(value).strip()
    return text or None


def _tags(row: list[Any], columns: _Columns) -> dict[str, str]:
    if columns.tag_key is None or columns.tag_value is None:
        return {}
    key, value = _text(row[columns.tag_key]), row[columns.tag_value]
    return {key: "" if value is None else str(value)} if key else {}


def _segment(resource_id: str | None, name: str) -> str | None:
    parts = (resource_id or "").split("/")
    return parts[parts.index(name) + 1] if name in parts[:-1] else None


def month_windows(start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    """Split ``[start, end)`` at month starts, so each window is within the 31-day limit of a Daily query.

    >>> windows = month_windows(dt.date(2026, 10, 30), dt.date(2026, 11, 3))
    >>> [(a.isoformat(), b.isoformat()) for a, b in windows]
    [('2026-10-30', '2026-11-01'), ('2026-11-01', '2026-11-03')]
    """
    windows = []
    cursor = start
    while cursor < end:
        days = calendar.monthrange(cursor.year, cursor.month)[1]
        following = cursor.replace(day=days) + dt.timedelta(days=1)
        windows.append((cursor, min(following, end)))
        cursor = following
    return windows


class CostManagementClient(ArmClient):
    """Reads daily cost for a scope through ``POST {scope}/providers/Microsoft.CostManagement/query``."""

    def __init__(
        self,
        http: httpx.Client,
        token_provider: TokenProvider,
        *,
        endpoint: str = ARM_ENDPOINT,
        policy: RetryPolicy | None = None,
        cost_column: str = "Cost",
    ) -> None:
        super().__init__(http, token_provider, endpoint=endpoint, policy=policy)
        self._cost_column = cost_column

    def query(
        self,
        scope: str,
        *,
        basis: Basis,
        start: dt.date,
        end: dt.date,
        group_by: Sequence[str] = ("ResourceId", "Meter"),
        tag_keys: Sequence[str] = (),
    ) -> Iterator[CostRecord]:
        """Daily cost records of ``scope`` for billing days in ``[start, end)``, one month window at a time.

        At most two groupings (dimensions plus tag keys) per query, as the service allows.
        """
        scope = _check_scope(scope)  # checked now, not when the caller starts iterating
        _check_request(scope, basis=basis, start=start, end=end, groupings=[*group_by, *tag_keys])
        return self._records(scope, basis, (start, end), group_by, tag_keys)

    def _records(
        self,
        scope: str,
        basis: Basis,
        period: tuple[dt.date, dt.date],
        group_by: Sequence[str],
        tag_keys: Sequence[str],
    ) -> Iterator[CostRecord]:
        for first, following in month_windows(*period):
            last = following - dt.timedelta(days=1)  # the service's timePeriod is inclusive
            body = _body(basis, first, last, group_by, tag_keys, self._cost_column)
            yield from self._pages(scope, basis, body)

    def _pages(self, scope: str, basis: Basis, body: dict[str, Any]) -> Iterator[CostRecord]:
        request = self._request(
            "POST",
            f"{scope}/providers/Microsoft.CostManagement/query",
            params={"api-version": API_VERSION},
            json=body,
        )
        pending: list[str | None] = [None]  # the nextLink of the page just parsed, for iter_pages to follow
        for response in self._iter_pages(request, lambda _r: pending[0]):
            if response.status_code == 204:
                return
            _raise_for_status(response, scope)
            try:
                payload = json.loads(response.content, parse_float=Decimal)
            except ValueError as exc:
                raise SourceFormatError(f"Cost Management response for {scope} is not JSON: {exc}") from exc
            records, pending[0] = parse_query_response(payload, basis=basis, scope=scope)
            yield from records


def _check_scope(scope: str) -> str:
    normalized = scope.strip().strip("/")
    if not _SCOPES.match(normalized):
        raise ValidationError(
            f"cost scope {scope!r} is not a Cost Management scope; use subscriptions/{{id}}, "
            "subscriptions/{id}/resourceGroups/{rg} or providers/Microsoft.Billing/billingAccounts/{id}[...]",
            field="scope",
        )
    return normalized


def _check_request(scope: str, *, basis: Basis, start: dt.date, end: dt.date, groupings: list[str]) -> None:
    if basis not in _TYPES:
        raise ValidationError(f"basis {basis!r} cannot be queried; use actual or amortized", field="basis")
    if end <= start or start < _EARLIEST:
        raise ValidationError(
            f"period [{start}, {end}) is invalid; need start < end and start ≥ {_EARLIEST}", field="start"
        )
    if len(groupings) > _MAX_GROUPINGS:
        raise ValidationError(
            f"groupings {groupings} exceed the service limit of {_MAX_GROUPINGS} per query; "
            "split them over several queries",
            field="group_by",
        )
    if not scope.lower().startswith("subscriptions/") and any(g.lower() == "resourceid" for g in groupings):
        raise ValidationError(
            f"grouping by ResourceId is only allowed at subscription or resource-group scope, not {scope!r}",
            field="group_by",
        )


def _body(
    basis: Basis,
    start: dt.date,
    end: dt.date,
    group_by: Sequence[str],
    tag_keys: Sequence[str],
    cost_column: str,
) -> dict[str, Any]:
    grouping = [{"type": "Dimension", "name": g} for g in group_by] + [
        {"type": "TagKey", "name": t} for t in tag_keys
    ]
    return {
        "type": _TYPES[basis],
        "timeframe": "Custom",
        "timePeriod": {"from": f"{start.isoformat()}T00:00:00Z", "to": f"{end.isoformat()}T23:59:59Z"},
        "dataset": {
            "granularity": "Daily",
            "aggregation": {
                "totalCost": {"name": cost_column, "function": "Sum"},
                "totalQuantity": {"name": "UsageQuantity", "function": "Sum"},
            },
            "grouping": grouping,
        },
    }


def _raise_for_status(response: httpx.Response, scope: str) -> None:
    if response.is_success:
        return
    code, message = _arm_error(response)
    if response.status_code in (401, 403):
        raise SourceAuthError(
            f"Cost Management refused scope {scope!r} ({response.status_code} {code}: {message}); grant the "
            f"identity the 'Cost Management Reader' role on {scope}"
        )
    raise SourceError(
        f"Cost Management query for {scope!r} failed with {response.status_code} {code}: {message}"
    )


def _arm_error(response: httpx.Response) -> tuple[str, str]:
    try:
        error = response.json().get("error") or {}
        return str(error.get("code", "")), str(error.get("message", ""))
    except (ValueError, AttributeError):
        return "", response.text[:200]
