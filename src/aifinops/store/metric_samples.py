"""Azure Monitor metric samples in the store: each (resources, metrics, time range) replaced as a whole.

Reads are in :mod:`aifinops.store.metric_sample_queries`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from functools import partial

import orjson
import sqlalchemy as sa

from aifinops.domain import MetricSample, to_nanos
from aifinops.errors import ValidationError
from aifinops.store.cost_tables import metric_samples
from aifinops.store.store import Store

__all__ = ["MetricSampleStore"]


class MetricSampleStore:
    """Writes metric samples over one :class:`Store`."""

    def __init__(self, store: Store, *, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.store = store
        self._now = clock or partial(dt.datetime.now, dt.UTC)

    def replace(
        self,
        resource_ids: Sequence[str],
        metrics: Sequence[str],
        *,
        start: dt.datetime,
        end: dt.datetime,
        samples: Iterable[MetricSample],
    ) -> int:
        """Replace samples of these resources and metrics with ``ts`` in ``[start, end)``; returns rows."""
        m = metric_samples.c
        now = self._now()
        rows = [
            {
                "resource_id": s.resource_id.lower(),
                "metric": s.metric,
                "ts": s.ts,
                "aggregation": s.aggregation,
                "interval": s.interval,
                "unit": s.unit,
                "value_nanos": to_nanos(s.value),
                "deployment": s.deployment or "",
                "model": s.model or "",
                "dimensions": orjson.dumps(dict(s.dimensions), option=orjson.OPT_SORT_KEYS).decode(),
                "collected_at": now,
            }
            for s in samples
        ]
        outside = [r["ts"] for r in rows if not start <= r["ts"] < end]  # type: ignore[operator]
        if outside:
            raise ValidationError(f"metric sample at {outside[0]} is outside [{start}, {end})", field="ts")
        with self.store.session() as conn:
            conn.execute(
                sa.delete(metric_samples).where(
                    m.resource_id.in_([r.lower() for r in resource_ids])
                    & m.metric.in_(list(metrics))
                    & (m.ts >= start)
                    & (m.ts < end)
                )
            )
            if rows:
                conn.execute(sa.insert(metric_samples), rows)
        return len(rows)
