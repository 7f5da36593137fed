"""Metric samples in the store on SQLite and PostgreSQL: a window of samples replaced as a whole."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from aifinops.domain import MetricSample
from aifinops.store import Store
from aifinops.store.metric_sample_queries import read_metric_samples
from aifinops.store.metric_samples import MetricSampleStore


def test_metric_samples_are_replaced_per_window(store: Store) -> None:
    rid = "/subscriptions/s1/resourcegroups/rg/providers/microsoft.cognitiveservices/accounts/aoai"
    t0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    hour = dt.timedelta(hours=1)

    def sample(h: int, value: str) -> MetricSample:
        return MetricSample(
            resource_id=rid,
            metric="ProcessedPromptTokens",
            ts=t0 + h * hour,
            value=Decimal(value),
            aggregation="total",
            unit="Count",
            deployment="gpt-4o",
            dimensions={"ModelDeploymentName": "gpt-4o"},
        )

    MetricSampleStore(store).replace(
        [rid],
        ["ProcessedPromptTokens"],
        start=t0,
        end=t0 + 3 * hour,
        samples=[sample(0, "10"), sample(1, "20")],
    )
    MetricSampleStore(store).replace(
        [rid],
        ["ProcessedPromptTokens"],
        start=t0 + hour,
        end=t0 + 3 * hour,
        samples=[sample(1, "25"), sample(2, "5")],
    )
    stored = read_metric_samples(store, t0, t0 + 3 * hour)
    assert [(s.ts.hour, s.value, s.deployment) for s in stored] == [
        (0, Decimal(10), "gpt-4o"),
        (1, Decimal(25), "gpt-4o"),
        (2, Decimal(5), "gpt-4o"),
    ]
    assert stored[0].dimensions == {"ModelDeploymentName": "gpt-4o"}
