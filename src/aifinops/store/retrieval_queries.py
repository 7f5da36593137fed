"""Reading the retrieval lever's evidence: retrievals that reported what they returned, by task outcome.

Outcomes arrive after the events (and change), so they are joined at read time, never kept in the daily call
groups. Only events with ``retrieved_tokens`` (retrieval and tool events: ingest refuses them on others) are
read, through their own partial index (those of open tasks are left out by the join), grouped by use case,
agent, the outcome of their task and what they returned (in steps of 256 tokens): a few thousand rows.

The read is kept in the process (``Store.derived``) with the version of its inputs: the roll-up watermark
(every event stored is rolled up before it is read; events are only added, or dropped by retention), the
retention horizon and the outcomes' version (moved by every outcome upsert). Re-pricing changes none of the
columns read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from aifinops.store.data_versions import OUTCOMES, read_version
from aifinops.store.retention import retention_horizon
from aifinops.store.rollups import pending, rolled_up
from aifinops.store.store import Store
from aifinops.store.tables import task_outcomes, usage_events

__all__ = ["BUCKET", "raw_retrieval_outcomes", "retrieval_outcomes"]

#: Retrievals are grouped by what they returned in steps of this many tokens (the budget's rounding).
BUCKET = 256


def retrieval_outcomes(
    store: Store, start: dt.datetime, end: dt.datetime, *, where: Mapping[str, Sequence[str]] | None = None
) -> list[dict[str, Any]]:
    """Successful retrievals of ``[start, end)`` that returned passages into tasks with an outcome, per use
    case, agent, outcome and bucket: ``calls``, ``retrieved_tokens`` and a sample task id (kept in the process
    while its inputs' version is unchanged; :func:`raw_retrieval_outcomes` reads them every time)."""
    filters = tuple(sorted((k, tuple(v)) for k, v in (where or {}).items()))
    kept = store.derived.read(
        ("retrieval_outcomes", start, end, filters),
        lambda: _version(store),
        lambda: tuple(raw_retrieval_outcomes(store, start, end, where=where)),
    )
    return [dict(r) for r in kept]


def _version(store: Store) -> tuple[Any, ...]:
    """What the read depends on: the roll-up watermark once every stored event is rolled up, the retention
    horizon and the outcomes' version."""
    rolled_up(store)
    with store.reader() as conn:
        return pending(store)[0], retention_horizon(conn), read_version(conn, OUTCOMES)


def raw_retrieval_outcomes(
    store: Store, start: dt.datetime, end: dt.datetime, *, where: Mapping[str, Sequence[str]] | None = None
) -> list[dict[str, Any]]:
    """:func:`retrieval_outcomes` read from the events and outcomes."""
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
