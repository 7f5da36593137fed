"""Usage events carry the finish reason and the hash of the normalized request (duplicate requests); the
optimizer's daily call groups and the days they were built from."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aifinops.store.tables import UtcDateTime

revision = "0014_request_hash"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

_DIMS = ("use_case", "app", "agent", "deployment", "model", "deployment_type", "region")
_PRICES = ("input_price_id", "cached_input_price_id", "output_price_id", "unit_price_id")
_FLAGS = ("duplicate", "length_stop", "input_class", "output_class")
_SUMS = ("calls", "input_tokens", "cached_input_tokens", "output_tokens", "quantity_nanos", "cost_nanos")


def upgrade() -> None:
    op.add_column("usage_events", sa.Column("finish_reason", sa.String(32), nullable=True))
    op.add_column("usage_events", sa.Column("request_hash", sa.String(64), nullable=True))
    op.create_table(
        "optimize_daily",
        sa.Column("day", sa.BigInteger(), nullable=False),
        *(sa.Column(name, sa.String(128), nullable=True) for name in _DIMS),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("currency", sa.String(3), nullable=True),
        *(sa.Column(name, sa.BigInteger(), nullable=True) for name in _PRICES),
        sa.Column("step", sa.Integer(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in _FLAGS),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in _SUMS),
        sa.Column("first_task", sa.String(128), nullable=True),
        sa.Column("last_task", sa.String(128), nullable=True),
        sa.Column("resource_id", sa.String(512), nullable=True),
    )
    op.create_index("ix_optimize_daily_day", "optimize_daily", ["day"])
    op.create_table(
        "optimize_days",
        sa.Column("day", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("built_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_optimize_days")),
    )


def downgrade() -> None:
    op.drop_table("optimize_days")
    op.drop_index("ix_optimize_daily_day", table_name="optimize_daily")
    op.drop_table("optimize_daily")
    with op.batch_alter_table("usage_events") as batch:
        batch.drop_column("request_hash")
        batch.drop_column("finish_reason")
