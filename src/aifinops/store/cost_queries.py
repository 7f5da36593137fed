"""Reading cost records back (written by :mod:`aifinops.store.cost_records`).

Totals per currency, series by period and group, the records themselves, and the collection checkpoints
and freshness of each slice.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import orjson
import sqlalchemy as sa

from aifinops.domain import Basis, CostRecord, Money, from_nanos, join_nanos
from aifinops.errors import ValidationError
from aifinops.store.cost_records import BATCH_ROWS, SliceSummary
from aifinops.store.cost_tables import COST_DIMENSIONS, cost_checkpoints, cost_records
from aifinops.store.raw import day_parser, raw_batches
from aifinops.store.store import Store

__all__ = [
    "CostFreshness",
    "CostPoint",
    "read_cost_checkpoints",
    "read_cost_freshness",
    "read_cost_records",
    "read_cost_series",
    "read_cost_totals",
]

#: The billed fields that CostRecord takes positionally after ``source`` (its declaration order).
_POSITIONAL = tuple(f.name for f in fields(CostRecord))[6:17]
if _POSITIONAL[0] != "subscription_id" or _POSITIONAL[-1] != "pricing_model":  # pragma: no cover
    raise ImportError("CostRecord fields moved: update _POSITIONAL in store/cost_queries.py")


def _tags(parsed: dict[str, Any]) -> dict[str, str]:
    """Tag values as text: a value that was not a string in the file keeps its JSON form."""
    for value in parsed.values():
        if not isinstance(value, str):
            return {k: v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in parsed.items()}
    return parsed


@dataclass(frozen=True, slots=True)
class CostPoint:
    """One bucket of a cost series: period start, the group-by values, the amount."""

    period: dt.date
    group: Mapping[str, str | None]
    cost: Money


@dataclass(frozen=True, slots=True)
class CostFreshness:
    """The latest collection of one (source, scope, basis)."""

    source: str
    scope: str
    basis: Basis
    collected_at: dt.datetime
    last_data_day: dt.date | None
    start: dt.date
    end: dt.date


def _where(
    start: dt.date,
    end: dt.date,
    basis: Basis,
    filters: Mapping[str, str | Sequence[str]] | None,
    source: str | None = None,
    scope: str | None = None,
) -> Any:
    c = cost_records.c
    cond = (c.basis == Basis(basis).value) & (c.billing_day >= start) & (c.billing_day < end)
    if source is not None:
        cond &= c.source == source
    if scope is not None:
        cond &= c.scope == scope
    for name, wanted in (filters or {}).items():
        if name not in COST_DIMENSIONS:
            raise ValidationError(
                f"unknown cost filter {name!r}; choose from {list(COST_DIMENSIONS)}", field=name
            )
        values = [wanted] if isinstance(wanted, str) else list(wanted)
        if name == "resource_id":
            values = [v.lower() for v in values]
        cond &= c[name].in_(values)
    return cond


def read_cost_totals(
    store: Store,
    start: dt.date,
    end: dt.date,
    *,
    basis: Basis,
    source: str | None = None,
    scope: str | None = None,
    filters: Mapping[str, str | Sequence[str]] | None = None,
) -> dict[str, Money]:
    """Total cost per currency for billing days in ``[start, end)`` (currencies are never added)."""
    c = cost_records.c
    with store.reader() as conn:
        rows = conn.execute(
            sa.select(c.currency, sa.func.sum(c.cost_nanos), sa.func.sum(c.cost_rem_e18))
            .where(_where(start, end, basis, filters, source, scope))
            .group_by(c.currency)
        ).all()
    return {cur: Money.from_nanos(int(n), cur, Basis(basis), int(rest)) for cur, n, rest in sorted(rows)}


def read_cost_series(
    store: Store,
    start: dt.date,
    end: dt.date,
    *,
    basis: Basis,
    granularity: str = "day",
    group_by: Sequence[str] = (),
    filters: Mapping[str, str | Sequence[str]] | None = None,
) -> list[CostPoint]:
    """Cost per period (``day`` or ``month``) and group, per currency, ordered by period then group.

    ``group_by`` names columns of :data:`COST_DIMENSIONS` or ``tag:<key>`` (rows without the tag fall in
    the ``None`` group).
    """
    if granularity not in ("day", "month"):
        raise ValidationError(f"granularity must be day or month, got {granularity!r}", field="granularity")
    tag_keys = [g.removeprefix("tag:") for g in group_by if g.startswith("tag:")]
    columns = [g for g in group_by if not g.startswith("tag:")]
    unknown = [g for g in columns if g not in COST_DIMENSIONS]
    if unknown:
        raise ValidationError(
            f"cannot group by {unknown}; choose from {list(COST_DIMENSIONS)} or tag:<key>",
            field="group_by",
        )
    c = cost_records.c
    keys = [c.billing_day, c.currency, *(c[g] for g in columns), *([c.tags] if tag_keys else [])]
    with store.reader() as conn:
        rows = conn.execute(
            sa.select(*keys, sa.func.sum(c.cost_nanos), sa.func.sum(c.cost_rem_e18))
            .where(_where(start, end, basis, filters))
            .group_by(*keys)
        ).all()
    buckets: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        day = row[0] if isinstance(row[0], dt.date) else dt.date.fromisoformat(row[0])
        period = day.replace(day=1) if granularity == "month" else day
        tags = orjson.loads(row[2 + len(columns)]) if tag_keys and row[2 + len(columns)] else {}
        tag_values = tuple(None if tags.get(k) is None else str(tags[k]) for k in tag_keys)
        bucket = buckets[(period, row[1], *row[2 : 2 + len(columns)], *tag_values)]
        bucket[0] += int(row[-2])
        bucket[1] += int(row[-1])
    names = [*columns, *(f"tag:{k}" for k in tag_keys)]
    return [
        CostPoint(
            k[0],
            MappingProxyType(dict(zip(names, k[2:], strict=True))),
            Money.from_nanos(n, k[1], Basis(basis), rest),
        )
        for k, (n, rest) in sorted(
            buckets.items(), key=lambda kv: tuple("" if v is None else str(v) for v in kv[0])
        )
    ]


def read_cost_records(
    store: Store, start: dt.date, end: dt.date, *, basis: Basis, scope: str | None = None
) -> Iterator[CostRecord]:
    """The stored cost records of ``[start, end)`` (for allocation and reconciliation), in stored order.

    Read as driver tuples (:mod:`aifinops.store.raw`): a month can hold hundreds of thousands of rows.
    """
    c = cost_records.c
    query = (
        sa.select(
            c.billing_day,
            c.cost_nanos,
            c.cost_rem_e18,
            c.currency,
            c.scope,
            c.source,
            c.quantity_nanos,
            c.tags,
            c.unit,
            c.resource_type,
            *(c[name] for name in _POSITIONAL),
        )
        .where(_where(start, end, basis, None, None, scope))
        .order_by(c.id)
    )
    day, chosen, loads = day_parser(), Basis(basis), orjson.loads
    with store.reader() as conn:
        for batch in raw_batches(conn, query, BATCH_ROWS):
            for (
                billing_day,
                nanos,
                rest,
                currency,
                scope_,
                source,
                quantity,
                tags,
                unit,
                kind,
                *billed,
            ) in batch:
                # the billed fields fill the positions from subscription_id to pricing_model
                yield CostRecord(  # type: ignore[misc]
                    day(billing_day),
                    chosen,
                    join_nanos(nanos, rest),
                    currency,
                    scope_,
                    source,
                    *billed,
                    quantity=None if quantity is None else from_nanos(quantity),
                    unit=unit,
                    resource_type=kind,
                    tags=_tags(loads(tags)) if tags else {},
                )


def read_cost_checkpoints(store: Store, *, source: str | None = None) -> list[SliceSummary]:
    """Every recorded slice collection (latest state of each slice), newest first."""
    k = cost_checkpoints.c
    query = sa.select(cost_checkpoints).order_by(k.collected_at.desc(), k.id.desc())
    if source is not None:
        query = query.where(k.source == source)
    with store.reader() as conn:
        rows = conn.execute(query).mappings().all()
    out = []
    for r in rows:
        basis = Basis(r["basis"])
        totals = {cur: Money(Decimal(v), cur, basis) for cur, v in orjson.loads(r["totals"]).items()}
        out.append(
            SliceSummary(
                r["source"],
                r["scope"],
                basis,
                r["start_day"],
                r["end_day"],
                int(r["records"]),
                int(r["source_rows"]),
                MappingProxyType(totals),
                0,
            )
        )
    return out


def read_cost_freshness(store: Store) -> list[CostFreshness]:
    """Per (source, scope, basis): when it was last collected and the last billing day it holds."""
    k = cost_checkpoints.c
    with store.reader() as conn:
        rows = conn.execute(sa.select(cost_checkpoints).order_by(k.collected_at, k.id)).mappings().all()
    latest: dict[tuple[str, str, str], Any] = {}
    last_day: dict[tuple[str, str, str], dt.date | None] = {}
    for r in rows:
        key = (r["source"], r["scope"], r["basis"])
        latest[key] = r
        days = [d for d in (last_day.get(key), r["last_data_day"]) if d is not None]
        last_day[key] = max(days) if days else None
    return [
        CostFreshness(s, sc, Basis(b), r["collected_at"], last_day[(s, sc, b)], r["start_day"], r["end_day"])
        for (s, sc, b), r in sorted(latest.items())
    ]
