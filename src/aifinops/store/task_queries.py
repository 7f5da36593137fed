"""Reading tasks back: one task with its events and outcome, task lists, and per-group task aggregates.

A task is its id within its tenant (``''`` in the store, None in what these functions return, when its events
carry no tenant): two tenants that reuse an id have two tasks, never one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, and_, case, cast, exists, func, literal, select, tuple_

from aifinops.domain import DIMENSIONS, from_nanos
from aifinops.engine.kpis import TaskAggregate
from aifinops.store.rollup_tables import kpi_split_tasks
from aifinops.store.rollups import rolled_up
from aifinops.store.store import Store
from aifinops.store.tables import task_outcomes, task_rollup, usage_events

__all__ = ["TaskSums", "get_task", "group_costs", "list_tasks", "task_aggregates", "task_tenants"]

_T, _O, _S = task_rollup, task_outcomes, kpi_split_tasks
_COUNTS = (
    "events",
    "first_attempts",
    "retries",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "unpriced_events",
)
#: The sums of :func:`task_aggregates`, in the order of :class:`TaskAggregate`'s fields after ``tasks``.
_AGGREGATED = ("tasks", "steps", "retries", "input_tokens", "output_tokens", "unpriced_events")


def _in_period(stmt: Any, start: dt.datetime | None, end: dt.datetime | None, tenant: str | None) -> Any:
    """``stmt`` kept to the rows of tasks started in ``[start, end)`` (bounds optional) and of ``tenant``."""
    if start is not None:
        stmt = stmt.where(_T.c.first_ts >= start)
    if end is not None:
        stmt = stmt.where(_T.c.first_ts < end)
    if tenant is not None:
        stmt = stmt.where(_T.c.tenant == tenant)
    return stmt


def _per_task(
    start: dt.datetime | None,
    end: dt.datetime | None,
    tenant: str | None,
    dims: Sequence[str] = DIMENSIONS,
    split: bool | None = None,
    only: Sequence[tuple[str, str]] | None = None,
    *,
    since: dt.datetime | None = None,
) -> Any:
    """One row per task (tenant and id): dimensions, counts, and its outcome (NULL = open).

    A task belongs to the period of its first event. Rows are filtered before grouping so that the
    ``first_ts`` index bounds the work to the period (a task's priced and unpriced rows are filtered each by
    their own first event, which only differs for a task that straddles a period boundary).
    ``since``: only the tasks whose first event in the period is at or after it, found through the
    ``first_ts`` index and grouped over all their rows of the period.
    """
    cols = [
        _T.c.tenant,
        _T.c.task_id,
        *(func.min(_T.c[d]).label(d) for d in dims if d != "tenant"),
        func.min(_T.c.first_ts).label("first_ts"),
        func.max(_T.c.last_ts).label("last_ts"),
        func.max(_T.c.max_step).label("max_step"),
        *(cast(func.sum(_T.c[n]), BigInteger).label(n) for n in _COUNTS),
    ]
    stmt = select(*cols).group_by(_T.c.tenant, _T.c.task_id)
    if split is False:
        stmt = stmt.where(~exists().where(_S.c.tenant == _T.c.tenant, _S.c.task_id == _T.c.task_id))
    if only is not None:
        # The task ids alone as well: SQLite walks the task_id index for them, not for the pairs.
        ids = sorted({task_id for _, task_id in only})
        stmt = stmt.where(_T.c.task_id.in_(ids), tuple_(_T.c.tenant, _T.c.task_id).in_(only))
    if since is not None:
        recent = _in_period(
            select(_T.c.tenant, _T.c.task_id).where(_T.c.first_ts >= since), start, end, tenant
        )
        r = recent.distinct().subquery("recent")
        on = and_(_T.c.tenant == r.c.tenant, _T.c.task_id == r.c.task_id)
        stmt = stmt.select_from(r.join(_T, on)).having(func.min(_T.c.first_ts) >= since)
    return _in_period(stmt, start, end, tenant).subquery("per_task")


def _with_outcome(tasks: Any) -> Any:
    """``tasks`` (rows with tenant and task_id) outer-joined to their outcomes."""
    return tasks.outerjoin(_O, and_(_O.c.tenant == tasks.c.tenant, _O.c.task_id == tasks.c.task_id))


def _named(row: dict[str, Any]) -> dict[str, Any]:
    """A task row as read models show it: no tenant is None, and no outcome is ``open``."""
    row["tenant"] = row["tenant"] or None
    row["outcome"] = row["outcome"] or "open"
    return row


def list_tasks(
    store: Store,
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    filters: dict[str, str] | None = None,
    outcome: str | None = None,
    tenant: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Tasks with their totals and outcome, newest first (of every tenant, or of ``tenant``).

    The newest tasks are looked for among those started in the last hours of the period first, over wider
    and wider windows, and over the whole period only when those do not hold ``offset + limit`` of them: every
    task started in a window comes before every task started earlier, so a window that holds enough gives
    the same page as the whole period, without grouping every task of it.
    """

    def page(since: dt.datetime | None) -> Any:
        p = _per_task(start, end, tenant, since=since)
        stmt = select(p, _O.c.outcome, _O.c.ended_at).select_from(_with_outcome(p))
        for name, value in (filters or {}).items():
            stmt = stmt.where(p.c[name] == value)
        if outcome == "open":
            stmt = stmt.where(_O.c.outcome.is_(None))
        elif outcome:
            stmt = stmt.where(_O.c.outcome == outcome)
        return stmt.order_by(p.c.first_ts.desc(), p.c.tenant, p.c.task_id).limit(limit).offset(offset)

    rolled_up(store)
    with store.reader() as conn:
        for since in _windows(conn, start, end, tenant):
            rows = [dict(r._mapping) for r in conn.execute(page(since))]
            if len(rows) >= limit:
                break
        else:
            rows = [dict(r._mapping) for r in conn.execute(page(None))]
        costs = _costs(conn, [(r["tenant"], r["task_id"]) for r in rows])
    for r in rows:
        r["costs"] = costs.get((r["tenant"], r["task_id"]), {})
    return [_named(r) for r in rows]


#: How far back from the end of the period (or the newest task) the task list looks first, widening.
LIST_WINDOWS = (dt.timedelta(hours=1), dt.timedelta(hours=6), dt.timedelta(days=2), dt.timedelta(days=8))


def _windows(
    conn: Any, start: dt.datetime | None, end: dt.datetime | None, tenant: str | None
) -> list[dt.datetime]:
    """The starts of the windows :func:`list_tasks` tries, newest first, all after ``start``."""
    top = end
    if top is None:
        newest = conn.execute(_in_period(select(func.max(_T.c.first_ts)), start, None, tenant)).scalar()
        if newest is None:
            return []
        top = newest + dt.timedelta(microseconds=1)  # MIN/MAX keep the column's aware-UTC type
    return [top - w for w in LIST_WINDOWS if start is None or top - w > start]


def _costs(conn: Any, tasks: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Estimated cost per currency of each (tenant, task id)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for i in range(0, len(tasks), 500):
        stmt = select(_T.c.tenant, _T.c.task_id, _T.c.currency, _T.c.cost_nanos).where(
            tuple_(_T.c.tenant, _T.c.task_id).in_(tasks[i : i + 500]), _T.c.currency != ""
        )
        for r in conn.execute(stmt):
            out.setdefault((r.tenant, r.task_id), {})[r.currency] = from_nanos(r.cost_nanos)
    return out


def task_tenants(store: Store, task_id: str) -> list[str]:
    """The tenants that have a task ``task_id`` (``''``: one whose events carry no tenant), sorted."""
    rolled_up(store)
    with store.reader() as conn:
        stmt = select(_T.c.tenant).where(_T.c.task_id == task_id).distinct().order_by(_T.c.tenant)
        return [r.tenant for r in conn.execute(stmt)]


def get_task(store: Store, task_id: str, *, tenant: str) -> dict[str, Any] | None:
    """The task ``task_id`` of ``tenant`` (``''``: the task whose events carry no tenant) with its events in
    time order, or None when that tenant has no such task."""
    rolled_up(store)
    with store.reader() as conn:
        p = _per_task(None, None, tenant)
        head = conn.execute(
            select(
                p,
                _O.c.outcome,
                _O.c.ended_at,
                _O.c.value_nanos,
                _O.c.value_currency,
                _O.c.value_quantity_nanos,
                _O.c.value_unit,
            )
            .select_from(_with_outcome(p))
            .where(p.c.task_id == task_id)
        ).first()
        if head is None:
            return None
        task = dict(head._mapping)
        task["costs"] = _costs(conn, [(tenant, task_id)]).get((tenant, task_id), {})
        task["events"] = _events(conn, task_id, tenant)
    return _named(task)


def _events(conn: Any, task_id: str, tenant: str) -> list[dict[str, Any]]:
    e = usage_events.c
    stmt = (
        select(
            e.event_id,
            e.ts,
            e.step,
            e.attempt,
            e.kind,
            e.status,
            e.deployment,
            e.model,
            e.agent,
            e.tool_name,
            e.input_tokens,
            e.cached_input_tokens,
            e.output_tokens,
            e.reasoning_tokens,
            e.cache_write_tokens,
            e.retrieved_tokens,
            e.service_tier,
            e.latency_ms,
            e.cost_nanos,
            e.currency,
            e.unpriced_reason,
        )
        .where(e.task_id == task_id, func.coalesce(e.tenant, "") == tenant)
        .order_by(e.ts, e.id)
    )
    return [dict(r._mapping) for r in conn.execute(stmt)]


def task_aggregates(
    store: Store,
    *,
    group_by: Sequence[str],
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    tenant: str | None = None,
) -> list[TaskAggregate]:
    """Per group and outcome: tasks, steps (highest step, else first attempts), retries, tokens, unpriced
    events, estimated cost and business value per currency, for :func:`aifinops.engine.kpis.task_kpis`.

    A task belongs to the period of its first event; a missing dimension value groups as ``""``. Computed
    per task at read time; :func:`aifinops.store.task_kpi_queries.day_task_aggregates` answers the same from
    the per-day task aggregates.
    """
    rolled_up(store)
    with store.reader() as conn:
        costs = group_costs(conn, group_by, start=start, end=end, tenant=tenant)
        sums = TaskSums()
        sums.add_tasks(conn, group_by, start=start, end=end, tenant=tenant)
    return sums.aggregates(costs)


class TaskSums:
    """Per (group, outcome): the task sums of :data:`_AGGREGATED` and the business value per currency."""

    def __init__(self) -> None:
        self.sums: dict[tuple[Any, ...], list[int]] = {}
        self.values: dict[tuple[Any, ...], dict[str, int]] = {}

    def add(
        self, group: tuple[str, ...], outcome: str, counts: Sequence[Any], currency: Any, value: Any
    ) -> None:
        key = (group, outcome)
        slot = self.sums.setdefault(key, [0] * len(_AGGREGATED))
        for i, n in enumerate(counts):
            slot[i] += int(n or 0)
        if currency and value is not None:
            cur = self.values.setdefault(key, {})
            cur[currency] = cur.get(currency, 0) + int(value)

    def add_tasks(
        self,
        conn: Any,
        group_by: Sequence[str],
        *,
        start: dt.datetime | None,
        end: dt.datetime | None,
        tenant: str | None,
        split: bool | None = None,
    ) -> None:
        """Add the tasks started in ``[start, end)``, grouped per task at read time; with ``split`` only the
        tasks listed in ``kpi_split_tasks`` (True) or only the others (False)."""
        if split:  # few: read by their keys
            listed = [(r.tenant, r.task_id) for r in conn.execute(select(_S.c.tenant, _S.c.task_id))]
            for i in range(0, len(listed), 400):
                self._add(
                    conn, group_by, _per_task(start, end, tenant, tuple(group_by), only=listed[i : i + 400])
                )
            return
        self._add(conn, group_by, _per_task(start, end, tenant, dims=tuple(group_by), split=split))

    def _add(self, conn: Any, group_by: Sequence[str], p: Any) -> None:
        outcome = func.coalesce(_O.c.outcome, literal("open")).label("outcome")
        steps = case((p.c.max_step.is_not(None), p.c.max_step + 1), else_=p.c.first_attempts)
        keys = [p.c[g] for g in group_by]
        # Grouped by the value's currency too (NULL for most tasks): one pass, folded per outcome.
        stats = (
            select(
                *keys,
                outcome,
                _O.c.value_currency,
                func.count().label("tasks"),
                func.sum(steps).label("steps"),
                func.sum(p.c.retries).label("retries"),
                func.sum(p.c.input_tokens).label("input_tokens"),
                func.sum(p.c.output_tokens).label("output_tokens"),
                func.sum(p.c.unpriced_events).label("unpriced_events"),
                cast(func.sum(_O.c.value_nanos), BigInteger).label("value"),
            )
            .select_from(_with_outcome(p))
            .group_by(*keys, outcome, _O.c.value_currency)
        )
        for r in conn.execute(stats):
            group = tuple(r[i] or "" for i in range(len(keys)))
            self.add(group, r.outcome, [r._mapping[n] for n in _AGGREGATED], r.value_currency, r.value)

    def aggregates(self, costs: dict[tuple[Any, ...], dict[str, int]]) -> list[TaskAggregate]:
        """The task aggregates, each with the estimated cost of its group and outcome in ``costs``."""
        out = []
        for (group, name), (
            tasks,
            steps_,
            retries,
            input_tokens,
            output_tokens,
            unpriced,
        ) in self.sums.items():
            out.append(
                TaskAggregate(
                    group,
                    name,
                    tasks=tasks,
                    steps=steps_,
                    retries=retries,
                    input_tokens=input_tokens,
                    output_tokens=output_tokens,
                    unpriced_events=unpriced,
                    estimated_nanos=costs.get((*group, name), {}),
                    value_nanos=self.values.get((group, name), {}),
                )
            )
        return out


def group_costs(
    conn: Any,
    group_by: Sequence[str],
    *,
    start: dt.datetime | None,
    end: dt.datetime | None,
    tenant: str | None,
    costs: dict[tuple[Any, ...], dict[str, int]] | None = None,
) -> dict[tuple[Any, ...], dict[str, int]]:
    """Cost per group, outcome and currency in one pass over the priced task rows (no per-task grouping),
    added to ``costs`` when given."""
    outcome = func.coalesce(_O.c.outcome, literal("open")).label("outcome")
    keys = [_T.c[g] for g in group_by]
    stmt = (
        select(*keys, outcome, _T.c.currency, cast(func.sum(_T.c.cost_nanos), BigInteger).label("cost"))
        .select_from(_with_outcome(_T))
        .where(_T.c.currency != "")
        .group_by(*keys, outcome, _T.c.currency)
    )
    stmt = _in_period(stmt, start, end, tenant)
    costs = {} if costs is None else costs
    for r in conn.execute(stmt):
        k = (*(r[i] or "" for i in range(len(keys))), r.outcome)
        slot = costs.setdefault(k, {})
        slot[r.currency] = slot.get(r.currency, 0) + int(r.cost)
    return costs
