"""Keeping snapshots of periods: after each collection, on request, and after the demo month."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from aifinops.engine.optimize.finding import OptimizeSettings
from aifinops.queries.periods import period_range
from aifinops.queries.snapshot import snapshot_document
from aifinops.store import Store
from aifinops.store.snapshots import SnapshotStore
from aifinops.store.usage_queries import UsageQuery

__all__ = ["keep_snapshots", "save_period_snapshot"]


def save_period_snapshot(
    store: Store,
    period: str,
    *,
    timezone: str,
    trigger: str,
    now: dt.datetime,
    optimize: OptimizeSettings | None = None,
) -> dict[str, Any]:
    """Compute and keep the snapshot of ``period``, a month (``2026-10``) or a day (``2026-10-05``) in
    ``timezone`` (after a collection, or on request); its recommendations follow ``optimize``."""
    rng = period_range(period, timezone)
    granularity = "day" if len(period) == len("2026-10-05") else "month"
    q = UsageQuery(start=rng.start, end=rng.end, granularity=granularity, timezone=timezone)
    body = snapshot_document(store, q, timezone=timezone, tenant=None, now=now, optimize=optimize)
    SnapshotStore(store).save(period, body, timezone=timezone, generated_at=now, trigger=trigger)
    return body


def keep_snapshots(
    store: Store, *, timezone: str, now: dt.datetime, optimize: OptimizeSettings | None = None
) -> None:
    """Keep snapshots of the running month, today and yesterday (yesterday's bill arrives a day late);
    their history shows how each period moved."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    periods = (f"{today:%Y-%m}", today.isoformat(), (today - dt.timedelta(days=1)).isoformat())
    for period in periods:
        save_period_snapshot(store, period, timezone=timezone, trigger="collect", now=now, optimize=optimize)
