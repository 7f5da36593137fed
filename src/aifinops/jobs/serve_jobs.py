"""The jobs `aifinops serve` runs on a schedule, each through the replicas' shared :class:`Schedule`.

Budgets are evaluated (and their alerts raised) every ``budget_check_seconds``; the Retail Prices API is
re-read when the price book is ``azure.retail_prices_sync_seconds`` old (looked at hourly at most); each
configured Azure source is collected on its own interval, and the period snapshots are kept after each
collection; the previous and the running month are allocated again every ``allocation.every_seconds``
(the bill and the usage drivers move during the month); raw events past ``retention_keep_months`` are
dropped every ``retention_check_seconds`` when set.
"""

from __future__ import annotations

import datetime as dt
import logging
from functools import partial

from aifinops.config import Settings
from aifinops.jobs.allocate import allocate_recent
from aifinops.jobs.budgets import evaluate_and_alert
from aifinops.jobs.collect import DEFAULT_INTERVALS, Collector, build_collector, collection_window
from aifinops.jobs.price_sync import CHECK_SECONDS, sync_if_due
from aifinops.jobs.provisioned_watch import ProvisionedRounds
from aifinops.jobs.retention import retain
from aifinops.jobs.schedule import Schedule
from aifinops.jobs.snapshots import keep_snapshots
from aifinops.queries.recommendations import optimize_settings
from aifinops.store import Store

__all__ = ["allocate_month", "build_schedule", "check_budgets", "collect_source"]

log = logging.getLogger(__name__)


def build_schedule(settings: Settings, store: Store, *, collector: Collector | None = None) -> Schedule:
    """Every scheduled job of serve for ``settings`` (the collector is built from the settings' Azure
    sources when not given; none configured, no collection job)."""
    schedule = Schedule(
        store,
        lease_seconds=settings.schedule_lease_seconds,
        poll_seconds=settings.schedule_poll_seconds,
    )
    schedule.every("budgets", settings.budget_check_seconds, lambda: check_budgets(settings, store))
    if settings.retention_keep_months is not None:  # off by default
        keep = settings.retention_keep_months
        schedule.every("retention", settings.retention_check_seconds, partial(retain, store, keep))
    if settings.allocation.every_seconds:  # 0: off
        schedule.every(
            "allocate", settings.allocation.every_seconds, partial(allocate_month, settings, store)
        )
    sync_every = settings.azure.retail_prices_sync_seconds
    if sync_every:  # 0: off
        sync = partial(sync_if_due, settings, store, float(sync_every))
        schedule.every("prices", min(float(sync_every), CHECK_SECONDS), sync)
    if settings.provisioned.estimate_seconds:  # 0: off
        estimate = ProvisionedRounds(settings, store)
        schedule.every("provisioned", settings.provisioned.estimate_seconds, estimate)
    a = settings.azure
    configured = (
        a.cost_scopes or a.export_paths or a.export_blob_url or a.monitor_resources or a.subscriptions
    )
    if collector is None and (configured or a.logs.workspaces):
        collector = build_collector(settings, store)
    if collector is not None:
        every = {**DEFAULT_INTERVALS, **a.collect_interval_seconds}
        for source in collector.configured_sources:
            run = partial(collect_source, collector, source, settings=settings, store=store)
            schedule.every(f"collect:{source}", max(int(every[source]), 1), run)
    return schedule


def check_budgets(settings: Settings, store: Store) -> int:
    """One round of budget evaluation with alerts; returns the alerts fired."""
    _, fired = evaluate_and_alert(settings, store, as_of=dt.datetime.now(dt.UTC), notify=True)
    if fired:
        log.info("budgets: %d new alert(s) fired", len(fired))
    return len(fired)


def allocate_month(settings: Settings, store: Store) -> int:
    """One round of allocating the previous and the running month on each billed basis; returns the runs."""
    runs = allocate_recent(store, dimensions=settings.allocation.dimensions, now=dt.datetime.now(dt.UTC))
    for month, basis, records in runs:
        log.info("allocation: %s %s, %d cost records", f"{month:%Y-%m}", basis.value, records)
    return len(runs)


def collect_source(collector: Collector, source: str, *, settings: Settings, store: Store) -> None:
    """Collect ``source`` over :func:`collection_window` and keep the period snapshots after it."""
    summary = collector.collect(*collection_window(collector.clock().date()), sources=[source])
    for error in summary.errors:
        log.warning("collection of %s: %s", source, error)
    keep_snapshots(
        store,
        timezone=settings.timezone,
        now=collector.clock(),
        optimize=optimize_settings(settings.optimize),
    )
