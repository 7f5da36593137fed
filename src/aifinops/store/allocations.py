"""Allocation in the store: ordered rules, usage drivers from the daily rollup, and results per day and basis.

Drivers come from ``usage_daily`` with one SQL GROUP BY, never from the events themselves. The rollups carry
no resource id, so the resource of each deployment is kept in ``allocation_deployments``, read
incrementally from the events stored since the last run, and joined in that GROUP BY (computed in the
background while the records are read: :mod:`aifinops.store.driver_reads`). Saving a result
replaces each ``(billing_day, basis)`` it covers as a whole, so re-running allocation is idempotent.
"""

from __future__ import annotations

import datetime as dt
import json
import time
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
    filter_key,
)
from aifinops.engine.allocation_rules import rule_from_mapping, rule_to_mapping
from aifinops.engine.usage_buckets import to_day
from aifinops.errors import ValidationError
from aifinops.store.allocation_results import load_result, save_result
from aifinops.store.allocation_tables import allocation_deployments, allocation_rules, allocation_scans
from aifinops.store.driver_reads import BACKGROUND_ROWS, EXTRA_FIELDS, DriverRead
from aifinops.store.store import Store, dialect_insert
from aifinops.store.tables import usage_events

__all__ = ["AllocationStore", "parse_rules"]

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


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days)]


class AllocationStore:
    """Rules, drivers and allocation results over one :class:`Store`."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        background_rows: int = BACKGROUND_ROWS,
    ) -> None:
        """``background_rows``: from this many rollup rows in a period, part of the drivers is computed in the
        background (:mod:`aifinops.store.driver_reads`)."""
        self.store = store
        self.background_rows = background_rows
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
        lo, hi = to_day(start) * 24, to_day(end) * 24
        found: dict[str, set[str]] = defaultdict(set)
        with self.store.reader() as conn:
            for deployment, resource in conn.execute(
                sa.select(m.deployment, m.resource_id).where(m.first_hour < hi, m.last_hour >= lo)
            ):
                found[deployment].add(resource)
        return {d: next(iter(r)) if len(r) == 1 else "" for d, r in found.items()}

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
        with collector_paused():
            return self.start_drivers(start, end, dimensions=dimensions, fields=fields).drivers().all

    def start_drivers(
        self,
        start: dt.date,
        end: dt.date,
        *,
        dimensions: Sequence[str],
        fields: Iterable[str],
        filters: Sequence[Mapping[str, Sequence[str]]] = (),
    ) -> DriverRead:
        """Start reading the drivers in the background (see :mod:`aifinops.store.driver_reads`)."""
        unknown = [d for d in dimensions if d not in DIMENSIONS]
        if unknown:
            raise ValidationError(
                f"unknown allocation dimension(s) {unknown}; choose from {list(DIMENSIONS)}",
                field="dimensions",
            )
        resources = self.deployment_resources(start, end)
        return DriverRead(
            self.store,
            start,
            end,
            dimensions=dimensions,
            fields=fields,
            resources=resources,
            filters=filters,
            background_rows=self.background_rows,
        )

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
        timings: dict[str, float] | None = None,
    ) -> AllocationResult:
        """Allocate ``records`` of ``[start, end)`` and replace the stored results of every day in it.

        ``timings``, when given, receives the seconds of each phase: reading the records (the drivers are
        computed meanwhile), waiting for and reading the drivers, the engine, and saving.
        """
        if basis not in (Basis.ACTUAL, Basis.AMORTIZED):
            raise ValidationError(
                f"allocation runs on actual or amortized cost, got {basis.value!r}", field="basis"
            )
        chosen = self.rules() if rules is None else list(rules)
        # Filters on the run's dimensions and on kind, deployment or model become conditional sums in the
        # drivers' SQL; the rest (resource id) are grouped by and filtered by the engine.
        pushable = {*dimensions, *EXTRA_FIELDS}
        filters = {filter_key(r.usage): r.usage.where for r in chosen if set(r.usage.where) <= pushable}
        filters.pop((), None)
        fields = {
            name
            for rule in chosen
            if filter_key(rule.usage) not in filters
            for name in rule.usage.where
            if name in DRIVER_FIELDS
        }
        marks = [time.perf_counter()]
        # The database computes the drivers while the records (often a lazy iterator over the store) are
        # read; both build as many objects as the rest of the run, so the collector waits.
        with collector_paused():
            reading = self.start_drivers(
                start, end, dimensions=dimensions, fields=fields, filters=list(filters.values())
            )
            try:
                kept = [r for r in records if start <= r.billing_day < end and r.basis is basis]
            except BaseException:
                reading.cancel()
                raise
            marks.append(time.perf_counter())
            drivers = reading.drivers()
            marks.append(time.perf_counter())
            try:
                result = allocate(kept, chosen, drivers.all, dimensions=dimensions, filtered=drivers.filtered)
            except ValueError as exc:
                raise ValidationError(str(exc), field="dimensions") from exc
            marks.append(time.perf_counter())
            self.save(result, basis=basis, days=_days(start, end), rules=chosen)
            marks.append(time.perf_counter())
        if timings is not None:
            phases = ("records", "drivers", "engine", "save")
            timings.update({name: marks[i + 1] - marks[i] for i, name in enumerate(phases)})
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
