"""The inventory keeps each resource's SKU capacity: a provisioned deployment's units."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021_inventory_sku_capacity"
down_revision = "0002_costs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("inventory_resources", sa.Column("sku_capacity", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("inventory_resources", "sku_capacity")
