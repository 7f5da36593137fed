"""Scheduled jobs shared by every `aifinops serve` replica: when each is due next and who runs it now."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aifinops.store.tables import UtcDateTime

revision = "0018_scheduled_jobs"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduled_jobs",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("next_due_at", UtcDateTime(), nullable=False),
        sa.Column("holder", sa.String(256), nullable=True),
        sa.Column("lease_until", UtcDateTime(), nullable=True),
        sa.Column("runs", sa.BigInteger(), nullable=False),
        sa.Column("takeovers", sa.BigInteger(), nullable=False),
        sa.Column("last_started_at", UtcDateTime(), nullable=True),
        sa.Column("last_finished_at", UtcDateTime(), nullable=True),
        sa.Column("last_holder", sa.String(256), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduled_jobs")),
    )


def downgrade() -> None:
    op.drop_table("scheduled_jobs")
