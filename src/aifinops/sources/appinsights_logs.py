"""What apps already log to Application Insights: GenAI dependencies as usage events (through the same
mapping as OTLP ``/v1/traces``) and business outcomes from custom events.

Pure: rows of :data:`~aifinops.sources.log_queries.GENAI_DEPENDENCIES` and
:data:`~aifinops.sources.log_queries.OUTCOME_EVENTS` in, domain values out. How the Azure Monitor
OpenTelemetry exporter stores a span (reference/azure-monitor-openai.md §6): attributes as strings in
``Properties``, trace id in ``OperationId``, span id in ``Id``, ``service.name`` in ``AppRoleName``, the start
in ``TimeGenerated`` and the duration in ``DurationMs``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from aifinops.domain import Outcome, TaskOutcome, UsageEvent
from aifinops.sources.log_rows import RowIssues, cell_text, dynamic, utc
from aifinops.sources.otlp import AttrValue, Span
from aifinops.sources.otlp_genai import OtlpMapping, spans_to_events

__all__ = ["OUTCOME_SYNONYMS", "OutcomeMapping", "dependency_events", "dependency_spans", "outcome_events"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_SPAN_KIND_CLIENT = 3
_STATUS_ERROR = 2
_NUMERIC_KEYS = re.compile(r"^(gen_ai\.usage\.|aifinops\.(step|attempt)$)")
_INTEGER = re.compile(r"^-?\d+(\.0+)?$")

#: Outcome words apps commonly log, and ours (extend with ``logs.outcome_values``).
OUTCOME_SYNONYMS: Mapping[str, Outcome] = MappingProxyType(
    {
        **dict.fromkeys(
            ("succeeded", "success", "successful", "completed", "resolved", "ok", "true"), Outcome.SUCCEEDED
        ),
        **dict.fromkeys(("failed", "failure", "error", "false"), Outcome.FAILED),
        **dict.fromkeys(("abandoned", "cancelled", "canceled", "timeout"), Outcome.ABANDONED),
        **dict.fromkeys(("escalated", "handoff", "handed_off"), Outcome.ESCALATED),
    }
)


def _property(value: str, key: str) -> AttrValue:
    """A ``Properties`` string as the OTLP attribute it was: whole numbers for usage counts, arrays for
    ``["stop"]`` / ``('stop',)`` (how exporters write sequences)."""
    text = value.strip()
    if _NUMERIC_KEYS.match(key) and _INTEGER.match(text):
        return int(Decimal(text))
    if len(text) >= 2 and text[0] + text[-1] in ("[]", "()"):
        try:
            items = json.loads("[" + text[1:-1].rstrip(",").replace("'", '"') + "]")
        except ValueError:
            return value
        if all(isinstance(i, str | int | float | bool) for i in items):
            return tuple(items)
    return value


def dependency_spans(rows: Iterable[Mapping[str, Any]], issues: RowIssues) -> list[Span]:
    """The spans behind ``AppDependencies`` rows; rows without ids or time are counted and left out."""
    spans = []
    for row in rows:
        trace, span_id, start = (
            cell_text(row.get("OperationId")),
            cell_text(row.get("Id")),
            utc(row.get("TimeGenerated")),
        )
        if trace is None or span_id is None or start is None:
            issues.add("without OperationId, Id or TimeGenerated", f"Id={span_id} OperationId={trace}")
            continue
        try:
            duration_us = int(Decimal(str(row.get("DurationMs") or 0)) * 1000)
        except InvalidOperation:
            duration_us = 0
        start_ns = (start - _EPOCH) // dt.timedelta(microseconds=1) * 1000
        attributes = {
            str(k): _property(str(v), str(k))
            for k, v in dynamic(row.get("Properties")).items()
            if v is not None
        }
        failed = row.get("Success") is False or str(row.get("Success")).lower() == "false"
        spans.append(
            Span(
                trace_id=trace.lower(),
                span_id=span_id.lower(),
                name=cell_text(row.get("Name")) or "",
                kind=_SPAN_KIND_CLIENT,
                start_ns=start_ns,
                end_ns=start_ns + max(duration_us, 0) * 1000,
                attributes=MappingProxyType(attributes),
                resource=MappingProxyType({"service.name": cell_text(row.get("AppRoleName"))}),
                status_code=_STATUS_ERROR if failed else 0,
                status_message=cell_text(row.get("ResultCode")) or "",
                parent_span_id=(cell_text(row.get("ParentId")) or "").lower(),
            )
        )
    return spans


def dependency_events(
    rows: Iterable[Mapping[str, Any]], issues: RowIssues, mapping: OtlpMapping | None = None
) -> list[UsageEvent]:
    """Usage events of GenAI dependencies, ids ``otel-<trace>-<span>`` as if the spans came over OTLP (so an
    app that sends both never counts twice); spans that break the conventions are counted."""
    events, skipped = spans_to_events(dependency_spans(rows, issues), mapping)
    for s in skipped:
        if s.rejected:
            issues.add(f"rejected: {s.reason}", f"OperationId={s.trace_id} Id={s.span_id}")
    return events


@dataclass(frozen=True, slots=True)
class OutcomeMapping:
    """Which custom event is an outcome and which of its properties say what (``field → property``)."""

    event: str = "TaskCompleted"
    properties: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, str] = field(default_factory=dict)

    def key(self, name: str) -> str:
        return self.properties.get(name, name)

    def outcome(self, raw: str) -> Outcome | None:
        word = raw.strip().lower()
        configured = {k.lower(): v for k, v in self.values.items()}
        if word in configured:
            return Outcome(configured[word])
        return OUTCOME_SYNONYMS.get(word)


def outcome_events(
    rows: Iterable[Mapping[str, Any]], mapping: OutcomeMapping, issues: RowIssues
) -> list[TaskOutcome]:
    """Task outcomes of custom events; an event without a task id or with an outcome we cannot read is
    counted and left out, a value we cannot read is counted and dropped (the outcome kept)."""
    out = []
    for row in rows:
        props = dynamic(row.get("Properties"))
        measures = dynamic(row.get("Measurements"))
        task_id = cell_text(props.get(mapping.key("task_id")))
        raw = cell_text(props.get(mapping.key("outcome")))
        ended = utc(row.get("TimeGenerated"))
        sample = f"OperationId={row.get('OperationId')} {json.dumps(props, sort_keys=True)}"
        if task_id is None or ended is None:
            issues.add(f"without the task id property {mapping.key('task_id')!r}", sample)
            continue
        outcome = mapping.outcome(raw or "")
        if outcome is None:
            issues.add(f"whose {mapping.key('outcome')!r} is not an outcome we know", sample)
            continue
        item_count = row.get("ItemCount")
        if isinstance(item_count, int) and item_count > 1:
            issues.add("sampled (ItemCount > 1: other outcomes were not kept)", sample)
        out.append(_outcome(task_id, outcome, ended, props, measures, mapping, issues, sample))
    return out


def _outcome(
    task_id: str,
    outcome: Outcome,
    ended: dt.datetime,
    props: Mapping[str, Any],
    measures: Mapping[str, Any],
    mapping: OutcomeMapping,
    issues: RowIssues,
    sample: str,
) -> TaskOutcome:
    raw_value = props.get(mapping.key("value"), measures.get(mapping.key("value")))
    currency = cell_text(props.get(mapping.key("currency")))
    unit = cell_text(props.get(mapping.key("unit")))
    value: Decimal | None = None
    if raw_value not in (None, ""):
        try:
            value = Decimal(str(raw_value))
        except InvalidOperation:
            value = None
        if value is None or not value.is_finite() or value < 0 or not (currency or unit):
            issues.add("with a value that is no amount ≥ 0 with a currency or unit (value dropped)", sample)
            value = None
        elif currency and not re.fullmatch(r"[A-Z]{3}", currency):
            issues.add("with a value currency that is no ISO code (value dropped)", sample)
            value = None
    return TaskOutcome(
        task_id=task_id[:128],
        outcome=outcome,
        ended_at=ended,
        use_case=(cell_text(props.get(mapping.key("use_case"))) or "")[:128] or None,
        value_amount=value if value is not None and currency else None,
        value_currency=currency if value is not None and currency else None,
        value_quantity=value if value is not None and not currency else None,
        value_unit=unit[:32] if value is not None and not currency and unit else None,
    )
