"""Cost Management ``query`` as the service answers it (reference/cost-management.md §2)."""

from __future__ import annotations

import base64
import datetime as dt
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from aifinops.domain import Basis, CostRecord
from aifinops.emulator.state import EmulatorState

__all__ = ["QueryRejected", "run_query"]

_TYPES = {"usage": Basis.ACTUAL, "actualcost": Basis.ACTUAL, "amortizedcost": Basis.AMORTIZED}
_AGGREGABLE = {"cost", "pretaxcost", "costusd", "pretaxcostusd", "usagequantity"}
_DIMENSIONS: dict[str, Callable[[CostRecord], str | None]] = {
    "resourceid": lambda r: r.resource_id,
    "resourcegroup": lambda r: r.resource_group,
    "resourcegroupname": lambda r: r.resource_group,
    "resourcelocation": lambda r: r.location,
    "resourcetype": lambda r: r.resource_type,
    "servicename": lambda r: r.service_name,
    "metercategory": lambda r: r.meter_category,
    "metersubcategory": lambda r: r.meter_subcategory,
    "meter": lambda r: r.meter_name,
    "meterid": lambda r: r.meter_id,
    "chargetype": lambda r: r.charge_type,
    "pricingmodel": lambda r: r.pricing_model,
    "subscriptionid": lambda r: r.subscription_id,
    "unitofmeasure": lambda r: r.unit,
}
_BILLING_SCOPE = re.compile(r"^providers/microsoft\.(billing|management)/", re.IGNORECASE)
_DAILY_LIMIT_DAYS = 31


class QueryRejected(Exception):
    """The request is one the service answers with 400 BadRequest."""


def run_query(
    state: EmulatorState, *, scope: str, body: dict[str, Any], skip: int, next_url: str
) -> dict[str, Any]:
    """Answer one query page; ``next_url`` is the URL without ``$skiptoken`` that the next page will use."""
    kind = _TYPES.get(str(body.get("type", "")).lower())
    if kind is None:
        raise QueryRejected(
            f"Invalid query type '{body.get('type')}'; use Usage, ActualCost or AmortizedCost."
        )
    dataset = body.get("dataset") or {}
    start, end = _period(body, state)
    granularity = str(dataset.get("granularity") or "None")
    if granularity == "Daily":  # longer daily ranges are truncated, not rejected (reference §2.4)
        end = min(end, start + dt.timedelta(days=_DAILY_LIMIT_DAYS - 1))
    aggregations = _aggregations(dataset)
    groups = _groupings(dataset, scope)
    selected = [
        r
        for r in state.cost_records
        if r.basis == kind
        and start <= r.billing_day <= end
        and _in_scope(r, scope)
        and _matches(r, dataset.get("filter"))
    ]
    columns, rows = _tabulate(selected, aggregations, groups, granularity, state)
    page = rows[skip : skip + state.cost_page_size]
    more = skip + state.cost_page_size < len(rows)
    name = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{scope}/{skip}"))
    return {
        "id": f"{scope}/providers/Microsoft.CostManagement/query/{name}",
        "name": name,
        "type": "Microsoft.CostManagement/query",
        "location": None,
        "sku": None,
        "eTag": None,
        "properties": {
            "nextLink": f"{next_url}&$skiptoken={encode_skip(skip + len(page))}" if more else None,
            "columns": columns,
            "rows": page,
        },
    }


def encode_skip(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_skip(token: str | None) -> int:
    if not token:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        return int(raw.removeprefix("o:"))
    except ValueError as exc:
        raise QueryRejected(f"Invalid $skiptoken '{token}'.") from exc


__all__ += ["decode_skip", "encode_skip"]


def _period(body: dict[str, Any], state: EmulatorState) -> tuple[dt.date, dt.date]:
    timeframe = str(body.get("timeframe") or "")
    today = state.today or dt.datetime.now(dt.UTC).date()
    if timeframe == "Custom":
        period = body.get("timePeriod") or {}
        try:
            start = dt.datetime.fromisoformat(period["from"]).date()
            end = dt.datetime.fromisoformat(period["to"]).date()
        except (KeyError, TypeError, ValueError) as exc:
            raise QueryRejected("timePeriod with ISO-8601 'from' and 'to' is required for Custom.") from exc
    elif timeframe in ("MonthToDate", "TheCurrentMonth", "BillingMonthToDate"):
        start, end = today.replace(day=1), today
    elif timeframe in ("TheLastMonth", "TheLastBillingMonth"):
        end = today.replace(day=1) - dt.timedelta(days=1)
        start = end.replace(day=1)
    else:
        raise QueryRejected(f"Invalid timeframe '{timeframe}'.")
    if end < start:
        raise QueryRejected("timePeriod 'to' is before 'from'.")
    return start, min(end, today)


def _aggregations(dataset: dict[str, Any]) -> list[str]:
    spec = dataset.get("aggregation") or {"totalCost": {"name": "PreTaxCost", "function": "Sum"}}
    if len(spec) > 2:
        raise QueryRejected("Invalid dataset aggregation; a maximum of 2 aggregations is allowed.")
    names = [str(v.get("name")) for v in spec.values()]
    for name in names:
        if name.lower() not in _AGGREGABLE:
            raise QueryRejected(f"Invalid aggregation column '{name}'.")
    return names


def _groupings(dataset: dict[str, Any], scope: str) -> list[tuple[str, str]]:
    groups = [(str(g.get("type")), str(g.get("name"))) for g in dataset.get("grouping") or []]
    if len(groups) > 2 or len(set(groups)) != len(groups):
        raise QueryRejected("Invalid dataset grouping; at most 2 distinct groupings are allowed.")
    for kind, name in groups:
        if kind == "Dimension" and name.lower() not in _DIMENSIONS:
            raise QueryRejected(f"Invalid dataset grouping: dimension '{name}' is not supported.")
        if kind == "Dimension" and name.lower() == "resourceid" and _BILLING_SCOPE.match(scope):
            raise QueryRejected(
                f"Invalid dataset grouping: 'ResourceId' is not supported at scope '{scope}'."
            )
        if kind not in ("Dimension", "TagKey"):
            raise QueryRejected(f"Invalid grouping type '{kind}'.")
    return groups


def _in_scope(record: CostRecord, scope: str) -> bool:
    if _BILLING_SCOPE.match(scope):
        return True
    parts = scope.lower().split("/")
    sub = parts[1] if len(parts) > 1 else ""
    record_sub = (record.subscription_id or _segment(record.resource_id, "subscriptions") or "").lower()
    if record_sub != sub:
        return False
    if len(parts) >= 4 and parts[2] == "resourcegroups":
        group = record.resource_group or _segment(record.resource_id, "resourcegroups") or ""
        return group.lower() == parts[3]
    return True


def _segment(resource_id: str | None, name: str) -> str | None:
    parts = (resource_id or "").split("/")
    lowered = [p.lower() for p in parts]
    return parts[lowered.index(name) + 1] if name in lowered[:-1] else None


def _matches(record: CostRecord, node: dict[str, Any] | None) -> bool:
    if not node:
        return True
    if "and" in node:
        return all(_matches(record, child) for child in node["and"])
    if "or" in node:
        return any(_matches(record, child) for child in node["or"])
    if "dimensions" in node:
        leaf = node["dimensions"]
        getter = _DIMENSIONS.get(str(leaf.get("name", "")).lower())
        if getter is None:
            raise QueryRejected(f"Invalid filter dimension '{leaf.get('name')}'.")
        return (getter(record) or "").lower() in {str(v).lower() for v in leaf.get("values", [])}
    if "tags" in node:
        leaf = node["tags"]
        return record.tags.get(str(leaf.get("name"))) in set(leaf.get("values", []))
    raise QueryRejected("Invalid filter node; use and, or, dimensions or tags.")


def _tabulate(
    records: Iterable[CostRecord],
    aggregations: list[str],
    groups: list[tuple[str, str]],
    granularity: str,
    state: EmulatorState,
) -> tuple[list[dict[str, str]], list[list[Any]]]:
    sums: dict[tuple[Any, ...], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * len(aggregations))
    for record in records:
        key = (_date_value(record.billing_day, granularity), *_group_values(record, groups), record.currency)
        totals = sums[key]
        for i, name in enumerate(aggregations):
            totals[i] += _measure(record, name, state)
    columns = [{"name": n, "type": "Number"} for n in aggregations]
    if granularity == "Daily":
        columns.append({"name": "UsageDate", "type": "Number"})
    elif granularity == "Monthly":
        columns.append({"name": "BillingMonth", "type": "Datetime"})
    for kind, name in groups:
        columns += (
            [{"name": "TagKey", "type": "String"}, {"name": "TagValue", "type": "String"}]
            if kind == "TagKey"
            else [{"name": name, "type": "String"}]
        )
    columns.append({"name": "Currency", "type": "String"})
    rows = []
    for key in sorted(sums, key=lambda k: tuple("" if v is None else str(v) for v in k)):
        date_part = [] if key[0] is None else [key[0]]
        rows.append([*sums[key], *date_part, *key[1:]])
    return columns, rows


def _date_value(day: dt.date, granularity: str) -> int | str | None:
    if granularity == "Daily":
        return day.year * 10000 + day.month * 100 + day.day
    if granularity == "Monthly":
        return f"{day.year:04d}-{day.month:02d}-01T00:00:00"
    return None


def _group_values(record: CostRecord, groups: list[tuple[str, str]]) -> list[str]:
    values: list[str] = []
    for kind, name in groups:
        if kind == "TagKey":
            value = record.tags.get(name)
            values += [name, value] if value is not None else ["", ""]
        else:
            values.append(_DIMENSIONS[name.lower()](record) or "")
    return values


def _measure(record: CostRecord, column: str, state: EmulatorState) -> Decimal:
    name = column.lower()
    if name == "usagequantity":
        return record.quantity or Decimal(0)
    if name.endswith("usd") and record.currency != "USD":
        return record.cost / state.fx_rates.get(record.currency, Decimal(1))
    return record.cost
