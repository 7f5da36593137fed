"""Business tasks: each with its steps, retries, tokens, estimated cost and outcome (``/api/tasks``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from aifinops.queries.serialize import event_json, jsonable, task_costs_json
from aifinops.store import Store
from aifinops.store.task_queries import get_task, list_tasks, task_tenants

__all__ = ["task_document", "task_tenants", "tasks_document"]


def _task_json(t: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = jsonable({k: v for k, v in t.items() if k not in ("costs", "events")})
    out["estimated_cost"] = task_costs_json(t["costs"])
    return out


def tasks_document(
    store: Store,
    *,
    start: dt.datetime | None,
    end: dt.datetime | None,
    filters: Mapping[str, str],
    outcome: str | None,
    tenant: str | None,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    """The tasks that started in ``[start, end)`` (any time when not given), newest first, filtered."""
    rows = list_tasks(
        store,
        start=start,
        end=end,
        filters=dict(filters),
        outcome=outcome,
        tenant=tenant,
        limit=limit,
        offset=offset,
    )
    return {"items": [_task_json(r) for r in rows]}


def task_document(store: Store, task_id: str, *, tenant: str) -> dict[str, Any] | None:
    """The task ``task_id`` of ``tenant`` (``''``: no tenant) with its events, or None when there is none."""
    found = get_task(store, task_id, tenant=tenant)
    if found is None:
        return None
    out = _task_json(found)
    out["events"] = [event_json(e) for e in found["events"]]
    return out
