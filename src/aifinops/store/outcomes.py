"""Writing task outcomes: one per task (its id within its tenant); the latest ``ended_at`` wins."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from aifinops.domain import TaskOutcome, to_nanos
from aifinops.store import task_kpi_rollup
from aifinops.store.data_versions import OUTCOMES, bump
from aifinops.store.store import Store, dialect_insert, retrying
from aifinops.store.tables import TASK_KEY, task_outcomes

__all__ = ["OutcomeStore"]

_REPLACED = (
    "outcome",
    "ended_at",
    "use_case",
    "value_nanos",
    "value_currency",
    "value_quantity_nanos",
    "value_unit",
    "received_at",
)


class OutcomeStore:
    """Task outcomes in the store (read with the tasks: :mod:`aifinops.store.task_queries`)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def upsert(self, outcomes: Sequence[TaskOutcome], *, now: dt.datetime) -> int:
        """Store task outcomes; a later outcome (by ``ended_at``) of the same task (tenant and id) replaces
        the earlier. An outcome without a tenant is the outcome of the task whose events carry none."""
        if not outcomes:
            return 0
        latest: dict[tuple[str, str], TaskOutcome] = {}
        for o in outcomes:
            key = (o.tenant or "", o.task_id)
            if key not in latest or o.ended_at >= latest[key].ended_at:
                latest[key] = o
        rows = [_outcome_row(o, now) for _, o in sorted(latest.items())]  # one lock order for all writers
        return retrying(lambda: self._upsert_rows(rows))

    def _upsert_rows(self, rows: list[dict[str, Any]]) -> int:
        with self.store.session() as conn:
            # The task aggregates follow the outcome: the tasks' contributions out, the outcomes in, back in.
            task_kpi_rollup.lock(conn)
            mark = "?" if conn.dialect.name == "sqlite" else "%s"
            task_kpi_rollup.mark_tasks(conn)
            for i in range(0, len(rows), 400):
                chunk = rows[i : i + 400]
                pairs = ", ".join([f"({mark}, {mark})"] * len(chunk))
                task_kpi_rollup.add_tasks(
                    conn,
                    f"SELECT tenant, task_id FROM task_rollup WHERE (tenant, task_id) IN (VALUES {pairs})",
                    tuple(v for r in chunk for v in (r["tenant"], r["task_id"])),
                )
            task_kpi_rollup.apply(conn, -1)
            stmt = dialect_insert(conn, task_outcomes)
            newer = stmt.excluded.ended_at >= task_outcomes.c.ended_at
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=list(TASK_KEY), set_={c: stmt.excluded[c] for c in _REPLACED}, where=newer
                ),
                rows,
            )
            task_kpi_rollup.apply(conn, 1)
            bump(conn, OUTCOMES)  # reads kept in the process that joined the outcomes are read again
        return len(rows)


def _outcome_row(o: TaskOutcome, now: dt.datetime) -> dict[str, Any]:
    return {
        "tenant": o.tenant or "",
        "task_id": o.task_id,
        "outcome": o.outcome.value,
        "ended_at": o.ended_at,
        "use_case": o.use_case,
        "value_nanos": to_nanos(o.value_amount) if o.value_amount is not None else None,
        "value_currency": o.value_currency,
        "value_quantity_nanos": to_nanos(o.value_quantity) if o.value_quantity is not None else None,
        "value_unit": o.value_unit,
        "received_at": now,
    }
