"""Log Analytics watermarks: how far each query has read each workspace."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aifinops.store.tables import UtcDateTime

revision = "0013_log_watermarks"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "log_watermarks",
        sa.Column("workspace", sa.String(512), nullable=False),
        sa.Column("query", sa.String(64), nullable=False),
        sa.Column("watermark", UtcDateTime(), nullable=False),
        sa.Column("last_data_ts", UtcDateTime(), nullable=True),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("issues", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "query", name=op.f("pk_log_watermarks")),
    )


def downgrade() -> None:
    op.drop_table("log_watermarks")
