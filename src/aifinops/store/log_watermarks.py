"""How far each Log Analytics query has read each workspace: one watermark per (workspace, query).

A collection reads ``[watermark - overlap, now)`` again, so rows that arrive late are still found; what it
writes is keyed by the records' own ids or replaced per window, so a re-read never counts twice. Reads are
in :mod:`aifinops.store.log_watermark_queries`.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from aifinops.store.freshness import touch_freshness
from aifinops.store.store import Store, dialect_insert
from aifinops.store.tables import UtcDateTime, metadata

__all__ = ["LogWatermarkStore", "log_watermarks"]

log_watermarks = sa.Table(
    "log_watermarks",
    metadata,
    sa.Column("workspace", sa.String(512), primary_key=True),  # workspace GUID or ARM resource id
    sa.Column("query", sa.String(64), primary_key=True),  # apim_requests, outcome_events, …
    sa.Column("watermark", UtcDateTime(), nullable=False),  # everything before it was read
    sa.Column("last_data_ts", UtcDateTime()),  # the newest row time seen
    sa.Column("rows", sa.BigInteger, nullable=False),  # rows the last run read
    sa.Column("issues", sa.BigInteger, nullable=False),  # rows the last run reported as bad
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)


class LogWatermarkStore:
    """Writes watermarks over one :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def advance(
        self,
        workspace: str,
        query: str,
        *,
        watermark: dt.datetime,
        source: str,
        rows: int,
        issues: int,
        last_data_ts: dt.datetime | None,
        now: dt.datetime,
    ) -> None:
        """Record that ``query`` read ``workspace`` up to ``watermark`` (never moving it back), and that
        ``source`` delivered ``now`` (its freshness, newest data ``last_data_ts``), in one transaction."""
        w = log_watermarks.c
        with self.store.session() as conn:
            stmt = dialect_insert(conn, log_watermarks).values(
                workspace=workspace,
                query=query,
                watermark=watermark,
                last_data_ts=last_data_ts,
                rows=rows,
                issues=issues,
                updated_at=now,
            )
            x = stmt.excluded
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["workspace", "query"],
                    set_={
                        "watermark": sa.case((x.watermark > w.watermark, x.watermark), else_=w.watermark),
                        "last_data_ts": sa.case(
                            (w.last_data_ts.is_(None), x.last_data_ts),
                            (x.last_data_ts > w.last_data_ts, x.last_data_ts),
                            else_=w.last_data_ts,
                        ),
                        "rows": x.rows,
                        "issues": x.issues,
                        "updated_at": x.updated_at,
                    },
                )
            )
            touch_freshness(conn, source, now=now, last_data_ts=last_data_ts)
