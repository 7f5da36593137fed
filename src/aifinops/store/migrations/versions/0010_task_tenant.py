"""A task is its id within its tenant: ``task_rollup`` and ``task_outcomes`` are keyed by (tenant, task_id).

``tenant`` is ``''`` for a task whose events carry no tenant (NULLs never collide in a key). The task rollup
is derived data: both directions rebuild it from ``usage_events``. Outcomes were stored per task id alone,
without the tenant that sent them; upgrading gives each one to every tenant that has a task with that id (the
outcome applied to all of them before), or to ``''`` when no event names the task yet. Downgrading keeps, per
task id, the outcome that ended last (the one the old key would have kept).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aifinops.store.tables import UtcDateTime

revision = "0010_task_tenant"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

# The allocation dimensions as of this revision, spelled out: a vocabulary change gets its own migration.
_DIMENSIONS = (
    "app",
    "use_case",
    "agent",
    "tenant",
    "user_group",
    "cost_center",
    "team",
    "environment",
    "deployment",
    "model",
)
_OTHER_DIMENSIONS = tuple(d for d in _DIMENSIONS if d != "tenant")
_SUMS = (
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "events",
    "first_attempts",
    "retries",
    "cost_nanos",
    "unpriced_events",
)
_SUMMED = (
    "SUM(input_tokens)",
    "SUM(cached_input_tokens)",
    "SUM(output_tokens)",
    "SUM(reasoning_tokens)",
    "COUNT(*)",
    "SUM(CASE WHEN attempt = 1 THEN 1 ELSE 0 END)",
    "SUM(CASE WHEN attempt > 1 THEN 1 ELSE 0 END)",
    "COALESCE(SUM(cost_nanos), 0)",
    "SUM(CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END)",
)
_OUTCOME_COLUMNS = (
    "task_id",
    "outcome",
    "ended_at",
    "use_case",
    "value_nanos",
    "value_currency",
    "value_quantity_nanos",
    "value_unit",
    "received_at",
)


def _task_rollup(*, by_tenant: bool) -> None:
    """The task rollup keyed by (tenant, task_id, currency), or as 0001 made it (task_id, currency)."""
    key = ("tenant", "task_id", "currency") if by_tenant else ("task_id", "currency")
    tenant = (
        [sa.Column("tenant", sa.String(length=128), server_default="", nullable=False)] if by_tenant else []
    )
    dims = _OTHER_DIMENSIONS if by_tenant else _DIMENSIONS
    op.create_table(
        "task_rollup",
        *tenant,
        sa.Column("task_id", sa.String(length=128), nullable=False),
        sa.Column("currency", sa.String(length=3), server_default="", nullable=False),
        *(sa.Column(d, sa.String(length=128), nullable=True) for d in dims),
        sa.Column("first_ts", UtcDateTime(), nullable=False),
        sa.Column("last_ts", UtcDateTime(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("first_attempts", sa.BigInteger(), nullable=False),
        sa.Column("max_step", sa.Integer(), nullable=True),
        sa.Column("retries", sa.BigInteger(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cached_input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("reasoning_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_nanos", sa.BigInteger(), nullable=False),
        sa.Column("unpriced_events", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(*key, name="pk_task_rollup"),
    )
    op.create_index("ix_task_rollup_first_ts", "task_rollup", ["first_ts"], unique=False)
    op.create_index("ix_task_rollup_use_case", "task_rollup", ["use_case"], unique=False)
    if by_tenant:
        op.create_index("ix_task_rollup_task_id", "task_rollup", ["task_id"], unique=False)
    # Rebuilt from the events, exactly as ingest rolls them up (per tenant too when keyed by it).
    tenant_key: tuple[str, ...] = ("COALESCE(tenant, '')",) if by_tenant else ()
    group = (*tenant_key, "task_id", "COALESCE(currency, '')")
    columns = (*key, *dims, "first_ts", "last_ts", "max_step", *_SUMS)
    values = (*group, *(f"MIN({d})" for d in dims), "MIN(ts)", "MAX(ts)", "MAX(step)", *_SUMMED)
    op.execute(
        f"INSERT INTO task_rollup ({', '.join(columns)}) SELECT {', '.join(values)} FROM usage_events "
        f"WHERE task_id IS NOT NULL GROUP BY {', '.join(group)}"
    )


def _set_aside_outcomes(suffix: str) -> str:
    """Rename ``task_outcomes`` (and the names its key and index hold) out of the way of the new table."""
    old = f"task_outcomes_{suffix}"
    op.drop_index("ix_task_outcomes_ended_at", table_name="task_outcomes")
    op.rename_table("task_outcomes", old)
    if op.get_bind().dialect.name == "postgresql":  # constraint and index names are schema-wide there
        op.execute(f"ALTER TABLE {old} RENAME CONSTRAINT pk_task_outcomes TO pk_{old}")
    return old


def _task_outcomes(*, by_tenant: bool) -> None:
    key = ("tenant", "task_id") if by_tenant else ("task_id",)
    tenant = (
        [sa.Column("tenant", sa.String(length=128), server_default="", nullable=False)] if by_tenant else []
    )
    op.create_table(
        "task_outcomes",
        *tenant,
        sa.Column("task_id", sa.String(length=128), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("ended_at", UtcDateTime(), nullable=False),
        sa.Column("use_case", sa.String(length=128), nullable=True),
        sa.Column("value_nanos", sa.BigInteger(), nullable=True),
        sa.Column("value_currency", sa.String(length=3), nullable=True),
        sa.Column("value_quantity_nanos", sa.BigInteger(), nullable=True),
        sa.Column("value_unit", sa.String(length=32), nullable=True),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint(*key, name="pk_task_outcomes"),
    )
    op.create_index("ix_task_outcomes_ended_at", "task_outcomes", ["ended_at"], unique=False)


def upgrade() -> None:
    op.drop_index("ix_task_rollup_first_ts", table_name="task_rollup")
    op.drop_index("ix_task_rollup_use_case", table_name="task_rollup")
    op.drop_table("task_rollup")
    _task_rollup(by_tenant=True)
    old = _set_aside_outcomes("0001")
    _task_outcomes(by_tenant=True)
    columns = ", ".join(_OUTCOME_COLUMNS)
    picked = ", ".join(f"o.{c}" for c in _OUTCOME_COLUMNS)
    op.execute(
        f"INSERT INTO task_outcomes (tenant, {columns}) SELECT COALESCE(t.tenant, ''), {picked} FROM {old} o "
        "LEFT JOIN (SELECT DISTINCT tenant, task_id FROM task_rollup) t ON t.task_id = o.task_id"
    )
    op.drop_table(old)


def downgrade() -> None:
    op.drop_index("ix_task_rollup_task_id", table_name="task_rollup")
    op.drop_index("ix_task_rollup_first_ts", table_name="task_rollup")
    op.drop_index("ix_task_rollup_use_case", table_name="task_rollup")
    op.drop_table("task_rollup")
    _task_rollup(by_tenant=False)
    new = _set_aside_outcomes("0010")
    _task_outcomes(by_tenant=False)
    columns = ", ".join(_OUTCOME_COLUMNS)
    op.execute(
        f"INSERT INTO task_outcomes ({columns}) SELECT {columns} FROM (SELECT {columns}, ROW_NUMBER() OVER "
        f"(PARTITION BY task_id ORDER BY ended_at DESC, tenant) AS n FROM {new}) latest WHERE n = 1"
    )
    op.drop_table(new)
