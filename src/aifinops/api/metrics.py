"""Prometheus /metrics: one collector over the read models of :mod:`aifinops.queries.metrics`, run at scrape
time on the app's own registry."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from aifinops.config import MetricsSettings
from aifinops.domain import from_nanos
from aifinops.engine.optimize.finding import OptimizeSettings
from aifinops.queries.freshness import cost_freshness, freshness
from aifinops.queries.metrics import (
    LabelCap,
    budget_gauges,
    labelled_usage,
    month_kpis,
    recommendation_savings,
)
from aifinops.queries.price_book import price_book_json
from aifinops.store import Store

__all__ = ["StaleWhileRevalidate", "StoreCollector"]

_log = logging.getLogger(__name__)

_TOKEN_TYPES = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
)


def _fold(
    rows: Sequence[dict[str, Any]], keys: Sequence[str], sums: Sequence[str]
) -> dict[tuple[str, ...], dict[str, int]]:
    acc: dict[tuple[str, ...], dict[str, int]] = {}
    for r in rows:
        k = tuple(str(r[key] or "") for key in keys)
        slot = acc.setdefault(k, dict.fromkeys(sums, 0))
        for s in sums:
            slot[s] += int(r[s] or 0)
    return acc


class StaleWhileRevalidate:
    """Serve the last computed value; recompute in a background thread once it is older than ``max_age``.

    Reading the store over a large month takes long enough that a scrape must not wait for it: the scrape
    answers from the previous result and at most one refresh runs at a time. The first call computes inline.
    ``max_age=0`` computes on every call (tests, small stores).
    """

    def __init__(self, compute: Callable[[], list[Metric]], *, max_age: float) -> None:
        self._compute, self._max_age = compute, max_age
        self._lock = threading.Lock()
        self._value: list[Metric] | None = None
        self._at = 0.0
        self._refreshing = False

    def get(self) -> list[Metric]:
        if self._max_age <= 0:
            return self._compute()
        with self._lock:
            value, fresh = self._value, time.monotonic() - self._at < self._max_age
            start = value is not None and not fresh and not self._refreshing
            if start:
                self._refreshing = True
        if value is None:
            return self._store(self._compute())
        if start:
            threading.Thread(target=self._refresh, name="aifinops-metrics-refresh", daemon=True).start()
        return value

    def _store(self, value: list[Metric]) -> list[Metric]:
        with self._lock:
            self._value, self._at = value, time.monotonic()
        return value

    def _refresh(self) -> None:
        try:
            self._store(self._compute())
        except Exception:  # the next scrape retries; the error is logged, never raised into a scrape
            _log.exception("refreshing /metrics from the store failed")
        finally:
            with self._lock:
                self._refreshing = False


class StoreCollector(Collector):
    """Yields aifinops_* metric families from the store at scrape time: usage, tasks and freshness from the
    last computed value (see :class:`StaleWhileRevalidate`), budgets evaluated at each scrape."""

    def __init__(
        self,
        store: Store,
        settings: MetricsSettings,
        *,
        timezone: str = "UTC",
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        optimize: OptimizeSettings | None = None,
    ) -> None:
        self.store, self.settings, self.timezone, self.clock = store, settings, timezone, clock
        self.optimize = optimize
        # Kept for the life of the collector: a value's series never moves into or out of ``other``.
        self._label_cap = LabelCap(settings.labels, settings.label_cap)
        self._cache = StaleWhileRevalidate(self._compute, max_age=settings.refresh_seconds)

    def collect(self) -> Iterator[Metric]:
        yield from self._cache.get()
        yield from self._budgets()

    def _compute(self) -> list[Metric]:
        return [*self._read()]

    def _read(self) -> Iterator[Metric]:
        labels = list(self.settings.labels)
        by_status = labelled_usage(self.store, self._label_cap)
        yield from self._usage(by_status, labels)
        yield from self._tasks()
        yield from self._freshness()
        yield from self._price_book()
        yield from self._recommendations()

    def _recommendations(self) -> Iterator[Metric]:
        savings = GaugeMetricFamily(
            "aifinops_recommendation_savings",
            "Savings per month of the recommendations over the last 30 days, stacked in the levers' order "
            "(each on what the earlier levers leave), in units of the currency label",
            labels=["lever", "currency", "basis"],
        )
        for (lever, currency, basis), amount in sorted(
            recommendation_savings(self.store, now=self.clock(), settings=self.optimize).items()
        ):
            savings.add_metric([lever, currency, basis], float(amount))
        yield savings

    def _usage(self, rows: list[dict[str, Any]], labels: list[str]) -> Iterator[Metric]:
        tokens = CounterMetricFamily(
            "aifinops_tokens", "Tokens reported by apps, by token type", labels=[*labels, "type"]
        )
        for key, s in _fold(rows, labels, _TOKEN_TYPES).items():
            for t in _TOKEN_TYPES:
                tokens.add_metric([*key, t.removesuffix("_tokens")], s[t])
        yield tokens
        requests = CounterMetricFamily(
            "aifinops_requests",
            "Model and tool requests by status and kind",
            labels=[*labels, "status", "kind"],
        )
        for key, s in _fold(rows, [*labels, "status", "kind"], ["requests"]).items():
            requests.add_metric(list(key), s["requests"])
        yield requests
        cost = CounterMetricFamily(
            "aifinops_estimated_cost",
            "Estimated cost (usage × list/contract price) in units of the currency label",
            labels=[*labels, "currency", "basis"],
        )
        unpriced = CounterMetricFamily(
            "aifinops_unpriced_events", "Events with no price: their cost is unknown", labels=labels
        )
        for key, s in _fold(
            [r for r in rows if r["currency"]], [*labels, "currency"], ["cost_nanos"]
        ).items():
            cost.add_metric([*key, "estimated"], float(from_nanos(s["cost_nanos"])))
        for key, s in _fold(rows, labels, ["unpriced_events"]).items():
            unpriced.add_metric(list(key), s["unpriced_events"])
        yield cost
        yield unpriced

    def _tasks(self) -> Iterator[Metric]:
        report = month_kpis(self.store, now=self.clock())
        tasks = GaugeMetricFamily(
            "aifinops_tasks",
            "Tasks started this month by use case and outcome",
            labels=["use_case", "outcome"],
        )
        cps = GaugeMetricFamily(
            "aifinops_cost_per_successful_task",
            "Cost per successful task this month (estimated; actual and amortized fully loaded from the "
            "stored allocation), in units of the currency label",
            labels=["use_case", "currency", "basis"],
        )
        for t in report.tasks:
            tasks.add_metric([t.group[0], t.outcome], t.tasks)
        for k in report.kpis:
            for c in k.costs:
                if c.per_successful_task is not None:  # Prometheus takes floats: the one place we convert
                    cps.add_metric([k.group[0], c.currency, c.basis.value], float(c.per_successful_task))
        yield tasks
        yield cps

    def _freshness(self) -> Iterator[Metric]:
        last = GaugeMetricFamily(
            "aifinops_last_ingest_timestamp_seconds",
            "When data last arrived, by source (usage:<how>, billed:<source>:<basis>)",
            labels=["source"],
        )
        for f in freshness(self.store):
            last.add_metric([f["source"]], f["last_ingest_at"].timestamp())
        yield last
        collected = GaugeMetricFamily(
            "aifinops_cost_collected_timestamp_seconds",
            "When billed cost was last collected, by source and basis (newest scope)",
            labels=["source", "basis"],
        )
        billed = GaugeMetricFamily(
            "aifinops_cost_last_billing_day_timestamp_seconds",
            "Start (UTC) of the newest billing day with cost data, by source and basis",
            labels=["source", "basis"],
        )
        for c in cost_freshness(self.store):
            collected.add_metric([c.source, c.basis], c.collected_at.timestamp())
            day = c.last_data_day
            if day is not None:
                billed.add_metric(
                    [c.source, c.basis], dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()
                )
        yield collected
        yield billed

    def _price_book(self) -> Iterator[Metric]:
        book = price_book_json(self.store, now=self.clock())
        prices = GaugeMetricFamily("aifinops_price_book_prices", "Prices in the price book")
        prices.add_metric([], book["prices"])
        yield prices
        if book["age_seconds"] is not None:
            age = GaugeMetricFamily(
                "aifinops_price_book_age_seconds",
                "Seconds since the newest prices were captured (a sync, or the shipped snapshot's capture)",
            )
            age.add_metric([], book["age_seconds"])
            yield age

    def _budgets(self) -> Iterator[Metric]:
        labels = ["budget", "currency", "basis", "period"]
        spend = GaugeMetricFamily(
            "aifinops_budget_spend_ratio", "Spend so far ÷ budget amount in the current period", labels=labels
        )
        forecast = GaugeMetricFamily(
            "aifinops_budget_forecast_ratio", "Period-end forecast ÷ budget amount", labels=labels
        )
        active = GaugeMetricFamily(
            "aifinops_budget_active_alerts", "Thresholds fired in the current period", labels=labels
        )
        for g in budget_gauges(self.store, timezone=self.timezone, now=self.clock()):
            values = [g.budget, g.currency, g.basis, g.period]
            spend.add_metric(values, float(g.spend_ratio))
            if g.forecast_ratio is not None:
                forecast.add_metric(values, float(g.forecast_ratio))
            active.add_metric(values, g.active_alerts)
        yield from (spend, forecast, active)
