"""Financial truth in the store: cost slices replaced atomically, totals, series, checkpoints, freshness;
Azure Monitor metric samples and the resource inventory beside them.

A slice is ``(source, scope, basis, [start, end))`` in billing days. ``replace_slice`` deletes it and writes
the new rows in ONE transaction, so re-collecting is harmless and a crash mid-run leaves the previous
data: readers never see a half-written slice, a duplicate or a gap. Bulk input (a DuckDB relation) is
streamed as Arrow record batches into ``executemany`` (SQLite) or ``COPY`` (PostgreSQL): millions of
rows never become Python objects at once.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from itertools import islice
from types import MappingProxyType
from typing import Any

import duckdb
import orjson
import sqlalchemy as sa
from sqlalchemy import Connection

from aifinops.domain import (
    COST_ROW_COLUMNS,
    Basis,
    CostRecord,
    InventoryResource,
    MetricSample,
    Money,
    from_nanos,
    to_nanos,
)
from aifinops.errors import ValidationError
from aifinops.store.cost_tables import (
    COST_DIMENSIONS,
    cost_checkpoints,
    cost_records,
    inventory_resources,
    metric_samples,
)
from aifinops.store.raw import day_parser, raw_batches
from aifinops.store.store import Store

__all__ = ["CostFreshness", "CostPoint", "CostStore", "SliceSummary"]

_BATCH = 20_000
_BULK_COLUMNS = COST_ROW_COLUMNS
_INSERT_COLUMNS = ("source", "scope", "basis", *_BULK_COLUMNS)
_MONEY_BASES = (Basis.ACTUAL, Basis.AMORTIZED)


#: The billed fields that CostRecord takes positionally after ``source`` (its declaration order).
_POSITIONAL = tuple(f.name for f in fields(CostRecord))[6:17]
if _POSITIONAL[0] != "subscription_id" or _POSITIONAL[-1] != "pricing_model":  # pragma: no cover
    raise ImportError("CostRecord fields moved: update _POSITIONAL in store/costs.py")


def _tags(parsed: dict[str, Any]) -> dict[str, str]:
    """Tag values as text: a value that was not a string in the file keeps its JSON form."""
    for value in parsed.values():
        if not isinstance(value, str):
            return {k: v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in parsed.items()}
    return parsed


@dataclass(frozen=True, slots=True)
class SliceSummary:
    """What one replace_slice wrote: rows, source rows, and the slice's totals per currency."""

    source: str
    scope: str
    basis: Basis
    start: dt.date
    end: dt.date
    records: int
    source_rows: int
    totals: Mapping[str, Money]
    replaced: int  # rows the slice held before


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


def _tags_json(tags: Mapping[str, str]) -> str | None:
    return orjson.dumps(dict(tags), option=orjson.OPT_SORT_KEYS).decode() if tags else None


def _record_row(record: CostRecord, basis: Basis, start: dt.date, end: dt.date) -> tuple[Any, ...]:
    if record.basis != basis:
        raise ValidationError(
            f"cost record basis {record.basis} does not match the slice basis {basis}", field="basis"
        )
    if not start <= record.billing_day < end:
        raise ValidationError(
            f"billing day {record.billing_day} is outside the slice [{start}, {end}); "
            "widen the slice or drop the record",
            field="billing_day",
        )
    return (
        record.billing_day,
        record.currency,
        record.subscription_id,
        record.resource_group,
        record.resource_id.lower() if record.resource_id else None,
        record.resource_type,
        record.location,
        record.service_name,
        record.meter_category,
        record.meter_subcategory,
        record.meter_name,
        record.meter_id,
        record.charge_type,
        record.pricing_model,
        record.unit,
        _tags_json(record.tags),
        to_nanos(record.cost),
        None if record.quantity is None else to_nanos(record.quantity),
        1,
    )


def _record_batches(
    records: Iterable[CostRecord], basis: Basis, start: dt.date, end: dt.date
) -> Iterator[list[tuple[Any, ...]]]:
    rows = (_record_row(r, basis, start, end) for r in records)
    while batch := list(islice(rows, _BATCH)):
        yield batch


def _relation_batches(
    relation: duckdb.DuckDBPyRelation, start: dt.date, end: dt.date
) -> Iterator[list[tuple[Any, ...]]]:
    first, last = relation.aggregate("min(billing_day), max(billing_day)").fetchall()[0]
    if first is not None and not (start <= first and last < end):
        raise ValidationError(
            f"billing days {first}..{last} fall outside the slice [{start}, {end}); "
            "widen the slice to cover the file",
            field="billing_day",
        )
    reader = relation.select(*_BULK_COLUMNS).to_arrow_reader(batch_size=_BATCH)
    for batch in reader:
        columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        yield list(zip(*columns, strict=True))


class CostStore:
    """Cost records, checkpoints, metric samples and inventory over one :class:`Store`."""

    def __init__(self, store: Store, *, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.store = store
        self._now = clock or (lambda: dt.datetime.now(dt.UTC))

    # --- cost slices ----------------------------------------------------------------------------------------
    def replace_slice(
        self,
        source: str,
        scope: str,
        basis: Basis,
        start: dt.date,
        end: dt.date,
        rows: Iterable[CostRecord] | duckdb.DuckDBPyRelation,
        *,
        detail: Mapping[str, Any] | None = None,
    ) -> SliceSummary:
        """Replace every cost row of ``(source, scope, basis)`` with billing day in ``[start, end)``.

        One transaction: the delete, the inserts and the checkpoint commit together or not at all. Rows
        outside the range are refused (they would escape the next replacement and count twice).
        """
        basis = Basis(basis)
        if basis not in _MONEY_BASES or not start < end:
            raise ValidationError(
                f"a cost slice needs basis actual|amortized and start < end, got {basis} [{start}, {end})",
                field="basis" if basis not in _MONEY_BASES else "end",
            )
        batches = (
            _relation_batches(rows, start, end)
            if isinstance(rows, duckdb.DuckDBPyRelation)
            else _record_batches(rows, basis, start, end)
        )
        key = (
            (cost_records.c.source == source)
            & (cost_records.c.scope == scope)
            & (cost_records.c.basis == basis.value)
        )
        in_slice = key & (cost_records.c.billing_day >= start) & (cost_records.c.billing_day < end)
        with self.store.session() as conn:
            replaced = conn.execute(sa.delete(cost_records).where(in_slice)).rowcount or 0
            for batch in batches:
                self._insert(conn, [(source, scope, basis.value, *row) for row in batch])
            summary = self._summarize(conn, source, scope, basis, start, end, in_slice, replaced)
            self._checkpoint(conn, summary, detail or {})
        return summary

    def _insert(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        dbapi = conn.connection.driver_connection
        columns = ", ".join(_INSERT_COLUMNS)
        if conn.dialect.name == "postgresql":
            with dbapi.cursor() as cur, cur.copy(f"COPY cost_records ({columns}) FROM STDIN") as copy:  # type: ignore[union-attr]
                for row in rows:
                    copy.write_row(row)
            return
        cur = dbapi.cursor()  # type: ignore[union-attr]
        try:
            day = _INSERT_COLUMNS.index("billing_day")
            cur.executemany(
                f"INSERT INTO cost_records ({columns}) VALUES ({', '.join('?' * len(_INSERT_COLUMNS))})",
                [(*r[:day], r[day].isoformat(), *r[day + 1 :]) for r in rows],
            )
        finally:
            cur.close()

    def _summarize(
        self,
        conn: Connection,
        source: str,
        scope: str,
        basis: Basis,
        start: dt.date,
        end: dt.date,
        in_slice: Any,
        replaced: int,
    ) -> SliceSummary:
        c = cost_records.c
        rows = conn.execute(
            sa.select(c.currency, sa.func.sum(c.cost_nanos), sa.func.count(), sa.func.sum(c.source_rows))
            .where(in_slice)
            .group_by(c.currency)
            .order_by(c.currency)
        ).all()
        totals = {cur: Money.from_nanos(int(n), cur, basis) for cur, n, _, _ in rows}
        return SliceSummary(
            source,
            scope,
            basis,
            start,
            end,
            sum(int(r[2]) for r in rows),
            sum(int(r[3]) for r in rows),
            MappingProxyType(totals),
            replaced,
        )

    def _checkpoint(self, conn: Connection, s: SliceSummary, detail: Mapping[str, Any]) -> None:
        c = cost_records.c
        last_day = conn.execute(
            sa.select(sa.func.max(c.billing_day)).where(
                (c.source == s.source)
                & (c.scope == s.scope)
                & (c.basis == s.basis.value)
                & (c.billing_day >= s.start)
                & (c.billing_day < s.end)
            )
        ).scalar()
        if isinstance(last_day, str):  # SQLite returns the raw text of an aggregate
            last_day = dt.date.fromisoformat(last_day)
        values = {
            "collected_at": self._now(),
            "records": s.records,
            "source_rows": s.source_rows,
            "last_data_day": last_day,
            "detail": orjson.dumps(dict(detail), default=str).decode(),
            "totals": orjson.dumps({k: str(m.amount) for k, m in s.totals.items()}).decode(),
        }
        k = cost_checkpoints.c
        slice_key = (
            (k.source == s.source)
            & (k.scope == s.scope)
            & (k.basis == s.basis.value)
            & (k.start_day == s.start)
            & (k.end_day == s.end)
        )
        if conn.execute(sa.update(cost_checkpoints).where(slice_key).values(**values)).rowcount == 0:
            conn.execute(
                sa.insert(cost_checkpoints).values(
                    source=s.source,
                    scope=s.scope,
                    basis=s.basis.value,
                    start_day=s.start,
                    end_day=s.end,
                    **values,
                )
            )

    # --- reads ----------------------------------------------------------------------------------------------
    def _where(
        self,
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

    def totals(
        self,
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
        with self.store.reader() as conn:
            rows = conn.execute(
                sa.select(c.currency, sa.func.sum(c.cost_nanos))
                .where(self._where(start, end, basis, filters, source, scope))
                .group_by(c.currency)
            ).all()
        return {cur: Money.from_nanos(int(n), cur, Basis(basis)) for cur, n in sorted(rows)}

    def cost_series(
        self,
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
            raise ValidationError(
                f"granularity must be day or month, got {granularity!r}", field="granularity"
            )
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
        with self.store.reader() as conn:
            rows = conn.execute(
                sa.select(*keys, sa.func.sum(c.cost_nanos))
                .where(self._where(start, end, basis, filters))
                .group_by(*keys)
            ).all()
        buckets: dict[tuple[Any, ...], int] = defaultdict(int)
        for row in rows:
            day = row[0] if isinstance(row[0], dt.date) else dt.date.fromisoformat(row[0])
            period = day.replace(day=1) if granularity == "month" else day
            tags = orjson.loads(row[2 + len(columns)]) if tag_keys and row[2 + len(columns)] else {}
            tag_values = tuple(None if tags.get(k) is None else str(tags[k]) for k in tag_keys)
            buckets[(period, row[1], *row[2 : 2 + len(columns)], *tag_values)] += int(row[-1])
        names = [*columns, *(f"tag:{k}" for k in tag_keys)]
        return [
            CostPoint(
                k[0],
                MappingProxyType(dict(zip(names, k[2:], strict=True))),
                Money.from_nanos(n, k[1], Basis(basis)),
            )
            for k, n in sorted(
                buckets.items(), key=lambda kv: tuple("" if v is None else str(v) for v in kv[0])
            )
        ]

    def records(
        self, start: dt.date, end: dt.date, *, basis: Basis, scope: str | None = None
    ) -> Iterator[CostRecord]:
        """The stored cost records of ``[start, end)`` (for allocation and reconciliation), in stored order.

        Read as driver tuples (:mod:`aifinops.store.raw`): a month can hold hundreds of thousands of rows.
        """
        c = cost_records.c
        query = (
            sa.select(
                c.billing_day,
                c.cost_nanos,
                c.currency,
                c.scope,
                c.source,
                c.quantity_nanos,
                c.tags,
                c.unit,
                c.resource_type,
                *(c[name] for name in _POSITIONAL),
            )
            .where(self._where(start, end, basis, None, None, scope))
            .order_by(c.id)
        )
        day, chosen, loads = day_parser(), Basis(basis), orjson.loads
        with self.store.reader() as conn:
            for batch in raw_batches(conn, query, _BATCH):
                for billing_day, cost, currency, scope_, source, quantity, tags, unit, kind, *billed in batch:
                    # the billed fields fill the positions from subscription_id to pricing_model
                    yield CostRecord(  # type: ignore[misc]
                        day(billing_day),
                        chosen,
                        from_nanos(cost),
                        currency,
                        scope_,
                        source,
                        *billed,
                        quantity=None if quantity is None else from_nanos(quantity),
                        unit=unit,
                        resource_type=kind,
                        tags=_tags(loads(tags)) if tags else {},
                    )

    def checkpoints(self, *, source: str | None = None) -> list[SliceSummary]:
        """Every recorded slice collection (latest state of each slice), newest first."""
        k = cost_checkpoints.c
        query = sa.select(cost_checkpoints).order_by(k.collected_at.desc(), k.id.desc())
        if source is not None:
            query = query.where(k.source == source)
        with self.store.reader() as conn:
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

    def freshness(self) -> list[CostFreshness]:
        """Per (source, scope, basis): when it was last collected and the last billing day it holds."""
        k = cost_checkpoints.c
        with self.store.reader() as conn:
            rows = conn.execute(sa.select(cost_checkpoints).order_by(k.collected_at, k.id)).mappings().all()
        latest: dict[tuple[str, str, str], Any] = {}
        last_day: dict[tuple[str, str, str], dt.date | None] = {}
        for r in rows:
            key = (r["source"], r["scope"], r["basis"])
            latest[key] = r
            days = [d for d in (last_day.get(key), r["last_data_day"]) if d is not None]
            last_day[key] = max(days) if days else None
        return [
            CostFreshness(
                s, sc, Basis(b), r["collected_at"], last_day[(s, sc, b)], r["start_day"], r["end_day"]
            )
            for (s, sc, b), r in sorted(latest.items())
        ]

    # --- metric samples and inventory ---------------------------------------------------------------------
    def replace_metric_samples(
        self,
        resource_ids: Sequence[str],
        metrics: Sequence[str],
        *,
        start: dt.datetime,
        end: dt.datetime,
        samples: Iterable[MetricSample],
    ) -> int:
        """Replace samples of these resources and metrics with ``ts`` in ``[start, end)``; returns rows."""
        m = metric_samples.c
        now = self._now()
        rows = [
            {
                "resource_id": s.resource_id.lower(),
                "metric": s.metric,
                "ts": s.ts,
                "aggregation": s.aggregation,
                "interval": s.interval,
                "unit": s.unit,
                "value_nanos": to_nanos(s.value),
                "deployment": s.deployment or "",
                "model": s.model or "",
                "dimensions": orjson.dumps(dict(s.dimensions), option=orjson.OPT_SORT_KEYS).decode(),
                "collected_at": now,
            }
            for s in samples
        ]
        outside = [r["ts"] for r in rows if not start <= r["ts"] < end]  # type: ignore[operator]
        if outside:
            raise ValidationError(f"metric sample at {outside[0]} is outside [{start}, {end})", field="ts")
        with self.store.session() as conn:
            conn.execute(
                sa.delete(metric_samples).where(
                    m.resource_id.in_([r.lower() for r in resource_ids])
                    & m.metric.in_(list(metrics))
                    & (m.ts >= start)
                    & (m.ts < end)
                )
            )
            if rows:
                conn.execute(sa.insert(metric_samples), rows)
        return len(rows)

    def metric_samples(
        self, start: dt.datetime, end: dt.datetime, *, metric: str | None = None
    ) -> list[MetricSample]:
        """Stored metric samples with ``ts`` in ``[start, end)``, ordered by resource, metric and time."""
        m = metric_samples.c
        cond = (m.ts >= start) & (m.ts < end)
        if metric is not None:
            cond &= m.metric == metric
        with self.store.reader() as conn:
            rows = (
                conn.execute(
                    sa.select(metric_samples).where(cond).order_by(m.resource_id, m.metric, m.ts, m.id)
                )
                .mappings()
                .all()
            )
        return [
            MetricSample(
                resource_id=r["resource_id"],
                metric=r["metric"],
                ts=r["ts"],
                value=from_nanos(r["value_nanos"]),
                aggregation=r["aggregation"],
                unit=r["unit"],
                interval=r["interval"],
                deployment=r["deployment"] or None,
                model=r["model"] or None,
                dimensions=orjson.loads(r["dimensions"]),
            )
            for r in rows
        ]

    def replace_inventory(self, subscriptions: Sequence[str], resources: Iterable[InventoryResource]) -> int:
        """Replace the inventory of these subscriptions (resources gone from Azure disappear); returns rows"""
        now = self._now()
        rows = {
            r.resource_id.lower(): {
                "resource_id": r.resource_id.lower(),
                "name": r.name,
                "type": r.type.lower(),
                "subscription_id": r.subscription_id.lower(),
                "resource_group": r.resource_group,
                "location": r.location,
                "kind": r.kind,
                "sku": r.sku,
                "tags": orjson.dumps(dict(r.tags), option=orjson.OPT_SORT_KEYS).decode(),
                "seen_at": now,
            }
            for r in resources
        }
        subs = {s.lower() for s in subscriptions}
        stray = [r for r in rows.values() if r["subscription_id"] not in subs]
        if stray:
            raise ValidationError(
                f"resource {stray[0]['resource_id']} is not in subscriptions {sorted(subs)}",
                field="subscription_id",
            )
        with self.store.session() as conn:
            conn.execute(
                sa.delete(inventory_resources).where(inventory_resources.c.subscription_id.in_(sorted(subs)))
            )
            if rows:
                conn.execute(sa.insert(inventory_resources), list(rows.values()))
        return len(rows)

    def inventory(self, *, resource_type: str | None = None) -> list[InventoryResource]:
        """The stored inventory, optionally of one resource type (lower-cased)."""
        i = inventory_resources.c
        query = sa.select(inventory_resources).order_by(i.resource_id)
        if resource_type is not None:
            query = query.where(i.type == resource_type.lower())
        with self.store.reader() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            InventoryResource(
                resource_id=r["resource_id"],
                name=r["name"],
                type=r["type"],
                subscription_id=r["subscription_id"],
                resource_group=r["resource_group"],
                location=r["location"],
                kind=r["kind"],
                sku=r["sku"],
                tags=orjson.loads(r["tags"]),
            )
            for r in rows
        ]
