"""What drives each use case's cost, in money (``/api/cost-drivers``, ``aifinops discover``, the review)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from aifinops.domain import Basis, from_nanos, plain
from aifinops.engine.allocation import AllocationResult
from aifinops.engine.cost_drivers import (
    LOADED_CATEGORIES,
    TOKEN_DRIVERS,
    LoadedDrivers,
    MeterUsage,
    UsageDrivers,
    loaded_drivers,
    top_driver,
    usage_drivers,
)
from aifinops.store import Store
from aifinops.store.allocation_queries import read_allocation
from aifinops.store.estate_queries import meter_usage
from aifinops.store.reconciliation_queries import price_rows

__all__ = ["NO_USE_CASE", "cost_drivers_document", "read_meter_usage"]

#: How usage without a use case is named.
NO_USE_CASE = "(no use case)"
_METERS = {
    "input": "input_price_id",
    "cached_input": "cached_input_price_id",
    "cache_write": "cache_write_price_id",
    "output": "output_price_id",
    "unit": "unit_price_id",
}


def read_meter_usage(store: Store, start: dt.date, end: dt.date) -> list[MeterUsage]:
    """The usage per use case, account, kind, retry/step class and prices charged, with those prices."""
    rows = meter_usage(store, start, end)
    book = price_rows(store, {r[c] for r in rows for c in _METERS.values() if r[c] is not None})
    return [
        MeterUsage(
            use_case=r["use_case"] or NO_USE_CASE,
            resource_id=(r["resource_id"] or "").lower(),
            kind=r["kind"],
            retry=bool(r["retry"]),
            extra_step=bool(r["extra_step"]),
            currency=r["currency"] if r["unpriced_events"] == 0 else None,
            events=int(r["events"]),
            unpriced_events=int(r["unpriced_events"]),
            input_tokens=int(r["input_tokens"] or 0),
            cached_input_tokens=int(r["cached_input_tokens"] or 0),
            cache_write_tokens=int(r["cache_write_tokens"] or 0),
            output_tokens=int(r["output_tokens"] or 0),
            reasoning_tokens=int(r["reasoning_tokens"] or 0),
            quantity=from_nanos(int(r["quantity_nanos"] or 0)),
            cost_nanos=int(r["cost_nanos"] or 0),
            prices={
                meter: (int(book[r[c]].price_nanos), int(book[r[c]].unit_size))
                for meter, c in _METERS.items()
                if r[c] is not None and r[c] in book
            },
        )
        for r in rows
    ]


def _money(nanos: int, currency: str, basis: Basis) -> dict[str, str]:
    return {"amount": plain(from_nanos(nanos)), "currency": currency, "basis": basis.value}


def _share(part: int, whole: int) -> str | None:
    return None if whole <= 0 else plain((Decimal(part) / whole).quantize(Decimal("0.0001")))


def _use_case_json(
    use_case: str, currency: str, used: UsageDrivers | None, loaded: LoadedDrivers | None, basis: Basis
) -> dict[str, Any]:
    used = used or UsageDrivers(use_case, currency)
    allocated = sum(loaded.categories.values()) if loaded else None
    drivers = [(name, used.meters[name], Basis.ESTIMATED) for name in TOKEN_DRIVERS]
    if loaded is not None:
        drivers += [(c, loaded.categories[c], basis) for c in LOADED_CATEGORIES if c != "model_tokens"]
        drivers.append(("idle_capacity", loaded.idle_share_nanos, basis))
    whole = max(used.estimated_nanos, allocated or 0)
    return {
        "use_case": use_case,
        "currency": currency,
        "estimated": _money(used.estimated_nanos, currency, Basis.ESTIMATED),
        "allocated": None if allocated is None else _money(allocated, currency, basis),
        "drivers": [
            {"driver": name, **_money(nanos, currency, b), "share": _share(nanos, whole)}
            for name, nanos, b in drivers
            if nanos
        ],
        "top_driver": top_driver([(name, nanos) for name, nanos, _ in drivers]),
        "of_which": {
            "retries": _money(used.retries_nanos, currency, Basis.ESTIMATED),
            "extra_steps": _money(used.extra_steps_nanos, currency, Basis.ESTIMATED),
            "retrieval_calls": _money(used.retrieval_calls_nanos, currency, Basis.ESTIMATED),
            "billed_model_tokens": None
            if loaded is None
            else _money(loaded.categories["model_tokens"], currency, basis),
        },
        "cached_share": None
        if used.cached_share is None
        else plain(used.cached_share.quantize(Decimal("0.0001"))),
        "cache_savings": _money(used.cache_savings_nanos, currency, Basis.ESTIMATED),
    }


def _usage_by_resource(rows: list[MeterUsage]) -> Mapping[str, Mapping[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        out[r.resource_id][r.use_case] += r.input_tokens + r.output_tokens
    return out


def cost_drivers_document(
    store: Store,
    *,
    start: dt.date,
    end: dt.date,
    basis: Basis = Basis.ACTUAL,
    allocation: AllocationResult | None = None,
) -> dict[str, Any]:
    """Per use case: its estimated cost split by token meter, the billed services allocated to it on
    ``basis`` (from the stored allocation of the days ``[start, end)``, when it is over ``use_case``), its
    share of idle capacity, what retries, extra steps and retrieval calls cost of it, and its top driver.
    ``allocation``: that stored allocation, when the caller has read it already."""
    rows = read_meter_usage(store, start, end)
    used = {(u.use_case, u.currency): u for u in usage_drivers(rows)}
    result = read_allocation(store, start, end, basis=basis) if allocation is None else allocation
    loaded = {
        (d.use_case or NO_USE_CASE, d.currency): d
        for d in loaded_drivers(result, usage_by_resource=_usage_by_resource(rows))
    }
    keys = sorted(set(used) | set(loaded))
    items = [_use_case_json(uc, cur, used.get((uc, cur)), loaded.get((uc, cur)), basis) for uc, cur in keys]
    items.sort(key=lambda i: -Decimal((i["allocated"] or i["estimated"])["amount"]))
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "basis": basis.value,
        "allocated": "use_case" in result.dimensions,
        "unpriced_events": sum(r.unpriced_events for r in rows),
        "use_cases": items,
    }
