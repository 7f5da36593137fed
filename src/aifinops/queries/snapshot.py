"""One period at a glance (``/api/snapshot``): totals by basis, top spenders, KPIs, allocation, budgets and
freshness — computed live, or as it was kept after a collection."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aifinops.domain import Basis, from_nanos, plain
from aifinops.engine.kpis import ALLOCATED_BASES
from aifinops.engine.optimize.finding import OptimizeSettings
from aifinops.queries.budgets import budget_statuses, budget_statuses_json
from aifinops.queries.costs import billed_totals
from aifinops.queries.freshness import freshness_json
from aifinops.queries.kpis import read_kpis
from aifinops.queries.periods import TimeRange, billing_days
from aifinops.queries.price_book import price_book_json
from aifinops.queries.recommendations import recommendations_document
from aifinops.queries.serialize import kpi_json
from aifinops.store import Store
from aifinops.store.allocation_queries import bucket_totals
from aifinops.store.snapshot_queries import latest_snapshot, snapshot_history
from aifinops.store.usage_queries import UsageQuery, query_usage

__all__ = ["TOP_DIMENSIONS", "snapshot_document", "snapshot_history_document", "stored_snapshot"]

TOP_DIMENSIONS = ("app", "use_case", "tenant", "model", "agent")


def _monthly(q: UsageQuery, group_by: tuple[str, ...] = ()) -> UsageQuery:
    return UsageQuery(
        start=q.start,
        end=q.end,
        granularity="month",
        group_by=group_by,
        filters=q.filters,
        timezone=q.timezone,
    )


def _top(store: Store, q: UsageQuery, dim: str, *, n: int = 5) -> list[dict[str, Any]]:
    acc: dict[tuple[str | None, str], int] = {}
    for r in query_usage(store, _monthly(q, (dim,))):
        if r.currency:
            key = (r.group[dim], r.currency)
            acc[key] = acc.get(key, 0) + r.sums["cost_nanos"]
    ranked = sorted(acc.items(), key=lambda kv: (-kv[1], str(kv[0])))[:n]
    return [
        {dim: k[0], "amount": plain(from_nanos(v)), "currency": k[1], "basis": "estimated"} for k, v in ranked
    ]


def _usage_part(
    store: Store, q: UsageQuery, *, tenant: str | None, now: dt.datetime, billed: list[dict[str, str]]
) -> dict[str, Any]:
    """The snapshot's totals (estimated, then ``billed``), top spenders, KPIs and freshness."""
    totals: dict[str, int] = {}
    unpriced = events = 0
    for r in query_usage(store, _monthly(q)):
        events += r.sums["events"]
        unpriced += r.sums["unpriced_events"]
        if r.currency:
            totals[r.currency] = totals.get(r.currency, 0) + r.sums["cost_nanos"]
    days = billing_days(TimeRange(q.start, q.end), q.timezone)
    report = read_kpis(store, start=q.start, end=q.end, days=days, by=("use_case",), tenant=tenant)
    return {
        "period": {"start": q.start.isoformat(), "end": q.end.isoformat(), "timezone": q.timezone},
        "generated_at": now.isoformat(),
        "totals": [
            {"amount": plain(from_nanos(v)), "currency": c, "basis": Basis.ESTIMATED.value}
            for c, v in sorted(totals.items())
        ]
        + billed,
        "events": events,
        "unpriced_events": unpriced,
        "top": {d: _top(store, q, d) for d in TOP_DIMENSIONS},
        "kpi_bases": [b.value for b in report.bases],
        "kpis": [kpi_json(k, ("use_case",)) for k in report.kpis],
        "freshness": freshness_json(store),
    }


def _allocation_totals(store: Store, q: UsageQuery) -> dict[str, list[dict[str, str]]]:
    """Allocated, idle and unallocated cost per basis and currency, where an allocation is stored."""
    start, end = billing_days(TimeRange(q.start, q.end), q.timezone)
    out: dict[str, list[dict[str, str]]] = {}
    for basis in ALLOCATED_BASES:
        totals = bucket_totals(store, start, end, basis=basis)
        if totals:
            out[basis.value] = [
                {"currency": c, "bucket": b, "amount": plain(from_nanos(v))}
                for (c, b), v in sorted(totals.items())
            ]
    return out


def snapshot_document(
    store: Store,
    q: UsageQuery,
    *,
    timezone: str,
    tenant: str | None,
    now: dt.datetime,
    optimize: OptimizeSettings | None = None,
) -> dict[str, Any]:
    """Everything the snapshot of ``q``'s period shows: estimate, bill, allocation, KPIs, budgets,
    recommendations (with the ``optimize:`` settings) and freshness, as ``tenant`` (None: every tenant) sees
    them at ``now``."""
    body = _usage_part(store, q, tenant=tenant, now=now, billed=billed_totals(store, q, tenant=tenant))
    body["allocation"] = {} if tenant is not None else _allocation_totals(store, q)
    as_of = min(now, q.end - dt.timedelta(microseconds=1))
    statuses = budget_statuses(store, default_tz=timezone, as_of=as_of, tenant=tenant)
    body["budgets"] = budget_statuses_json(statuses)
    body["recommendations"] = _recommendations(store, q, tenant, optimize)
    body["price_book"] = price_book_json(store, now=now)
    return body


_KEPT = ("rank", "lever", "scope", "action", "policy", "savings", "stacked_savings", "savings_per_month")


def _recommendations(
    store: Store, q: UsageQuery, tenant: str | None, optimize: OptimizeSettings | None
) -> dict[str, Any]:
    """The period's recommendations in short (the full ones: ``/api/recommendations``)."""
    where = dict(q.filters) | ({"tenant": (tenant,)} if tenant is not None else {})
    doc = recommendations_document(store, start=q.start, end=q.end, where=where, settings=optimize)
    return {
        "items": [{k: r[k] for k in _KEPT} for r in doc["recommendations"]],
        "all_applied": {k: doc["all_applied"][k] for k in ("savings", "savings_per_month")},
    }


def stored_snapshot(store: Store, period: str, *, timezone: str) -> dict[str, Any] | None:
    """The latest kept snapshot of ``period`` in ``timezone`` with when and why it was kept, or None."""
    stored = latest_snapshot(store, period, timezone=timezone)
    if stored is None:
        return None
    return {
        **stored.body,
        "stored": {"generated_at": stored.generated_at.isoformat(), "trigger": stored.trigger},
    }


def snapshot_history_document(store: Store, period: str) -> dict[str, Any]:
    """The kept snapshots of ``period``, newest first, with their totals (``/api/snapshots``)."""
    return {
        "period": period,
        "items": [
            {
                "generated_at": r.generated_at.isoformat(),
                "trigger": r.trigger,
                "timezone": r.timezone,
                "totals": r.body.get("totals", []),
            }
            for r in snapshot_history(store, period)
        ],
    }
