"""Collection cycles, Azure sources → store, run once or on a schedule.

Cost Management queries, cost exports (folder or blobs), Azure Monitor metrics, the Resource Graph
inventory and Log Analytics (API Management, Application Insights, telemetry usage; the rows of
:data:`~aifinops.jobs.collection_sources.SOURCES`), each written as a slice replaced atomically or keyed by
the records' own ids.

Every step is independent: one failing scope or file is recorded in the summary and the others still run,
and because every write replaces its whole slice in one transaction, running a cycle twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from aifinops.errors import AifinopsError, ConfigError
from aifinops.jobs.collection_sources import SOURCES
from aifinops.jobs.collection_steps import CollectionStep, SourceOutcome
from aifinops.jobs.log_collection import LogSources
from aifinops.sources.blob_container import container_from_url
from aifinops.sources.export_runs import BlobExports
from aifinops.sources.protocols import CostQueryClient, ExportRunSource, InventoryClient, MetricsClient
from aifinops.store.cost_records import CostRecordStore
from aifinops.store.inventory import InventoryStore
from aifinops.store.metric_samples import MetricSampleStore
from aifinops.store.store import Store

__all__ = [
    "DEFAULT_INTERVALS",
    "SOURCE_NAMES",
    "CollectionSummary",
    "Collector",
    "build_collector",
    "collection_window",
]

log = logging.getLogger(__name__)

SOURCE_NAMES: tuple[str, ...] = tuple(s.name for s in SOURCES)
#: Seconds between scheduled runs per source (override with settings.azure.collect_interval_seconds).
DEFAULT_INTERVALS: Mapping[str, int] = {s.name: s.interval_seconds for s in SOURCES}


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
        blob_exports: ExportRunSource | None = None,
        monitor_client: MetricsClient | None = None,
        monitor_resources: Sequence[str] = (),
        inventory_client: InventoryClient | None = None,
        subscriptions: Sequence[str] = (),
        default_currency: str | None = None,
        accept_partial: bool = False,
        clock: Callable[[], dt.datetime] | None = None,
        logs: LogSources | None = None,
    ) -> None:
        self.costs = CostRecordStore(store)
        self.samples = MetricSampleStore(store)
        self.inventory = InventoryStore(store)
        self.cost_client: CostQueryClient | None = cost_client
        self.cost_scopes: tuple[str, ...] = tuple(cost_scopes)
        self.cost_group_by: tuple[str, ...] = tuple(cost_group_by)
        self.tag_keys: tuple[str, ...] = tuple(tag_keys)
        self.export_paths: tuple[Path, ...] = tuple(Path(p) for p in export_paths)
        self.blob_exports: ExportRunSource | None = blob_exports
        self.monitor_client: MetricsClient | None = monitor_client
        self.monitor_resources: tuple[str, ...] = tuple(monitor_resources)
        self.inventory_client: InventoryClient | None = inventory_client
        self.subscriptions: tuple[str, ...] = tuple(subscriptions)
        self.default_currency = default_currency
        #: Store the complete rows of a cut export file instead of refusing it (``collect --accept-partial``).
        self.accept_partial = accept_partial
        self.clock: Callable[[], dt.datetime] = clock or partial(dt.datetime.now, dt.UTC)
        self.logs: LogSources | None = logs

    @property
    def configured_sources(self) -> tuple[str, ...]:
        """The sources this collector has what it needs for."""
        return tuple(s.name for s in SOURCES if s.configured(self))

    def plan(
        self, start: dt.date, end: dt.date, sources: Sequence[str] | None = None
    ) -> list[CollectionStep]:
        """The steps of one cycle over ``[start, end)`` for ``sources`` (default: every configured one)."""
        wanted = tuple(sources or self.configured_sources)
        unknown = [s for s in wanted if s not in SOURCE_NAMES]
        if unknown:
            raise ConfigError(f"unknown source(s) {unknown}; choose from {list(SOURCE_NAMES)}")
        missing = [s for s in wanted if s not in self.configured_sources]
        if missing:
            settings = ", ".join(f"{s.setting} ({s.name})" for s in SOURCES)
            raise ConfigError(f"source(s) {missing} are not configured: set {settings}")
        if not start < end:
            raise ConfigError(f"collection window must have --from before --to, got {start} .. {end}")
        return [step for s in SOURCES if s.name in wanted for step in s.steps(self, start, end)]

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
        started = self.clock()
        outcomes: list[SourceOutcome] = []
        for step in steps:
            outcomes += self._run(step)
            if on_step is not None:
                on_step(step)
        return CollectionSummary(started, self.clock(), tuple(outcomes))

    @staticmethod
    def _run(step: CollectionStep) -> list[SourceOutcome]:
        try:
            return step.action()
        except AifinopsError as exc:  # one failing scope, file or resource never stops the cycle
            log.warning("collection step %s %s failed: %s", step.source, step.target, exc)
            return [SourceOutcome(step.source, step.target, None, None, None, error=str(exc))]


def build_collector(
    settings: Any,
    store: Store,
    *,
    http: httpx.Client | None = None,
    credential: Any = None,
    download_dir: str | Path | None = None,
    accept_partial: bool = False,
    azure_transport: Any = None,
) -> Collector:
    """A Collector for ``settings.azure``: the real Azure clients for every configured source.

    ``http`` and ``credential`` default to a plain httpx client and the azure-identity credential the
    settings name; ``azure_transport`` (default azure-core's own) carries the Azure SDK clients' calls (Log
    Analytics). Tests pass ones pointed at the emulator. ``accept_partial`` stores the complete rows of a cut
    export file instead of refusing it (``collect --accept-partial``).
    """
    from aifinops.sources.azure_auth import CachedTokenProvider, build_credential
    from aifinops.sources.cost_management import CostManagementClient
    from aifinops.sources.monitor import MonitorClient
    from aifinops.sources.resource_graph import ResourceGraphClient

    azure = settings.azure
    needs_arm = bool(azure.cost_scopes or azure.monitor_resources or azure.subscriptions)
    if credential is None and (needs_arm or azure.export_blob_url or azure.logs.workspaces):
        credential = build_credential(azure)
    http = http or httpx.Client(timeout=httpx.Timeout(120.0, connect=10.0))
    tokens = CachedTokenProvider(credential) if needs_arm else None
    endpoint = azure.management_endpoint
    blob_exports = None
    if azure.export_blob_url:
        container, prefix = container_from_url(
            azure.export_blob_url, credential, what="AIFINOPS_AZURE__EXPORT_BLOB_URL"
        )
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
        accept_partial=accept_partial,
        logs=_log_sources(azure.logs, credential, azure_transport) if azure.logs.workspaces else None,
    )


def _log_sources(logs: Any, credential: Any, transport: Any) -> LogSources:
    """The Log Analytics sources of ``settings.azure.logs`` (``transport``: an azure-core transport, or None
    for the default)."""
    from aifinops.sources.log_analytics import LogAnalyticsClient

    client = LogAnalyticsClient(
        credential,
        endpoint=logs.endpoint,
        audience=logs.audience,
        window=dt.timedelta(hours=logs.window_hours),
        max_rows=logs.max_rows,
        **({"transport": transport} if transport is not None else {}),
    )
    return LogSources.from_settings(client, logs)
