"""The daily usage meter rollup: usage per UTC day, caller, account, retry and step class and the prices each
meter was charged at, so that the estate, the cost drivers and the reconciliation estimates stop grouping the
raw events of a period. Filled from the stored events; where roll-ups catch up from a watermark
(``rollup_watermarks``), only the events up to it, as the other rollups count them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aifinops.store.meter_rollup import meter_rollup_sql

revision = "0017_usage_meter_daily"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

_DIMS = ("app", "use_case", "deployment", "model", "deployment_type", "region", "resource_id", "cost_center")
_PRICE_IDS = ("input_price_id", "cached_input_price_id", "output_price_id", "unit_price_id")
_SUMS = (
    "events",
    "unpriced_events",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "quantity_nanos",
    "cost_nanos",
)
_FLAGS = ("retry", "extra_step", "has_resource", "priced")


def upgrade() -> None:
    op.create_table(
        "usage_meter_daily",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True),
        sa.Column("day", sa.BigInteger(), nullable=False),
        *[
            sa.Column(d, sa.String(512 if d == "resource_id" else 128), nullable=False, server_default="")
            for d in (*_DIMS, "team")
        ],
        sa.Column("kind", sa.String(32), nullable=False),
        *[sa.Column(f, sa.Integer(), nullable=False) for f in _FLAGS],
        *[sa.Column(p, sa.BigInteger(), nullable=False, server_default="0") for p in _PRICE_IDS],
        sa.Column("currency", sa.String(3), nullable=False, server_default=""),
        *[sa.Column(s, sa.BigInteger(), nullable=False, server_default="0") for s in _SUMS],
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_meter_daily")),
        sa.UniqueConstraint(
            "day", *_DIMS, "team", "kind", *_FLAGS, *_PRICE_IDS, "currency", name="uq_usage_meter_daily_key"
        ),
    )
    conn = op.get_bind()
    sqlite = conn.dialect.name == "sqlite"
    where = "1 = 1"
    params: tuple[int, ...] = ()
    if sa.inspect(conn).has_table("rollup_watermarks"):
        last = conn.exec_driver_sql("SELECT last_id FROM rollup_watermarks WHERE name = 'usage'").scalar()
        if last is not None:
            where, params = ("id <= ?" if sqlite else "id <= %s"), (int(last),)
    # The table as this revision makes it (cache writes came with 0027_meter_cache_writes).
    conn.exec_driver_sql(meter_rollup_sql(where, sqlite=sqlite, price_ids=_PRICE_IDS, sums=_SUMS), params)


def downgrade() -> None:
    op.drop_table("usage_meter_daily")
