"""Usage events carry the finish reason and the hash of the normalized request (duplicate requests)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_request_hash"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("usage_events", sa.Column("finish_reason", sa.String(32), nullable=True))
    op.add_column("usage_events", sa.Column("request_hash", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("usage_events") as batch:
        batch.drop_column("request_hash")
        batch.drop_column("finish_reason")
