"""Per-day task aggregates for cost per successful task: ``task_day_kpis``, ``task_day_costs`` and
``kpi_split_tasks`` (see ``aifinops.store.rollup_tables``), filled from the task rollup and the outcomes.

They are derived data: upgrading computes them from ``task_rollup`` and ``task_outcomes`` with the same SQL
that keeps them current.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_task_day_kpis"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

#: The task dimensions as of this revision, the tenant first.
_DIMS = (
    "tenant",
    "app",
    "use_case",
    "agent",
    "user_group",
    "cost_center",
    "team",
    "environment",
    "deployment",
    "model",
)
_SUMS = ("tasks", "steps", "retries", "input_tokens", "output_tokens", "unpriced_events", "value_nanos")


def _id() -> sa.Column[int]:
    return sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
    )


def _dims() -> list[sa.Column[str]]:
    return [sa.Column(d, sa.String(length=128), server_default="", nullable=False) for d in _DIMS]


def upgrade() -> None:
    op.create_table(
        "task_day_kpis",
        _id(),
        sa.Column("day", sa.BigInteger(), nullable=False),
        *_dims(),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("value_currency", sa.String(length=3), server_default="", nullable=False),
        *[sa.Column(n, sa.BigInteger(), server_default="0", nullable=False) for n in _SUMS],
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_day_kpis")),
        sa.UniqueConstraint("day", *_DIMS, "outcome", "value_currency", name="uq_task_day_kpis_key"),
    )
    op.create_table(
        "task_day_costs",
        _id(),
        sa.Column("day", sa.BigInteger(), nullable=False),
        *_dims(),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("task_rows", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("cost_nanos", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_day_costs")),
        sa.UniqueConstraint("day", *_DIMS, "outcome", "currency", name="uq_task_day_costs_key"),
    )
    op.create_table(
        "kpi_split_tasks",
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("task_id", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "task_id", name=op.f("pk_kpi_split_tasks")),
    )
    from aifinops.store.task_kpi_rollup import rebuild

    conn = op.get_bind()
    # Every database upgraded since 0010 has the task rollup keyed by tenant; one older than that is
    # upgraded to 0010 in the same run and then holds no task aggregates to keep.
    if "tenant" in {c["name"] for c in sa.inspect(conn).get_columns("task_outcomes")}:
        rebuild(conn)


def downgrade() -> None:
    op.drop_table("kpi_split_tasks")
    op.drop_table("task_day_costs")
    op.drop_table("task_day_kpis")
