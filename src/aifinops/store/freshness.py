"""Recording data freshness: when a source last delivered, and the newest data it delivered.

Reads are in :mod:`aifinops.store.freshness_queries`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, case
from sqlalchemy.sql.elements import ColumnElement

from aifinops.store.store import dialect_insert
from aifinops.store.tables import freshness

__all__ = ["touch_freshness"]


def _greater(new: ColumnElement[Any], old: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((old.is_(None), new), (new > old, new), else_=old)


def touch_freshness(
    conn: Connection,
    source: str,
    *,
    now: dt.datetime,
    last_data_ts: dt.datetime | None,
    detail: str | None = None,
) -> None:
    """Upsert ``source``'s row inside the caller's transaction: delivered ``now``; the newest data time only
    ever moves forward (a re-read of older data leaves it)."""
    stmt = dialect_insert(conn, freshness).values(
        source=source[:64], last_ingest_at=now, last_data_ts=last_data_ts, detail=(detail or "")[:256] or None
    )
    updates: dict[str, Any] = {
        "last_ingest_at": stmt.excluded.last_ingest_at,
        "last_data_ts": _greater(stmt.excluded.last_data_ts, freshness.c.last_data_ts),
    }
    if detail is not None:
        updates["detail"] = stmt.excluded.detail
    conn.execute(stmt.on_conflict_do_update(index_elements=["source"], set_=updates))
