"""Snapshots: a period's summary each time it was taken."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aifinops.store.tables import UtcDateTime

revision = "0005_snapshots"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "snapshots",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("period_key", sa.String(16), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("generated_at", UtcDateTime(), nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
    )
    op.create_index("ix_snapshots_period_key_generated_at", "snapshots", ["period_key", "generated_at"])


def downgrade() -> None:
    op.drop_index("ix_snapshots_period_key_generated_at", table_name="snapshots")
    op.drop_table("snapshots")
