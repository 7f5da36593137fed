"""Reading stored Azure Monitor metric samples back (written by :mod:`aifinops.store.metric_samples`)."""

from __future__ import annotations

import datetime as dt

import orjson
import sqlalchemy as sa

from aifinops.domain import MetricSample, from_nanos
from aifinops.store.cost_tables import metric_samples
from aifinops.store.store import Store

__all__ = ["read_metric_samples"]


def read_metric_samples(
    store: Store, start: dt.datetime, end: dt.datetime, *, metric: str | None = None
) -> list[MetricSample]:
    """Stored metric samples with ``ts`` in ``[start, end)``, ordered by resource, metric and time."""
    m = metric_samples.c
    cond = (m.ts >= start) & (m.ts < end)
    if metric is not None:
        cond &= m.metric == metric
    with store.reader() as conn:
        rows = (
            conn.execute(sa.select(metric_samples).where(cond).order_by(m.resource_id, m.metric, m.ts, m.id))
            .mappings()
            .all()
        )
    return [
        MetricSample(
            resource_id=r["resource_id"],
            metric=r["metric"],
            ts=r["ts"],
            value=from_nanos(r["value_nanos"]),
            aggregation=r["aggregation"],
            unit=r["unit"],
            interval=r["interval"],
            deployment=r["deployment"] or None,
            model=r["model"] or None,
            dimensions=orjson.loads(r["dimensions"]),
        )
        for r in rows
    ]
