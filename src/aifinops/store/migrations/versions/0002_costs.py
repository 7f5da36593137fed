"""Financial truth: cost records, collection checkpoints, Azure Monitor metric samples, resource inventory."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aifinops.store.tables import UtcDateTime

revision = "0002_costs"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "cost_records",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(512), nullable=False),
        sa.Column("basis", sa.String(16), nullable=False),
        sa.Column("billing_day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("cost_nanos", sa.BigInteger(), nullable=False),
        sa.Column("quantity_nanos", sa.BigInteger()),
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
        sa.Column("unit", sa.String(64)),
        sa.Column("tags", sa.Text()),
        sa.Column("source_rows", sa.BigInteger(), nullable=False, server_default="1"),
        sa.PrimaryKeyConstraint("id", name="pk_cost_records"),
    )
    op.create_index("ix_cost_records_slice", "cost_records", ["source", "scope", "basis", "billing_day"])
    op.create_index("ix_cost_records_day", "cost_records", ["basis", "billing_day"])
    op.create_table(
        "cost_checkpoints",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(512), nullable=False),
        sa.Column("basis", sa.String(16), nullable=False),
        sa.Column("start_day", sa.Date(), nullable=False),
        sa.Column("end_day", sa.Date(), nullable=False),
        sa.Column("collected_at", UtcDateTime(), nullable=False),
        sa.Column("records", sa.BigInteger(), nullable=False),
        sa.Column("source_rows", sa.BigInteger(), nullable=False),
        sa.Column("last_data_day", sa.Date()),
        sa.Column("totals", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_cost_checkpoints"),
        sa.UniqueConstraint(
            "source", "scope", "basis", "start_day", "end_day", name="uq_cost_checkpoints_slice"
        ),
    )
    op.create_table(
        "metric_samples",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("resource_id", sa.String(1024), nullable=False),
        sa.Column("metric", sa.String(128), nullable=False),
        sa.Column("ts", UtcDateTime(), nullable=False),
        sa.Column("aggregation", sa.String(16), nullable=False),
        sa.Column("interval", sa.String(16), nullable=False),
        sa.Column("unit", sa.String(32), nullable=False),
        sa.Column("value_nanos", sa.BigInteger(), nullable=False),
        sa.Column("deployment", sa.String(128), nullable=False, server_default=""),
        sa.Column("model", sa.String(128), nullable=False, server_default=""),
        sa.Column("dimensions", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("collected_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_metric_samples"),
    )
    op.create_index("ix_metric_samples_key", "metric_samples", ["resource_id", "metric", "ts"])
    op.create_table(
        "inventory_resources",
        sa.Column("resource_id", sa.String(1024), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("type", sa.String(256), nullable=False),
        sa.Column("subscription_id", sa.String(128), nullable=False),
        sa.Column("resource_group", sa.String(256), nullable=False),
        sa.Column("location", sa.String(128)),
        sa.Column("kind", sa.String(128)),
        sa.Column("sku", sa.String(128)),
        sa.Column("tags", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("seen_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("resource_id", name="pk_inventory_resources"),
    )
    op.create_index("ix_inventory_resources_subscription", "inventory_resources", ["subscription_id"])


def downgrade() -> None:
    op.drop_index("ix_inventory_resources_subscription", table_name="inventory_resources")
    op.drop_table("inventory_resources")
    op.drop_index("ix_metric_samples_key", table_name="metric_samples")
    op.drop_table("metric_samples")
    op.drop_table("cost_checkpoints")
    op.drop_index("ix_cost_records_day", table_name="cost_records")
    op.drop_index("ix_cost_records_slice", table_name="cost_records")
    op.drop_table("cost_records")
