"""The demo's Azure bill: daily cost records for a month, derived deterministically from the stored usage.

Token meters bill what the events used, with a small daily drift in metered quantity (Azure counts tokens
its own way) and one meter billed above the price book, so reconciliation has findings. The PTU deployment
is billed by the hour whether used or not, partly covered by a one-month reservation (a purchase in actual
cost, spread over the month's hours in amortized cost). Supporting services are billed on their own
resources: AI Search and Log Analytics by capacity and volume, Container Apps, API Management and storage.
"""

from __future__ import annotations

import calendar
import datetime as dt
import random
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from aifinops.demo.estate import (
    APPS,
    PTU_DEPLOYMENT,
    PTU_METER,
    PTU_RESERVED_UNITS,
    PTU_UNITS,
    RESOURCE_GROUP,
    SUBSCRIPTION,
    SUPPORT_PRICES,
    DemoResource,
    aoai_account,
)
from aifinops.domain import Basis, CostRecord
from aifinops.store.event_queries import daily_requests, daily_token_sums
from aifinops.store.price_queries import read_prices_by_id
from aifinops.store.store import Store

__all__ = ["MISPRICED_METER", "PTU_RESERVATION_PRICE", "DailyUsage", "build_bill", "daily_usage"]

_MICRO = Decimal("0.000001")
#: The meter Azure bills above the price book (a contract price that was never loaded).
MISPRICED_METER = "o3 0416 Outp glbl Tokens"
_MISPRICE = Decimal("1.10")
#: Names of meters the demo contract prices without one; the batch output name follows its input meter.
_CONTRACT_METERS = {
    ("gpt-4o-mini", "global_batch", "input"): "gpt-4o-mini-0718-Batch-Inp-glbl Tokens",
    ("gpt-4o-mini", "global_batch", "output"): "gpt-4o-mini-0718-Batch-Outp-glbl Tokens",
}
_PTU_PRICE = Decimal("1.0")  # USD per PTU-hour, Global Provisioned (reference/retail-prices.md §3.4)
#: USD per PTU per one-month term (the demo company's reservation).
PTU_RESERVATION_PRICE = Decimal("260")


def _micro(value: Decimal) -> Decimal:
    # Six decimals keep every amount exact through the JSON doubles Cost Management answers with.
    return value.quantize(_MICRO, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class DailyUsage:
    """What the stored events of one month used, per day: token meters per account, requests per app,
    retrieval calls and tokens of the provisioned deployment."""

    meters: Mapping[tuple[dt.date, str, str], tuple[Decimal, Decimal, str]]  # (day, account, meter) →
    # (tokens, price per 1K tokens, currency)
    app_requests: Mapping[tuple[dt.date, str], int]
    retrievals: Mapping[dt.date, int]
    ptu_tokens: Mapping[dt.date, int]
    deployments: Mapping[str, tuple[str, ...]]  # account → the deployments whose events ran on it


def _meter_names(store: Store, ids: set[int]) -> dict[int, tuple[str, Decimal, str]]:
    """Price id → (meter name, price per 1K units, currency) of the priced, named token meters."""
    out = {}
    for price_id, p in read_prices_by_id(store, ids).items():
        deployment_type = p.deployment_type.value if p.deployment_type else ""
        name = p.meter_name or _CONTRACT_METERS.get((p.model, deployment_type, p.meter_kind.value))
        if name and p.price:  # a zero contract price (PTU tokens) is billed as capacity instead
            out[price_id] = (name, p.price * 1000 / Decimal(p.unit_size), p.currency)
    return out


def daily_usage(store: Store, start: dt.date, end: dt.date) -> DailyUsage:
    """Usage of ``[start, end)`` from the stored events, one GROUP BY per view."""
    token_rows = daily_token_sums(store, start, end)
    book = _meter_names(store, {i for r in token_rows for i in r.price_ids if i is not None})
    meters: dict[tuple[dt.date, str, str], list[Decimal | str]] = {}
    ptu: dict[dt.date, int] = defaultdict(int)
    deployments: dict[str, set[str]] = defaultdict(set)
    for r in token_rows:
        if r.deployment and r.region:
            deployments[aoai_account(r.region, provisioned=r.deployment == PTU_DEPLOYMENT)].add(r.deployment)
        if r.deployment == PTU_DEPLOYMENT:
            ptu[r.day] += r.input_tokens + r.output_tokens
            continue
        in_id, cached_id, out_id = r.price_ids
        for price_id, tokens in (
            (in_id, r.input_tokens - r.cached_input_tokens),
            (cached_id, r.cached_input_tokens),
            (out_id, r.output_tokens),
        ):
            meter = book.get(price_id) if price_id is not None else None
            if meter is None or not tokens or r.region is None:
                continue
            slot = meters.setdefault(
                (r.day, aoai_account(r.region), meter[0]), [Decimal(0), meter[1], meter[2]]
            )
            slot[0] = Decimal(slot[0]) + Decimal(int(tokens))
    requests: dict[tuple[dt.date, str], int] = defaultdict(int)
    retrievals: dict[dt.date, int] = defaultdict(int)
    for q in daily_requests(store, start, end):
        if q.app:
            requests[(q.day, q.app)] += q.requests
        if q.kind == "retrieval":
            retrievals[q.day] += q.requests
    return DailyUsage(
        {k: (Decimal(v[0]), Decimal(v[1]), str(v[2])) for k, v in meters.items()},
        dict(requests),
        dict(retrievals),
        dict(ptu),
        {account: tuple(sorted(names)) for account, names in sorted(deployments.items())},
    )


def _record(
    resource: DemoResource | None,
    day: dt.date,
    *,
    meter: str,
    cost: Decimal,
    quantity: Decimal,
    unit: str,
    bases: tuple[Basis, ...] = (Basis.ACTUAL, Basis.AMORTIZED),
    charge_type: str = "Usage",
    pricing_model: str = "OnDemand",
) -> list[CostRecord]:
    """One record per basis; ``resource`` None is a purchase, billed to the subscription, not a resource."""
    located: dict[str, Any] = {"service_name": "Cognitive Services", "meter_category": "Azure OpenAI"}
    if resource is not None:
        located = {
            "resource_group": RESOURCE_GROUP,
            "resource_id": resource.resource_id,
            "location": resource.location,
            "service_name": resource.service_name,
            "meter_category": resource.meter_category,
            "tags": resource.tags,
            "resource_type": resource.type,
        }
    return [
        CostRecord(
            billing_day=day,
            basis=basis,
            cost=_micro(cost),
            currency="USD",
            subscription_id=SUBSCRIPTION,
            meter_name=meter,
            charge_type=charge_type,
            pricing_model=pricing_model,
            quantity=quantity,
            unit=unit,
            **located,
        )
        for basis in bases
    ]


def _token_rows(usage: DailyUsage, resources: Mapping[str, DemoResource], seed: int) -> list[CostRecord]:
    by_id = {r.resource_id: r for r in resources.values()}
    out = []
    for (day, account, meter), (tokens, per_1k, _) in sorted(usage.meters.items()):
        drift = Decimal(random.Random(f"{seed}:{day}:{account}:{meter}").randint(-150, 150)) / 10_000
        quantity = (tokens * (1 + drift) / 1000).quantize(Decimal("0.001"))  # billed in 1K blocks
        price = per_1k * _MISPRICE if meter == MISPRICED_METER else per_1k
        out += _record(by_id[account], day, meter=meter, cost=quantity * price, quantity=quantity, unit="1K")
    return out


def _ptu_rows(resource: DemoResource, days: list[dt.date]) -> list[CostRecord]:
    """Hourly PTU cost. Reserved units cost 0 in actual cost, where the purchase carries them on the first
    day; amortized cost spreads the purchase over the month's hours instead (the last day takes the rest)."""
    purchase = PTU_RESERVATION_PRICE * PTU_RESERVED_UNITS
    out = _record(
        None,
        days[0],
        meter=PTU_METER,
        cost=purchase,
        quantity=Decimal(PTU_RESERVED_UNITS),
        unit="1/Hour",
        bases=(Basis.ACTUAL,),
        charge_type="Purchase",
        pricing_model="Reservation",
    )
    reserved, on_demand = Decimal(PTU_RESERVED_UNITS * 24), Decimal((PTU_UNITS - PTU_RESERVED_UNITS) * 24)
    spread = Decimal(0)
    for i, day in enumerate(days):
        share = purchase - spread if i == len(days) - 1 else _micro(purchase / len(days))
        spread += share
        for basis, cost in ((Basis.ACTUAL, Decimal(0)), (Basis.AMORTIZED, share)):
            out += _record(
                resource,
                day,
                meter=PTU_METER,
                cost=cost,
                quantity=reserved,
                unit="1/Hour",
                bases=(basis,),
                pricing_model="Reservation",
            )
        out += _record(
            resource, day, meter=PTU_METER, cost=on_demand * _PTU_PRICE, quantity=on_demand, unit="1/Hour"
        )
    return out


def _priced(
    resource: DemoResource, day: dt.date, meter: str, *, quantity: Decimal, unit: str
) -> list[CostRecord]:
    return _record(
        resource, day, meter=meter, cost=quantity * SUPPORT_PRICES[meter], quantity=quantity, unit=unit
    )


def _support_rows(usage: DailyUsage, resources: Mapping[str, DemoResource], day: dt.date) -> list[CostRecord]:
    """One day of the supporting services; volumes follow the day's requests where the service bills them."""
    out = _priced(resources["search"], day, "Standard S1 Unit", quantity=Decimal(24), unit="1 Hour")
    requests = sum(n for (d, _), n in usage.app_requests.items() if d == day)
    logged = (Decimal("0.5") + Decimal(requests) * Decimal("0.000006")).quantize(Decimal("0.0001"))  # GB
    out += _priced(resources["logs"], day, "Analytics Logs Data Ingestion", quantity=logged, unit="1 GB")
    for app in APPS:
        calls = usage.app_requests.get((day, app), 0)
        vcpu = Decimal(43_200 + 30 * calls)  # one 0.5-vCPU replica always on, plus time serving requests
        container, gateway = resources[f"app:{app}"], resources[f"apim:{app}"]
        out += _priced(container, day, "Standard vCPU Active Usage", quantity=vcpu, unit="1 Second")
        out += _priced(container, day, "Standard Memory Active Usage", quantity=2 * vcpu, unit="1 GiB Second")
        out += _priced(gateway, day, "Consumption Calls", quantity=Decimal(calls) / 10_000, unit="10K")
    month_days = calendar.monthrange(day.year, day.month)[1]
    for key, stored_gb in (("storage:docs", 500), ("storage:legacy", 2048)):
        gb_months = _micro(Decimal(stored_gb) / month_days)
        out += _priced(resources[key], day, "Hot LRS Data Stored", quantity=gb_months, unit="1 GB/Month")
    return out


def build_bill(
    usage: DailyUsage, resources: Mapping[str, DemoResource], *, year: int, month: int, seed: int
) -> list[CostRecord]:
    """Every actual and amortized cost record of the month; the same inputs give the same records."""
    days = [dt.date(year, month, d) for d in range(1, calendar.monthrange(year, month)[1] + 1)]
    records = _token_rows(usage, resources, seed) + _ptu_rows(resources["ptu"], days)
    for day in days:
        records += _support_rows(usage, resources, day)
    return [r for r in records if r.cost or r.quantity]
