"""Prometheus /metrics: a collector over the store, run at scrape time on the app's own registry.

Labels are a configured subset of the allocation dimensions; each label keeps its ``label_cap`` busiest values
(by events) and folds the rest into ``other``, so cardinality stays bounded whatever apps send.
"""

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
from aifinops.engine.kpis import task_kpis
from aifinops.store import Store
from aifinops.store.cost_queries import read_cost_freshness
from aifinops.store.freshness_queries import read_freshness
from aifinops.store.kpi_input_queries import read_kpi_inputs
from aifinops.store.usage_queries import usage_totals

__all__ = ["StaleWhileRevalidate", "StoreCollector", "cap_labels"]

_log = logging.getLogger(__name__)

OTHER = "other"
_TOKEN_TYPES = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens")


def cap_labels(rows: Sequence[dict[str, Any]], labels: Sequence[str], cap: int) -> list[dict[str, Any]]:
    """Replace values outside each label's ``cap`` busiest (by events) with ``other``; None becomes ''."""
    keep: dict[str, set[str]] = {}
    for label in labels:
        weight: dict[str, int] = {}
        for r in rows:
            v = r[label] or ""
            weight[v] = weight.get(v, 0) + int(r.get("events") or 0)
        ranked = sorted(weight, key=lambda v: (-weight[v], v))
        keep[label] = set(ranked[:cap])
    out = []
    for r in rows:
        copy = dict(r)
        for label in labels:
            v = r[label] or ""
            copy[label] = v if v in keep[label] else OTHER
        out.append(copy)
    return out


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
    """Yields aifinops_* metric families from the store at scrape time."""

    def __init__(
        self,
        store: Store,
        settings: MetricsSettings,
        *,
        timezone: str = "UTC",
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.store, self.settings, self.timezone, self.clock = store, settings, timezone, clock
        self._cache = StaleWhileRevalidate(self._compute, max_age=settings.refresh_seconds)

    def collect(self) -> Iterator[Metric]:
        yield from self._cache.get()

    def _compute(self) -> list[Metric]:
        return [*self._read()]

    def _read(self) -> Iterator[Metric]:
        labels = list(self.settings.labels)
        by_status = cap_labels(
            usage_totals(self.store, group_by=[*labels, "status", "kind"]), labels, self.settings.label_cap
        )
        yield from self._usage(by_status, labels)
        yield from self._tasks()
        yield from self._freshness()

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
        now = self.clock()
        month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        tomorrow = now + dt.timedelta(days=1)
        # The allocation is read as per-group sums (allocated_groups), never line by line: cheap enough
        # for a background refresh even over a month of a million lines.
        inputs = read_kpi_inputs(
            self.store, start=month, end=tomorrow, days=(month.date(), tomorrow.date()), by=("use_case",)
        )
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
        for t in inputs.tasks:
            tasks.add_metric([t.group[0], t.outcome], t.tasks)
        for k in task_kpis(inputs.tasks, inputs.allocated):
            for c in k.costs:
                if c.per_successful_task is not None:  # Prometheus takes floats: the one place we convert
                    cps.add_metric([k.group[0], c.currency, c.basis.value], float(c.per_successful_task))
        yield tasks
        yield cps

    def _freshness(self) -> Iterator[Metric]:
        last = GaugeMetricFamily(
            "aifinops_last_ingest_timestamp_seconds", "When data last arrived, by source", labels=["source"]
        )
        for f in read_freshness(self.store):
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
        newest: dict[tuple[str, str], tuple[float, float | None]] = {}
        for c in read_cost_freshness(self.store):
            key = (c.source, c.basis.value)
            day = c.last_data_day
            day_ts = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() if day else None
            old = newest.get(key)
            if old is None or c.collected_at.timestamp() > old[0]:
                newest[key] = (c.collected_at.timestamp(), day_ts)
        for key, (at, day_ts) in sorted(newest.items()):
            collected.add_metric(list(key), at)
            if day_ts is not None:
                billed.add_metric(list(key), day_ts)
        yield collected
        yield billed
