"""Budgets: definitions, alert state per (budget, threshold, period), alert deliveries."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aifinops.store.tables import UtcDateTime

revision = "0004_budgets"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "budgets",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_budgets"),
    )
    op.create_table(
        "budget_alerts",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("budget", sa.String(128), nullable=False),
        sa.Column("threshold", sa.String(32), nullable=False),
        sa.Column("period_key", sa.String(32), nullable=False),
        sa.Column("fired_at", UtcDateTime(), nullable=False),
        sa.Column("observed_nanos", sa.BigInteger(), nullable=False),
        sa.Column("amount_nanos", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("basis", sa.String(16), nullable=False),
        sa.Column("ratio", sa.String(32), nullable=False),
        sa.Column("summary", sa.String(512), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_budget_alerts"),
        sa.UniqueConstraint("budget", "threshold", "period_key", name="uq_budget_alerts_key"),
    )
    op.create_index("ix_budget_alerts_fired_at", "budget_alerts", ["fired_at"])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("http_status", sa.Integer()),
        sa.Column("error", sa.String(512)),
        sa.Column("finished_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alert_deliveries"),
    )
    op.create_index("ix_alert_deliveries_alert_id", "alert_deliveries", ["alert_id"])


def downgrade() -> None:
    op.drop_table("alert_deliveries")
    op.drop_table("budget_alerts")
    op.drop_table("budgets")
