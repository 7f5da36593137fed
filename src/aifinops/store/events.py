"""Writing usage events and task outcomes, keeping the hourly, daily and per-task rollups in step.

Every write is one transaction: the events that were new (by ``event_id``) go in, and exactly those are
added to the rollups, so re-sending a batch never counts twice.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, case, select
from sqlalchemy.sql.elements import ColumnElement

from aifinops.domain import DIMENSIONS, MeterKind, PricedUsage, TaskOutcome, UsageEvent, to_nanos
from aifinops.errors import StoreError
from aifinops.store.store import Store, dialect_insert
from aifinops.store.tables import (
    ROLLUP_SUMS,
    freshness,
    task_outcomes,
    usage_events,
)

__all__ = ["EventStore", "InsertResult", "event_row", "roll_up"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_SUMMED = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens")


@dataclass(frozen=True, slots=True)
class InsertResult:
    inserted: int
    duplicates: int


def _hour_of(ts: dt.datetime) -> int:
    return int((ts - _EPOCH).total_seconds() // 3600)


def event_row(event: UsageEvent, priced: PricedUsage, *, source: str, now: dt.datetime) -> dict[str, Any]:
    """The ``usage_events`` row of one priced event."""
    row: dict[str, Any] = {name: getattr(event, name) for name in DIMENSIONS}
    ids = priced.price_ids
    row.update(
        event_id=event.event_id,
        ts=event.ts,
        hour=_hour_of(event.ts),
        task_id=event.task_id,
        step=event.step,
        attempt=event.attempt,
        attributes=json.dumps(dict(event.attributes), sort_keys=True) if event.attributes else None,
        provider=event.provider,
        model_version=event.model_version,
        deployment_type=event.deployment_type.value if event.deployment_type else None,
        region=event.region,
        resource_id=event.resource_id.lower() if event.resource_id else None,
        priority=event.priority,
        input_tokens=event.input_tokens,
        cached_input_tokens=event.cached_input_tokens,
        output_tokens=event.output_tokens,
        reasoning_tokens=event.reasoning_tokens,
        requests=event.requests,
        quantity_nanos=to_nanos(event.quantity) if event.quantity is not None else None,
        unit=event.unit,
        kind=event.kind.value,
        status=event.status.value,
        latency_ms=event.latency_ms,
        tool_name=event.tool_name,
        cost_nanos=to_nanos(priced.cost) if priced.cost is not None else None,
        currency=priced.currency if priced.cost is not None else None,
        input_price_id=ids.get(MeterKind.INPUT) or ids.get(MeterKind.PRIORITY_INPUT),
        cached_input_price_id=ids.get(MeterKind.CACHED_INPUT) or ids.get(MeterKind.PRIORITY_CACHED_INPUT),
        output_price_id=ids.get(MeterKind.OUTPUT) or ids.get(MeterKind.PRIORITY_OUTPUT),
        unit_price_id=ids.get(MeterKind.UNIT),
        unpriced_reason=(priced.unpriced_reason or "")[:256] or None,
        source=source,
        ingested_at=now,
    )
    return row


def _greater(new: ColumnElement[Any], old: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((old.is_(None), new), (new > old, new), else_=old)


def _placeholders(n: int) -> str:
    return ", ".join("?" * n)


_EVENT_COLS = tuple(c.name for c in usage_events.columns if c.name != "id")
_INSERT_EVENTS = (
    f"INSERT INTO usage_events ({', '.join(_EVENT_COLS)}) VALUES ({_placeholders(len(_EVENT_COLS))}) "
    "ON CONFLICT (event_id) DO NOTHING"
)
_TIME_COLS = frozenset({"ts", "ingested_at", "first_ts", "last_ts"})


def _rollup_sql(table: str, grain: str, where: str) -> str:
    """Add the selected events to an hourly or daily rollup, aggregated by the database itself."""
    bucket = "hour" if grain == "hour" else "hour / 24"
    key = (grain, *DIMENSIONS, "kind", "status", "currency")
    select_key = (bucket, *(f"COALESCE({d}, '')" for d in DIMENSIONS), "kind", "status", "COALESCE(currency, '')")
    sums = (
        "COUNT(*)", "SUM(requests)", "SUM(input_tokens)", "SUM(cached_input_tokens)", "SUM(output_tokens)",
        "SUM(reasoning_tokens)", "SUM(CASE WHEN attempt > 1 THEN 1 ELSE 0 END)", "COALESCE(SUM(cost_nanos), 0)",
        "SUM(CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END)", "COALESCE(SUM(latency_ms), 0)",
    )
    sets = ", ".join(f"{n} = {table}.{n} + excluded.{n}" for n in ROLLUP_SUMS)
    return (
        f"INSERT INTO {table} ({', '.join(key + ROLLUP_SUMS)}) "
        f"SELECT {', '.join(select_key + sums)} FROM usage_events WHERE {where} "
        f"GROUP BY {', '.join(select_key)} "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}"
    )


_TASK_SUMS = (*_SUMMED, "events", "first_attempts", "retries", "cost_nanos", "unpriced_events")


def _tasks_sql(where: str, *, sqlite: bool) -> str:
    cols = ("task_id", "currency", *DIMENSIONS, "first_ts", "last_ts", "max_step", *_TASK_SUMS)
    values = (
        "task_id", "COALESCE(currency, '')", *(f"MIN({d})" for d in DIMENSIONS), "MIN(ts)", "MAX(ts)",
        "MAX(step)", *(f"SUM({n})" for n in _SUMMED), "COUNT(*)",
        "SUM(CASE WHEN attempt = 1 THEN 1 ELSE 0 END)", "SUM(CASE WHEN attempt > 1 THEN 1 ELSE 0 END)",
        "COALESCE(SUM(cost_nanos), 0)", "SUM(CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END)",
    )
    return (
        f"INSERT INTO task_rollup ({', '.join(cols)}) SELECT {', '.join(values)} FROM usage_events "
        # On SQLite, unary + keeps the planner on the row-id range instead of the task_id index.
        f"WHERE {'+' if sqlite else ''}task_id IS NOT NULL AND {where} GROUP BY task_id, COALESCE(currency, '') "
        "ON CONFLICT (task_id, currency) DO UPDATE SET "
        + ", ".join(f"{d} = COALESCE(task_rollup.{d}, excluded.{d})" for d in DIMENSIONS) + ", "
        + ", ".join(f"{n} = task_rollup.{n} + excluded.{n}" for n in _TASK_SUMS) + ", "
        "first_ts = CASE WHEN excluded.first_ts < task_rollup.first_ts THEN excluded.first_ts "
        "ELSE task_rollup.first_ts END, "
        "last_ts = CASE WHEN excluded.last_ts > task_rollup.last_ts THEN excluded.last_ts "
        "ELSE task_rollup.last_ts END, "
        "max_step = CASE WHEN task_rollup.max_step IS NULL OR excluded.max_step > task_rollup.max_step "
        "THEN excluded.max_step ELSE task_rollup.max_step END"
    )


def roll_up(conn: Connection, where: str, params: Any, *, tables: Sequence[str] = ("hour", "day", "task")) -> None:
    """Add the events matching ``where`` to the hourly, daily and task rollups (or those named)."""
    sql = {"hour": lambda: _rollup_sql("usage_rollup", "hour", where),
           "day": lambda: _rollup_sql("usage_daily", "day", where),
           "task": lambda: _tasks_sql(where, sqlite=conn.dialect.name == "sqlite")}
    for name in tables:
        conn.exec_driver_sql(sql[name](), params)


def _to_params(conn: Connection, rows: Sequence[dict[str, Any]], cols: Sequence[str]) -> list[tuple[Any, ...]]:
    """Rows as driver parameters. SQLite gets datetimes in the text form SQLAlchemy reads back."""
    if conn.dialect.name != "sqlite":
        return [tuple(r[c] for c in cols) for r in rows]
    times = [i for i, c in enumerate(cols) if c in _TIME_COLS]
    out = []
    for r in rows:
        values = [r[c] for c in cols]
        for i in times:
            values[i] = values[i].astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        out.append(tuple(values))
    return out


class EventStore:
    """Usage events and task outcomes in the store.

    The insert path uses the driver directly (one executemany per table): SQLAlchemy's per-row parameter
    processing cost more than the database itself on this hot path.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def insert(self, rows: Sequence[dict[str, Any]], *, source: str, now: dt.datetime) -> InsertResult:
        """Insert event rows; rows whose ``event_id`` is already stored (or repeated) are duplicates."""
        unique: dict[str, dict[str, Any]] = {}
        for row in rows:
            unique.setdefault(row["event_id"], row)
        with self.store.session() as conn:
            if conn.dialect.name == "postgresql":
                fresh = self._insert_postgres(conn, unique)
            else:
                fresh = self._insert_sqlite(conn, unique)
            if fresh:
                self._touch_freshness(conn, source, now, max(r["ts"] for r in fresh))
        return InsertResult(inserted=len(fresh), duplicates=len(rows) - len(fresh))

    @staticmethod
    def _insert_postgres(conn: Connection, unique: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        """ON CONFLICT DO NOTHING RETURNING tells exactly which rows are new, even under concurrency."""
        if not unique:
            return []
        cursor = conn.connection.cursor()
        ids: list[int] = []
        keys: list[str] = []
        try:
            cursor.executemany(_INSERT_EVENTS.replace("?", "%s") + " RETURNING id, event_id",
                               _to_params(conn, list(unique.values()), _EVENT_COLS), returning=True)
            while True:
                for row_id, event_id in cursor.fetchall():
                    ids.append(row_id)
                    keys.append(event_id)
                if not cursor.nextset():
                    break
        finally:
            cursor.close()
        if ids:
            roll_up(conn, "id = ANY(%(ids)s)", {"ids": ids})
        return [unique[k] for k in keys]

    @staticmethod
    def _insert_sqlite(conn: Connection, unique: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        """Under BEGIN IMMEDIATE nobody else writes, so new ids are those not stored yet, and the new rows
        are exactly those above the highest row id seen before the insert."""
        if not unique:
            return []
        ids = list(unique)
        existing: set[str] = set()
        for i in range(0, len(ids), 5000):  # stay far below SQLite's parameter limit
            result = conn.execute(select(usage_events.c.event_id).where(usage_events.c.event_id.in_(ids[i:i + 5000])))
            existing.update(result.scalars())
        fresh = [row for key, row in unique.items() if key not in existing]
        if not fresh:
            return []
        before = conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM usage_events").scalar_one()
        cursor = conn.connection.cursor()
        try:
            cursor.executemany(_INSERT_EVENTS, _to_params(conn, fresh, _EVENT_COLS))
            written = cursor.rowcount
        finally:
            cursor.close()
        if written != len(fresh):  # pragma: no cover - impossible while we hold the write lock
            raise StoreError(f"expected to write {len(fresh)} events, wrote {written}; send the batch again")
        roll_up(conn, "id > ?", (before,))
        return fresh

    @staticmethod
    def _touch_freshness(conn: Connection, source: str, now: dt.datetime, last_ts: dt.datetime) -> None:
        stmt = dialect_insert(conn, freshness).values(
            source=f"usage:{source}", last_ingest_at=now, last_data_ts=last_ts
        )
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["source"],
            set_={"last_ingest_at": stmt.excluded.last_ingest_at,
                  "last_data_ts": _greater(stmt.excluded.last_data_ts, freshness.c.last_data_ts)},
        ))

    def upsert_outcomes(self, outcomes: Sequence[TaskOutcome], *, now: dt.datetime) -> int:
        """Store task outcomes; a later outcome (by ``ended_at``) for the same task replaces the earlier."""
        if not outcomes:
            return 0
        latest: dict[str, TaskOutcome] = {}
        for o in outcomes:
            if o.task_id not in latest or o.ended_at >= latest[o.task_id].ended_at:
                latest[o.task_id] = o
        rows = [_outcome_row(o, now) for o in latest.values()]
        with self.store.session() as conn:
            stmt = dialect_insert(conn, task_outcomes)
            cols = ("outcome", "ended_at", "use_case", "value_nanos", "value_currency",
                    "value_quantity_nanos", "value_unit", "received_at")
            newer = stmt.excluded.ended_at >= task_outcomes.c.ended_at
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["task_id"], set_={c: stmt.excluded[c] for c in cols}, where=newer
            ), rows)
        return len(rows)


def _outcome_row(o: TaskOutcome, now: dt.datetime) -> dict[str, Any]:
    return {
        "task_id": o.task_id,
        "outcome": o.outcome.value,
        "ended_at": o.ended_at,
        "use_case": o.use_case,
        "value_nanos": to_nanos(o.value_amount) if o.value_amount is not None else None,
        "value_currency": o.value_currency,
        "value_quantity_nanos": to_nanos(o.value_quantity) if o.value_quantity is not None else None,
        "value_unit": o.value_unit,
        "received_at": now,
    }
