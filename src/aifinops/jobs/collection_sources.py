"""The Azure sources of a collection cycle, one row each in :data:`SOURCES`.

A row names the setting that configures the source, its default interval, and the steps it plans over a
day range.

A new Azure source is its client in ``sources/`` (its protocol in :mod:`aifinops.sources.protocols`) and
one row here with the function that plans its steps. Every step writes whole slices in one transaction,
so running a step twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import TYPE_CHECKING

from aifinops.domain import Basis
from aifinops.jobs.collection_steps import CollectionSource, CollectionStep, SourceOutcome
from aifinops.jobs.export_collection import ExportCycle
from aifinops.jobs.log_collection import log_steps

if TYPE_CHECKING:
    from aifinops.jobs.collect import Collector

__all__ = ["SOURCES", "month_chunks"]

_BASES = (Basis.ACTUAL, Basis.AMORTIZED)


def month_chunks(start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    """Split ``[start, end)`` at month starts (a Daily query covers at most 31 days).

    >>> [(a.isoformat(), b.isoformat()) for a, b in month_chunks(dt.date(2026, 10, 30), dt.date(2026, 11, 3))]
    [('2026-10-30', '2026-11-01'), ('2026-11-01', '2026-11-03')]
    """
    chunks, cursor = [], start
    while cursor < end:
        next_month = (cursor.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        chunks.append((cursor, min(next_month, end)))
        cursor = next_month
    return chunks


# --- Cost Management query --------------------------------------------------------------------------------
def _query_steps(c: Collector, start: dt.date, end: dt.date) -> list[CollectionStep]:
    return [
        _query_step(c, scope, basis, a, b)
        for scope in c.cost_scopes
        for basis in _BASES
        for a, b in month_chunks(start, end)
    ]


def _query_step(c: Collector, scope: str, basis: Basis, start: dt.date, end: dt.date) -> CollectionStep:
    def action() -> list[SourceOutcome]:
        assert c.cost_client is not None
        # The query allows two groupings in all: tag keys take the place of the last dimensions.
        group_by = c.cost_group_by[: max(0, 2 - len(c.tag_keys))]
        records = c.cost_client.query(
            scope, basis=basis, start=start, end=end, group_by=group_by, tag_keys=c.tag_keys
        )
        summary = c.costs.replace_slice(
            "cost_management", scope, basis, start, end, records, detail={"group_by": list(c.cost_group_by)}
        )
        return [SourceOutcome("cost_management", scope, basis, start, end, summary.records, summary.totals)]

    return CollectionStep("cost_management", f"{scope} {basis} {start}..{end}", action)


# --- exports (jobs/export_collection.py) ---------------------------------------------------------------
def _export_steps(c: Collector, start: dt.date, end: dt.date) -> list[CollectionStep]:
    return ExportCycle(c, start, end).steps()


# --- monitor and inventory --------------------------------------------------------------------------------
def _monitor_steps(c: Collector, start: dt.date, end: dt.date) -> list[CollectionStep]:
    return [
        CollectionStep("monitor", r, partial(_collect_metrics, c, r, start, end)) for r in c.monitor_resources
    ]


def _collect_metrics(c: Collector, resource: str, start: dt.date, end: dt.date) -> list[SourceOutcome]:
    assert c.monitor_client is not None
    begin = dt.datetime.combine(start, dt.time(), dt.UTC)
    now = c.clock().replace(minute=0, second=0, microsecond=0)
    until = min(dt.datetime.combine(end, dt.time(), dt.UTC), now)
    if until <= begin:
        return [SourceOutcome("monitor", resource, Basis.USAGE, begin, until)]
    result = c.monitor_client.fetch(resource, start=begin, end=until)
    samples = list(result.samples)
    metrics = sorted({s.metric for s in samples})
    written = (
        c.samples.replace([resource], metrics, start=begin, end=until, samples=samples) if metrics else 0
    )
    skipped = tuple(str(s) for s in result.skipped)
    return [SourceOutcome("monitor", resource, Basis.USAGE, begin, until, written, issues=skipped)]


def _inventory_steps(c: Collector, start: dt.date, end: dt.date) -> list[CollectionStep]:
    return [CollectionStep("inventory", ",".join(c.subscriptions), partial(_collect_inventory, c))]


def _collect_inventory(c: Collector) -> list[SourceOutcome]:
    assert c.inventory_client is not None
    resources = c.inventory_client.query_inventory(list(c.subscriptions))
    written = c.inventory.replace(c.subscriptions, resources)
    return [SourceOutcome("inventory", ",".join(c.subscriptions), None, None, None, written)]


def _logs_configured(c: Collector) -> bool:
    return c.logs is not None and bool(c.logs.workspaces)


#: The sources, in the order a cycle runs them.
SOURCES: tuple[CollectionSource, ...] = (
    CollectionSource(
        "cost_management",
        "AIFINOPS_AZURE__COST_SCOPES",
        6 * 3600,
        lambda c: c.cost_client is not None and bool(c.cost_scopes),
        _query_steps,
    ),
    CollectionSource(
        "exports",
        "AIFINOPS_AZURE__EXPORT_PATHS or AIFINOPS_AZURE__EXPORT_BLOB_URL",
        3600,
        lambda c: bool(c.export_paths) or c.blob_exports is not None,
        _export_steps,
    ),
    CollectionSource(
        "monitor",
        "AIFINOPS_AZURE__MONITOR_RESOURCES",
        900,
        lambda c: c.monitor_client is not None and bool(c.monitor_resources),
        _monitor_steps,
    ),
    CollectionSource(
        "inventory",
        "AIFINOPS_AZURE__SUBSCRIPTIONS",
        6 * 3600,
        lambda c: c.inventory_client is not None and bool(c.subscriptions),
        _inventory_steps,
    ),
    # Log Analytics / Application Insights: what API Management and the apps already log.
    CollectionSource("apim", "AIFINOPS_AZURE__LOGS__WORKSPACES", 900, _logs_configured, log_steps("apim")),
    CollectionSource(
        "appinsights", "AIFINOPS_AZURE__LOGS__WORKSPACES", 900, _logs_configured, log_steps("appinsights")
    ),
    CollectionSource(
        "loganalytics",
        "AIFINOPS_AZURE__LOGS__WORKSPACES",
        6 * 3600,
        _logs_configured,
        log_steps("loganalytics"),
    ),
)
