"""POST /v1/traces: OTLP/HTTP trace export (protobuf or JSON, optionally gzip) → usage events, stored once.

Protocol: the reference otel-genai.md §4. The answer uses the request's content type: 200 with an
``ExportTraceServiceResponse`` whose ``partialSuccess`` counts the GenAI spans that were rejected; 400 (never
retried by exporters) for a body that cannot be decoded. Which attributes name the task and the app comes
from ``app.state.otlp_mapping`` (an ``OtlpMapping``, e.g. ``create_app(settings, otlp_mapping=...)``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import zlib
from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)
from starlette.concurrency import run_in_threadpool

from aifinops.api.deps import IngestCaller, IngestorDep, SettingsDep
from aifinops.api.ingest_schemas import EventIn, check_event, to_event, validate_items
from aifinops.api.openapi import problems
from aifinops.api.problems import PROBLEM_JSON, ProblemError
from aifinops.domain import UsageEvent
from aifinops.errors import SourceFormatError
from aifinops.sources.otlp import decode_otlp_json, decode_otlp_protobuf
from aifinops.sources.otlp_genai import OtlpMapping, spans_to_events

__all__ = ["router"]

router = APIRouter(tags=["ingest"])

JSON, PROTOBUF = "application/json", "application/x-protobuf"
_REASONS_SHOWN = 5
_INVALID_ARGUMENT = 3  # google.rpc.Code of a request that must not be retried as is


@dataclasses.dataclass(frozen=True, slots=True)
class _Mapped:
    events: list[UsageEvent]
    rejections: list[str]  # one reason per rejected span


@router.post(
    "/v1/traces",
    summary="OTLP/HTTP trace export: OpenTelemetry GenAI spans become usage events",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
                JSON: {"schema": {"type": "object", "description": "ExportTraceServiceRequest (OTLP JSON)"}},
            },
        }
    },
    responses={
        200: {
            "description": "ExportTraceServiceResponse: empty, or partialSuccess counting the rejected spans",
            "content": {
                JSON: {"schema": {"type": "object", "properties": {"partialSuccess": {"type": "object"}}}},
                PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
            },
        },
        **problems(400, 413, 415, media_types=(PROBLEM_JSON, PROTOBUF)),
    },
)
async def post_traces(
    request: Request, settings: SettingsDep, ingestor: IngestorDep, caller: IngestCaller
) -> Response:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in (JSON, PROTOBUF):
        raise ProblemError(
            415,
            "Unsupported media type",
            f"send OTLP traces as {PROTOBUF} or {JSON}, got {ctype or 'no content-type'!r}",
        )
    mapping: OtlpMapping = getattr(request.app.state, "otlp_mapping", None) or OtlpMapping()
    try:
        body, gzipped = await _read_body(request, max_bytes=settings.max_body_bytes)
        # Inflating and decoding a large export is CPU work: keep it off the event loop, like the store write.
        mapped = await run_in_threadpool(
            _map,
            body,
            ctype=ctype,
            gzipped=gzipped,
            max_bytes=settings.max_body_bytes,
            mapping=mapping,
            tenant=caller.tenant,
            now=dt.datetime.now(dt.UTC),
            max_events=settings.max_batch_events,
        )
    except ProblemError as exc:
        if ctype == PROTOBUF:
            return Response(_rpc_status(exc.detail), status_code=exc.status, media_type=PROTOBUF)
        raise
    if mapped.events:
        await run_in_threadpool(ingestor.ingest, mapped.events, source="otlp")
    return _export_response(ctype, mapped.rejections)


async def _read_body(request: Request, *, max_bytes: int) -> tuple[bytes, bool]:
    """The request body, never more than ``max_bytes``, and whether it is gzipped."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise ProblemError(413, "Body too large", _too_large(f"body of {declared} bytes", max_bytes))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise ProblemError(413, "Body too large", _too_large("body", max_bytes))
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity", "gzip"):
        raise ProblemError(
            415, "Unsupported content encoding", f"Content-Encoding {encoding!r} is not supported; use gzip"
        )
    return bytes(body), encoding == "gzip"


def _gunzip(body: bytes, *, max_bytes: int) -> bytes:
    # Bounded: a few KB of gzip can expand to gigabytes.
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise ProblemError(400, "Undecodable body", f"the body is not valid gzip: {exc}") from exc
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise ProblemError(413, "Body too large", _too_large("the gunzipped body", max_bytes))
    if not inflater.eof:
        raise ProblemError(400, "Undecodable body", "the gzip body is truncated")
    return out


def _too_large(what: str, max_bytes: int) -> str:
    return f"{what} exceeds {max_bytes} bytes; export smaller batches (AIFINOPS_MAX_BODY_BYTES)"


def _map(
    body: bytes,
    *,
    ctype: str,
    gzipped: bool,
    max_bytes: int,
    mapping: OtlpMapping,
    tenant: str | None,
    now: dt.datetime,
    max_events: int,
) -> _Mapped:
    """Inflate, decode and map one export; every event is held to the one ingest contract.

    At most ``max_events`` GenAI spans become events, as ``POST /api/events`` takes at most that many items;
    the excess is rejected in ``partialSuccess`` (a 413 would make the exporter drop the whole export, since
    OTLP exporters retry only 429 and 5xx).
    """
    if gzipped:
        body = _gunzip(body, max_bytes=max_bytes)
    try:
        spans = decode_otlp_protobuf(body) if ctype == PROTOBUF else decode_otlp_json(body)
    except SourceFormatError as exc:
        raise ProblemError(400, "Undecodable OTLP body", str(exc)) from exc
    events, skipped = spans_to_events(spans, mapping)
    rejections = [f"span {s.trace_id}/{s.span_id} ({s.name}): {s.reason}" for s in skipped if s.rejected]
    if len(events) > max_events:
        excess = len(events) - max_events
        rejections += [
            f"{excess} span(s) after the first {max_events}: more than {max_events} GenAI spans in one "
            "export; lower the exporter's batch size (OTEL_BSP_MAX_EXPORT_BATCH_SIZE) or raise "
            "AIFINOPS_MAX_BATCH_EVENTS"
        ] * excess
        events = events[:max_events]
    events, broken = _hold_to_contract(events, now)
    rejections += broken
    if tenant is not None:
        events, foreign = _own_tenant(events, tenant)
        rejections += foreign
    return _Mapped(events, rejections)


def _wire(event: UsageEvent) -> dict[str, Any]:
    values = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    values["attributes"] = dict(event.attributes)
    return {k: v for k, v in values.items() if v is not None}


def _hold_to_contract(events: Sequence[UsageEvent], now: dt.datetime) -> tuple[list[UsageEvent], list[str]]:
    """The events that pass the schema and rules of ``POST /api/events``; one reason per failing span.

    Every ingest path produces exactly the same usage event, so OTLP events meet the same bounds (name
    lengths, token ceilings, timestamps at most a day ahead) as events sent directly.
    """
    valid, rejected = validate_items(EventIn, [_wire(e) for e in events], lambda e: check_event(e, now))
    reasons: dict[int, str] = {}
    for r in rejected:
        reasons.setdefault(r.index, f"event {events[r.index].event_id}: {r.field}: {r.reason}")
    return [to_event(v) for _, v in valid], list(reasons.values())


def _own_tenant(events: list[UsageEvent], tenant: str) -> tuple[list[UsageEvent], list[str]]:
    """A tenant-bound ingest key may only send its own tenant's events (missing tenant = its own)."""
    keep, reasons = [], []
    for e in events:
        if e.tenant not in (None, tenant):
            reasons.append(f"event {e.event_id}: aifinops.tenant: this key may only send tenant {tenant!r}")
        else:
            keep.append(dataclasses.replace(e, tenant=tenant))
    return keep, reasons


def _export_response(ctype: str, rejections: list[str]) -> Response:
    """``ExportTraceServiceResponse``: empty on full success, else ``partialSuccess`` with the reasons."""
    message = ""
    if rejections:
        distinct = list(dict.fromkeys(rejections))  # the spans beyond the cap share one reason
        shown = "; ".join(distinct[:_REASONS_SHOWN])
        more = len(distinct) - _REASONS_SHOWN
        message = f"{len(rejections)} GenAI span(s) rejected: {shown}" + (
            f"; and {more} more" if more > 0 else ""
        )
    if ctype == PROTOBUF:
        answer = ExportTraceServiceResponse()
        if rejections:
            answer.partial_success.CopyFrom(
                ExportTracePartialSuccess(rejected_spans=len(rejections), error_message=message)
            )
        return Response(answer.SerializeToString(), media_type=PROTOBUF)
    body: dict[str, Any] = {}
    if rejections:  # int64 is a decimal string in OTLP JSON
        body["partialSuccess"] = {"rejectedSpans": str(len(rejections)), "errorMessage": message}
    return Response(orjson.dumps(body), media_type=JSON)


def _rpc_status(message: str) -> bytes:
    """``google.rpc.Status{code: 1, message: 2}`` in protobuf wire format, the OTLP error body."""
    text = message.encode()
    return b"\x08" + _varint(_INVALID_ARGUMENT) + b"\x12" + _varint(len(text)) + text


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)
