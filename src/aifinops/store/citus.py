"""The layout of the store on Citus (Azure Cosmos DB for PostgreSQL): distributed and reference tables.

Applied by migration 0020 only where the ``citus`` extension is installed; everywhere else it changes nothing.

- ``usage_event_ids`` and ``usage_events`` are distributed by ``event_id`` and co-located: the insert trigger
  that claims an event's id (see ``partitions.py``) touches only the shard of that same id, which Citus runs
  on the worker that holds both (``citus.enable_unsafe_triggers = on`` on the cluster). Ingest spreads evenly
  over the workers whatever the tenants' sizes; the monthly partitions stay, and retention still drops them.
- The aggregates the reads use are distributed by ``tenant`` and co-located, so a tenant's KPIs, roll-ups
  and outcomes join on one worker and a cross-tenant dashboard runs on every worker in parallel. Rows without
  a tenant carry '' there, never NULL (Citus refuses NULL distribution values).
- Small tables every query joins are reference tables (a copy on every worker).
- Everything else (billing records, allocation results, budgets' alerts, snapshots) stays on the coordinator:
  it grows with the bill and the calendar, not with usage.

A distributed table's unique constraints must contain its distribution column, so three primary keys widen
(:data:`REKEYED`): ``usage_events`` to (id, ts, event_id), the hourly and daily roll-ups to (id, tenant); the
ids still come from one sequence each.
"""

from __future__ import annotations

from sqlalchemy import Connection

__all__ = ["DISTRIBUTED", "REFERENCE", "REKEYED", "citus_installed", "citus_statements", "rekey"]

#: Distributed tables in creation order: (table, distribution column, co-located with).
DISTRIBUTED: tuple[tuple[str, str, str | None], ...] = (
    ("usage_event_ids", "event_id", None),
    ("usage_events", "event_id", "usage_event_ids"),
    ("task_rollup", "tenant", None),
    ("task_outcomes", "tenant", "task_rollup"),
    ("usage_rollup", "tenant", "task_rollup"),
    ("usage_daily", "tenant", "task_rollup"),
)
#: Primary keys widened to hold the distribution column: table → (key on Citus, key before).
REKEYED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "usage_events": (("id", "ts", "event_id"), ("id", "ts")),
    "usage_rollup": (("id", "tenant"), ("id",)),
    "usage_daily": (("id", "tenant"), ("id",)),
}
#: Reference tables: small, read by every query, replicated to every worker.
REFERENCE = ("prices", "api_keys", "freshness", "usage_retention", "allocation_rules", "budgets")


def citus_installed(conn: Connection) -> bool:
    """Whether this PostgreSQL database has the ``citus`` extension (False on SQLite)."""
    if conn.dialect.name != "postgresql":
        return False
    return bool(conn.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'citus'").scalar())


def citus_statements() -> list[str]:
    """The SQL that lays the store out on Citus, in order."""
    statements = [rekey(table, key) for table, (key, _) in REKEYED.items()]
    statements += [f"SELECT create_reference_table('{table}')" for table in REFERENCE]
    for table, column, colocate in DISTRIBUTED:
        with_ = f", colocate_with => '{colocate}'" if colocate else ""
        statements.append(f"SELECT create_distributed_table('{table}', '{column}'{with_})")
    return statements


def rekey(table: str, key: tuple[str, ...]) -> str:
    """The statement that gives ``table`` the primary key ``key``.

    >>> rekey("usage_daily", ("id", "tenant"))[-54:]
    'ADD CONSTRAINT pk_usage_daily PRIMARY KEY (id, tenant)'
    """
    return (
        f"ALTER TABLE {table} DROP CONSTRAINT pk_{table}, "
        f"ADD CONSTRAINT pk_{table} PRIMARY KEY ({', '.join(key)})"
    )
