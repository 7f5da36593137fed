"""Task aggregates over billing days, read from the store for :func:`aifinops.engine.kpis.task_kpis`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from aifinops.engine.kpis import TaskAggregate
from aifinops.store.store import Store
from aifinops.store.task_queries import task_group_stats

__all__ = ["task_aggregates"]


def task_aggregates(store: Store, *, start: dt.date, end: dt.date, by: Sequence[str]) -> list[TaskAggregate]:
    """Tasks per group of ``by`` and outcome from UTC midnight of ``start`` to that of ``end``, with usage.

    A missing dimension value groups as ``""``, the way allocation lines name an unowned share.
    """
    lo = dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC)
    hi = dt.datetime.combine(end, dt.time(), tzinfo=dt.UTC)
    return [
        TaskAggregate(
            tuple(v or "" for v in s.group),
            s.outcome,
            tasks=s.tasks,
            steps=s.steps,
            retries=s.retries,
            tokens=s.input_tokens + s.output_tokens,
            estimated_nanos=dict(s.cost_nanos),
        )
        for s in task_group_stats(store, group_by=by, start=lo, end=hi)
    ]
