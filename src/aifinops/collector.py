"""One collection cycle, Azure sources → store: Cost Management queries, cost exports (folder or blobs),
Azure Monitor metrics and the Resource Graph inventory, each written as a slice replaced atomically.

Every step is independent: one failing scope or file is recorded in the summary and the others still run,
and because every write replaces its whole slice in one transaction, running a cycle twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from aifinops.domain import Basis, CostRecord, InventoryResource, Money
from aifinops.errors import AifinopsError, ConfigError
from aifinops.sources.cost_exports import BlobExports, ExportReader, ExportRun, basis_from_name, local_runs
from aifinops.sources.export_schemas import ExportManifest, SchemaKind, detect_schema
from aifinops.store.cost_records import CostRecordStore
from aifinops.store.inventory import InventoryStore
from aifinops.store.metric_samples import MetricSampleStore
from aifinops.store.store import Store

__all__ = [
    "DEFAULT_INTERVALS",
    "SOURCES",
    "CollectionStep",
    "CollectionSummary",
    "Collector",
    "SourceOutcome",
    "build_collector",
    "collection_window",
    "month_chunks",
    "run_scheduled",
]

log = logging.getLogger(__name__)

SOURCES: tuple[str, ...] = ("cost_management", "exports", "monitor", "inventory")
#: Seconds between scheduled runs per source (override with settings.azure.collect_interval_seconds).
DEFAULT_INTERVALS: Mapping[str, int] = {
    "cost_management": 6 * 3600,
    "exports": 3600,
    "monitor": 900,
    "inventory": 6 * 3600,
}
_BASES = (Basis.ACTUAL, Basis.AMORTIZED)


class CostQueryClient(Protocol):
    def query(
        self,
        scope: str,
        *,
        basis: Basis,
        start: dt.date,
        end: dt.date,
        group_by: Sequence[str],
        tag_keys: Sequence[str],
    ) -> Iterator[CostRecord]: ...


class MetricsClient(Protocol):
    def fetch(self, resource_id: str, *, start: dt.datetime, end: dt.datetime) -> Any: ...


class InventoryClient(Protocol):
    def query_inventory(self, subscriptions: Sequence[str]) -> list[InventoryResource]: ...


@dataclass(frozen=True, slots=True)
class SourceOutcome:
    """What one step did: the slice it replaced, rows written, totals per currency, or the error."""

    source: str
    target: str
    basis: Basis | None
    start: dt.date | dt.datetime | None
    end: dt.date | dt.datetime | None
    records: int = 0
    totals: Mapping[str, Money] = field(default_factory=dict)
    issues: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True, slots=True)
class CollectionStep:
    """One unit of work of a cycle, planned before it runs so a progress bar knows the total."""

    source: str
    target: str
    action: Callable[[], list[SourceOutcome]]


@dataclass(frozen=True, slots=True)
class CollectionSummary:
    """The result of one cycle."""

    started_at: dt.datetime
    finished_at: dt.datetime
    outcomes: tuple[SourceOutcome, ...]

    @property
    def ok(self) -> bool:
        return all(o.error is None for o in self.outcomes)

    @property
    def errors(self) -> list[str]:
        return [f"{o.source} {o.target}: {o.error}" for o in self.outcomes if o.error]


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


def collection_window(today: dt.date) -> tuple[dt.date, dt.date]:
    """The days a scheduled run re-collects: month to date, plus the previous month on days 1–5, when
    Azure still restates it (reference/cost-management.md §4)."""
    first = today.replace(day=1)
    start = (first - dt.timedelta(days=1)).replace(day=1) if today.day <= 5 else first
    return start, today + dt.timedelta(days=1)


class Collector:
    """Runs collection cycles over injected clients into a :class:`Store`."""

    def __init__(
        self,
        store: Store,
        *,
        cost_client: CostQueryClient | None = None,
        cost_scopes: Sequence[str] = (),
        cost_group_by: Sequence[str] = ("ResourceId", "Meter"),
        tag_keys: Sequence[str] = (),
        export_paths: Sequence[str | Path] = (),
        blob_exports: BlobExports | None = None,
        monitor_client: MetricsClient | None = None,
        monitor_resources: Sequence[str] = (),
        inventory_client: InventoryClient | None = None,
        subscriptions: Sequence[str] = (),
        default_currency: str | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.costs = CostRecordStore(store)
        self.samples, self.inventory = MetricSampleStore(store), InventoryStore(store)
        self.cost_client, self.cost_scopes = cost_client, tuple(cost_scopes)
        self.cost_group_by, self.tag_keys = tuple(cost_group_by), tuple(tag_keys)
        self.export_paths, self.blob_exports = tuple(Path(p) for p in export_paths), blob_exports
        self.monitor_client, self.monitor_resources = monitor_client, tuple(monitor_resources)
        self.inventory_client, self.subscriptions = inventory_client, tuple(subscriptions)
        self.default_currency = default_currency
        self._now = clock or (lambda: dt.datetime.now(dt.UTC))

    @property
    def configured_sources(self) -> tuple[str, ...]:
        """The sources this collector has what it needs for."""
        present = {
            "cost_management": self.cost_client is not None and bool(self.cost_scopes),
            "exports": bool(self.export_paths) or self.blob_exports is not None,
            "monitor": self.monitor_client is not None and bool(self.monitor_resources),
            "inventory": self.inventory_client is not None and bool(self.subscriptions),
        }
        return tuple(s for s in SOURCES if present[s])

    # --- planning ------------------------------------------------------------------------------------------
    def plan(
        self, start: dt.date, end: dt.date, sources: Sequence[str] | None = None
    ) -> list[CollectionStep]:
        """The steps of one cycle over ``[start, end)`` for ``sources`` (default: every configured one)."""
        wanted = tuple(sources or self.configured_sources)
        unknown = [s for s in wanted if s not in SOURCES]
        if unknown:
            raise ConfigError(f"unknown source(s) {unknown}; choose from {list(SOURCES)}")
        missing = [s for s in wanted if s not in self.configured_sources]
        if missing:
            raise ConfigError(
                f"source(s) {missing} are not configured: set AIFINOPS_AZURE__COST_SCOPES (cost_management), "
                "AIFINOPS_AZURE__EXPORT_PATHS or AIFINOPS_AZURE__EXPORT_BLOB_URL (exports), "
                "AIFINOPS_AZURE__MONITOR_RESOURCES (monitor), AIFINOPS_AZURE__SUBSCRIPTIONS (inventory)"
            )
        if not start < end:
            raise ConfigError(f"collection window must have --from before --to, got {start} .. {end}")
        steps: list[CollectionStep] = []
        if "cost_management" in wanted and self.cost_client is not None:
            steps += [
                self._query_step(scope, basis, a, b)
                for scope in self.cost_scopes
                for basis in _BASES
                for a, b in month_chunks(start, end)
            ]
        if "exports" in wanted:
            steps += self._export_steps(start, end)
        if "monitor" in wanted and self.monitor_client is not None:
            steps += [self._monitor_step(r, start, end) for r in self.monitor_resources]
        if "inventory" in wanted and self.inventory_client is not None and self.subscriptions:
            steps.append(CollectionStep("inventory", ",".join(self.subscriptions), self._collect_inventory))
        return steps

    def collect(
        self,
        start: dt.date,
        end: dt.date,
        *,
        sources: Sequence[str] | None = None,
        on_step: Callable[[CollectionStep], None] | None = None,
    ) -> CollectionSummary:
        """Run one cycle; ``on_step`` is called after each step (progress bars)."""
        return self.run(self.plan(start, end, sources), on_step=on_step)

    def run(
        self, steps: Sequence[CollectionStep], *, on_step: Callable[[CollectionStep], None] | None = None
    ) -> CollectionSummary:
        """Run planned steps in order; a failing step is recorded and the next one still runs."""
        started = self._now()
        outcomes: list[SourceOutcome] = []
        for step in steps:
            outcomes += self._run(step)
            if on_step is not None:
                on_step(step)
        return CollectionSummary(started, self._now(), tuple(outcomes))

    @staticmethod
    def _run(step: CollectionStep) -> list[SourceOutcome]:
        try:
            return step.action()
        except AifinopsError as exc:  # one failing scope, file or resource never stops the cycle
            log.warning("collection step %s %s failed: %s", step.source, step.target, exc)
            return [SourceOutcome(step.source, step.target, None, None, None, error=str(exc))]

    # --- Cost Management query ------------------------------------------------------------------------------
    def _query_step(self, scope: str, basis: Basis, start: dt.date, end: dt.date) -> CollectionStep:
        def action() -> list[SourceOutcome]:
            assert self.cost_client is not None
            # The query allows two groupings in all: tag keys take the place of the last dimensions.
            group_by = self.cost_group_by[: max(0, 2 - len(self.tag_keys))]
            records = self.cost_client.query(
                scope, basis=basis, start=start, end=end, group_by=group_by, tag_keys=self.tag_keys
            )
            summary = self.costs.replace_slice(
                "cost_management",
                scope,
                basis,
                start,
                end,
                records,
                detail={"group_by": list(self.cost_group_by)},
            )
            return [
                SourceOutcome("cost_management", scope, basis, start, end, summary.records, summary.totals)
            ]

        return CollectionStep("cost_management", f"{scope} {basis} {start}..{end}", action)

    # --- exports --------------------------------------------------------------------------------------------
    def _export_steps(self, start: dt.date, end: dt.date) -> list[CollectionStep]:
        steps = []
        for path in self.export_paths:
            for run in local_runs(path):
                m = run.manifest
                if m is None or (m.start < end and start < m.end):
                    steps.append(
                        CollectionStep("exports", run.origin, functools.partial(self._collect_run, run))
                    )
        if self.blob_exports is not None:
            blobs = self.blob_exports
            for manifest in blobs.manifests():
                if manifest.start < end and start < manifest.end:
                    steps.append(
                        CollectionStep(
                            "exports",
                            f"{manifest.export_name} {manifest.run_id}",
                            functools.partial(self._collect_blob_run, blobs, manifest),
                        )
                    )
        return steps

    def _collect_blob_run(self, blobs: BlobExports, manifest: ExportManifest) -> list[SourceOutcome]:
        return self._collect_run(blobs.fetch(manifest))

    def _run_bases(self, run: ExportRun, reader: ExportReader) -> tuple[Basis, ...]:
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

    def _collect_run(self, run: ExportRun) -> list[SourceOutcome]:
        m = run.manifest
        source = f"export:{m.export_name}"[:64] if m else "file"
        scope = m.scope if m else str(run.files[0].resolve())
        outcomes = []
        with (
            tempfile.TemporaryDirectory(prefix="aifinops-duckdb-") as spill,
            ExportReader(temp_directory=spill) as reader,
        ):
            for basis in self._run_bases(run, reader):
                if not run.files:  # a run with no data (NewDataNotAvailable): the period holds no cost
                    assert m is not None
                    summary = self.costs.replace_slice(
                        source, scope, basis, m.start, m.end, [], detail={"run_id": m.run_id}
                    )
                    outcomes.append(
                        SourceOutcome("exports", run.origin, basis, m.start, m.end, 0, summary.totals)
                    )
                    continue
                scan = reader.scan_run(run, basis=basis, default_currency=self.default_currency)
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
                summary = self.costs.replace_slice(
                    source, scope, basis, *period, scan.batches(), detail=detail
                )
                outcomes.append(
                    SourceOutcome(
                        "exports", run.origin, basis, *period, summary.records, summary.totals, issues
                    )
                )
                scan.close()
        return outcomes

    # --- monitor and inventory -----------------------------------------------------------------------------
    def _monitor_step(self, resource: str, start: dt.date, end: dt.date) -> CollectionStep:
        def action() -> list[SourceOutcome]:
            assert self.monitor_client is not None
            begin = dt.datetime.combine(start, dt.time(), dt.UTC)
            now = self._now().replace(minute=0, second=0, microsecond=0)
            until = min(dt.datetime.combine(end, dt.time(), dt.UTC), now)
            if until <= begin:
                return [SourceOutcome("monitor", resource, Basis.USAGE, begin, until)]
            result = self.monitor_client.fetch(resource, start=begin, end=until)
            samples = list(result.samples)
            metrics = sorted({s.metric for s in samples})
            written = (
                self.samples.replace([resource], metrics, start=begin, end=until, samples=samples)
                if metrics
                else 0
            )
            skipped = tuple(str(s) for s in getattr(result, "skipped", ()) or ())
            return [SourceOutcome("monitor", resource, Basis.USAGE, begin, until, written, issues=skipped)]

        return CollectionStep("monitor", resource, action)

    def _collect_inventory(self) -> list[SourceOutcome]:
        assert self.inventory_client is not None
        resources = self.inventory_client.query_inventory(list(self.subscriptions))
        written = self.inventory.replace(self.subscriptions, resources)
        return [SourceOutcome("inventory", ",".join(self.subscriptions), None, None, None, written)]


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


def _blob_container(url: str, credential: Any) -> tuple[Any, str]:
    """A ContainerClient and a name prefix from ``https://acct.blob.core.windows.net/container/prefix[?sas]``."""
    from urllib.parse import urlsplit

    from azure.storage.blob import ContainerClient

    parts = urlsplit(url)
    container, _, prefix = parts.path.strip("/").partition("/")
    if parts.scheme != "https" or not container:
        raise ConfigError(
            f"AIFINOPS_AZURE__EXPORT_BLOB_URL must look like https://<account>.blob.core.windows.net/<container>"
            f"[/<folder>][?<sas>], got {parts.scheme}://{parts.netloc}{parts.path}"
        )
    container_url = f"https://{parts.netloc}/{container}" + (f"?{parts.query}" if parts.query else "")
    # A SAS in the URL is the credential; otherwise the caller's Entra ID credential is used.
    client = ContainerClient.from_container_url(container_url, credential=None if parts.query else credential)
    return client, prefix


def build_collector(
    settings: Any,
    store: Any,
    *,
    http: httpx.Client | None = None,
    credential: Any = None,
    download_dir: str | Path | None = None,
) -> Collector:
    """A Collector for ``settings.azure``: the real Azure clients for every configured source.

    ``http`` and ``credential`` default to a plain httpx client and the azure-identity credential the
    settings name; tests pass ones pointed at the emulator.
    """
    from aifinops.sources.azure_auth import CachedTokenProvider, build_credential
    from aifinops.sources.cost_management import CostManagementClient
    from aifinops.sources.monitor import MonitorClient
    from aifinops.sources.resource_graph import ResourceGraphClient

    azure = settings.azure
    needs_arm = bool(azure.cost_scopes or azure.monitor_resources or azure.subscriptions)
    if credential is None and (needs_arm or azure.export_blob_url):
        credential = build_credential(azure)
    http = http or httpx.Client(timeout=httpx.Timeout(120.0, connect=10.0))
    tokens = CachedTokenProvider(credential) if needs_arm else None
    endpoint = azure.management_endpoint
    blob_exports = None
    if azure.export_blob_url:
        container, prefix = _blob_container(azure.export_blob_url, credential)
        folder = Path(download_dir) if download_dir else Path(tempfile.gettempdir()) / "aifinops-exports"
        blob_exports = BlobExports(container, folder, prefix=prefix)
    cost = CostManagementClient(http, tokens, endpoint=endpoint) if tokens and azure.cost_scopes else None
    monitor = MonitorClient(http, tokens, endpoint=endpoint) if tokens and azure.monitor_resources else None
    graph = ResourceGraphClient(http, tokens, endpoint=endpoint) if tokens and azure.subscriptions else None
    return Collector(
        store,
        cost_client=cost,
        cost_scopes=azure.cost_scopes,
        tag_keys=azure.cost_group_tags,
        export_paths=azure.export_paths,
        blob_exports=blob_exports,
        monitor_client=monitor,
        monitor_resources=azure.monitor_resources,
        inventory_client=graph,
        subscriptions=azure.subscriptions,
    )


def run_scheduled(
    collector: Collector,
    *,
    stop: threading.Event,
    intervals: Mapping[str, int] | None = None,
    on_summary: Callable[[CollectionSummary], None] | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> None:
    """Collect each configured source on its own interval until ``stop`` is set (``aifinops serve``).

    Each due source re-collects :func:`collection_window`; a failing cycle is logged and retried on the
    source's next turn, never ending the loop.
    """
    now = clock or (lambda: dt.datetime.now(dt.UTC))
    every = {**DEFAULT_INTERVALS, **(intervals or {})}
    due_at = dict.fromkeys(collector.configured_sources, now())
    while due_at and not stop.is_set():
        current = now()
        due = [s for s, at in due_at.items() if at <= current]
        if due:
            try:
                summary = collector.collect(*collection_window(current.date()), sources=due)
                if on_summary is not None:
                    on_summary(summary)
            except Exception:
                log.exception("scheduled collection of %s failed", due)
            for source in due:
                due_at[source] = current + dt.timedelta(seconds=max(int(every[source]), 1))
        stop.wait(max((min(due_at.values()) - now()).total_seconds(), 0.0))
