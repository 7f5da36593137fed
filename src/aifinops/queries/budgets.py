"""Budgets as read: definitions, each budget's status (spend, forecast, thresholds crossed) and fired alerts.

Spend is read per scope with :mod:`aifinops.store.spend_queries` and judged with
:func:`aifinops.engine.nowcast.budget_status`; ``/api/budgets/status``, the snapshot, ``/metrics``, the
budget watch and ``aifinops budgets check`` all evaluate through :func:`evaluate_budgets`. A scoped budget's
billed spend is what the stored allocation charged its scope wherever an allocation covers the day; the
status lists the sources of its days (:mod:`aifinops.engine.spend_sources`) and says why any day fell back
to an estimated share of the whole bill.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from aifinops.domain import Basis, from_nanos, plain
from aifinops.engine.budgets import Budget, BudgetStatus, budget_to_dict, scope_label
from aifinops.engine.nowcast import budget_status
from aifinops.engine.periods import Period, local_date, zone
from aifinops.engine.spend_sources import SpendSource
from aifinops.store import Store
from aifinops.store.budget_queries import alert_records, stored_budget, stored_budgets
from aifinops.store.budgets import AlertRecord, StoredBudget
from aifinops.store.spend_queries import (
    AllocatedSpend,
    allocated_spend,
    billed_spend,
    estimated_spend,
    last_complete_day,
    scope_key,
)

__all__ = [
    "alerts_document",
    "budget_document",
    "budget_status_document",
    "budget_statuses",
    "budget_statuses_json",
    "budgets_document",
    "evaluate_budgets",
    "stored_budget_json",
    "visible",
]

_HISTORY_DAYS = 28  # the forecast's training window
_BILLED = (Basis.ACTUAL, Basis.AMORTIZED)


def _decimals(series: Mapping[dt.date, int]) -> dict[dt.date, Decimal]:
    return {day: from_nanos(n) for day, n in series.items()}


def evaluate_budgets(
    store: Store, budget_list: Sequence[Budget], *, as_of: dt.datetime, default_tz: str
) -> list[BudgetStatus]:
    """The status of every budget whose period contains ``as_of`` (custom ranges outside it are skipped)."""
    last_complete = {b: last_complete_day(store, b) for b in _BILLED}
    groups: dict[tuple[str, str], list[_Member]] = defaultdict(list)
    for budget in budget_list:
        period = budget.period_at(as_of, default_tz)
        if period is not None:
            today = local_date(as_of, period.tz)
            window_first = min(period.first_day, today - dt.timedelta(days=_HISTORY_DAYS))
            groups[(period.tz, budget.currency)].append((budget, period, window_first))
    statuses = []
    for (tz, currency), members in groups.items():
        statuses += _evaluate_group(
            store, members, tz=tz, currency=currency, as_of=as_of, complete=last_complete
        )
    return sorted(statuses, key=lambda s: s.budget.name)


_Member = tuple[Budget, Period, dt.date]  # a budget, its period at as_of, where its forecast history starts


def _billed_basis(budget: Budget) -> Basis:
    return Basis.AMORTIZED if budget.basis is Basis.AMORTIZED else Basis.ACTUAL


def _evaluate_group(
    store: Store,
    members: Sequence[_Member],
    *,
    tz: str,
    currency: str,
    as_of: dt.datetime,
    complete: Mapping[Basis, dt.date | None],
) -> list[BudgetStatus]:
    """The budgets of one zone and currency, their spend read once for all of them."""
    first, last_day = min(w for _, _, w in members), local_date(as_of, tz)
    estimated = estimated_spend(
        store, [b.scope for b, _, _ in members], first_day=first, end=as_of, tz=zone(tz), currency=currency
    )
    billed = {
        basis: _decimals(
            billed_spend(store, basis=basis, first_day=first, last_day=last_day, currency=currency)
        )
        for basis in _BILLED
    }
    allocated = {
        basis: allocated_spend(
            store,
            [b.scope for b, _, _ in members if b.scope and _billed_basis(b) is basis],
            basis=basis,
            first_day=first,
            last_day=last_day,
            currency=currency,
        )
        for basis in {_billed_basis(b) for b, _, _ in members if b.scope}
    }
    total, statuses = _decimals(estimated.total), []
    for budget, period, window_first in members:
        basis = _billed_basis(budget)
        by_allocation = allocated.get(basis)
        status = budget_status(
            budget,
            period=period,
            as_of=as_of,
            history_first_day=window_first,
            scope_estimated=_decimals(estimated.by_scope.get(scope_key(budget.scope), {})),
            total_estimated=total,
            billed_total=billed[basis],
            last_complete_day=complete[basis],
            scope_allocated=None
            if by_allocation is None
            else _decimals(by_allocation.by_scope.get(scope_key(budget.scope), {})),
        )
        statuses.append(replace(status, note=_fallback_note(status, by_allocation, basis)))
    return statuses


def _fallback_note(status: BudgetStatus, allocated: AllocatedSpend | None, basis: Basis) -> str:
    """Why some days of a scoped budget are an estimated share of the bill rather than its allocated cost."""
    fallback = next((s for s in status.sources if s.source is SpendSource.ESTIMATE_SHARE), None)
    if fallback is None:
        return ""
    wanted = set(status.budget.scope)
    runs = [] if allocated is None else [dims for dims in allocated.days.values() if not wanted <= set(dims)]
    why = (
        f"were allocated on the {basis.value} basis over {list(runs[0])}, not over "
        f"{sorted(wanted - set(runs[0]))}"
        if runs
        else f"have no allocation on the {basis.value} basis"
    )
    return (
        f"{fallback.days} day(s) from {fallback.first_day} to {fallback.last_day} {why}: their spend is "
        "the scope's estimated share of the whole bill (idle capacity, purchases and unallocated cost "
        "included); allocate them (POST /api/allocation/run or `aifinops report showback`) over the "
        "scope's dimensions for its allocated cost"
    )


def visible(budget: Budget, tenant: str | None) -> bool:
    """A tenant-bound reader sees only the budgets of exactly its tenant."""
    return tenant is None or budget.scope.get("tenant") == (tenant,)


def budget_statuses(
    store: Store, *, default_tz: str, as_of: dt.datetime, tenant: str | None = None
) -> list[BudgetStatus]:
    """The status at ``as_of`` of every stored budget the reader sees."""
    stored = [s.budget for s in stored_budgets(store)]
    statuses = evaluate_budgets(store, stored, as_of=as_of, default_tz=default_tz)
    return [s for s in statuses if visible(s.budget, tenant)]


def budget_statuses_json(statuses: Sequence[BudgetStatus]) -> list[dict[str, Any]]:
    """Budget statuses as JSON (``/api/budgets/status``, the snapshot and ``aifinops budgets check``)."""
    return [_status_json(s) for s in statuses]


def budget_status_document(statuses: Sequence[BudgetStatus], *, as_of: dt.datetime) -> dict[str, Any]:
    """``/api/budgets/status`` and ``aifinops budgets check --json``."""
    return {"as_of": as_of.isoformat(), "budgets": budget_statuses_json(statuses)}


def _status_json(s: BudgetStatus) -> dict[str, Any]:
    f = s.forecast
    enforced = s.enforced
    return {
        "budget": s.budget.name,
        "scope": scope_label(s.budget.scope),
        "period": {
            "key": s.period.key,
            "start": s.period.start.isoformat(),
            "end": s.period.end.isoformat(),
            "timezone": s.period.tz,
        },
        "amount": {"amount": plain(s.budget.amount), "currency": s.budget.currency},
        "spend": {
            "amount": plain(s.spend.amount),
            "currency": s.spend.currency,
            "basis": s.spend.basis.value,
        },
        "spend_source": s.spend_source,
        "spend_sources": [
            {
                "source": d.source.value,
                "days": d.days,
                "first_day": d.first_day.isoformat(),
                "last_day": d.last_day.isoformat(),
            }
            for d in s.sources
        ],
        "note": s.note or None,
        "ratio": str(s.ratio),
        "exceeded": s.exceeded,
        "forecast": None
        if f is None
        else {
            "amount": plain(f.point),
            "low": str(f.low),
            "high": str(f.high),
            "currency": f.currency,
            "run_rate_per_day": str(f.run_rate),
            "days_left": str(f.days_left),
            "method": f.method,
            "explanation": f.explanation,
        },
        "forecast_ratio": None if s.forecast_ratio is None else str(s.forecast_ratio),
        "crossed": [t.key for t in s.crossed],
        "enforcement": None
        if enforced is None
        else {"action": enforced.action.value, "downgrade_to": enforced.downgrade_to},
    }


def stored_budget_json(stored: StoredBudget) -> dict[str, Any]:
    """A budget definition with where it came from and its version."""
    return {
        **budget_to_dict(stored.budget),
        "origin": stored.origin,
        "version": stored.version,
        "created_at": stored.created_at.isoformat(),
        "updated_at": stored.updated_at.isoformat(),
    }


def budgets_document(store: Store, *, tenant: str | None) -> list[dict[str, Any]]:
    """Every budget definition the reader sees (``GET /api/budgets``)."""
    return [stored_budget_json(s) for s in stored_budgets(store) if visible(s.budget, tenant)]


def budget_document(store: Store, name: str, *, tenant: str | None) -> dict[str, Any] | None:
    """One budget definition, or None when there is none the reader sees."""
    stored = stored_budget(store, name)
    return None if stored is None or not visible(stored.budget, tenant) else stored_budget_json(stored)


def alerts_document(
    store: Store, *, budget: str | None, since: dt.datetime | None, limit: int, tenant: str | None
) -> list[dict[str, Any]]:
    """Fired budget alerts, newest first, each with the delivery status of every channel."""
    records = alert_records(store, budget=budget, since=since, limit=limit)
    if tenant is not None:
        allowed = {s.budget.name for s in stored_budgets(store) if visible(s.budget, tenant)}
        records = [r for r in records if r.budget in allowed]
    return [_alert_json(r) for r in records]


def _alert_json(a: AlertRecord) -> dict[str, Any]:
    return {
        "id": a.id,
        "budget": a.budget,
        "threshold": a.threshold,
        "period": a.period_key,
        "fired_at": a.fired_at.isoformat(),
        "observed": {
            "amount": plain(from_nanos(a.observed_nanos)),
            "currency": a.currency,
            "basis": a.basis.value,
        },
        "budget_amount": {"amount": plain(from_nanos(a.amount_nanos)), "currency": a.currency},
        "ratio": a.ratio,
        "summary": a.summary,
        "delivery_status": a.delivery_status,
        "deliveries": [
            {
                "channel": d.channel,
                "kind": d.kind,
                "status": d.status,
                "attempts": d.attempts,
                "http_status": d.http_status,
                "error": d.error,
                "finished_at": d.finished_at.isoformat(),
            }
            for d in a.deliveries
        ],
    }
