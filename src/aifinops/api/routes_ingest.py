"""POST /api/events and /api/outcomes: batches validated item by item, stored exactly once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, TypeAdapter
from starlette.concurrency import run_in_threadpool

from aifinops.api.deps import IngestCaller, IngestorDep, SettingsDep
from aifinops.api.ingest_schemas import EventIn, OutcomeIn, Rejection, check_event, to_values, validate_items
from aifinops.api.openapi import problems
from aifinops.api.problems import ProblemError

__all__ = ["router"]

router = APIRouter(tags=["ingest"])
Item = TypeVar("Item")


class IngestReport(BaseModel):
    received: int
    accepted: int
    duplicates: int
    rejected: int
    unpriced: int = 0
    # model → version, for events without model_version priced at the version in effect
    inferred_versions: dict[str, str] = {}
    errors: list[Rejection]


async def _read_items(request: Request, key: str, *, max_bytes: int, max_items: int) -> list[Any]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise ProblemError(
            415,
            "Unsupported media type",
            f"send the batch as application/json, got {ctype or 'no content-type'!r}",
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise ProblemError(
            413,
            "Body too large",
            f"body of {declared} bytes exceeds {max_bytes} bytes; split the batch (AIFINOPS_MAX_BODY_BYTES)",
        )
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise ProblemError(413, "Body too large", f"body exceeds {max_bytes} bytes; split the batch")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProblemError(400, "Malformed JSON", f"the body is not valid JSON: {exc}") from exc
    items = data.get(key) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ProblemError(
            422,
            "Invalid request",
            f'{key}: send a JSON array or an object {{"{key}": [...]}}',
            errors=[{"field": key, "reason": "must be an array"}],
        )
    if len(items) > max_items:
        raise ProblemError(
            413,
            "Batch too large",
            f"{len(items)} items exceed the limit of {max_items}; "
            "split the batch (AIFINOPS_MAX_BATCH_EVENTS)",
        )
    return items


def _body_schema(item: Any, key: str) -> dict[str, Any]:
    """The request body in OpenAPI: the route reads raw bytes (size limits, one-pass validation)."""
    schema = TypeAdapter(item).json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:  # enum definitions are small: inline them so the operation stands alone
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    items = {"type": "array", "items": inline(schema), "maxItems": 10_000}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [items, {"type": "object", "properties": {key: items}, "required": [key]}]
                    }
                }
            },
        }
    }


@router.post(
    "/api/events",
    response_model=IngestReport,
    summary="Ingest a batch of usage events",
    openapi_extra=_body_schema(EventIn, "events"),
    responses=problems(400, 413, 415),
)
async def post_events(
    request: Request, settings: SettingsDep, ingestor: IngestorDep, caller: IngestCaller
) -> IngestReport:
    items = await _read_items(
        request, "events", max_bytes=settings.max_body_bytes, max_items=settings.max_batch_events
    )
    now = dt.datetime.now(dt.UTC)
    valid, rejected = validate_items(EventIn, items, lambda e: check_event(e, now))
    if (tenant := caller.tenant) is not None:
        valid, rejected = _own_tenant(
            valid, rejected, tenant, asked=lambda v: v.get("tenant"), assign=lambda v: {**v, "tenant": tenant}
        )
    events = [to_values(v) for _, v in valid]
    result = await run_in_threadpool(ingestor.ingest_values, events, source="http")
    if result.past_retention:
        rejected += _past_retention(valid, set(result.past_retention))
    return IngestReport(
        received=len(items),
        accepted=result.accepted,
        duplicates=result.duplicates,
        rejected=len({r.index for r in rejected}),
        unpriced=result.unpriced,
        inferred_versions=dict(result.inferred_versions),
        errors=rejected,
    )


def _past_retention(valid: list[tuple[int, Any]], refused: set[str]) -> list[Rejection]:
    """The events the store refused for being older than its retention horizon, as rejections."""
    return [
        Rejection(
            index=index,
            field="ts",
            reason="before the retention horizon: that month's events were dropped, none are accepted",
        )
        for index, v in valid
        if v.get("event_id") in refused
    ]


def _own_tenant(
    valid: list[tuple[int, Item]],
    rejected: list[Rejection],
    tenant: str,
    *,
    asked: Callable[[Item], str | None],
    assign: Callable[[Item], Item],
) -> tuple[list[tuple[int, Item]], list[Rejection]]:
    """A tenant-bound ingest key may only send its own tenant's items (missing tenant = its own)."""
    keep = []
    for index, v in valid:
        if asked(v) not in (None, tenant):
            rejected.append(
                Rejection(index=index, field="tenant", reason=f"this key may only send tenant {tenant!r}")
            )
        else:
            keep.append((index, assign(v)))
    rejected.sort(key=lambda r: r.index)
    return keep, rejected


@router.post(
    "/api/outcomes",
    response_model=IngestReport,
    summary="Ingest a batch of task outcomes",
    openapi_extra=_body_schema(OutcomeIn, "outcomes"),
    responses=problems(400, 413, 415),
)
async def post_outcomes(
    request: Request, settings: SettingsDep, ingestor: IngestorDep, caller: IngestCaller
) -> IngestReport:
    items = await _read_items(
        request, "outcomes", max_bytes=settings.max_body_bytes, max_items=settings.max_batch_events
    )
    checked, rejected = validate_items(OutcomeIn, items)
    valid = [(index, v.to_domain()) for index, v in checked]
    if (tenant := caller.tenant) is not None:
        valid, rejected = _own_tenant(
            valid, rejected, tenant, asked=lambda o: o.tenant, assign=lambda o: replace(o, tenant=tenant)
        )
    stored = await run_in_threadpool(ingestor.record_outcomes, [o for _, o in valid])
    return IngestReport(
        received=len(items),
        accepted=stored,
        duplicates=len(valid) - stored,
        rejected=len({r.index for r in rejected}),
        errors=rejected,
    )
