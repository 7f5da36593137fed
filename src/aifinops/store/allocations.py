"""Allocation in the store: the ordered rules, the deployment → resource map, and results per day and basis.

The rollups carry no resource id, so the resource of each deployment is kept in ``allocation_deployments``,
read incrementally from the events stored since the last refresh (the drivers' GROUP BY joins it:
:mod:`aifinops.store.driver_queries`). Saving a result replaces each ``(billing_day, basis)`` it covers as
a whole, so re-running allocation is idempotent. Reads are in :mod:`aifinops.store.allocation_queries`; the
use case that allocates a period is :mod:`aifinops.jobs.allocate`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import sqlalchemy as sa

from aifinops.domain import Basis
from aifinops.engine.allocation import AllocationResult, AllocationRule
from aifinops.engine.allocation_rules import rule_to_mapping
from aifinops.errors import ValidationError
from aifinops.store.allocation_queries import read_rules
from aifinops.store.allocation_results import save_result
from aifinops.store.allocation_tables import allocation_deployments, allocation_rules, allocation_scans
from aifinops.store.store import Store, dialect_insert
from aifinops.store.tables import usage_events

__all__ = ["AllocationStore"]

_SCAN = "deployments"
_RESCAN = 100_000


class AllocationStore:
    """Writes rules, the deployment → resource map and allocation results over one :class:`Store`."""

    def __init__(self, store: Store, *, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.store = store
        self._now = clock or partial(dt.datetime.now, dt.UTC)

    # --- rules --------------------------------------------------------------------------------------------
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
        current = read_rules(self.store)
        if any(r.name == rule.name for r in current):
            raise ValidationError(
                f"an allocation rule named {rule.name!r} exists; choose another name", field="name"
            )
        current.insert(len(current) if position is None else max(0, position), rule)
        self.replace_rules(current)
        return current

    # --- deployments ----------------------------------------------------------------------------------------
    def refresh_deployments(self) -> int:
        """Read events stored since the last refresh into the deployment → resource map; returns rows read.

        Event row ids only grow, so each refresh reads just the new rows; on PostgreSQL, where a transaction
        may commit a lower id after a higher one, the last ``_RESCAN`` ids are read again (merging is
        idempotent).
        """
        e, s = usage_events.c, allocation_scans
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
                _merge_deployments(conn, rows)
            scan = dialect_insert(conn, s).values(name=_SCAN, last_id=top, scanned_at=self._now())
            conn.execute(
                scan.on_conflict_do_update(
                    index_elements=["name"],
                    set_={"last_id": scan.excluded.last_id, "scanned_at": scan.excluded.scanned_at},
                )
            )
        return sum(int(r[4]) for r in rows)

    # --- results ------------------------------------------------------------------------------------------
    def save(
        self,
        result: AllocationResult,
        *,
        basis: Basis,
        days: Sequence[dt.date],
        rules: Sequence[AllocationRule],
    ) -> None:
        """Replace the runs of ``days`` on ``basis`` with ``result`` (a day without records: an empty run)."""
        with self.store.session() as conn:
            save_result(conn, result, basis=basis, days=days, rules=rules, now=self._now())


def _merge_deployments(conn: sa.Connection, rows: Sequence[Any]) -> None:
    """Widen each (deployment, resource)'s first and last hour by the rows read from the events."""
    m = allocation_deployments
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
            {"deployment": r[0], "resource_id": r[1].lower(), "first_hour": r[2], "last_hour": r[3]}
            for r in rows
        ],
    )
