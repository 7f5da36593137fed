"""Billed cost kept as Azure sent it: the remainder below one nano of each cost record, in 10⁻¹⁸ units."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_cost_exact"
down_revision = "0002_costs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows stored before hold their nanos only: a remainder of 0 is exactly what they kept. A column with a
    # constant default is added in place on both databases (no table rewrite).
    op.add_column(
        "cost_records", sa.Column("cost_rem_e18", sa.BigInteger(), nullable=False, server_default="0")
    )


def downgrade() -> None:
    with op.batch_alter_table("cost_records") as batch:
        batch.drop_column("cost_rem_e18")
