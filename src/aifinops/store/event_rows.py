"""The ``usage_events`` row of an event given as its fields: the ingest hot path builds no event object."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aifinops.domain import DIMENSIONS, EventKind, EventStatus, to_nanos
from aifinops.engine.price_plans import Charge
from aifinops.engine.usage_buckets import EPOCH
from aifinops.store.events import EVENT_COLUMNS, sqlite_time

__all__ = ["values_row"]

_CHAT, _OK = EventKind.CHAT, EventStatus.OK


def values_row(
    values: Mapping[str, Any],
    nanos: int | None,
    charge: Charge,
    *,
    source: str,
    ingested_at: object,
    sqlite: bool,
) -> tuple[Any, ...]:
    """What :func:`aifinops.store.events.event_values` makes of ``UsageEvent(**values)`` priced at ``nanos``
    and ``charge`` (:class:`aifinops.engine.price_plans.PricePlans`): absent fields at the event's defaults,
    ``ts`` aware. A test holds the two equal. (``_value_``: an enum's ``value`` property costs a descriptor
    call per column on this hot path.)"""
    get = values.get
    ts = values["ts"]
    attributes = get("attributes")
    deployment_type, resource_id = get("deployment_type"), get("resource_id")
    tier, quantity = get("service_tier"), get("quantity")
    ids = charge.price_ids
    return (
        values["event_id"],
        sqlite_time(ts) if sqlite else ts,
        int((ts - EPOCH).total_seconds() // 3600),
        get("task_id"),
        get("step"),
        get("attempt", 1),
        *map(get, DIMENSIONS),
        json.dumps(dict(attributes), sort_keys=True) if attributes else None,
        get("provider", "azure_openai"),
        get("model_version"),
        deployment_type._value_ if deployment_type else None,
        get("region"),
        resource_id.lower() if resource_id else None,
        get("priority", False),
        get("input_tokens", 0),
        get("cached_input_tokens", 0),
        get("output_tokens", 0),
        get("reasoning_tokens", 0),
        get("cache_write_tokens", 0),
        tier._value_ if tier else None,
        get("requests", 1),
        to_nanos(quantity) if quantity is not None else None,
        get("unit"),
        get("kind", _CHAT)._value_,
        get("status", _OK)._value_,
        get("latency_ms"),
        get("tool_name"),
        nanos,
        charge.currency if nanos is not None else None,
        *ids,
        (charge.unpriced_reason or "")[:256] or None,
        source,
        ingested_at,
        get("finish_reason"),
        get("request_hash"),
        get("retrieved_tokens", 0),
    )


if len(EVENT_COLUMNS) != 49:  # pragma: no cover
    raise ImportError("usage_events columns changed: update values_row with event_values")
