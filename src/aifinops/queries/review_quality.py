"""Parts of the monthly cost review: allocation quality, data quality and what changed since last month."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from aifinops.domain import Basis, Price, from_nanos, plain
from aifinops.engine.allocation import AllocationResult
from aifinops.engine.showback import build_showback, check_chargeback
from aifinops.queries.freshness import cost_freshness, freshness
from aifinops.queries.reconciliation import reconciliation_document
from aifinops.sources.resource_graph import ownership_matrix
from aifinops.store import Store
from aifinops.store.estate_queries import usage_paths
from aifinops.store.inventory_queries import read_inventory
from aifinops.store.price_queries import read_prices

__all__ = ["allocation_quality", "changes", "data_quality"]

_SHARE = Decimal("0.0001")


def _ratio(part: int, whole: int) -> str | None:
    return None if not whole else plain((Decimal(part) / whole).quantize(_SHARE))


def allocation_quality(
    store: Store, result: AllocationResult, *, basis: Basis, period: str, max_unallocated_share: Decimal
) -> dict[str, Any]:
    """How much of the bill is owned: the unallocated share per currency against the chargeback limit, why
    the rest is unallocated, resources without tags or without owner / cost center, and cost with no use
    case."""
    rows = ownership_matrix(read_inventory(store))
    out: dict[str, Any] = {
        "basis": basis.value,
        "max_unallocated_share": plain(max_unallocated_share),
        "allocated": bool(result.dimensions),
        "untagged_resources": [r.resource_id for r in rows if len(r.missing) == 4],
        "ownership_gaps": [
            {"resource_id": r.resource_id, "name": r.name, "type": r.type, "missing": list(r.missing)}
            for r in rows
            if "owner" in r.missing or "cost_center" in r.missing
        ],
        "unallocated": [],
        "reasons": [],
        "no_use_case": [],
    }
    if not result.dimensions:
        return out
    showback = build_showback(result, by=result.dimensions, period=period, basis=basis)
    check = check_chargeback(showback, max_unallocated_share=max_unallocated_share)
    shares = dict(check.shares)
    out["unallocated"] = [
        {
            "currency": t.currency,
            "amount": plain(from_nanos(t.unallocated_nanos)),
            "share": plain(shares[t.currency].quantize(_SHARE)),
            "within_limit": shares[t.currency] <= max_unallocated_share,
            "idle": plain(from_nanos(t.idle_nanos)),
            "purchases": plain(from_nanos(t.purchases_nanos)),
            "total": plain(from_nanos(t.total_nanos)),
        }
        for t in showback.totals
    ]
    reasons: dict[tuple[str, str], int] = defaultdict(int)
    for item in showback.unallocated:
        reasons[(item.reason, item.currency)] += item.amount_nanos
    out["reasons"] = [
        {"reason": r, "currency": c, "amount": plain(from_nanos(n))}
        for (r, c), n in sorted(reasons.items(), key=lambda kv: -abs(kv[1]))[:8]
    ]
    if "use_case" in result.dimensions:
        at = result.dimensions.index("use_case")
        orphan: dict[str, int] = defaultdict(int)
        for row in showback.rows:
            if row.bucket.value == "allocated" and not row.key[at]:
                orphan[row.currency] += row.amount_nanos
        out["no_use_case"] = [
            {"currency": c, "amount": plain(from_nanos(n))} for c, n in sorted(orphan.items())
        ]
    return out


def _stale(last: dt.datetime, now: dt.datetime, hours: float) -> bool:
    return (now - last).total_seconds() > hours * 3600


def data_quality(
    store: Store,
    *,
    start: dt.date,
    end: dt.date,
    now: dt.datetime,
    stale_hours: float,
    events: int,
    unpriced: int,
) -> dict[str, Any]:
    """Unpriced usage, billed resources without telemetry, price mismatches against the bill, and how fresh
    each usage source and each billed-cost source is (is the month's bill complete?)."""
    rec = reconciliation_document(
        store, start, end, basis=Basis.ACTUAL, as_of=now.date(), tolerance=Decimal("0.05")
    )
    missing: dict[tuple[str, str], list[Any]] = {}
    for row in rec["resources"]:
        if row["status"] == "telemetry_missing":
            slot = missing.setdefault((row["resource_id"], row["currency"]), [Decimal(0), 0])
            slot[0] += Decimal(row["actual"])
            slot[1] += 1
    statuses = [r["status"] for r in rec["meters"]]
    last_day = end - dt.timedelta(days=1)
    return {
        "events": events,
        "unpriced_events": unpriced,
        "unpriced_share": _ratio(unpriced, events),
        "missing_telemetry": [
            {"resource_id": rid, "currency": c, "billed": plain(v[0]), "days": v[1]}
            for (rid, c), v in sorted(missing.items(), key=lambda kv: -kv[1][0])
        ],
        "price_mismatches": [p for p in rec["prices"] if p["mismatch"]],
        "meters_drifting": statuses.count("drift"),
        "meters_not_billed": statuses.count("cost_missing") + statuses.count("billing_lag"),
        "usage_sources": [
            {
                "source": f["source"],
                "last_ingest_at": f["last_ingest_at"].isoformat(),
                "stale": _stale(f["last_ingest_at"], now, stale_hours),
            }
            for f in freshness(store)
            if not f["source"].startswith("billed:")  # billed cost is judged below, by its billing days
        ],
        "billed_sources": [
            {
                "source": c.source,
                "basis": c.basis,
                "collected_at": c.collected_at.isoformat(),
                "last_billing_day": None if c.last_data_day is None else c.last_data_day.isoformat(),
                "complete": c.last_data_day is not None and c.last_data_day >= last_day,
            }
            for c in cost_freshness(store)
        ],
    }


def _names(rows: Iterable[dict[str, Any]], key: str) -> set[str]:
    return {r[key] for r in rows if r[key]}


def _price_key(p: Price) -> tuple[str, ...]:
    deployment_type = p.deployment_type.value if p.deployment_type else ""
    return (p.model, p.model_version or "", deployment_type, p.region or "", p.meter_kind.value, p.currency)


def _in_effect(prices: Sequence[Price], at: dt.datetime) -> dict[tuple[str, ...], Price]:
    out: dict[tuple[str, ...], Price] = {}
    for p in prices:
        if p.effective_start <= at and (p.effective_end is None or at < p.effective_end):
            out[_price_key(p)] = p  # a later price of the same meter wins
    return out


def _price_json(key: tuple[str, ...], before: Price | None, after: Price | None) -> dict[str, Any]:
    def per_million(p: Price | None) -> str | None:
        return None if p is None else plain((p.price * 1_000_000 / p.unit_size).normalize())

    model, version, deployment_type, region, meter, currency = key
    return {
        "model": model, "model_version": version or None, "deployment_type": deployment_type or None,
        "region": region or None, "meter_kind": meter, "currency": currency,
        "before_per_million": per_million(before), "after_per_million": per_million(after),
        "effective_start": None if after is None else after.effective_start.isoformat(),
        "source": None if after is None else after.source,
    }  # fmt: skip


def changes(store: Store, *, start: dt.date, end: dt.date, previous: dt.date) -> dict[str, Any]:
    """What is new (or gone) in ``[start, end)`` against ``[previous, start)``: apps, use cases, models and
    deployments with usage, and the prices in effect at the end of the month that differ from its start."""
    now, before = usage_paths(store, start, end), usage_paths(store, previous, start)
    out: dict[str, Any] = {"new": {}, "gone": {}}
    for key in ("app", "use_case", "model", "deployment"):
        seen, seen_before = _names(now, key), _names(before, key)
        out["new"][key] = sorted(seen - seen_before)
        out["gone"][key] = sorted(seen_before - seen)
    out["previous_month_had_usage"] = bool(before)
    prices = read_prices(store)
    first = _in_effect(prices, dt.datetime.combine(start, dt.time(), dt.UTC))
    last = _in_effect(prices, dt.datetime.combine(end, dt.time(), dt.UTC) - dt.timedelta(microseconds=1))
    moved = [
        _price_json(k, first.get(k), last.get(k))
        for k in sorted(set(first) | set(last))
        if first.get(k) is None
        or last.get(k) is None
        or first[k].price != last[k].price
        or first[k].unit_size != last[k].unit_size
    ]
    out["prices"] = moved
    return out
