"""Stored snapshots: what a period looked like each time it was summarized (history is kept)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from aifinops.store.store import Store
from aifinops.store.tables import UtcDateTime, metadata

__all__ = ["SnapshotStore", "StoredSnapshot", "snapshots"]

snapshots = sa.Table(
    "snapshots",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("period_key", sa.String(16), nullable=False),  # 2026-10 (month) or 2026-10-05 (day)
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("generated_at", UtcDateTime(), nullable=False),
    sa.Column("trigger", sa.String(32), nullable=False),  # collect, demo, api
    sa.Column("body", sa.Text(), nullable=False),
    sa.Index("ix_snapshots_period_key_generated_at", "period_key", "generated_at"),
)


@dataclass(frozen=True, slots=True)
class StoredSnapshot:
    period_key: str
    timezone: str
    generated_at: dt.datetime
    trigger: str
    body: dict[str, Any]


class SnapshotStore:
    """Saves snapshots by period (after each collection); :mod:`aifinops.store.snapshot_queries` reads them
    back as they were."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def save(
        self, period_key: str, body: dict[str, Any], *, timezone: str, generated_at: dt.datetime, trigger: str
    ) -> None:
        with self.store.session() as conn:
            conn.execute(
                snapshots.insert().values(
                    period_key=period_key,
                    timezone=timezone,
                    generated_at=generated_at,
                    trigger=trigger,
                    body=json.dumps(body, sort_keys=True),
                )
            )
