"""Reading kept snapshots back: the latest of a period, and its history."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from aifinops.store.snapshots import StoredSnapshot, snapshots
from aifinops.store.store import Store

__all__ = ["latest_snapshot", "snapshot_history"]


def _snapshot(r: Any) -> StoredSnapshot:
    return StoredSnapshot(r.period_key, r.timezone, r.generated_at, r.trigger, json.loads(r.body))


def latest_snapshot(store: Store, period_key: str, *, timezone: str) -> StoredSnapshot | None:
    """The snapshot of ``period_key`` in ``timezone`` kept last, or None."""
    c = snapshots.c
    with store.reader() as conn:
        row = conn.execute(
            sa.select(snapshots)
            .where(c.period_key == period_key, c.timezone == timezone)
            .order_by(c.generated_at.desc(), c.id.desc())
            .limit(1)
        ).first()
    return _snapshot(row) if row is not None else None


def snapshot_history(store: Store, period_key: str, *, limit: int = 100) -> list[StoredSnapshot]:
    """The snapshots of ``period_key`` in every zone, newest first."""
    c = snapshots.c
    with store.reader() as conn:
        rows = conn.execute(
            sa.select(snapshots)
            .where(c.period_key == period_key)
            .order_by(c.generated_at.desc(), c.id.desc())
            .limit(limit)
        ).all()
    return [_snapshot(r) for r in rows]
