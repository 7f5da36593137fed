"""The monthly cost review (the Govern phase) as one document: cost per successful task per use case against
last month and its target, budgets, anomalies, the top recommendations, allocation and data quality, what
changed, the estate and the cost drivers — every part from the read models the API and the dashboard use.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from aifinops.config import ReviewSettings
from aifinops.domain import Basis, from_nanos, plain
from aifinops.engine.kpis import TaskKpi
from aifinops.engine.optimize.finding import OptimizeSettings
from aifinops.errors import PastRetentionError
from aifinops.queries.anomalies import period_anomalies
from aifinops.queries.budgets import alerts_document, budget_statuses, budget_statuses_json
from aifinops.queries.cost_drivers import NO_USE_CASE, cost_drivers_document
from aifinops.queries.estate import estate_document
from aifinops.queries.kpis import KpiReport, read_day_kpis
from aifinops.queries.periods import month_bounds
from aifinops.queries.recommendations import recommendations_document
from aifinops.queries.review_quality import allocation_quality, changes, data_quality
from aifinops.store import Store
from aifinops.store.allocation_queries import bucket_totals, read_allocation
from aifinops.store.cost_queries import read_cost_totals
from aifinops.store.usage_queries import usage_totals

__all__ = ["REVIEW_SECTIONS", "review_document"]

#: The sections of the review, in the order the pack shows them.
REVIEW_SECTIONS = (
    "summary",
    "cost_per_successful_task",
    "budgets",
    "anomalies",
    "recommendations",
    "allocation_quality",
    "data_quality",
    "changes",
    "estate",
    "cost_drivers",
)
_RATIO = Decimal("0.0001")


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), dt.UTC)


def _summary(store: Store, start: dt.date, end: dt.date, events: list[dict[str, Any]]) -> dict[str, Any]:
    bill = [
        {"basis": b.value, "currency": c, "amount": plain(m.amount)}
        for b in (Basis.ACTUAL, Basis.AMORTIZED)
        for c, m in sorted(read_cost_totals(store, start, end, basis=b).items())
    ]
    estimated = [
        {
            "basis": "estimated",
            "currency": r["currency"],
            "amount": plain(from_nanos(int(r["cost_nanos"] or 0))),
        }
        for r in events
        if r["currency"]
    ]
    buckets = [
        {"basis": b.value, "currency": c, "bucket": bucket, "amount": plain(from_nanos(n))}
        for b in (Basis.ACTUAL, Basis.AMORTIZED)
        for (c, bucket), n in sorted(bucket_totals(store, start, end, basis=b).items())
    ]
    return {"bill": bill, "estimated": estimated, "allocation": buckets}


def _per_task(kpi: TaskKpi | None, basis: Basis) -> dict[str, Decimal]:
    """Cost per successful task per currency on ``basis``."""
    if kpi is None:
        return {}
    return {c.currency: c.per_successful_task for c in kpi.on(basis) if c.per_successful_task is not None}


def _change(now: Decimal | None, before: Decimal | None) -> str | None:
    if now is None or not before:
        return None
    return plain(((now - before) / before).quantize(_RATIO))


def _six(value: Decimal | None) -> str | None:
    return None if value is None else plain(value.quantize(Decimal("1e-6")))


def _kpi_row(
    kpi: TaskKpi, cur: str, per_task: list[dict[str, Decimal]], target: Decimal | None
) -> dict[str, Any]:
    """One use case in one currency: ``per_task`` is this month's, last month's and the estimated figure."""
    now, before, estimated = (p.get(cur) for p in per_task)
    status = (
        "no_target" if target is None or now is None else "above_target" if now > target else "within_target"
    )
    return {
        "use_case": kpi.group[0] or NO_USE_CASE,
        "currency": cur,
        "tasks": kpi.tasks,
        "succeeded": kpi.succeeded,
        "success_rate": None if kpi.success_rate is None else plain(kpi.success_rate.quantize(_RATIO)),
        "cost_per_successful_task": _six(now),
        "previous": _six(before),
        "change": _change(now, before),
        "target": None if target is None else plain(target),
        "status": status,
        "estimated": _six(estimated),
    }


def _kpi_rows(
    this: KpiReport, last: KpiReport, *, wanted: Basis, targets: Mapping[str, Decimal], currency: str
) -> tuple[str, list[dict[str, Any]]]:
    """Cost per successful task per use case on ``wanted`` (else estimated), beside last month and the target
    (in ``currency``)."""
    basis = wanted if wanted in this.bases else Basis.ESTIMATED
    previous = {k.group[0]: k for k in last.kpis}
    rows = []
    for kpi in sorted(this.kpis, key=lambda k: k.group[0]):
        per_task = [
            _per_task(kpi, basis),
            _per_task(previous.get(kpi.group[0]), basis),
            _per_task(kpi, Basis.ESTIMATED),
        ]
        target = targets.get(kpi.group[0] or NO_USE_CASE)
        for cur in sorted(set(per_task[0]) | ({currency} if target is not None else set())):
            rows.append(_kpi_row(kpi, cur, per_task, target if cur == currency else None))
    return basis.value, rows


def _budgets(store: Store, *, period: str, as_of: dt.datetime, tz: str) -> dict[str, Any]:
    statuses = [s for s in budget_statuses(store, default_tz=tz, as_of=as_of) if s.period.key == period]
    alerts = alerts_document(store, budget=None, since=None, limit=1000, tenant=None)
    return {
        "as_of": as_of.isoformat(),
        "statuses": budget_statuses_json(statuses),
        "alerts": [a for a in alerts if a["period"] == period],
    }


def _top_recommendations(
    store: Store, start: dt.date, end: dt.date, *, top: int, settings: OptimizeSettings | None
) -> dict[str, Any]:
    """The month's first ``top`` recommendations in the levers' order, as ``/api/recommendations`` gives them,
    and the what-if of applying every one of them."""
    doc = recommendations_document(store, start=_midnight(start), end=_midnight(end), settings=settings)
    return {
        "count": len(doc["recommendations"]),
        "top": doc["recommendations"][:top],
        "all_applied": doc["all_applied"],
    }


def review_document(
    store: Store,
    period: str,
    *,
    settings: ReviewSettings,
    currency: str,
    timezone: str,
    max_unallocated_share: Decimal,
    now: dt.datetime,
    optimize: OptimizeSettings | None = None,
) -> dict[str, Any]:
    """The review of the month ``period`` (``YYYY-MM``; billing days and UTC days) as of ``now``; ``optimize``
    is what the recommendations' levers are told (``optimize:`` of the configuration)."""
    start, end = month_bounds(period)
    previous = month_bounds(f"{start - dt.timedelta(days=1):%Y-%m}")[0]
    basis = Basis(settings.basis)
    allocated_on = basis if basis is not Basis.ESTIMATED else Basis.ACTUAL
    allocation = read_allocation(store, start, end, basis=allocated_on)
    shown, kpis = _kpi_rows(
        read_day_kpis(store, start, end, by=("use_case",)),
        read_day_kpis(store, previous, start, by=("use_case",)),
        wanted=basis,
        targets=settings.targets,
        currency=currency,
    )
    events = usage_totals(store, group_by=[], start=_midnight(start), end=_midnight(end))
    as_of = min(now, _midnight(end) - dt.timedelta(seconds=1))
    parts: dict[str, Callable[[], Any]] = {
        "summary": lambda: _summary(store, start, end, events),
        "cost_per_successful_task": lambda: kpis,
        "budgets": lambda: _budgets(store, period=period, as_of=as_of, tz=timezone),
        # One rule with the dashboard (/api/anomalies/days): each local day of the month, judged at its end.
        "anomalies": lambda: period_anomalies(
            store, start, end, by="use_case", tz=timezone, currency=currency
        ),
        "recommendations": lambda: _top_recommendations(
            store, start, end, top=settings.top_recommendations, settings=optimize
        ),
        "allocation_quality": lambda: allocation_quality(
            store, allocation, basis=allocated_on, period=period, max_unallocated_share=max_unallocated_share
        ),
        "data_quality": lambda: data_quality(
            store,
            start=start,
            end=end,
            now=now,
            stale_hours=settings.stale_usage_hours,
            events=sum(int(r["events"] or 0) for r in events),
            unpriced=sum(int(r["unpriced_events"] or 0) for r in events),
        ),
        "changes": lambda: changes(store, start=start, end=end, previous=previous),
        "estate": lambda: estate_document(
            store, start=start, end=end, allocation=allocation if allocated_on is Basis.ACTUAL else None
        ),
        "cost_drivers": lambda: cost_drivers_document(
            store, start=start, end=end, basis=allocated_on, allocation=allocation
        ),
    }
    sections, unavailable = _read_sections(parts)
    return {
        "period": period,
        "previous_period": f"{previous:%Y-%m}",
        "start": start.isoformat(),
        "end": end.isoformat(),
        "generated_at": now.isoformat(),
        "basis": shown,
        "currency": currency,
        "sections": list(REVIEW_SECTIONS),
        "unavailable": unavailable,
        **sections,
    }


def _read_sections(parts: Mapping[str, Callable[[], Any]]) -> tuple[dict[str, Any], dict[str, str]]:
    """Each section of :data:`REVIEW_SECTIONS` read, and why any that cannot be is unavailable (None).

    A month whose raw usage events retention dropped still has its roll-ups, task figures and allocations:
    only the sections that need the raw events (the optimizer's call groups) are unavailable.
    """
    sections: dict[str, Any] = {}
    unavailable: dict[str, str] = {}
    for name in REVIEW_SECTIONS:
        try:
            sections[name] = parts[name]()
        except PastRetentionError as exc:
            sections[name], unavailable[name] = None, str(exc)
    return sections, unavailable
