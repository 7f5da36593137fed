"""The optimizer's task step counts per day: ``task_step_days`` (see ``aifinops.store.rollup_tables``), filled
from the task rollup and the outcomes with the same SQL that keeps it current."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023_task_step_days"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_step_days",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("day", sa.BigInteger(), nullable=False),
        sa.Column("use_case", sa.String(length=128), server_default="", nullable=False),
        sa.Column("max_step", sa.Integer(), server_default="0", nullable=False),
        sa.Column("outcome", sa.String(length=16), server_default="", nullable=False),
        sa.Column("model", sa.String(length=128), server_default="", nullable=False),
        sa.Column("nulls", sa.Integer(), server_default="0", nullable=False),
        sa.Column("task_rows", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_step_days")),
        sa.UniqueConstraint(
            "day", "use_case", "max_step", "outcome", "model", "nulls", name="uq_task_step_days_key"
        ),
    )
    from aifinops.store.task_kpi_rollup import rebuild_steps

    conn = op.get_bind()
    # As in 0016: every database upgraded since 0010 has the task rollup keyed by tenant; one older than that
    # is upgraded to 0010 in the same run and then holds no task step counts to keep.
    if "tenant" in {c["name"] for c in sa.inspect(conn).get_columns("task_outcomes")}:
        rebuild_steps(conn)


def downgrade() -> None:
    op.drop_table("task_step_days")
