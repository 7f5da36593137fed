"""Keeping the per-day task aggregates (``task_day_kpis``, ``task_day_costs``) equal to the tasks they sum.

A task's contribution depends on all its task-rollup rows and on its outcome, so a change to a task is
applied as: take the task's contribution out, change the task (new events rolled up, a new outcome, re-priced
rows), put its new contribution in. The tasks being changed are listed in the temporary table ``_kpi_tasks``
(:func:`mark_tasks`); :func:`apply` adds (``sign=1``) or removes (``sign=-1``) their contributions. Every
caller holds the task-aggregate lock (:func:`lock`) for its whole transaction, so two writers never interleave
on PostgreSQL (SQLite has one writer at a time).

The sums are those of the per-task computation in :func:`aifinops.store.task_queries.task_aggregates`: per
task the least value of each dimension over its rows (``''`` for none), the highest step (else its first
attempts), its retries, tokens and unpriced events; per priced task row its cost, under the row's own
dimensions. A task whose rows start on different UTC days is not summed per day (a period boundary may cut
it in two): it is listed in ``kpi_split_tasks`` and read per task. ``task_step_days`` counts the priced
task rows per day of the row's first event, use case, highest step, outcome and model (the optimizer's).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from aifinops.store.rollup_tables import KPI_DIMS, STEP_KEYS, TASK_DAY_SUMS

__all__ = [
    "add_tasks",
    "apply",
    "day_of",
    "lock",
    "mark_tasks",
    "rebuild",
    "rebuild_steps",
    "refresh_split",
]

#: pg_advisory_xact_lock key of the task aggregates ("aifk").
_LOCK_KEY = 0x6169666B


def lock(conn: Connection) -> None:
    """Serialize the writers of the task aggregates until the transaction ends (PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")


def day_of(column: str, *, sqlite: bool) -> str:
    """SQL for the UTC day (days since the epoch) of a stored timestamp column."""
    if sqlite:  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC; the date alone keeps julianday exact
        return f"CAST(julianday(substr({column}, 1, 10)) - 2440587.5 AS INTEGER)"
    return f"(({column} AT TIME ZONE 'UTC')::date - DATE '1970-01-01')"


def mark_tasks(conn: Connection, select_sql: str | None = None, params: Any = ()) -> None:
    """List in ``_kpi_tasks`` the (tenant, task_id) pairs selected by ``select_sql`` (which must have a
    WHERE clause), replacing any listed before in this transaction."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(
            "CREATE TEMP TABLE IF NOT EXISTS _kpi_tasks (tenant TEXT NOT NULL, task_id TEXT NOT NULL, "
            "PRIMARY KEY (tenant, task_id))"
        )
    else:
        conn.exec_driver_sql(
            "CREATE TEMP TABLE IF NOT EXISTS _kpi_tasks (tenant VARCHAR(128) NOT NULL, "
            "task_id VARCHAR(128) NOT NULL, PRIMARY KEY (tenant, task_id)) ON COMMIT DELETE ROWS"
        )
    conn.exec_driver_sql("DELETE FROM _kpi_tasks")
    if select_sql is not None:
        add_tasks(conn, select_sql, params)


def add_tasks(conn: Connection, select_sql: str, params: Any = ()) -> None:
    """Add to ``_kpi_tasks`` the (tenant, task_id) pairs selected by ``select_sql`` (with a WHERE clause)."""
    conn.exec_driver_sql(
        f"INSERT INTO _kpi_tasks (tenant, task_id) {select_sql} ON CONFLICT DO NOTHING", params
    )


_OTHER = KPI_DIMS[1:]


def _per_task(sqlite: bool) -> str:
    day = day_of("r.first_ts", sqlite=sqlite)
    dims = ", ".join(f"COALESCE(MIN(r.{d}), '') AS {d}" for d in _OTHER)
    return (
        f"SELECT r.tenant AS tenant, r.task_id AS task_id, {dims}, MIN({day}) AS day, "
        "MAX(r.max_step) AS max_step, SUM(r.first_attempts) AS first_attempts, SUM(r.retries) AS retries, "
        "SUM(r.input_tokens) AS input_tokens, SUM(r.output_tokens) AS output_tokens, "
        "SUM(r.unpriced_events) AS unpriced_events "
        "FROM _kpi_tasks k CROSS JOIN task_rollup r WHERE r.tenant = k.tenant AND r.task_id = k.task_id "
        f"GROUP BY r.tenant, r.task_id HAVING MIN({day}) = MAX({day})"
    )


def _tasks_sql(sign: int, *, sqlite: bool) -> str:
    s = "" if sign > 0 else "-"
    outcome, value_currency = "COALESCE(o.outcome, 'open')", "COALESCE(o.value_currency, '')"
    keys = ("p.day", *(f"p.{d}" for d in KPI_DIMS), outcome, value_currency)
    sums = (
        f"{s}COUNT(*)",
        f"{s}SUM(CASE WHEN p.max_step IS NOT NULL THEN p.max_step + 1 ELSE p.first_attempts END)",
        f"{s}SUM(p.retries)",
        f"{s}SUM(p.input_tokens)",
        f"{s}SUM(p.output_tokens)",
        f"{s}SUM(p.unpriced_events)",
        f"{s}COALESCE(SUM(o.value_nanos), 0)",
    )
    conflict = ("day", *KPI_DIMS, "outcome", "value_currency")
    return (
        f"INSERT INTO task_day_kpis ({', '.join((*conflict, *TASK_DAY_SUMS))}) "
        f"SELECT {', '.join((*keys, *sums))} FROM ({_per_task(sqlite)}) p "
        "LEFT JOIN task_outcomes o ON o.tenant = p.tenant AND o.task_id = p.task_id WHERE 1 = 1 "
        f"GROUP BY {', '.join(keys)} "
        f"ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET "
        + ", ".join(f"{n} = task_day_kpis.{n} + excluded.{n}" for n in TASK_DAY_SUMS)
    )


def _costs_sql(sign: int, *, sqlite: bool) -> str:
    s = "" if sign > 0 else "-"
    keys = (
        day_of("r.first_ts", sqlite=sqlite),
        "r.tenant",
        *(f"COALESCE(r.{d}, '')" for d in _OTHER),
        "COALESCE(o.outcome, 'open')",
        "r.currency",
    )
    conflict = ("day", *KPI_DIMS, "outcome", "currency")
    return (
        f"INSERT INTO task_day_costs ({', '.join(conflict)}, task_rows, cost_nanos) "
        f"SELECT {', '.join(keys)}, {s}COUNT(*), {s}SUM(r.cost_nanos) "
        "FROM _kpi_tasks k CROSS JOIN task_rollup r "
        "LEFT JOIN task_outcomes o ON o.tenant = r.tenant AND o.task_id = r.task_id "
        "WHERE r.tenant = k.tenant AND r.task_id = k.task_id AND r.currency <> '' "
        f"GROUP BY {', '.join(keys)} "
        f"ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET "
        "task_rows = task_day_costs.task_rows + excluded.task_rows, "
        "cost_nanos = task_day_costs.cost_nanos + excluded.cost_nanos"
    )


def _steps_sql(sign: int, *, sqlite: bool) -> str:
    s = "" if sign > 0 else "-"
    values = {"use_case": "r.use_case", "max_step": "r.max_step", "outcome": "o.outcome", "model": "r.model"}
    blank = {"use_case": "''", "max_step": "0", "outcome": "''", "model": "''"}  # NULL, with its bit set
    keys = (
        day_of("r.first_ts", sqlite=sqlite),
        *(f"COALESCE({values[k]}, {blank[k]})" for k in STEP_KEYS),
        " + ".join(
            f"CASE WHEN {values[k]} IS NULL THEN {1 << i} ELSE 0 END" for i, k in enumerate(STEP_KEYS)
        ),
    )
    conflict = ("day", *STEP_KEYS, "nulls")
    return (
        f"INSERT INTO task_step_days ({', '.join(conflict)}, task_rows) "
        f"SELECT {', '.join(keys)}, {s}COUNT(*) "
        "FROM _kpi_tasks k CROSS JOIN task_rollup r "
        "LEFT JOIN task_outcomes o ON o.tenant = r.tenant AND o.task_id = r.task_id "
        "WHERE r.tenant = k.tenant AND r.task_id = k.task_id AND r.currency <> '' "
        f"GROUP BY {', '.join(keys)} "
        f"ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET "
        "task_rows = task_step_days.task_rows + excluded.task_rows"
    )


def apply(conn: Connection, sign: int) -> None:
    """Add (``sign=1``) or take out (``sign=-1``) the contributions of the tasks in ``_kpi_tasks``."""
    sqlite = conn.dialect.name == "sqlite"
    conn.exec_driver_sql(_tasks_sql(sign, sqlite=sqlite))
    conn.exec_driver_sql(_costs_sql(sign, sqlite=sqlite))
    conn.exec_driver_sql(_steps_sql(sign, sqlite=sqlite))


def refresh_split(conn: Connection) -> None:
    """List again which of the tasks in ``_kpi_tasks`` start on different UTC days."""
    day = day_of("r.first_ts", sqlite=conn.dialect.name == "sqlite")
    conn.exec_driver_sql(
        "DELETE FROM kpi_split_tasks WHERE EXISTS (SELECT 1 FROM _kpi_tasks k "
        "WHERE k.tenant = kpi_split_tasks.tenant AND k.task_id = kpi_split_tasks.task_id)"
    )
    conn.exec_driver_sql(
        "INSERT INTO kpi_split_tasks (tenant, task_id) SELECT r.tenant, r.task_id "
        "FROM _kpi_tasks k CROSS JOIN task_rollup r WHERE r.tenant = k.tenant AND r.task_id = k.task_id "
        f"GROUP BY r.tenant, r.task_id HAVING MIN({day}) <> MAX({day})"
    )


def rebuild(conn: Connection) -> None:
    """Recompute the cost-per-task aggregates (not ``task_step_days``: :func:`rebuild_steps`) from the task
    rollup and the outcomes (migration 0016, which runs before or after the one adding the step counts)."""
    lock(conn)
    for table in ("task_day_kpis", "task_day_costs", "kpi_split_tasks"):
        conn.exec_driver_sql(f"DELETE FROM {table}")
    mark_tasks(conn, "SELECT DISTINCT tenant, task_id FROM task_rollup WHERE 1 = 1")
    sqlite = conn.dialect.name == "sqlite"
    conn.exec_driver_sql(_tasks_sql(1, sqlite=sqlite))
    conn.exec_driver_sql(_costs_sql(1, sqlite=sqlite))
    refresh_split(conn)


def rebuild_steps(conn: Connection) -> None:
    """Recompute ``task_step_days`` from the task rollup and the outcomes."""
    lock(conn)
    conn.exec_driver_sql("DELETE FROM task_step_days")
    mark_tasks(conn, "SELECT DISTINCT tenant, task_id FROM task_rollup WHERE 1 = 1")
    conn.exec_driver_sql(_steps_sql(1, sqlite=conn.dialect.name == "sqlite"))
