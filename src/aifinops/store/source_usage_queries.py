"""Usage events by the source that recorded them (gateway, sdk, otlp, apim, appinsights, …), per hour and
deployment: what apps reported themselves beside what was read from their infrastructure's logs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, func, select

from aifinops.engine.usage_buckets import EPOCH
from aifinops.store.retention import check_retained
from aifinops.store.store import Store
from aifinops.store.tables import usage_events
from aifinops.store.usage_queries import UsageQuery

__all__ = ["SourceUsage", "usage_by_source"]


@dataclass(frozen=True, slots=True)
class SourceUsage:
    hour: dt.datetime  # UTC
    deployment: str | None
    source: str
    input_tokens: int
    output_tokens: int
    requests: int


def usage_by_source(store: Store, q: UsageQuery) -> list[SourceUsage]:
    """Tokens and requests of events with ``ts`` in ``[q.start, q.end)`` matching ``q.filters``, per hour,
    deployment and source (read from the events: the rollups do not keep the source)."""
    e = usage_events.c
    clauses = [e.ts >= q.start, e.ts < q.end]
    clauses += [e[name].in_(list(values)) for name, values in q.filters.items()]
    keys = (e.hour, e.deployment, e.source)
    stmt = (
        select(
            *keys,
            func.sum(e.input_tokens).label("input_tokens"),
            func.sum(e.output_tokens).label("output_tokens"),
            func.sum(e.requests).label("requests"),
        )
        .where(and_(*clauses))
        .group_by(*keys)
    )
    with store.reader() as conn:
        check_retained(conn, q.start, what="usage per source")
        return [
            SourceUsage(
                EPOCH + dt.timedelta(hours=r.hour),
                r.deployment,
                r.source,
                int(r.input_tokens),
                int(r.output_tokens),
                int(r.requests),
            )
            for r in conn.execute(stmt)
        ]
