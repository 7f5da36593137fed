"""Usage that matches the newer meters (cache-write tokens, the processing tier of each event) and the
estimated cost of provisioned throughput per deployment and hour.

``usage_events`` gains ``cache_write_tokens`` (part of input, 0 where the wire reports none) and
``service_tier`` (NULL = not reported); the hourly and daily rollups sum cache-write tokens beside the
other token kinds. Existing rows wrote no cache, so 0 is their exact value and nothing is rebuilt.

``provisioned_hours`` holds each hour's estimated capacity cost, the part its calls carry and the idle rest.

The task rollup is left as it is: ``0010_task_tenant``, a sibling head, rebuilds it from a fixed column list,
and sibling heads run in no guaranteed order.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aifinops.store.tables import UtcDateTime

revision = "0011_usage_meters"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

_SUMMED_TABLES = ("usage_rollup", "usage_daily")


def upgrade() -> None:
    op.create_table(
        "provisioned_hours",
        sa.Column("deployment", sa.String(length=128), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("cost_nanos", sa.BigInteger(), nullable=False),
        sa.Column("used_nanos", sa.BigInteger(), nullable=False),
        sa.Column("idle_nanos", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("capacity_tokens", sa.BigInteger(), nullable=True),
        sa.Column("source", sa.String(length=256), nullable=False),
        sa.Column("estimated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("deployment", "hour", name=op.f("pk_provisioned_hours")),
    )
    with op.batch_alter_table("usage_events") as batch:
        batch.add_column(sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("service_tier", sa.String(length=16), nullable=True))
    for table in _SUMMED_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False, server_default="0")
            )


def downgrade() -> None:
    op.drop_table("provisioned_hours")
    for table in _SUMMED_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("cache_write_tokens")
    with op.batch_alter_table("usage_events") as batch:
        batch.drop_column("service_tier")
        batch.drop_column("cache_write_tokens")
