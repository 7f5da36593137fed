"""What the collector needs of each Azure source: the protocols its injected clients satisfy.

The real clients (:mod:`~aifinops.sources.cost_management`, :mod:`~aifinops.sources.monitor`,
:mod:`~aifinops.sources.resource_graph`, :class:`~aifinops.sources.export_runs.BlobExports`,
:class:`~aifinops.sources.log_analytics.LogAnalyticsClient`) satisfy them; tests point those clients at the
emulator or pass their own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from aifinops.domain import Basis, CostRecord, InventoryResource, MetricSample

if TYPE_CHECKING:
    from aifinops.sources.export_runs import ExportRun
    from aifinops.sources.export_schemas import ExportManifest
    from aifinops.sources.log_analytics import LogsChunk
    from aifinops.sources.log_queries import LogQuery

__all__ = [
    "CostQueryClient",
    "ExportRunSource",
    "InventoryClient",
    "LogsReader",
    "MetricsClient",
    "MetricsFetch",
]


class CostQueryClient(Protocol):
    """Cost Management queries: the cost records of a scope, basis and day range (a month at most)."""

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


class MetricsFetch(Protocol):
    """One resource's metric samples, and the metrics left out with the reason."""

    @property
    def samples(self) -> Sequence[MetricSample]: ...

    @property
    def skipped(self) -> Sequence[object]: ...


class MetricsClient(Protocol):
    """Azure Monitor metrics of one resource over a time range."""

    def fetch(self, resource_id: str, *, start: dt.datetime, end: dt.datetime) -> MetricsFetch: ...


class InventoryClient(Protocol):
    """The Resource Graph inventory of some subscriptions."""

    def query_inventory(self, subscriptions: Sequence[str]) -> list[InventoryResource]: ...


class ExportRunSource(Protocol):
    """Cost export runs kept elsewhere (a blob container): their manifests, and a run fetched to local
    files."""

    @property
    def url(self) -> str: ...

    def manifests(self) -> list[ExportManifest]: ...

    def fetch(self, manifest: ExportManifest) -> ExportRun: ...


class LogsReader(Protocol):
    """Log Analytics queries over a workspace (GUID) or a resource (ARM id): the rows of ``[start, end)`` in
    bounded windows, in time order."""

    def read(
        self,
        target: str,
        query: LogQuery,
        *,
        start: dt.datetime,
        end: dt.datetime,
        params: Mapping[str, str] | None = None,
    ) -> Iterator[LogsChunk]: ...
