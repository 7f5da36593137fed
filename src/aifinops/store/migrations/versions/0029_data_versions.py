"""Version counters of stored data (``data_versions``, see ``aifinops.store.data_versions``): the task
outcomes' one is moved by every outcome upsert, so that reads kept in the process know when they changed."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0029_data_versions"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_versions",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_data_versions")),
    )


def downgrade() -> None:
    op.drop_table("data_versions")
