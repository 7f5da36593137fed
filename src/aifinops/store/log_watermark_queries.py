"""Reading Log Analytics watermarks back (written by :mod:`aifinops.store.log_watermarks`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from aifinops.store.log_watermarks import log_watermarks
from aifinops.store.store import Store

__all__ = ["LogWatermark", "read_watermark", "read_watermarks"]


@dataclass(frozen=True, slots=True)
class LogWatermark:
    """How far one query has read one workspace."""

    workspace: str
    query: str
    watermark: dt.datetime
    last_data_ts: dt.datetime | None
    rows: int
    issues: int
    updated_at: dt.datetime


def read_watermarks(store: Store) -> list[LogWatermark]:
    """Every watermark, by workspace and query."""
    w = log_watermarks.c
    with store.reader() as conn:
        rows = conn.execute(sa.select(log_watermarks).order_by(w.workspace, w.query)).mappings().all()
    return [LogWatermark(**dict(r)) for r in rows]


def read_watermark(store: Store, workspace: str, query: str) -> dt.datetime | None:
    """Where ``query`` stopped reading ``workspace`` last time, or None when it never ran."""
    w = log_watermarks.c
    with store.reader() as conn:
        return conn.execute(
            sa.select(w.watermark).where((w.workspace == workspace) & (w.query == query))
        ).scalar_one_or_none()
