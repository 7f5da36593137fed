"""Allocation in the store: ordered rules, usage drivers from the daily rollup, and results per day and basis.

Drivers come from ``usage_daily`` with one SQL GROUP BY, never from the events themselves. The rollups carry
no resource id, so the resource of each deployment is kept in ``allocation_deployments``, read
incrementally from the events stored since the last run, and joined in that GROUP BY. Saving a result
replaces each ``(billing_day, basis)`` it covers as a whole, so re-running allocation is idempotent.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from aifinops.domain import DIMENSIONS, Basis, CostRecord
from aifinops.engine.allocation import (
    DRIVER_FIELDS,
    AllocationResult,
    AllocationRule,
    Driver,
    allocate,
    collector_paused,
)
from aifinops.engine.allocation_rules import rule_from_mapping, rule_to_mapping
from aifinops.errors import ValidationError
from aifinops.store.allocation_results import load_result, save_result
from aifinops.store.allocation_tables import allocation_deployments, allocation_rules, allocation_scans
from aifinops.store.store import Store, dialect_insert
from aifinops.store.tables import usage_daily, usage_events

__all__ = ["AllocationStore", "parse_rules"]

_EPOCH_DAY = dt.date(1970, 1, 1)
_SCAN = "deployments"
_RESCAN = 100_000


def parse_rules(specs: Sequence[Mapping[str, Any]]) -> list[AllocationRule]:
    """Rules from their configuration/API form; ValidationError names the rule and field; names are unique."""
    rules = []
    for position, spec in enumerate(specs):
        try:
            rules.append(rule_from_mapping(spec, position=position))
        except ValueError as exc:
            raise ValidationError(str(exc), field=f"rules[{position}]") from exc
    seen: set[str] = set()
    for position, rule in enumerate(rules):
        if rule.name in seen:
            raise ValidationError(
                f"allocation rule #{position + 1}: name {rule.name!r} is used twice; rename one",
                field=f"rules[{position}].name",
            )
        seen.add(rule.name)
    return rules


def _epoch_day(day: dt.date) -> int:
    return (day - _EPOCH_DAY).days


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days)]


#: The driver fields a usage filter may need beyond the dimensions, in ``Driver`` order.
_EXTRA = ("kind", "deployment", "model")


def _raw_rows(conn: sa.Connection, query: sa.Select[Any]) -> list[tuple[Any, ...]]:
    """The rows of ``query`` as the driver's own tuples: SQLAlchemy's per-row processing doubled the cost."""
    compiled = query.compile(conn)
    params: Any = compiled.params
    if compiled.positiontup is not None:
        params = tuple(compiled.params[name] for name in compiled.positiontup)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(str(compiled), params)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows
    finally:
        cursor.close()


def _driver_rows(rows: Sequence[tuple[Any, ...]], n: int, at: Sequence[int]) -> list[Driver]:
    """Drivers of rows ``(day, dims…, resource, extras…, currency, tokens, requests, nanos)``."""
    days: dict[int, dt.date] = {}
    new = tuple.__new__
    out = []
    for row in rows:
        day = days.get(row[0]) or days.setdefault(row[0], _EPOCH_DAY + dt.timedelta(days=row[0]))
        extras = [row[n + 2 + i] if i >= 0 else "" for i in at]
        out.append(
            new(Driver, (day, row[1 : 1 + n], row[-3], row[-2], row[-1], row[-4], *extras, row[n + 1]))
        )
    return out


class AllocationStore:
    """Rules, drivers and allocation results over one :class:`Store`."""

    def __init__(self, store: Store, *, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.store = store
        self._now = clock or (lambda: dt.datetime.now(dt.UTC))

    # --- rules --------------------------------------------------------------------------------------------
    def rules(self) -> list[AllocationRule]:
        """The enabled rules, in the order they apply."""
        with self.store.reader() as conn:
            rows = conn.execute(
                sa.select(allocation_rules.c.spec)
                .where(allocation_rules.c.enabled)
                .order_by(allocation_rules.c.position)
            ).all()
        return parse_rules([json.loads(r.spec) for r in rows])

    def replace_rules(self, rules: Sequence[AllocationRule]) -> None:
        """Make ``rules`` the whole ordered rule set."""
        names = [r.name for r in rules]
        if len(set(names)) != len(names):
            raise ValidationError(f"allocation rule names must be unique, got {names}", field="rules")
        now = self._now()
        with self.store.session() as conn:
            conn.execute(sa.delete(allocation_rules))
            if rules:
                conn.execute(
                    sa.insert(allocation_rules),
                    [
                        {
                            "position": i,
                            "name": r.name,
                            "spec": json.dumps(rule_to_mapping(r)),
                            "enabled": True,
                            "updated_at": now,
                        }
                        for i, r in enumerate(rules)
                    ],
                )

    def add_rule(self, rule: AllocationRule, *, position: int | None = None) -> list[AllocationRule]:
        """Insert ``rule`` at ``position`` (0 = first; default last); returns the new rule set."""
        current = self.rules()
        if any(r.name == rule.name for r in current):
            raise ValidationError(
                f"an allocation rule named {rule.name!r} exists; choose another name", field="name"
            )
        current.insert(len(current) if position is None else max(0, position), rule)
        self.replace_rules(current)
        return current

    # --- drivers ------------------------------------------------------------------------------------------
    def refresh_deployments(self) -> int:
        """Read events stored since the last refresh into the deployment → resource map; returns rows read.

        Event row ids only grow, so each refresh reads just the new rows; on PostgreSQL, where a transaction
        may commit a lower id after a higher one, the last ``_RESCAN`` ids are read again (merging is
        idempotent).
        """
        e, m, s = usage_events.c, allocation_deployments, allocation_scans
        with self.store.session() as conn:
            last = conn.execute(sa.select(s.c.last_id).where(s.c.name == _SCAN)).scalar() or 0
            top = conn.execute(sa.select(sa.func.max(e.id))).scalar() or 0
            low = max(last - _RESCAN, 0) if conn.dialect.name == "postgresql" else last
            rows = conn.execute(
                sa.select(
                    e.deployment, e.resource_id, sa.func.min(e.hour), sa.func.max(e.hour), sa.func.count()
                )
                .where(e.id > low, e.id <= top, e.deployment.is_not(None), e.resource_id.is_not(None))
                .group_by(e.deployment, e.resource_id)
            ).all()
            if rows:
                insert = dialect_insert(conn, m)
                merged = insert.on_conflict_do_update(
                    index_elements=["deployment", "resource_id"],
                    set_={
                        "first_hour": sa.case(
                            (insert.excluded.first_hour < m.c.first_hour, insert.excluded.first_hour),
                            else_=m.c.first_hour,
                        ),
                        "last_hour": sa.case(
                            (insert.excluded.last_hour > m.c.last_hour, insert.excluded.last_hour),
                            else_=m.c.last_hour,
                        ),
                    },
                )
                conn.execute(
                    merged,
                    [
                        {
                            "deployment": r[0],
                            "resource_id": r[1].lower(),
                            "first_hour": r[2],
                            "last_hour": r[3],
                        }
                        for r in rows
                    ],
                )
            scan = dialect_insert(conn, s).values(name=_SCAN, last_id=top, scanned_at=self._now())
            conn.execute(
                scan.on_conflict_do_update(
                    index_elements=["name"],
                    set_={"last_id": scan.excluded.last_id, "scanned_at": scan.excluded.scanned_at},
                )
            )
        return sum(int(r[4]) for r in rows)

    def deployment_resources(self, start: dt.date, end: dt.date) -> dict[str, str]:
        """Deployment → resource id of events in ``[start, end)``; a name on several resources → ''."""
        self.refresh_deployments()
        m = allocation_deployments.c
        lo, hi = _epoch_day(start) * 24, _epoch_day(end) * 24
        found: dict[str, set[str]] = defaultdict(set)
        with self.store.reader() as conn:
            for deployment, resource in conn.execute(
                sa.select(m.deployment, m.resource_id).where(m.first_hour < hi, m.last_hour >= lo)
            ):
                found[deployment].add(resource)
        return {d: next(iter(r)) if len(r) == 1 else "" for d, r in found.items()}

    def _resource_map(self, start: dt.date, end: dt.date) -> Any:
        """Subquery: deployment → its one resource id in the period, or '' when it ran on several."""
        m = allocation_deployments.c
        lo, hi = _epoch_day(start) * 24, _epoch_day(end) * 24
        one = sa.case((sa.func.count() == 1, sa.func.min(m.resource_id)), else_="")
        return (
            sa.select(m.deployment, one.label("resource_id"))
            .where(m.first_hour < hi, m.last_hour >= lo)
            .group_by(m.deployment)
            .subquery("deployment_map")
        )

    def drivers(
        self,
        start: dt.date,
        end: dt.date,
        *,
        dimensions: Sequence[str],
        fields: Iterable[str] = DRIVER_FIELDS,
    ) -> list[Driver]:
        """Usage of ``[start, end)`` per day, dimension values, resource, and the driver ``fields`` asked for.

        Grouping only by the fields some rule filters on keeps the driver rows few; the others stay ''.
        """
        unknown = [d for d in dimensions if d not in DIMENSIONS]
        if unknown:
            raise ValidationError(
                f"unknown allocation dimension(s) {unknown}; choose from {list(DIMENSIONS)}",
                field="dimensions",
            )
        self.refresh_deployments()
        u, mapping = usage_daily.c, self._resource_map(start, end)
        wanted = set(fields)
        extra = [name for name in ("kind", "deployment", "model") if name in wanted]
        resource = sa.func.coalesce(mapping.c.resource_id, "")
        keys = [u.day, *(u[d] for d in dimensions), resource, *(u[n] for n in extra), u.currency]
        total = sa.func.sum(u.input_tokens) + sa.func.sum(u.output_tokens)
        query = (
            sa.select(
                *keys,
                *(
                    sa.cast(s, sa.BigInteger)
                    for s in (total, sa.func.sum(u.requests), sa.func.sum(u.cost_nanos))
                ),
            )
            .select_from(usage_daily.outerjoin(mapping, mapping.c.deployment == u.deployment))
            .where(u.day >= _epoch_day(start), u.day < _epoch_day(end))
            .group_by(*keys)
        )
        with self.store.reader() as conn, collector_paused():
            rows = _raw_rows(conn, query)
            return _driver_rows(rows, len(dimensions), [extra.index(n) if n in extra else -1 for n in _EXTRA])

    # --- runs ---------------------------------------------------------------------------------------------
    def allocate(
        self,
        start: dt.date,
        end: dt.date,
        *,
        basis: Basis,
        dimensions: Sequence[str],
        records: Iterable[CostRecord],
        rules: Sequence[AllocationRule] | None = None,
    ) -> AllocationResult:
        """Allocate ``records`` of ``[start, end)`` and replace the stored results of every day in it."""
        if basis not in (Basis.ACTUAL, Basis.AMORTIZED):
            raise ValidationError(
                f"allocation runs on actual or amortized cost, got {basis.value!r}", field="basis"
            )
        chosen = self.rules() if rules is None else list(rules)
        fields = {name for rule in chosen for name in rule.usage.where if name in DRIVER_FIELDS}
        # Reading the records (often a lazy iterator over the store) builds as many objects as the rest.
        with collector_paused():
            kept = [r for r in records if start <= r.billing_day < end and r.basis is basis]
            drivers = self.drivers(start, end, dimensions=dimensions, fields=fields)
            try:
                result = allocate(kept, chosen, drivers, dimensions=dimensions)
            except ValueError as exc:
                raise ValidationError(str(exc), field="dimensions") from exc
            self.save(result, basis=basis, days=_days(start, end), rules=chosen)
        return result

    def save(
        self,
        result: AllocationResult,
        *,
        basis: Basis,
        days: Sequence[dt.date],
        rules: Sequence[AllocationRule],
    ) -> None:
        """Replace the runs of ``days`` on ``basis`` with ``result`` (a day without records: an empty run)."""
        with self.store.session() as conn, collector_paused():
            save_result(conn, result, basis=basis, days=days, rules=rules, now=self._now())

    def result(self, start: dt.date, end: dt.date, *, basis: Basis) -> AllocationResult:
        """The stored allocation of ``[start, end)`` on ``basis``, as one result over its dimensions."""
        with self.store.reader() as conn, collector_paused():
            return load_result(conn, start, end, basis=basis)
