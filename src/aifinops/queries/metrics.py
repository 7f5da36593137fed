"""The figures behind ``/metrics``: usage under bounded labels, this month's task KPIs and budget gauges.

Labels are a configured subset of the allocation dimensions; each label gives at most ``cap`` values a series
of their own and folds the rest into ``other``, so cardinality stays bounded whatever apps send. The values
are chosen once per process and kept (:class:`LabelCap`): the usage series are counters, and a value moving
between its own series and ``other`` would make both fall, which Prometheus reads as a reset.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aifinops.engine.optimize.finding import OptimizeSettings
from aifinops.queries.budgets import budget_statuses
from aifinops.queries.kpis import KpiReport, read_kpis
from aifinops.queries.recommendations import recommendations_document
from aifinops.store import Store
from aifinops.store.budget_queries import fired_thresholds
from aifinops.store.usage_queries import usage_totals

__all__ = [
    "OTHER",
    "BudgetGauge",
    "LabelCap",
    "budget_gauges",
    "cap_labels",
    "labelled_usage",
    "month_kpis",
    "recommendation_savings",
]

OTHER = "other"


class LabelCap:
    """Which values of each label have a series of their own: chosen as they first appear, then kept.

    While a label has fewer than ``cap`` values of its own, the busiest new values (by events, then by
    name) join; once it is full every new value goes to ``other``. A value never moves from its own series
    to ``other`` nor back, so every capped counter series only grows (restarting the process starts over,
    which Prometheus reads as the reset it is). Scrapes may call :meth:`apply` from several threads.
    """

    def __init__(self, labels: Sequence[str], cap: int) -> None:
        if cap < 1:
            raise ValueError(f"a label cap must be at least 1, got {cap}")
        self.labels, self.cap = tuple(labels), cap
        self._kept: dict[str, set[str]] = {label: set() for label in self.labels}
        self._seen: dict[str, set[str]] = {label: set() for label in self.labels}
        self._lock = threading.Lock()

    def apply(self, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Copies of ``rows`` with each label's value, or ``other`` when it has no series of its own."""
        with self._lock:
            keep = {label: frozenset(self._admit(label, rows)) for label in self.labels}
        out = []
        for r in rows:
            copy = dict(r)
            for label in self.labels:
                v = r[label] or ""
                copy[label] = v if v in keep[label] else OTHER
            out.append(copy)
        return out

    def _admit(self, label: str, rows: Sequence[dict[str, Any]]) -> set[str]:
        kept, seen = self._kept[label], self._seen[label]
        weight: dict[str, int] = {}
        for r in rows:
            v = r[label] or ""
            if v not in seen:
                weight[v] = weight.get(v, 0) + int(r.get("events") or 0)
        for v in sorted(weight, key=lambda v: (-weight[v], v)):
            if len(kept) < self.cap:
                kept.add(v)
            seen.add(v)
        return kept


def cap_labels(rows: Sequence[dict[str, Any]], labels: Sequence[str], cap: int) -> list[dict[str, Any]]:
    """Replace values outside each label's ``cap`` busiest (by events) with ``other``; None becomes ''.

    One ranking of ``rows`` alone; ``/metrics`` keeps a :class:`LabelCap` across scrapes instead.
    """
    return LabelCap(labels, cap).apply(rows)


def labelled_usage(store: Store, label_cap: LabelCap) -> list[dict[str, Any]]:
    """All-time usage sums per label value, status, kind and currency, each label capped by ``label_cap``."""
    return label_cap.apply(usage_totals(store, group_by=[*label_cap.labels, "status", "kind"]))


#: The window recommendations are read over for /metrics: the last 30 days, whatever the calendar says.
RECOMMENDATION_WINDOW = dt.timedelta(days=30)


def recommendation_savings(
    store: Store, *, now: dt.datetime, settings: OptimizeSettings | None = None
) -> dict[tuple[str, str, str], Decimal]:
    """Stacked savings per month by lever, currency and basis of the recommendations over the last 30 days
    (estimated, and actual and amortized where the allocation covers the window).

    Labels stay bounded: one series per lever (eleven at most), currency and basis, never per scope.
    """
    doc = recommendations_document(store, start=now - RECOMMENDATION_WINDOW, end=now, settings=settings)
    out: dict[tuple[str, str, str], Decimal] = {}
    for rec in doc["recommendations"]:
        for amount in rec["stacked_savings_per_month"]:
            key = (rec["lever"], amount["currency"], amount["basis"])
            out[key] = out.get(key, Decimal(0)) + Decimal(amount["amount"])
    return out


def month_kpis(store: Store, *, now: dt.datetime) -> KpiReport:
    """Cost per successful task by use case of the tasks started this (UTC) month."""
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    tomorrow = now + dt.timedelta(days=1)
    # The allocation is read as per-group sums (allocated_groups), never line by line: cheap enough
    # for a background refresh even over a month of a million lines.
    return read_kpis(store, start=month, end=tomorrow, days=(month.date(), tomorrow.date()), by=("use_case",))


@dataclass(frozen=True, slots=True)
class BudgetGauge:
    """One budget in its current period: spend and forecast over its amount, thresholds fired."""

    budget: str
    currency: str
    basis: str
    period: str
    spend_ratio: Decimal
    forecast_ratio: Decimal | None
    active_alerts: int


def budget_gauges(store: Store, *, timezone: str, now: dt.datetime) -> list[BudgetGauge]:
    """Every budget's spend and forecast ratio at ``now`` and the thresholds fired in its period."""
    statuses = budget_statuses(store, default_tz=timezone, as_of=now)
    fired = fired_thresholds(store, (s.period.key for s in statuses))
    return [
        BudgetGauge(
            s.budget.name,
            s.budget.currency,
            s.budget.basis.value,
            s.period.key,
            s.ratio,
            s.forecast_ratio,
            len(fired.get((s.budget.name, s.period.key), ())),
        )
        for s in statuses
    ]
