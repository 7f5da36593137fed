"""Azure Resource Graph ``resources`` query, answering the inventory queries aifinops sends.

The emulator does not run KQL: it honours the ``type in~ (...)`` clause and the request's subscriptions,
which is what an inventory query needs, and pages with ``$skipToken``.
"""

from __future__ import annotations

import re
from typing import Any

from aifinops.domain import InventoryResource
from aifinops.emulator.cost import decode_skip, encode_skip
from aifinops.emulator.state import EmulatorState

__all__ = ["GraphRejected", "query_resources"]

_TYPE_CLAUSE = re.compile(r"type\s+in~?\s*\(([^)]*)\)", re.IGNORECASE)


class GraphRejected(Exception):
    """A request the service answers with 400 BadRequest."""


def query_resources(state: EmulatorState, body: dict[str, Any]) -> dict[str, Any]:
    """Answer ``POST /providers/Microsoft.ResourceGraph/resources`` with ``resultFormat`` objectArray."""
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        raise GraphRejected("The request must carry a non-empty 'query'.")
    options = body.get("options") or {}
    if options.get("resultFormat", "objectArray") != "objectArray":
        raise GraphRejected("Only resultFormat 'objectArray' is emulated.")
    subscriptions = {s.lower() for s in body.get("subscriptions") or []}
    clause = _TYPE_CLAUSE.search(query)
    types = {t.lower() for t in re.findall(r"'([^']*)'", clause.group(1))} if clause else None
    matched = sorted(
        (
            r
            for r in state.resources
            if (not subscriptions or r.subscription_id.lower() in subscriptions)
            and (types is None or r.type in types)
        ),
        key=lambda r: r.resource_id,
    )
    top = min(int(options.get("$top") or state.graph_page_size), state.graph_page_size)
    skip = decode_skip(options.get("$skipToken")) + int(options.get("$skip") or 0)
    page = matched[skip : skip + top]
    payload: dict[str, Any] = {
        "totalRecords": len(matched),
        "count": len(page),
        "data": [_row(r) for r in page],
        "facets": [],
        "resultTruncated": "false",
    }
    if skip + len(page) < len(matched):
        payload["$skipToken"] = encode_skip(skip + len(page))
    return payload


def _row(resource: InventoryResource) -> dict[str, Any]:
    return {
        "id": resource.resource_id,
        "name": resource.name,
        "type": resource.type,
        "location": resource.location,
        "resourceGroup": resource.resource_group,
        "subscriptionId": resource.subscription_id,
        "kind": resource.kind or "",
        "sku": _sku(resource),
        "tags": dict(resource.tags) or None,
    }


def _sku(resource: InventoryResource) -> dict[str, Any] | None:
    if not resource.sku:
        return None
    if resource.sku_capacity is None:
        return {"name": resource.sku}
    return {"name": resource.sku, "capacity": resource.sku_capacity}
