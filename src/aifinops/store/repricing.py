"""Re-pricing stored events with the current price book: explicit, audited, and rollups rebuilt to match."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, select, update

from aifinops.domain import (
    DeploymentType,
    EventKind,
    EventStatus,
    PricedUsage,
    ProcessingTier,
    UsageEvent,
    from_nanos,
    plain,
)
from aifinops.engine.usage_buckets import EPOCH, to_hour
from aifinops.errors import PastRetentionError
from aifinops.store import task_kpi_rollup
from aifinops.store.events import PRICE_COLUMNS, event_row, roll_up
from aifinops.store.meter_tables import usage_meter_daily
from aifinops.store.optimize_days import drop_days
from aifinops.store.retention import refuse_past_retention, retention_horizon
from aifinops.store.rollups import catch_up_in
from aifinops.store.store import Store
from aifinops.store.tables import reprice_runs, task_rollup, usage_daily, usage_events, usage_rollup

__all__ = ["RepriceReport", "RepricingStore", "rebuild_rollups"]

_CHUNK = 5000


@dataclass(frozen=True, slots=True)
class RepriceReport:
    events: int
    changed: int
    unpriced_before: int
    unpriced_after: int
    totals: dict[str, dict[str, str]]  # currency → {"before": amount, "after": amount}


def _event(r: Any) -> UsageEvent:
    return UsageEvent(
        event_id=r.event_id,
        ts=r.ts,
        task_id=r.task_id,
        step=r.step,
        attempt=r.attempt,
        app=r.app,
        use_case=r.use_case,
        agent=r.agent,
        tenant=r.tenant,
        user_group=r.user_group,
        cost_center=r.cost_center,
        team=r.team,
        environment=r.environment,
        deployment=r.deployment,
        model=r.model,
        provider=r.provider,
        model_version=r.model_version,
        deployment_type=DeploymentType(r.deployment_type) if r.deployment_type else None,
        region=r.region,
        resource_id=r.resource_id,
        priority=r.priority,
        input_tokens=r.input_tokens,
        cached_input_tokens=r.cached_input_tokens,
        output_tokens=r.output_tokens,
        reasoning_tokens=r.reasoning_tokens,
        cache_write_tokens=r.cache_write_tokens,
        service_tier=ProcessingTier(r.service_tier) if r.service_tier else None,
        requests=r.requests,
        quantity=from_nanos(r.quantity_nanos) if r.quantity_nanos is not None else None,
        unit=r.unit,
        kind=EventKind(r.kind),
        status=EventStatus(r.status),
        latency_ms=r.latency_ms,
        tool_name=r.tool_name,
        finish_reason=r.finish_reason,
        request_hash=r.request_hash,
        retrieved_tokens=r.retrieved_tokens or 0,
    )


@dataclass(slots=True)
class _Tally:
    """What a re-pricing run has seen so far."""

    events: int = 0
    changed: int = 0
    unpriced_before: int = 0
    unpriced_after: int = 0
    totals: dict[str, list[int]] = field(default_factory=dict)  # currency → [nanos before, nanos after]
    tasks: set[str] = field(default_factory=set)

    def add(self, currency: str | None, nanos: int | None, slot: int) -> None:
        if currency and nanos is not None:
            self.totals.setdefault(currency, [0, 0])[slot] += nanos

    def report(self) -> RepriceReport:
        summary = {
            c: {"before": plain(from_nanos(v[0])), "after": plain(from_nanos(v[1]))}
            for c, v in self.totals.items()
        }
        return RepriceReport(self.events, self.changed, self.unpriced_before, self.unpriced_after, summary)


def _event_rows(conn: Connection, start: dt.datetime, end: dt.datetime) -> Iterator[Any]:
    """The stored events with ``start <= ts < end``, read in chunks by row id."""
    e, last_id = usage_events.c, 0
    while rows := conn.execute(
        select(usage_events).where(e.ts >= start, e.ts < end, e.id > last_id).order_by(e.id).limit(_CHUNK)
    ).all():
        last_id = rows[-1].id
        yield from rows


class RepricingStore:
    """Re-prices stored events over one :class:`Store`; each run is recorded in ``reprice_runs``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def reprice(
        self,
        price: Callable[[UsageEvent], PricedUsage],
        *,
        start: dt.datetime,
        end: dt.datetime,
        note: str | None = None,
        now: dt.datetime,
    ) -> RepriceReport:
        """Re-price events with ``start <= ts < end`` in one transaction, rebuild the affected rollups and
        record the run with totals before and after."""
        tally = _Tally()
        with self.store.session() as conn:
            catch_up_in(conn)  # the rollups rebuilt below must not meet events still to be rolled up
            horizon = retention_horizon(conn)
            refuse_past_retention(horizon, start, what="re-pricing")
            for r in _event_rows(conn, start, end):
                new = event_row(_event(r), price(_event(r)), source=r.source, now=now)
                tally.events += 1
                tally.unpriced_before += r.cost_nanos is None
                tally.unpriced_after += new["cost_nanos"] is None
                tally.add(r.currency, r.cost_nanos, 0)
                tally.add(new["currency"], new["cost_nanos"], 1)
                if any(getattr(r, c) != new[c] for c in PRICE_COLUMNS):
                    tally.changed += 1
                    values = {c: new[c] for c in PRICE_COLUMNS}
                    conn.execute(update(usage_events).where(usage_events.c.id == r.id).values(values))
                    if r.task_id:
                        tally.tasks.add(r.task_id)
            if tally.changed:
                _rebuild(conn, start, end, tally.tasks, horizon)
            report = tally.report()
            conn.execute(
                reprice_runs.insert().values(
                    started_at=now,
                    from_ts=start,
                    to_ts=end,
                    events=report.events,
                    changed=report.changed,
                    unpriced_before=report.unpriced_before,
                    unpriced_after=report.unpriced_after,
                    totals=json.dumps(report.totals, sort_keys=True),
                    note=note,
                )
            )
        return report


def _refuse_tasks_past_retention(conn: Connection, tasks: set[str], horizon: dt.datetime | None) -> None:
    """A task whose first events were dropped by retention cannot be rebuilt from the events left."""
    if horizon is None or not tasks:
        return
    t = task_rollup.c
    for i in range(0, len(ids := sorted(tasks)), 500):
        early = conn.execute(
            select(t.task_id).where(t.task_id.in_(ids[i : i + 500]), t.first_ts < horizon).limit(1)
        ).scalar()
        if early is not None:
            raise PastRetentionError(
                f"re-pricing would rebuild task {early!r}, whose events before {horizon:%Y-%m-%d} were "
                "dropped by retention; re-price from a later day, after the task's first event"
            )


def rebuild_rollups(conn: Connection, start: dt.datetime, end: dt.datetime, tasks: set[str]) -> None:
    """Recompute the rollup rows that cover ``[start, end)`` (and the rows of ``tasks``) from the events.

    The caller began its transaction with ``catch_up_in(conn)``, before changing any event: the rows rebuilt
    must not meet events still to be rolled up, and on PostgreSQL the catch-up's lock must come first.
    Refused (PastRetentionError) where retention dropped some of those events: rebuilt rows would lose them.
    """
    horizon = retention_horizon(conn)
    refuse_past_retention(horizon, start, what="rebuilding the roll-ups")
    _rebuild(conn, start, end, tasks, horizon)


def _rebuild(
    conn: Connection, start: dt.datetime, end: dt.datetime, tasks: set[str], horizon: dt.datetime | None
) -> None:
    """:func:`rebuild_rollups` once ``start`` is known to be within ``horizon``."""
    _refuse_tasks_past_retention(conn, tasks, horizon)
    h0 = to_hour(start)
    h1 = -(-int((end - EPOCH).total_seconds()) // 3600)  # the hour containing ``end``, rounded up
    d0, d1 = h0 // 24, -(-h1 // 24)
    conn.execute(delete(usage_rollup).where(usage_rollup.c.hour >= h0, usage_rollup.c.hour < h1))
    roll_up(
        conn,
        "hour >= ? AND hour < ?" if conn.dialect.name == "sqlite" else "hour >= %s AND hour < %s",
        (h0, h1),
        tables=("hour",),
    )
    conn.execute(delete(usage_daily).where(usage_daily.c.day >= d0, usage_daily.c.day < d1))
    m = usage_meter_daily.c
    conn.execute(delete(usage_meter_daily).where(m.day >= d0, m.day < d1))
    drop_days(conn, d0, d1)  # the optimizer's daily groups are built again when next read
    roll_up(
        conn,
        "hour >= ? AND hour < ?" if conn.dialect.name == "sqlite" else "hour >= %s AND hour < %s",
        (d0 * 24, d1 * 24),
        tables=("day", "meter"),
    )
    ids = sorted(tasks)
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    task_kpi_rollup.mark_tasks(conn)
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        marks = ", ".join([mark] * len(chunk))
        task_kpi_rollup.add_tasks(
            conn, f"SELECT tenant, task_id FROM task_rollup WHERE task_id IN ({marks})", tuple(chunk)
        )
    task_kpi_rollup.apply(conn, -1)  # the tasks' aggregates follow their re-priced rows
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        conn.execute(delete(task_rollup).where(task_rollup.c.task_id.in_(chunk)))
        marks = ", ".join([mark] * len(chunk))
        roll_up(conn, f"task_id IN ({marks})", tuple(chunk), tables=("task",))
    task_kpi_rollup.apply(conn, 1)
    task_kpi_rollup.refresh_split(conn)
