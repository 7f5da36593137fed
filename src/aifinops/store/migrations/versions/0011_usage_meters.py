"""Usage that matches the newer meters: cache-write tokens and the processing tier of each event.

``usage_events`` gains ``cache_write_tokens`` (part of input, 0 where the wire reports none) and
``service_tier`` (NULL = not reported); the hourly and daily rollups sum cache-write tokens beside the
other token kinds. Existing rows wrote no cache, so 0 is their exact value and nothing is rebuilt.

The task rollup is left as it is: ``0010_task_tenant``, a sibling head, rebuilds it from a fixed column list,
and sibling heads run in no guaranteed order.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_usage_meters"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

_SUMMED_TABLES = ("usage_rollup", "usage_daily")


def upgrade() -> None:
    with op.batch_alter_table("usage_events") as batch:
        batch.add_column(sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("service_tier", sa.String(length=16), nullable=True))
    for table in _SUMMED_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False, server_default="0")
            )


def downgrade() -> None:
    for table in _SUMMED_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("cache_write_tokens")
    with op.batch_alter_table("usage_events") as batch:
        batch.drop_column("service_tier")
        batch.drop_column("cache_write_tokens")
