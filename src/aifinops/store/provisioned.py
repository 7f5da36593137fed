"""Provisioned throughput's estimated cost in the store: the calls of provisioned deployments read, their
shares of each hour's capacity cost written onto them (rollups rebuilt to match), and the hours recorded."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, or_, select, update

from aifinops.domain import DeploymentType
from aifinops.engine.usage_buckets import EPOCH, to_hour
from aifinops.store.repricing import rebuild_rollups
from aifinops.store.rollups import catch_up_in
from aifinops.store.store import Store
from aifinops.store.tables import provisioned_hours, usage_events

__all__ = [
    "EstimatedHour",
    "ProvisionedCall",
    "ProvisionedStore",
    "ProvisionedTotals",
    "read_provisioned_totals",
]

_PROVISIONED = tuple(d.value for d in DeploymentType if d.is_provisioned)


@dataclass(frozen=True, slots=True)
class ProvisionedCall:
    """One stored event of a provisioned deployment, as the estimate needs it."""

    row_id: int
    hour: int
    deployment: str
    deployment_type: str | None
    region: str | None
    model: str | None
    tokens: int  # input + output
    cost_nanos: int | None
    currency: str | None
    task_id: str | None


@dataclass(frozen=True, slots=True)
class EstimatedHour:
    """One hour of one deployment: its cost, the shares of its calls (``calls`` aligned with ``shares``) and
    the idle rest, in ``currency`` nanos."""

    deployment: str
    hour: int
    currency: str
    units: int
    cost_nanos: int
    idle_nanos: int
    calls: tuple[ProvisionedCall, ...]
    shares: tuple[int, ...]
    tokens: int
    capacity_tokens: int | None
    source: str
    price_id: int | None


def _calls(conn: Connection, start: dt.datetime, end: dt.datetime, names: Collection[str]) -> list[Any]:
    e = usage_events.c
    provisioned = e.deployment_type.in_(_PROVISIONED)
    which = or_(provisioned, e.deployment.in_(sorted(names))) if names else provisioned
    stmt = (
        select(
            e.id,
            e.hour,
            e.deployment,
            e.deployment_type,
            e.region,
            e.model,
            (e.input_tokens + e.output_tokens).label("tokens"),
            e.cost_nanos,
            e.currency,
            e.task_id,
        )
        .where(e.ts >= start, e.ts < end, e.deployment.is_not(None), which)
        .order_by(e.deployment, e.hour, e.id)
    )
    return list(conn.execute(stmt))


class ProvisionedStore:
    """Reads provisioned calls and writes their estimate over one :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def calls(
        self, start: dt.datetime, end: dt.datetime, *, deployments: Collection[str] = ()
    ) -> list[ProvisionedCall]:
        """The events with ``start <= ts < end`` of a provisioned deployment type or of ``deployments``."""
        with self.store.reader() as conn:
            rows = _calls(conn, start, end, deployments)
        return [
            ProvisionedCall(
                r.id,
                r.hour,
                r.deployment,
                r.deployment_type,
                r.region,
                r.model,
                int(r.tokens),
                r.cost_nanos,
                r.currency,
                r.task_id,
            )
            for r in rows
        ]

    def write(
        self, hours: Sequence[EstimatedHour], *, start: dt.datetime, end: dt.datetime, now: dt.datetime
    ) -> int:
        """Replace the estimate of ``hours``' deployments over ``[start, end)`` in one transaction: a call's
        cost becomes its share, the hours are recorded, and the rollups of the range are rebuilt. Returns
        how many events changed."""
        changes: list[dict[str, object]] = []
        tasks: set[str] = set()
        for h in hours:
            for call, share in zip(h.calls, h.shares, strict=True):
                if call.cost_nanos != share or call.currency != h.currency:
                    change = {"row": call.row_id, "cost": share, "cur": h.currency, "pid": h.price_id}
                    changes.append(change)
                    if call.task_id:
                        tasks.add(call.task_id)
        names = sorted({h.deployment for h in hours})
        h0, h1 = to_hour(start), -(-int((end - EPOCH).total_seconds()) // 3600)
        with self.store.session() as conn:
            catch_up_in(conn)  # the rollups rebuilt below must not meet events still to be rolled up
            if changes:
                e = usage_events.c
                conn.execute(
                    update(usage_events)
                    .where(e.id == bindparam("row"))
                    .values(
                        cost_nanos=bindparam("cost"),
                        currency=bindparam("cur"),
                        unit_price_id=bindparam("pid"),
                        unpriced_reason=None,
                    ),
                    changes,
                )
            p = provisioned_hours.c
            conn.execute(
                delete(provisioned_hours).where(and_(p.deployment.in_(names), p.hour >= h0, p.hour < h1))
            )
            if hours:
                conn.execute(provisioned_hours.insert(), [_hour_row(h, now) for h in hours])
            if changes:
                rebuild_rollups(conn, start, end, tasks)
        return len(changes)


def _hour_row(h: EstimatedHour, now: dt.datetime) -> dict[str, object]:
    return {
        "deployment": h.deployment,
        "hour": h.hour,
        "currency": h.currency,
        "units": h.units,
        "cost_nanos": h.cost_nanos,
        "used_nanos": sum(h.shares),
        "idle_nanos": h.idle_nanos,
        "events": len(h.calls),
        "tokens": h.tokens,
        "capacity_tokens": h.capacity_tokens,
        "source": h.source[:256],
        "estimated_at": now,
    }


@dataclass(slots=True)
class ProvisionedTotals:
    """The estimate of one deployment over a period, in one currency (nanos)."""

    deployment: str
    currency: str
    units: int
    source: str
    hours: int = 0
    cost_nanos: int = 0
    used_nanos: int = 0
    idle_nanos: int = 0
    tokens: int = 0
    events: int = 0


def read_provisioned_totals(store: Store, start: dt.datetime, end: dt.datetime) -> list[ProvisionedTotals]:
    """Per deployment and currency, the estimated hours of ``[start, end)`` summed (units: the last one's)."""
    p = provisioned_hours.c
    out: dict[tuple[str, str], ProvisionedTotals] = {}
    stmt = select(provisioned_hours).where(p.hour >= to_hour(start), p.hour < to_hour(end)).order_by(p.hour)
    with store.reader() as conn:
        for r in conn.execute(stmt):
            key = (r.deployment, r.currency)
            acc = out.setdefault(key, ProvisionedTotals(r.deployment, r.currency, r.units, r.source))
            acc.units, acc.source = r.units, r.source
            acc.hours += 1
            acc.cost_nanos += r.cost_nanos
            acc.used_nanos += r.used_nanos
            acc.idle_nanos += r.idle_nanos
            acc.tokens += r.tokens
            acc.events += r.events
    return [out[k] for k in sorted(out)]
