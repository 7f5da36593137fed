"""Retention of raw usage events: drop the months before a horizon, keep every aggregate exact.

Roll-ups (hourly, daily, per task), task outcomes, allocations, budgets and snapshots are maintained when
events arrive, so dropping the events themselves changes none of them. What changes: reads that need the raw
events raise :class:`~aifinops.errors.PastRetentionError` for periods before the horizon (never a silent 0),
and ingest refuses events from before it (their ids are forgotten with them, so a re-send could otherwise
count twice). The horizon only moves forward.

PostgreSQL drops whole monthly partitions (and the ids of their events); SQLite deletes the rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import Connection

from aifinops.errors import PastRetentionError
from aifinops.store.partitions import Month, forget_partitions, partitions
from aifinops.store.store import Store, dialect_insert
from aifinops.store.tables import usage_retention

__all__ = [
    "RetentionReport",
    "apply_retention",
    "check_retained",
    "refuse_past_retention",
    "retention_horizon",
]

_NAME = "usage_events"


@dataclass(frozen=True, slots=True)
class RetentionReport:
    horizon: dt.datetime  # events before it are gone
    keep_months: int
    dropped_partitions: tuple[str, ...]  # PostgreSQL
    deleted_events: int


def retention_horizon(conn: Connection, *, lock: bool = False) -> dt.datetime | None:
    """The retention horizon, None while every event is kept.

    ``lock`` (PostgreSQL): read it FOR SHARE, so that a retention run waits for this transaction to end.
    """
    r = usage_retention.c
    stmt = sa.select(r.horizon).where(r.name == _NAME)
    if lock and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(read=True)
    horizon: dt.datetime | None = conn.execute(stmt).scalar()
    return horizon


def check_retained(conn: Connection, start: dt.datetime | dt.date, *, what: str) -> None:
    """Raise PastRetentionError when ``what`` (a read of raw events from ``start`` on) reaches before the
    retention horizon."""
    refuse_past_retention(retention_horizon(conn), start, what=what)


def refuse_past_retention(horizon: dt.datetime | None, start: dt.datetime | dt.date, *, what: str) -> None:
    """:func:`check_retained` against a horizon the caller has read already."""
    if horizon is None:
        return
    begin = start if isinstance(start, dt.datetime) else dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC)
    if begin < horizon:
        raise PastRetentionError(
            f"{what} needs the raw usage events from {begin:%Y-%m-%d}, but events before "
            f"{horizon:%Y-%m-%d} were dropped by retention (AIFINOPS_RETENTION_KEEP_MONTHS); "
            "roll-ups, task figures, allocations and snapshots of that period are kept"
        )


def apply_retention(
    store: Store,
    *,
    horizon: dt.datetime,
    keep_months: int,
    now: dt.datetime,
    before_drop: Callable[[Connection], object] | None = None,
) -> RetentionReport:
    """Drop the usage events before ``horizon`` (the first instant of a UTC month).

    A horizon earlier than the stored one keeps the stored one: dropped months do not come back.
    ``before_drop`` runs in the same transaction once no ingest can write any more (the roll-ups catch up
    there, so no event is dropped before it is counted).
    """
    if horizon.tzinfo is None or horizon != dt.datetime(horizon.year, horizon.month, 1, tzinfo=dt.UTC):
        raise ValueError(f"a retention horizon starts a UTC month, got {horizon!r}")
    with store.session() as conn:
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            # Ingest reads the horizon FOR SHARE: this waits for batches in flight, and new ones wait for us.
            conn.exec_driver_sql("LOCK TABLE usage_retention IN EXCLUSIVE MODE")
        stored = retention_horizon(conn)
        horizon = max(horizon, stored) if stored is not None else horizon
        row = {"name": _NAME, "horizon": horizon, "keep_months": keep_months, "applied_at": now}
        upsert = dialect_insert(conn, usage_retention).values(row)
        conn.execute(upsert.on_conflict_do_update(index_elements=["name"], set_=row))
        if before_drop is not None:
            before_drop(conn)
        dropped: list[str] = []
        deleted = 0
        if postgres:
            before: Month = (horizon.year, horizon.month)
            for month, name in sorted(partitions(conn).items()):
                if month < before:
                    deleted += conn.exec_driver_sql(f"SELECT COUNT(*) FROM {name}").scalar_one()
                    conn.exec_driver_sql(f"DROP TABLE {name}")
                    dropped.append(name)
            conn.exec_driver_sql("DELETE FROM usage_event_ids WHERE ts < %s", (horizon,))
            bound: object = horizon
        else:
            bound = horizon.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        # On PostgreSQL nothing is left there (the horizon starts a month); SQLite deletes its rows here.
        deleted += conn.exec_driver_sql(
            f"DELETE FROM usage_events WHERE ts < {'%s' if postgres else '?'}", (bound,)
        ).rowcount
    forget_partitions(store)
    return RetentionReport(horizon, keep_months, tuple(dropped), deleted)
