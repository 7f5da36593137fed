"""Reading the retrieval lever's evidence: retrievals that reported what they returned, by task outcome.

Outcomes arrive after the events (and change), so they are joined at read time, never kept in the daily call
groups. Only events with ``retrieved_tokens`` (retrieval and tool events: ingest refuses them on others) are
read, through their own partial index (those of open tasks are left out by the join), grouped by use case,
agent, the outcome of their task and what they returned (in steps of 256 tokens): a few thousand rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from aifinops.store.store import Store
from aifinops.store.tables import task_outcomes, usage_events

__all__ = ["BUCKET", "retrieval_outcomes"]

#: Retrievals are grouped by what they returned in steps of this many tokens (the budget's rounding).
BUCKET = 256


def retrieval_outcomes(
    store: Store, start: dt.datetime, end: dt.datetime, *, where: Mapping[str, Sequence[str]] | None = None
) -> list[dict[str, Any]]:
    """Successful retrievals of ``[start, end)`` that returned passages into tasks with an outcome, per use
    case, agent, outcome and bucket: ``calls``, ``retrieved_tokens`` and a sample task id."""
    e, o = usage_events.c, task_outcomes.c
    joined = usage_events.join(
        task_outcomes, sa.and_(o.tenant == sa.func.coalesce(e.tenant, ""), o.task_id == e.task_id)
    )
    size = (e.retrieved_tokens // BUCKET).label("bucket")  # cheaper than a size class, as fine as the budget
    keys = [e.use_case, e.agent, o.outcome, size]
    query = (
        sa.select(
            *keys,
            sa.func.count().label("calls"),
            sa.func.sum(e.retrieved_tokens).label("retrieved_tokens"),
            sa.func.max(e.task_id).label("sample"),
        )
        .select_from(joined)
        .where(
            e.ts >= start,
            e.ts < end,
            e.status == "ok",
            e.retrieved_tokens > 0,
            *(e[k].in_(list(v)) for k, v in (where or {}).items()),
        )
        .group_by(*keys)
        # SQLite's planner would walk every event of the window by the plain ts index instead.
        .with_hint(usage_events, "INDEXED BY ix_usage_events_retrieved", "sqlite")
    )
    with store.reader() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]
