"""Usage events carry the tokens of the passages a retrieval put into the prompt, indexed by time where there
are any; the optimizer's daily call groups sum them (0 for every event stored before: none reported any)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022_retrieved_tokens"
down_revision = "0014_request_hash"  # which creates optimize_daily
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("usage_events", "optimize_daily"):
        column = sa.Column("retrieved_tokens", sa.BigInteger(), nullable=False, server_default="0")
        op.add_column(table, column)
    where = sa.text("retrieved_tokens > 0")
    op.create_index(
        "ix_usage_events_retrieved",
        "usage_events",
        ["ts", "status", "use_case", "app", "agent", "tenant", "task_id", "retrieved_tokens"],
        sqlite_where=where,
        postgresql_where=where,
    )


def downgrade() -> None:
    op.drop_index("ix_usage_events_retrieved", table_name="usage_events")
    for table in ("optimize_daily", "usage_events"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("retrieved_tokens")
