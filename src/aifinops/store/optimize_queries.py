"""Reading what the optimizer needs, aggregated by the database: call groups and task step counts.

A month of a million events comes back as a few thousand rows: calls grouped by who made them, the prices
charged, step, attempt, status, whether an identical request came earlier in the task, whether the model
stopped at its length limit, and the size class of their input and output.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from aifinops.store.store import Store
from aifinops.store.tables import task_outcomes, task_rollup, usage_events

__all__ = ["CALL_KEYS", "SIZE_CLASSES", "call_groups", "hourly_tokens", "task_steps"]

#: Upper bounds (exclusive) of the token size classes: ×1.25 steps from 64 tokens, then one open class.
SIZE_CLASSES: tuple[int, ...] = tuple(int(64 * 1.25**i) for i in range(52))
#: What a call group is keyed by, besides its size classes.
CALL_KEYS = (
    "use_case",
    "app",
    "agent",
    "deployment",
    "model",
    "deployment_type",
    "region",
    "kind",
    "currency",
    "input_price_id",
    "cached_input_price_id",
    "output_price_id",
    "unit_price_id",
    "step",
    "attempt",
    "status",
)


def _size_class(column: Any) -> Any:
    return sa.case(*((column < bound, i) for i, bound in enumerate(SIZE_CLASSES)), else_=len(SIZE_CLASSES))


def _filters(table: Any, where: Mapping[str, Sequence[str]]) -> list[Any]:
    return [table.c[k].in_(list(values)) for k, values in where.items()]


def _task_filters(where: Mapping[str, Sequence[str]] | None) -> dict[str, Sequence[str]]:
    """The filters a task can be held to (its dimensions; not an event's kind or status)."""
    return {k: v for k, v in (where or {}).items() if k in task_rollup.c}


def call_groups(
    store: Store, start: dt.datetime, end: dt.datetime, *, where: Mapping[str, Sequence[str]] | None = None
) -> list[dict[str, Any]]:
    """Priced events of ``[start, end)`` as call groups with their sums (``where``: the values each named
    dimension may take)."""
    e = usage_events.c
    earlier = usage_events.alias("earlier")
    repeat = sa.exists().where(
        earlier.c.task_id == e.task_id,
        earlier.c.request_hash == e.request_hash,
        sa.func.coalesce(earlier.c.tenant, "") == sa.func.coalesce(e.tenant, ""),
        earlier.c.status == "ok",
        sa.or_(earlier.c.ts < e.ts, sa.and_(earlier.c.ts == e.ts, earlier.c.id < e.id)),
    )
    duplicate = sa.case(
        (sa.and_(e.request_hash.is_not(None), e.task_id.is_not(None), repeat), 1), else_=0
    ).label("duplicate")
    length = sa.case((e.finish_reason == "length", 1), else_=0).label("length_stop")
    in_class = _size_class(e.input_tokens).label("input_class")
    out_class = _size_class(e.output_tokens).label("output_class")
    keys = [*(e[k] for k in CALL_KEYS), duplicate, length, in_class, out_class]
    sums = [
        sa.func.count().label("calls"),
        *(
            sa.func.sum(e[c]).label(c)
            for c in ("input_tokens", "cached_input_tokens", "output_tokens", "quantity_nanos", "cost_nanos")
        ),
        sa.func.min(e.task_id).label("first_task"),
        sa.func.max(e.task_id).label("last_task"),
    ]
    query = (
        sa.select(*keys, *sums)
        .where(e.ts >= start, e.ts < end, e.cost_nanos.is_not(None), *_filters(usage_events, where or {}))
        .group_by(*keys)
    )
    with store.reader() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def task_steps(
    store: Store, start: dt.datetime, end: dt.datetime, *, where: Mapping[str, Sequence[str]] | None = None
) -> list[dict[str, Any]]:
    """Tasks started in ``[start, end)`` counted per use case, highest step and outcome (None = open)."""
    t, o = task_rollup.c, task_outcomes.c
    per_task = (
        sa.select(
            t.tenant,
            t.task_id,
            sa.func.min(t.use_case).label("use_case"),
            sa.func.max(t.max_step).label("max_step"),
        )
        .where(t.first_ts >= start, t.first_ts < end, *_filters(task_rollup, _task_filters(where)))
        .group_by(t.tenant, t.task_id)
        .subquery("per_task")
    )
    joined = per_task.outerjoin(
        task_outcomes, sa.and_(o.tenant == per_task.c.tenant, o.task_id == per_task.c.task_id)
    )
    keys = [per_task.c.use_case, per_task.c.max_step, o.outcome]
    query = sa.select(*keys, sa.func.count().label("tasks")).select_from(joined).group_by(*keys)
    with store.reader() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def hourly_tokens(
    store: Store, start: dt.datetime, end: dt.datetime, *, where: Mapping[str, Sequence[str]] | None = None
) -> list[dict[str, Any]]:
    """Per deployment, model, deployment type and hour since the epoch: input, cached and output tokens."""
    e = usage_events.c
    keys = [e.deployment, e.model, e.deployment_type, e.region, e.hour]
    query = (
        sa.select(
            *keys,
            sa.func.sum(e.input_tokens).label("input_tokens"),
            sa.func.sum(e.cached_input_tokens).label("cached_input_tokens"),
            sa.func.sum(e.output_tokens).label("output_tokens"),
        )
        .where(e.ts >= start, e.ts < end, e.deployment.is_not(None), *_filters(usage_events, where or {}))
        .group_by(*keys)
    )
    with store.reader() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]
