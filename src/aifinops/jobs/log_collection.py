"""Collection steps of the Log Analytics sources: ``apim``, ``appinsights`` and ``loganalytics``.

Each step reads one query over one workspace from its watermark less an overlap (rows arrive late: API
Management's resource logs in 3–10 minutes, any row up to hours, reference/log-analytics.md §6.4) to now,
in bounded windows, and stores what it read keyed so that reading it again changes nothing: usage events
by the records' own ids (``apim-<CorrelationId>``, ``otel-<trace>-<span>``), outcomes by task, samples
replaced per window. The watermark moves only when every window of the step was read completely.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from aifinops.domain import Basis, MetricSample, UsageEvent
from aifinops.engine.pricing import price_event
from aifinops.jobs.collection_steps import CollectionStep, SourceOutcome
from aifinops.jobs.ingest import Ingestor
from aifinops.sources.apim_logs import (
    LLM_LOG_METRICS,
    ApimMap,
    ApimTotals,
    apim_requests,
    token_metric_samples,
)
from aifinops.sources.appinsights_logs import OutcomeMapping, dependency_events, outcome_events
from aifinops.sources.log_queries import QUERIES, TOKEN_METRIC_NAMES, LogQuery
from aifinops.sources.log_rows import RowIssues, utc
from aifinops.sources.protocols import LogsReader
from aifinops.sources.telemetry_logs import BILLABLE_MB, BILLED_BYTES, billed_samples, usage_samples
from aifinops.store.log_watermark_queries import read_watermark
from aifinops.store.log_watermarks import LogWatermarkStore

if TYPE_CHECKING:
    from aifinops.jobs.collect import Collector

__all__ = ["LOG_SOURCE_QUERIES", "LogSources", "log_steps"]

#: The queries each Log Analytics collection source runs, in order.
LOG_SOURCE_QUERIES: dict[str, tuple[str, ...]] = {
    "apim": ("apim_requests", "apim_token_metrics"),
    "appinsights": ("genai_dependencies", "outcome_events"),
    "loganalytics": ("telemetry_usage", "telemetry_billed"),
}


@dataclass(frozen=True, slots=True)
class LogSources:
    """What the Log Analytics sources need: the client, the workspaces, the overlap re-read before each
    watermark, the API Management mapping, the task id headers and the outcome event mapping."""

    client: LogsReader
    workspaces: tuple[str, ...]
    overlap: dt.timedelta = dt.timedelta(hours=2)
    apim_map: ApimMap = field(default_factory=ApimMap)
    task_headers: tuple[str, ...] = ("x-aifinops-task-id",)
    outcomes: OutcomeMapping = field(default_factory=OutcomeMapping)

    @classmethod
    def from_settings(cls, client: LogsReader, logs: Any) -> LogSources:
        """From ``settings.azure.logs`` (:class:`~aifinops.config.LogsSettings`)."""
        return cls(
            client,
            tuple(logs.workspaces),
            dt.timedelta(minutes=logs.overlap_minutes),
            ApimMap.from_settings(logs.apim_map),
            tuple(logs.task_id_headers),
            OutcomeMapping(logs.outcome_event, dict(logs.outcome_properties), dict(logs.outcome_values)),
        )


@dataclass(slots=True)
class _Run:
    """What one step has read and written so far."""

    source: str
    issues: RowIssues
    written: int = 0
    rows: int = 0
    complete: bool = True
    last_ts: dt.datetime | None = None
    notes: list[str] = field(default_factory=list)
    samples: list[MetricSample] = field(default_factory=list)


def log_steps(source: str) -> Callable[[Collector, dt.date, dt.date], list[CollectionStep]]:
    """The planner of one source: a step per configured workspace and query of ``source``."""

    def steps(c: Collector, start: dt.date, end: dt.date) -> list[CollectionStep]:
        logs = c.logs
        assert logs is not None
        return [
            CollectionStep(
                source, f"{ws} {name}", partial(_collect, c, logs, source, ws, QUERIES[name], start, end)
            )
            for ws in logs.workspaces
            for name in LOG_SOURCE_QUERIES[source]
        ]

    return steps


def _window(
    c: Collector, logs: LogSources, ws: str, query: LogQuery, start: dt.date, end: dt.date
) -> tuple[dt.datetime, dt.datetime]:
    """``[start, end)`` of the days asked, ended at now, and begun again from the watermark less the overlap
    when the watermark lies inside it (a backfill of days before it reads them whole); the start on a whole
    hour (samples are hourly)."""
    begin = dt.datetime.combine(start, dt.time(), dt.UTC)
    until = min(dt.datetime.combine(end, dt.time(), dt.UTC), c.clock())
    watermark = read_watermark(c.samples.store, ws, query.name)
    if watermark is not None and begin < watermark <= until:  # a window wholly before it is read again
        begin = max(begin, watermark - logs.overlap)
    return begin.replace(minute=0, second=0, microsecond=0), until


def _collect(
    c: Collector, logs: LogSources, source: str, ws: str, query: LogQuery, start: dt.date, end: dt.date
) -> list[SourceOutcome]:
    begin, until = _window(c, logs, ws, query, start, end)
    target = f"{ws} {query.name}"
    if until <= begin:
        return [SourceOutcome(source, target, Basis.USAGE, begin, until)]
    run = _Run(source, RowIssues(f"{source} {query.name}"))
    handle = _HANDLERS[query.name](c, logs, ws, run)
    params = {"event": logs.outcomes.event} if "event" in query.params else None
    for chunk in logs.client.read(ws, query, start=begin, end=until, params=params):
        run.rows += len(chunk.rows)
        run.complete &= chunk.complete
        run.notes += chunk.issues
        times = [t for r in chunk.rows if (t := utc(r.get("TimeGenerated"))) is not None]
        if times:
            run.last_ts = max([*times, *([run.last_ts] if run.last_ts else [])])
        handle(chunk.rows)
    if run.complete:
        _finish(c, ws, query, run, begin, until)
    else:
        run.notes.append(f"{target}: watermark kept at its last complete read; the next run reads again")
    return [
        SourceOutcome(
            source, target, Basis.USAGE, begin, until, run.written, issues=(*run.notes, *run.issues.lines())
        )
    ]


def _finish(
    c: Collector, ws: str, query: LogQuery, run: _Run, begin: dt.datetime, until: dt.datetime
) -> None:
    metrics = _SAMPLE_METRICS.get(query.name)
    if metrics is not None:
        replaced = c.samples.replace([ws], metrics, start=begin, end=until, samples=run.samples)
        run.written += replaced if query.name != "apim_requests" else 0  # its records are its events
    LogWatermarkStore(c.samples.store).advance(
        ws,
        query.name,
        watermark=until,
        source=f"{run.source}:{query.name}",
        rows=run.rows,
        issues=run.issues.total,
        last_data_ts=run.last_ts,
        now=c.clock(),
    )


Handler = Callable[[list[dict[str, Any]]], None]


def _apim_requests(c: Collector, logs: LogSources, ws: str, run: _Run) -> Handler:
    ingestor = Ingestor(c.samples.store)
    totals = ApimTotals(ws)

    def handle(rows: list[dict[str, Any]]) -> None:
        requests = apim_requests(rows, logs.apim_map, task_headers=logs.task_headers, issues=run.issues)
        totals.add(requests)
        for r in requests:
            if r.unmapped:
                run.issues.add(_UNMAPPED, f"subscription {r.subscription!r}")
        _ingest(ingestor, [r.event for r in requests if r.record], run, source="apim")
        run.samples[:] = totals.samples()

    return handle


_UNMAPPED = "of API Management subscriptions no apim_map row maps (kept, marked apim.unmapped)"


def _token_metrics(c: Collector, logs: LogSources, ws: str, run: _Run) -> Handler:
    def handle(rows: list[dict[str, Any]]) -> None:
        run.samples += token_metric_samples(rows, logs.apim_map, resource_id=ws, issues=run.issues)

    return handle


def _dependencies(c: Collector, logs: LogSources, ws: str, run: _Run) -> Handler:
    ingestor = Ingestor(c.samples.store)

    def handle(rows: list[dict[str, Any]]) -> None:
        _ingest(ingestor, dependency_events(rows, run.issues), run, source="appinsights")

    return handle


def _outcomes(c: Collector, logs: LogSources, ws: str, run: _Run) -> Handler:
    ingestor = Ingestor(c.samples.store)

    def handle(rows: list[dict[str, Any]]) -> None:
        outcomes = outcome_events(rows, logs.outcomes, run.issues)
        run.written += ingestor.record_outcomes(outcomes) if outcomes else 0

    return handle


def _usage(c: Collector, logs: LogSources, ws: str, run: _Run) -> Handler:
    def handle(rows: list[dict[str, Any]]) -> None:
        run.samples += usage_samples(rows, resource_id=ws, issues=run.issues)

    return handle


def _billed(c: Collector, logs: LogSources, ws: str, run: _Run) -> Handler:
    def handle(rows: list[dict[str, Any]]) -> None:
        run.samples += billed_samples(rows, resource_id=ws, issues=run.issues)

    return handle


_HANDLERS: dict[str, Callable[[Collector, LogSources, str, _Run], Handler]] = {
    "apim_requests": _apim_requests,
    "apim_token_metrics": _token_metrics,
    "genai_dependencies": _dependencies,
    "outcome_events": _outcomes,
    "telemetry_usage": _usage,
    "telemetry_billed": _billed,
}
#: The sample metrics a query replaces over its window (the others write events or outcomes).
_SAMPLE_METRICS: dict[str, list[str]] = {
    "apim_requests": list(LLM_LOG_METRICS.values()),
    "apim_token_metrics": list(TOKEN_METRIC_NAMES),
    "telemetry_usage": [BILLABLE_MB],
    "telemetry_billed": [BILLED_BYTES],
}


def _ingest(ingestor: Ingestor, events: Sequence[UsageEvent], run: _Run, *, source: str) -> None:
    """Store events (duplicates by id are skipped); events with no price are kept and reported."""
    if not events:
        return
    result = ingestor.ingest(events, source=source)
    run.written += result.accepted
    if result.unpriced:
        book = ingestor.book()
        reasons = {}
        for e in events:
            key = (e.model, e.model_version, e.deployment_type, e.region)
            if key not in reasons:
                reasons[key] = price_event(e, book).unpriced_reason
        sample = next((r for r in reasons.values() if r), "")
        run.issues.add("with no price in effect (kept, unpriced)", sample, count=result.unpriced)
