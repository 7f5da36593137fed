"""Reading what the optimizer needs, aggregated by the database: call groups and task step counts.

A month of a million events comes back as a few thousand rows: calls grouped by who made them, the prices
charged, step, attempt, status, whether an identical request succeeded earlier in the task, whether the model
stopped at its length limit, and the size class of their input and output. Whole UTC days are read from
``optimize_daily`` (built by :class:`aifinops.store.optimize_days.OptimizeDayStore`), the rest from the
events; task step counts of whole UTC days from ``task_step_days`` (kept with the task roll-up), the rest
from the task roll-up.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from aifinops.domain import from_nanos
from aifinops.engine.usage_buckets import EPOCH, to_hour
from aifinops.store.cost_tables import cost_records
from aifinops.store.optimize_tables import GROUP_SUMS, optimize_daily, optimize_days
from aifinops.store.rollup_tables import STEP_KEYS, task_step_days
from aifinops.store.rollups import rolled_up
from aifinops.store.store import Store
from aifinops.store.tables import task_outcomes, task_rollup, usage_daily, usage_events, usage_rollup

__all__ = [
    "CALL_KEYS",
    "FLAG_KEYS",
    "SIZE_CLASSES",
    "call_groups",
    "daily_calls",
    "day_groups",
    "event_groups_select",
    "hourly_tokens",
    "ptu_costs",
    "ptu_hours",
    "rollup_task_steps",
    "stale_days",
    "task_steps",
]

#: Upper bounds (exclusive) of the token size classes: ×1.25 steps from 64 tokens, then one open class.
SIZE_CLASSES: tuple[int, ...] = tuple(int(64 * 1.25**i) for i in range(52))
#: What a call group is keyed by, besides :data:`FLAG_KEYS`.
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
FLAG_KEYS = ("duplicate", "length_stop", "input_class", "output_class")


_DAY = dt.timedelta(days=1)


def _size_class(column: Any) -> Any:
    return sa.case(*((column < bound, i) for i, bound in enumerate(SIZE_CLASSES)), else_=len(SIZE_CLASSES))


def _filters(table: Any, where: Mapping[str, Sequence[str]]) -> list[Any]:
    return [table.c[k].in_(list(values)) for k, values in where.items()]


def _task_filters(where: Mapping[str, Sequence[str]] | None) -> dict[str, Sequence[str]]:
    """The filters a task can be held to (its dimensions; not an event's kind or status)."""
    return {k: v for k, v in (where or {}).items() if k in task_rollup.c}


def event_groups_select(
    start: dt.datetime,
    end: dt.datetime,
    *,
    where: Mapping[str, Sequence[str]] | None = None,
    day: int | None = None,
) -> Any:
    """The SELECT grouping priced events of ``[start, end)`` into call groups (``day`` first when given)."""
    e = usage_events.c
    earlier = usage_events.alias("earlier")
    repeat = sa.exists().where(
        earlier.c.task_id == e.task_id,
        earlier.c.request_hash == e.request_hash,
        sa.func.coalesce(earlier.c.tenant, "") == sa.func.coalesce(e.tenant, ""),
        earlier.c.status == "ok",
        sa.or_(earlier.c.ts < e.ts, sa.and_(earlier.c.ts == e.ts, earlier.c.id < e.id)),
    )
    flags = [
        sa.case((sa.and_(e.request_hash.is_not(None), e.task_id.is_not(None), repeat), 1), else_=0).label(
            "duplicate"
        ),
        sa.case((e.finish_reason == "length", 1), else_=0).label("length_stop"),
        # a retrieval's size is what it returned (it has no input of its own)
        _size_class(e.input_tokens + e.retrieved_tokens).label("input_class"),
        _size_class(e.output_tokens).label("output_class"),
    ]
    keys = [*(e[k] for k in CALL_KEYS), *flags]
    sums = [
        sa.func.count().label("calls"),
        *(sa.func.coalesce(sa.func.sum(e[c]), 0).label(c) for c in GROUP_SUMS[1:]),
        sa.func.min(e.task_id).label("first_task"),
        sa.func.max(e.task_id).label("last_task"),
        sa.func.min(e.resource_id).label("resource_id"),
    ]
    leading = [] if day is None else [sa.literal(day, sa.BigInteger).label("day")]
    return (
        sa.select(*leading, *keys, *sums)
        .where(e.ts >= start, e.ts < end, e.cost_nanos.is_not(None), *_filters(usage_events, where or {}))
        .group_by(*keys)
    )


def day_groups(store: Store, first: int, following: int) -> list[dict[str, Any]]:
    """The call groups of the built UTC days ``[first, following)`` (days since the epoch), days summed.

    A month is some fifty thousand daily rows summed into a few thousand: the sums are kept in the process
    with the built days they came from (:class:`aifinops.store.derived_reads.DerivedReads`) and summed
    again when a day is built again or dropped."""
    kept = store.derived.read(
        ("optimize_daily", first, following),
        lambda: _built_days(store, first, following),
        lambda: tuple(_summed_days(store, first, following)),
    )
    return [dict(r) for r in kept]


def _built_days(store: Store, first: int, following: int) -> tuple[tuple[Any, ...], ...]:
    """Each built day of ``[first, following)`` with the events it was built from and when: a day's call
    groups change only when it is built again (a new time) or dropped."""
    o = optimize_days.c
    query = sa.select(o.day, o.events, o.built_at).where(o.day >= first, o.day < following).order_by(o.day)
    with store.reader() as conn:
        return tuple(tuple(r) for r in conn.execute(query))


def _summed_days(store: Store, first: int, following: int) -> list[dict[str, Any]]:
    d = optimize_daily.c
    keys = [d[k] for k in (*CALL_KEYS, *FLAG_KEYS)]
    query = (
        sa.select(
            *keys,
            *(sa.func.sum(d[c]).label(c) for c in GROUP_SUMS),
            sa.func.min(d.first_task).label("first_task"),
            sa.func.max(d.last_task).label("last_task"),
            sa.func.min(d.resource_id).label("resource_id"),
        )
        .where(d.day >= first, d.day < following)
        .group_by(*keys)
    )
    with store.reader() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def call_groups(
    store: Store, start: dt.datetime, end: dt.datetime, *, where: Mapping[str, Sequence[str]] | None = None
) -> list[dict[str, Any]]:
    """Priced events of ``[start, end)`` as call groups with their sums, read from the events themselves
    (``where``: the values each named dimension may take)."""
    with store.reader() as conn:
        return [dict(r._mapping) for r in conn.execute(event_groups_select(start, end, where=where))]


def stale_days(store: Store, first: int, following: int) -> dict[int, int]:
    """Days of ``[first, following)`` with events whose call groups are missing or older than their events:
    day → events stored that day."""
    rolled_up(store)
    u, o = usage_daily.c, optimize_days.c
    with store.reader() as conn:
        stored = dict(
            conn.execute(
                sa.select(u.day, sa.func.sum(u.events))
                .where(u.day >= first, u.day < following)
                .group_by(u.day)
            ).all()
        )
        built = dict(conn.execute(sa.select(o.day, o.events).where(o.day >= first, o.day < following)).all())
    return {int(day): int(n) for day, n in stored.items() if built.get(day) != n}


def daily_calls(
    store: Store, first: int, following: int, *, where: Mapping[str, Sequence[str]] | None = None
) -> list[dict[str, Any]]:
    """Model requests per use case and UTC day of ``[first, following)`` (days since the epoch): the shape of
    the traffic (people work weekdays; schedules run every day)."""
    rolled_up(store)
    u = usage_daily.c
    query = (
        sa.select(u.use_case, u.day, sa.func.sum(u.requests).label("calls"))
        .where(
            u.day >= first,
            u.day < following,
            u.kind.in_(["chat", "responses", "completion"]),
            *_filters(usage_daily, where or {}),
        )
        .group_by(u.use_case, u.day)
    )
    with store.reader() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def _raw_task_steps(
    conn: Any, start: dt.datetime, end: dt.datetime, where: Mapping[str, Sequence[str]], *, scan: bool
) -> list[dict[str, Any]]:
    """:func:`task_steps` read from the task rollup (``scan``: most of the table, read without the index)."""
    t, o = task_rollup.c, task_outcomes.c
    joined = task_rollup.outerjoin(task_outcomes, sa.and_(o.tenant == t.tenant, o.task_id == t.task_id))
    keys = [t.use_case, t.max_step, o.outcome, t.model]
    # Unary + on SQLite: a month is most of the table, scanned faster than walked through the index.
    first_ts = (
        sa.literal_column("+task_rollup.first_ts", type_=t.first_ts.type)
        if scan and conn.dialect.name == "sqlite"
        else t.first_ts
    )
    query = (
        sa.select(*keys, sa.func.count().label("tasks"))
        .select_from(joined)
        .where(t.currency != "", first_ts >= start, first_ts < end, *_filters(task_rollup, where))
        .group_by(*keys)
    )
    return [dict(r._mapping) for r in conn.execute(query)]


def _day_task_steps(conn: Any, first: int, following: int) -> list[dict[str, Any]]:
    """:func:`task_steps` of the whole UTC days ``[first, following)``, from ``task_step_days``."""
    s = task_step_days.c
    keys = [s[k] for k in (*STEP_KEYS, "nulls")]
    query = (
        sa.select(*keys, sa.func.sum(s.task_rows).label("tasks"))
        .where(s.day >= first, s.day < following)
        .group_by(*keys)
        .having(sa.func.sum(s.task_rows) > 0)
    )
    return [
        {
            **{k: None if r.nulls & (1 << i) else r._mapping[k] for i, k in enumerate(STEP_KEYS)},
            "tasks": r.tasks,
        }
        for r in conn.execute(query)
    ]


def rollup_task_steps(
    store: Store, start: dt.datetime, end: dt.datetime, *, where: Mapping[str, Sequence[str]] | None = None
) -> list[dict[str, Any]]:
    """:func:`task_steps` read from the task rollup alone, whatever the window (what the days must equal)."""
    rolled_up(store)
    with store.reader() as conn:
        return _raw_task_steps(conn, start, end, _task_filters(where), scan=True)


def task_steps(
    store: Store, start: dt.datetime, end: dt.datetime, *, where: Mapping[str, Sequence[str]] | None = None
) -> list[dict[str, Any]]:
    """Tasks with priced events started in ``[start, end)``, counted per use case, highest step and outcome
    (None = open). A task's priced events decide its step count: its unpriced ones cost nothing known.

    Counted per task rollup row (one per currency). Whole UTC days come from ``task_step_days``, the partial
    days at either end and filtered reads from the task rollup."""
    rolled_up(store)
    held = _task_filters(where)
    first = -(-(start - EPOCH) // _DAY)  # the first whole day, rounded up
    following = (end - EPOCH) // _DAY
    with store.reader() as conn:
        if held or first >= following:
            return _raw_task_steps(conn, start, end, held, scan=True)
        rows = _day_task_steps(conn, first, following)
        if start < EPOCH + first * _DAY:
            rows += _raw_task_steps(conn, start, EPOCH + first * _DAY, {}, scan=False)
        if EPOCH + following * _DAY < end:
            rows += _raw_task_steps(conn, EPOCH + following * _DAY, end, {}, scan=False)
    counted: dict[tuple[Any, ...], int] = {}
    for r in rows:
        key = tuple(r[k] for k in STEP_KEYS)
        counted[key] = counted.get(key, 0) + int(r["tasks"])
    return [{**dict(zip(STEP_KEYS, key, strict=True)), "tasks": n} for key, n in counted.items()]


def hourly_tokens(
    store: Store, start: dt.datetime, end: dt.datetime, *, where: Mapping[str, Sequence[str]] | None = None
) -> list[dict[str, Any]]:
    """Model calls' input, cached and output tokens per deployment, model and hour since the epoch, from the
    hourly rollup (whole hours of ``[start, end)``)."""
    rolled_up(store)
    r = usage_rollup.c
    first, following = to_hour(start), -(-int((end - EPOCH).total_seconds()) // 3600)
    keys = [r.deployment, r.model, r.hour]
    query = (
        sa.select(
            *keys,
            sa.func.sum(r.input_tokens).label("input_tokens"),
            sa.func.sum(r.cached_input_tokens).label("cached_input_tokens"),
            sa.func.sum(r.output_tokens).label("output_tokens"),
        )
        .where(
            r.hour >= first,
            r.hour < following,
            r.deployment != "",
            r.kind.in_(["chat", "responses", "completion"]),
            *_filters(usage_rollup, where or {}),
        )
        .group_by(*keys)
    )
    with store.reader() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def ptu_hours(store: Store, first: dt.date, following: dt.date) -> dict[str, Decimal]:
    """Provisioned throughput unit-hours billed (actual basis) per resource over the billing days
    ``[first, following)``: a PTU meter is billed per unit and hour, whatever the model."""
    c = cost_records.c
    query = (
        sa.select(c.resource_id, sa.func.sum(c.quantity_nanos))
        .where(
            c.basis == "actual",
            c.billing_day >= first,
            c.billing_day < following,
            c.resource_id.is_not(None),
            sa.func.lower(c.meter_name).like("%provisioned%unit%"),
        )
        .group_by(c.resource_id)
    )
    with store.reader() as conn:
        return {str(rid).lower(): from_nanos(int(n or 0)) for rid, n in conn.execute(query)}


def ptu_costs(store: Store, first: dt.date, following: dt.date) -> dict[str, tuple[Decimal, Decimal]]:
    """Nanos billed for provisioned throughput units per resource over the billing days ``[first,
    following)``, on the actual and the amortized basis (purchases left out): reserved unit-hours cost
    nothing in actual cost and the reservation's rate in amortized cost, so the two tell the reserved units
    and their rate apart from the hourly ones."""
    c = cost_records.c
    query = (
        sa.select(c.resource_id, c.basis, sa.func.sum(c.cost_nanos))
        .where(
            c.basis.in_(["actual", "amortized"]),
            c.billing_day >= first,
            c.billing_day < following,
            c.resource_id.is_not(None),
            sa.func.lower(c.meter_name).like("%provisioned%unit%"),
            sa.func.coalesce(sa.func.lower(c.charge_type), "usage") != "purchase",
        )
        .group_by(c.resource_id, c.basis)
    )
    out: dict[str, list[Decimal]] = {}
    with store.reader() as conn:
        for rid, basis, nanos in conn.execute(query):
            out.setdefault(str(rid).lower(), [Decimal(0), Decimal(0)])[basis == "amortized"] += int(
                nanos or 0
            )
    return {rid: (v[0], v[1]) for rid, v in out.items()}
