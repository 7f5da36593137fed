"""The Azure sources of a collection cycle, one row each in :data:`SOURCES`.

A row names the setting that configures the source, its default interval, and the steps it plans over a
day range.

A new Azure source is its client in ``sources/`` (its protocol in :mod:`aifinops.sources.protocols`) and
one row here with the function that plans its steps. Every step writes whole slices in one transaction,
so running a step twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from functools import partial
from typing import TYPE_CHECKING

from aifinops.domain import Basis
from aifinops.errors import ConfigError
from aifinops.jobs.collection_steps import CollectionSource, CollectionStep, SourceOutcome
from aifinops.jobs.log_collection import log_steps
from aifinops.sources.cost_exports import ExportReader, basis_from_name
from aifinops.sources.export_runs import ExportRun, local_runs
from aifinops.sources.export_schemas import ExportManifest, SchemaKind, detect_schema
from aifinops.sources.protocols import ExportRunSource

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


# --- exports ----------------------------------------------------------------------------------------------
def _export_steps(c: Collector, start: dt.date, end: dt.date) -> list[CollectionStep]:
    steps = []
    for path in c.export_paths:
        for run in local_runs(path):
            m = run.manifest
            if m is None or (m.start < end and start < m.end):
                steps.append(CollectionStep("exports", run.origin, partial(_collect_run, c, run)))
    if c.blob_exports is not None:
        for manifest in c.blob_exports.manifests():
            if manifest.start < end and start < manifest.end:
                target = f"{manifest.export_name} {manifest.run_id}"
                action = partial(_collect_blob_run, c, c.blob_exports, manifest)
                steps.append(CollectionStep("exports", target, action))
    return steps


def _collect_blob_run(c: Collector, blobs: ExportRunSource, manifest: ExportManifest) -> list[SourceOutcome]:
    return _collect_run(c, blobs.fetch(manifest))


def _run_bases(run: ExportRun, reader: ExportReader) -> tuple[Basis, ...]:
    if run.manifest is not None:
        return run.manifest.bases
    schema = detect_schema(reader.header(run.files[0]), file=str(run.files[0]))
    if schema.kind is SchemaKind.FOCUS:
        return schema.bases
    named = Basis.ACTUAL if schema.kind is SchemaKind.PAYG else basis_from_name(run.files[0].name)
    if named is None:
        raise ConfigError(
            f"{run.files[0]}: cannot tell actual from amortized cost; put ActualCost or "
            "AmortizedCost in the file name or deliver it with its export manifest.json"
        )
    return (named,)


def _collect_run(c: Collector, run: ExportRun) -> list[SourceOutcome]:
    m = run.manifest
    source = f"export:{m.export_name}"[:64] if m else "file"
    scope = m.scope if m else str(run.files[0].resolve())
    outcomes = []
    with (
        tempfile.TemporaryDirectory(prefix="aifinops-duckdb-") as spill,
        ExportReader(temp_directory=spill) as reader,
    ):
        for basis in _run_bases(run, reader):
            if not run.files:  # a run with no data (NewDataNotAvailable): the period holds no cost
                assert m is not None
                empty = c.costs.replace_slice(
                    source, scope, basis, m.start, m.end, [], detail={"run_id": m.run_id}
                )
                outcomes.append(SourceOutcome("exports", run.origin, basis, m.start, m.end, 0, empty.totals))
                continue
            scan = reader.scan_run(run, basis=basis, default_currency=c.default_currency)
            issues = tuple(map(str, scan.issues))
            period = _slice_period(m, scan.day_range())
            if period is None:  # a loose file without rows: no period to replace
                outcomes.append(SourceOutcome("exports", run.origin, basis, None, None, issues=issues))
                continue
            detail = {
                "files": [str(f) for f in run.files],
                "run_id": m.run_id if m else None,
                "schema": f"{scan.schema.kind}:{scan.schema.version}",
                "issues": len(scan.issues),
                "file_totals": {k: str(v) for k, v in scan.totals().items()},
            }
            summary = c.costs.replace_slice(source, scope, basis, *period, scan.batches(), detail=detail)
            outcomes.append(
                SourceOutcome("exports", run.origin, basis, *period, summary.records, summary.totals, issues)
            )
            scan.close()
    return outcomes


def _slice_period(
    manifest: ExportManifest | None, days: tuple[dt.date, dt.date] | None
) -> tuple[dt.date, dt.date] | None:
    """The slice a run replaces: its manifest period, grown to cover every row it carries.

    A month-to-date run's ``runInfo`` period may end before the last day in its files; a slice that did not
    cover them would let those rows escape the next replacement and count twice.
    """
    starts = [d for d in (manifest.start if manifest else None, days[0] if days else None) if d is not None]
    ends = [
        d for d in (manifest.end if manifest else None, days[1] + dt.timedelta(days=1) if days else None) if d
    ]
    return (min(starts), max(ends)) if starts and ends else None


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
