"""Allocation: ordered rules, and per billing day and basis the records allocated and their lines."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aifinops.store.tables import UtcDateTime

revision = "0003_allocation"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
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


def _record_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("cost_nanos", sa.BigInteger(), nullable=False),
        sa.Column("quantity_nanos", sa.BigInteger()),
        sa.Column("unit", sa.String(64)),
        sa.Column("subscription_id", sa.String(128)),
        sa.Column("resource_group", sa.String(256)),
        sa.Column("resource_id", sa.String(1024)),
        sa.Column("resource_type", sa.String(256)),
        sa.Column("location", sa.String(128)),
        sa.Column("service_name", sa.String(256)),
        sa.Column("meter_category", sa.String(256)),
        sa.Column("meter_subcategory", sa.String(256)),
        sa.Column("meter_name", sa.String(256)),
        sa.Column("meter_id", sa.String(128)),
        sa.Column("charge_type", sa.String(64)),
        sa.Column("pricing_model", sa.String(64)),
        sa.Column("tags", sa.Text()),
    ]


def upgrade() -> None:
    op.create_table(
        "allocation_rules",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_allocation_rules"),
        sa.UniqueConstraint("name", name="uq_allocation_rules_name"),
    )
    op.create_table(
        "allocation_runs",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("billing_day", sa.Date(), nullable=False),
        sa.Column("basis", sa.String(16), nullable=False),
        sa.Column("dimensions", sa.String(256), nullable=False),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("records", sa.BigInteger(), nullable=False),
        sa.Column("lines", sa.BigInteger(), nullable=False),
        sa.Column("ran_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_allocation_runs"),
        sa.UniqueConstraint("billing_day", "basis", name="uq_allocation_runs_day_basis"),
    )
    op.create_table(
        "allocation_records",
        sa.Column("billing_day", sa.Date(), nullable=False),
        sa.Column("basis", sa.String(16), nullable=False),
        sa.Column("record", sa.Integer(), nullable=False),
        *_record_columns(),
        sa.PrimaryKeyConstraint("billing_day", "basis", "record", name="pk_allocation_records"),
    )
    op.create_table(
        "allocation_lines",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("billing_day", sa.Date(), nullable=False),
        sa.Column("basis", sa.String(16), nullable=False),
        sa.Column("record", sa.Integer(), nullable=False),
        *[sa.Column(name, sa.String(128), nullable=False, server_default="") for name in _DIMENSIONS],
        sa.Column("amount_nanos", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("bucket", sa.String(16), nullable=False),
        sa.Column("rule", sa.String(128), nullable=False, server_default=""),
        sa.Column("driver", sa.String(256), nullable=False, server_default=""),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("id", name="pk_allocation_lines"),
    )
    op.create_index("ix_allocation_lines_day", "allocation_lines", ["basis", "billing_day"])
    op.create_table(
        "allocation_deployments",
        sa.Column("deployment", sa.String(128), nullable=False),
        sa.Column("resource_id", sa.String(512), nullable=False),
        sa.Column("first_hour", sa.BigInteger(), nullable=False),
        sa.Column("last_hour", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("deployment", "resource_id", name="pk_allocation_deployments"),
    )
    op.create_table(
        "allocation_scans",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("scanned_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_allocation_scans"),
    )


def downgrade() -> None:
    op.drop_index("ix_allocation_lines_day", table_name="allocation_lines")
    for name in (
        "allocation_scans",
        "allocation_deployments",
        "allocation_lines",
        "allocation_records",
        "allocation_runs",
        "allocation_rules",
    ):
        op.drop_table(name)
