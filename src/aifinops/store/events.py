"""Writing usage events (outcomes: ``outcomes.py``), and the SQL that adds events to the hourly, daily and
per-task rollups.

Every write is one transaction: the events that were new (by ``event_id``) go in, so re-sending a batch never
counts twice. The rollups are not maintained here: they catch up from a watermark of event ids
(:mod:`aifinops.store.rollups`), off the insert path.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from aifinops.domain import DIMENSIONS, MeterKind, PricedUsage, UsageEvent, to_nanos
from aifinops.engine.usage_buckets import EPOCH
from aifinops.errors import StoreDataError, StoreError
from aifinops.store.freshness import touch_freshness
from aifinops.store.meter_rollup import meter_rollup_sql
from aifinops.store.partitions import ensure_partitions, known_partitions, month_of
from aifinops.store.retention import retention_horizon
from aifinops.store.store import Store, retrying
from aifinops.store.tables import ROLLUP_SUMS, usage_events

__all__ = [
    "EVENT_COLUMNS",
    "PRICE_COLUMNS",
    "EventStore",
    "InsertResult",
    "event_row",
    "event_values",
    "roll_up",
    "sqlite_time",
]

_SUMMED = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens")  # per task


@dataclass(frozen=True, slots=True)
class InsertResult:
    inserted: int
    duplicates: int
    unpriced: int = 0  # of the inserted events
    past_retention: tuple[str, ...] = ()  # ids of events refused for being older than the retention horizon


#: ``usage_events`` columns in the order :func:`event_values` produces them (checked against the table).
EVENT_COLUMNS = (
    "event_id",
    "ts",
    "hour",
    "task_id",
    "step",
    "attempt",
    *DIMENSIONS,
    "attributes",
    "provider",
    "model_version",
    "deployment_type",
    "region",
    "resource_id",
    "priority",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cache_write_tokens",
    "service_tier",
    "requests",
    "quantity_nanos",
    "unit",
    "kind",
    "status",
    "latency_ms",
    "tool_name",
    "cost_nanos",
    "currency",
    "input_price_id",
    "cached_input_price_id",
    "output_price_id",
    "unit_price_id",
    "cache_write_price_id",
    "unpriced_reason",
    "source",
    "ingested_at",
    "finish_reason",
    "request_hash",
    "retrieved_tokens",
)
if tuple(c.name for c in usage_events.columns if c.name != "id") != EVENT_COLUMNS:  # pragma: no cover
    raise ImportError("usage_events columns changed: update EVENT_COLUMNS and event_values together")


_COST = EVENT_COLUMNS.index("cost_nanos")
_TS = EVENT_COLUMNS.index("ts")

#: The columns that pricing fills (cost, currency, the prices used, why unpriced): what re-pricing rewrites.
PRICE_COLUMNS = EVENT_COLUMNS[EVENT_COLUMNS.index("cost_nanos") : EVENT_COLUMNS.index("unpriced_reason") + 1]


def sqlite_time(ts: dt.datetime) -> str:
    """The text SQLAlchemy's SQLite DateTime stores and reads back: naive UTC with microseconds."""
    return ts.astimezone(dt.UTC).isoformat(" ", "microseconds")[:26]  # without the "+00:00"


def event_values(
    event: UsageEvent, priced: PricedUsage, *, source: str, ingested_at: object, sqlite: bool
) -> tuple[Any, ...]:
    """The ``usage_events`` row of one priced event, as driver parameters in :data:`EVENT_COLUMNS` order.

    ``ingested_at`` is passed already in the driver's form (text on SQLite) since a batch shares it.
    """
    ts = event.ts
    ids = priced.price_ids
    cost = priced.cost
    quantity = event.quantity
    return (
        event.event_id,
        sqlite_time(ts) if sqlite else ts,
        int((ts - EPOCH).total_seconds() // 3600),  # to_hour, inlined: the hot path of ingest
        event.task_id,
        event.step,
        event.attempt,
        event.app,
        event.use_case,
        event.agent,
        event.tenant,
        event.user_group,
        event.cost_center,
        event.team,
        event.environment,
        event.deployment,
        event.model,
        json.dumps(dict(event.attributes), sort_keys=True) if event.attributes else None,
        event.provider,
        event.model_version,
        event.deployment_type.value if event.deployment_type else None,
        event.region,
        event.resource_id.lower() if event.resource_id else None,
        event.priority,
        event.input_tokens,
        event.cached_input_tokens,
        event.output_tokens,
        event.reasoning_tokens,
        event.cache_write_tokens,
        event.service_tier.value if event.service_tier else None,
        event.requests,
        to_nanos(quantity) if quantity is not None else None,
        event.unit,
        event.kind.value,
        event.status.value,
        event.latency_ms,
        event.tool_name,
        to_nanos(cost) if cost is not None else None,
        priced.currency if cost is not None else None,
        (ids.get(MeterKind.INPUT) or ids.get(MeterKind.PRIORITY_INPUT)) if ids else None,
        (ids.get(MeterKind.CACHED_INPUT) or ids.get(MeterKind.PRIORITY_CACHED_INPUT)) if ids else None,
        (ids.get(MeterKind.OUTPUT) or ids.get(MeterKind.PRIORITY_OUTPUT)) if ids else None,
        ids.get(MeterKind.UNIT) if ids else None,
        ids.get(MeterKind.CACHE_WRITE) if ids else None,
        (priced.unpriced_reason or "")[:256] or None,
        source,
        ingested_at,
        event.finish_reason,
        event.request_hash,
        event.retrieved_tokens,
    )


def event_row(event: UsageEvent, priced: PricedUsage, *, source: str, now: dt.datetime) -> dict[str, Any]:
    """The ``usage_events`` row of one priced event as a dict (aware datetimes)."""
    return dict(
        zip(
            EVENT_COLUMNS,
            event_values(event, priced, source=source, ingested_at=now, sqlite=False),
            strict=True,
        )
    )


def _placeholders(n: int) -> str:
    return ", ".join("?" * n)


_COLUMN_LIST = ", ".join(EVENT_COLUMNS)
_STAGE = "_ingest_batch"
_INSERT_EVENTS = (
    f"INSERT INTO usage_events ({', '.join(EVENT_COLUMNS)}) VALUES ({_placeholders(len(EVENT_COLUMNS))}) "
    "ON CONFLICT (event_id) DO NOTHING"
)


def _rollup_sql(table: str, grain: str, where: str, *, sqlite: bool) -> str:
    """Add the selected events to an hourly or daily rollup, aggregated by the database itself."""
    bucket = "hour" if grain == "hour" else "hour / 24"
    key = (grain, *DIMENSIONS, "kind", "status", "currency")
    select_key = (
        bucket,
        *(f"COALESCE({d}, '')" for d in DIMENSIONS),
        "kind",
        "status",
        "COALESCE(currency, '')",
    )
    sums = (
        "COUNT(*)",
        "SUM(requests)",
        "SUM(input_tokens)",
        "SUM(cached_input_tokens)",
        "SUM(output_tokens)",
        "SUM(reasoning_tokens)",
        "SUM(cache_write_tokens)",
        "SUM(CASE WHEN attempt > 1 THEN 1 ELSE 0 END)",
        "COALESCE(SUM(cost_nanos), 0)",
        "SUM(CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END)",
        "COALESCE(SUM(latency_ms), 0)",
    )
    sets = ", ".join(f"{n} = {table}.{n} + excluded.{n}" for n in ROLLUP_SUMS)
    return (
        f"INSERT INTO {table} ({', '.join(key + ROLLUP_SUMS)}) "
        f"SELECT {', '.join(select_key + sums)} FROM usage_events WHERE {where} "
        f"GROUP BY {', '.join(select_key)} "
        # On PostgreSQL, upserting in key order makes concurrent writers lock rollup rows in the same order
        # (no deadlocks); SQLite has one writer at a time and skips the sort.
        f"{'' if sqlite else 'ORDER BY ' + ', '.join(select_key) + ' '}"
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}"
    )


_TASK_SUMS = (*_SUMMED, "events", "first_attempts", "retries", "cost_nanos", "unpriced_events")


_TASK_DIMS = tuple(d for d in DIMENSIONS if d != "tenant")  # the tenant is part of the task's key
_TASK_KEY = "COALESCE(tenant, ''), task_id, COALESCE(currency, '')"


def _tasks_sql(where: str, *, sqlite: bool) -> str:
    """Add the selected events to the task rollup: one row per tenant, task id and currency."""
    cols = ("tenant", "task_id", "currency", *_TASK_DIMS, "first_ts", "last_ts", "max_step", *_TASK_SUMS)
    values = (
        _TASK_KEY,
        *(f"MIN({d})" for d in _TASK_DIMS),
        "MIN(ts)",
        "MAX(ts)",
        "MAX(step)",
        *(f"SUM({n})" for n in _SUMMED),
        "COUNT(*)",
        "SUM(CASE WHEN attempt = 1 THEN 1 ELSE 0 END)",
        "SUM(CASE WHEN attempt > 1 THEN 1 ELSE 0 END)",
        "COALESCE(SUM(cost_nanos), 0)",
        "SUM(CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END)",
    )
    return (
        f"INSERT INTO task_rollup ({', '.join(cols)}) SELECT {', '.join(values)} FROM usage_events "
        # On SQLite, unary + keeps the planner on the row-id range instead of the task_id index.
        f"WHERE {'+' if sqlite else ''}task_id IS NOT NULL AND {where} "
        f"GROUP BY {_TASK_KEY} "
        f"{'' if sqlite else f'ORDER BY {_TASK_KEY} '}"
        "ON CONFLICT (tenant, task_id, currency) DO UPDATE SET "
        + ", ".join(f"{d} = COALESCE(task_rollup.{d}, excluded.{d})" for d in _TASK_DIMS)
        + ", "
        + ", ".join(f"{n} = task_rollup.{n} + excluded.{n}" for n in _TASK_SUMS)
        + ", "
        "first_ts = CASE WHEN excluded.first_ts < task_rollup.first_ts THEN excluded.first_ts "
        "ELSE task_rollup.first_ts END, "
        "last_ts = CASE WHEN excluded.last_ts > task_rollup.last_ts THEN excluded.last_ts "
        "ELSE task_rollup.last_ts END, "
        "max_step = CASE WHEN task_rollup.max_step IS NULL OR excluded.max_step > task_rollup.max_step "
        "THEN excluded.max_step ELSE task_rollup.max_step END"
    )


def roll_up(
    conn: Connection, where: str, params: Any, *, tables: Sequence[str] = ("hour", "day", "meter", "task")
) -> None:
    """Add the events matching ``where`` to the hourly, daily, daily meter and task rollups (or those
    named)."""
    sqlite = conn.dialect.name == "sqlite"
    sql = {
        "hour": lambda: _rollup_sql("usage_rollup", "hour", where, sqlite=sqlite),
        "day": lambda: _rollup_sql("usage_daily", "day", where, sqlite=sqlite),
        "meter": lambda: meter_rollup_sql(where, sqlite=sqlite),
        "task": lambda: _tasks_sql(where, sqlite=sqlite),
    }
    for name in tables:
        conn.exec_driver_sql(sql[name](), params)


def _copy_data_error(exc: Any) -> StoreDataError:
    """A value COPY refused, named by its column, without the value itself (it may be user data)."""
    first = re.sub(r'"[^"]*"', "a value", (str(exc).strip().splitlines() or [""])[0])[:200]
    column = re.search(r"column (\w+)", getattr(getattr(exc, "diag", None), "context", None) or "")
    reason = f"{column.group(1)}: {first}" if column else first
    return StoreDataError(f"database refused an event: {reason}", reason=reason)


class EventStore:
    """Usage events in the store.

    The insert path uses the driver directly (one executemany per table): SQLAlchemy's per-row parameter
    processing cost more than the database itself on this hot path. Events from before the retention horizon
    (see ``retention.py``) are refused: their months are gone, and so is the record of their ids.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def insert(self, rows: Sequence[tuple[Any, ...]], *, source: str, now: dt.datetime) -> InsertResult:
        """Insert rows from :func:`event_values` (in the store's driver form, see :attr:`sqlite`); rows whose
        ``event_id`` is already stored, or repeated in the batch, are duplicates."""
        unique: dict[str, tuple[Any, ...]] = {}
        # In event_id order, so that concurrent batches lock the ids they share in the same order.
        for row in sorted(rows, key=lambda r: r[0]):
            unique.setdefault(row[0], row)
        if self.store.dialect == "postgresql":
            self._ensure_partitions(unique.values())
        return retrying(lambda: self._insert_once(unique, len(rows), source=source, now=now))

    def _insert_once(
        self, unique: dict[str, tuple[Any, ...]], received: int, *, source: str, now: dt.datetime
    ) -> InsertResult:
        with self.store.session() as conn:
            kept, past = _within_retention(conn, unique)
            if conn.dialect.name == "postgresql":
                fresh = self._insert_postgres(conn, kept)
            else:
                fresh = self._insert_sqlite(conn, kept)
            if fresh:
                last = max(r[_TS] for r in fresh)
                if isinstance(last, str):
                    last = dt.datetime.fromisoformat(last).replace(tzinfo=dt.UTC)
                self._touch_freshness(conn, source, now, last)
        unpriced = sum(r[_COST] is None for r in fresh)
        return InsertResult(
            inserted=len(fresh),
            duplicates=received - len(fresh) - len(past),
            unpriced=unpriced,
            past_retention=past,
        )

    def _ensure_partitions(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Create the partitions of the rows' months this process has not seen yet (none for months before
        the retention horizon: those rows are refused)."""
        months = {month_of(r[_TS]) for r in rows}
        if not (months - known_partitions(self.store)):
            return
        with self.store.reader() as conn:
            horizon = retention_horizon(conn)
        if horizon is not None:
            months = {m for m in months if m >= month_of(horizon)}
        ensure_partitions(self.store, months)

    @property
    def sqlite(self) -> bool:
        """Whether rows must carry SQLite's text datetimes."""
        return self.store.dialect == "sqlite"

    @staticmethod
    def _insert_postgres(conn: Connection, unique: dict[str, tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """COPY the batch into a transaction-scoped staging table, then one INSERT … SELECT … RETURNING tells
        exactly which rows are new, even under concurrency (in event_id order, so that concurrent batches lock
        the ids they share in the same order): the table's insert trigger claims each event id in
        ``usage_event_ids`` and skips the row whose id was taken (a second writer of the same id waits for the
        first to commit), as ON CONFLICT DO NOTHING would on an unpartitioned table (see partitions.py)."""
        if not unique:
            return []
        # Created in the transaction (a rolled-back one takes its creation with it); kept per connection.
        conn.exec_driver_sql(
            f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} ON COMMIT DELETE ROWS AS "
            f"SELECT {_COLUMN_LIST} FROM usage_events WITH NO DATA"
        )
        cursor: Any = conn.connection.cursor()  # psycopg's copy() is not in the DBAPI stubs
        try:
            try:
                with cursor.copy(f"COPY {_STAGE} ({_COLUMN_LIST}) FROM STDIN") as copy:
                    for row in unique.values():
                        copy.write_row(row)
            except conn.dialect.loaded_dbapi.DataError as exc:
                raise _copy_data_error(exc) from None
            cursor.execute(
                f"INSERT INTO usage_events ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM {_STAGE} "
                "ORDER BY event_id RETURNING event_id"
            )
            keys = [r[0] for r in cursor.fetchall()]
        finally:
            cursor.close()
        return [unique[k] for k in keys]

    @staticmethod
    def _insert_sqlite(conn: Connection, unique: dict[str, tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Under BEGIN IMMEDIATE nobody else writes, so new ids are exactly those not stored yet."""
        if not unique:
            return []
        ids = list(unique)
        existing: set[str] = set()
        for i in range(0, len(ids), 5000):  # stay far below SQLite's parameter limit
            chunk = ids[i : i + 5000]
            marks = ", ".join("?" * len(chunk))
            existing.update(
                r[0]
                for r in conn.exec_driver_sql(
                    f"SELECT event_id FROM usage_events WHERE event_id IN ({marks})", tuple(chunk)
                )
            )
        fresh = [row for key, row in unique.items() if key not in existing]
        if not fresh:
            return []
        cursor = conn.connection.cursor()
        try:
            cursor.executemany(_INSERT_EVENTS, fresh)
            written = cursor.rowcount
        finally:
            cursor.close()
        if written != len(fresh):  # pragma: no cover - impossible while we hold the write lock
            raise StoreError(f"expected to write {len(fresh)} events, wrote {written}; send the batch again")
        return fresh

    @staticmethod
    def _touch_freshness(conn: Connection, source: str, now: dt.datetime, last_ts: dt.datetime) -> None:
        touch_freshness(conn, f"usage:{source}", now=now, last_data_ts=last_ts)


def _within_retention(
    conn: Connection, unique: dict[str, tuple[Any, ...]]
) -> tuple[dict[str, tuple[Any, ...]], tuple[str, ...]]:
    """The rows at or after the retention horizon, and the ids of those before it.

    On PostgreSQL the horizon is read FOR SHARE: retention waits for this transaction, and this one for a
    retention in progress, so no event lands in a month being dropped.
    """
    horizon = retention_horizon(conn, lock=True)
    if horizon is None:
        return unique, ()
    bound: Any = sqlite_time(horizon) if conn.dialect.name == "sqlite" else horizon
    kept = {k: r for k, r in unique.items() if r[_TS] >= bound}
    return kept, tuple(k for k in unique if k not in kept)
