"""Roll-ups that catch up from a watermark: ingest stores events only, and the usage and task roll-ups are
brought up to date afterwards, by a background writer or by the read that needs them.

``rollup_watermarks['usage'].last_id`` is the highest event id counted in ``usage_rollup``, ``usage_daily``,
``task_rollup`` and the task aggregates. :func:`catch_up` adds the events above it and moves it, all in one
transaction, so the roll-ups are always exactly the events up to the watermark: never an event twice, never a
roll-up ahead of its events. Event ids only grow in commit order because the catch-up excludes concurrent
inserts while it reads: SQLite has one writer at a time (BEGIN IMMEDIATE); on PostgreSQL it takes ``SHARE ROW
EXCLUSIVE`` on ``usage_events``, which waits for the inserts in flight and holds new ones back until commit.

Reads that must see every stored event (every read model over the roll-ups) call :func:`rolled_up` first: a
two-row check when nothing is pending, else a synchronous catch-up.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection

from aifinops.store import task_kpi_rollup
from aifinops.store.events import roll_up, sqlite_time
from aifinops.store.store import Store, retrying

__all__ = ["catch_up", "catch_up_in", "pending", "rolled_up"]

_NAME = "usage"
#: Events rolled up per transaction at most, so that a long backlog never holds the write lock for long.
STEP = 100_000


def pending(store: Store) -> tuple[int, int]:
    """(watermark, highest stored event id)."""
    with store.reader() as conn:
        row = conn.exec_driver_sql(
            "SELECT (SELECT last_id FROM rollup_watermarks WHERE name = 'usage'), "
            "(SELECT MAX(id) FROM usage_events)"
        ).one()
    return int(row[0] or 0), int(row[1] or 0)


def catch_up_in(conn: Connection, *, step: int | None = None) -> int:
    """Roll up the events above the watermark (at most ``step`` ids) in the caller's write transaction;
    answers how many ids the watermark moved."""
    sqlite = conn.dialect.name == "sqlite"
    if not sqlite:
        conn.exec_driver_sql("LOCK TABLE usage_events IN SHARE ROW EXCLUSIVE MODE")
    task_kpi_rollup.lock(conn)
    last = conn.exec_driver_sql(f"SELECT last_id FROM rollup_watermarks WHERE name = '{_NAME}'").scalar()
    if last is None:
        conn.exec_driver_sql(f"INSERT INTO rollup_watermarks (name, last_id) VALUES ('{_NAME}', 0)")
        last = 0
    top = conn.exec_driver_sql("SELECT MAX(id) FROM usage_events").scalar()
    if top is None or top <= last:
        return 0
    top = min(int(top), int(last) + step) if step else int(top)
    mark = "?" if sqlite else "%s"
    where, params = f"id > {mark} AND id <= {mark}", (int(last), top)
    task_kpi_rollup.mark_tasks(
        conn,
        f"SELECT DISTINCT COALESCE(tenant, ''), task_id FROM usage_events WHERE {where} "
        "AND task_id IS NOT NULL",
        params,
    )
    task_kpi_rollup.apply(conn, -1)
    roll_up(conn, where, params)
    task_kpi_rollup.apply(conn, 1)
    task_kpi_rollup.refresh_split(conn)
    conn.exec_driver_sql(
        f"UPDATE rollup_watermarks SET last_id = {mark}, updated_at = {mark} WHERE name = '{_NAME}'",
        (top, _now(sqlite)),
    )
    return top - int(last)


def _now(sqlite: bool) -> object:
    now = dt.datetime.now(dt.UTC)
    return sqlite_time(now) if sqlite else now


def catch_up(store: Store, *, step: int = STEP) -> int:
    """Roll up every event stored so far, ``step`` ids per transaction; answers how many ids were rolled."""
    moved = 0
    while True:
        n = retrying(lambda: _one_step(store, step))
        moved += n
        if n < step:
            return moved


def _one_step(store: Store, step: int) -> int:
    with store.session() as conn:
        return catch_up_in(conn, step=step)


def rolled_up(store: Store) -> None:
    """Make the roll-ups count every event stored before this call (a cheap check when nothing is pending)."""
    last, top = pending(store)
    if top > last:
        catch_up(store)
