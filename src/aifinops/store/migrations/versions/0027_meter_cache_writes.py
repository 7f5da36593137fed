"""The daily meter rollup keeps the cache-write price each event was charged at and its cache-write tokens, so
that reconciliation and the cost drivers estimate cache writes at their own meter (and the input meter without
them). The table is built anew with the cache-write key and refilled from the stored events up to the roll-up
watermark, as 0017 filled it; downgrading builds 0017's table back the same way.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aifinops.store.meter_rollup import meter_rollup_sql

revision = "0027_meter_cache_writes"
# The table it rebuilds, and the events' cache-write columns it reads.
down_revision = ("0017_usage_meter_daily", "0011_usage_meters", "0012_price_tiers")
branch_labels = None
depends_on = None

_DIMS = ("app", "use_case", "deployment", "model", "deployment_type", "region", "resource_id", "cost_center")
_PRICE_IDS_0017 = ("input_price_id", "cached_input_price_id", "output_price_id", "unit_price_id")
_SUMS_0017 = (
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


def _build(price_ids: tuple[str, ...], sums: tuple[str, ...]) -> None:
    op.drop_table("usage_meter_daily")
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
        *[sa.Column(p, sa.BigInteger(), nullable=False, server_default="0") for p in price_ids],
        sa.Column("currency", sa.String(3), nullable=False, server_default=""),
        *[sa.Column(s, sa.BigInteger(), nullable=False, server_default="0") for s in sums],
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_meter_daily")),
        sa.UniqueConstraint(
            "day", *_DIMS, "team", "kind", *_FLAGS, *price_ids, "currency", name="uq_usage_meter_daily_key"
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
    conn.exec_driver_sql(meter_rollup_sql(where, sqlite=sqlite, price_ids=price_ids, sums=sums), params)


def upgrade() -> None:
    _build((*_PRICE_IDS_0017, "cache_write_price_id"), (*_SUMS_0017, "cache_write_tokens"))


def downgrade() -> None:
    _build(_PRICE_IDS_0017, _SUMS_0017)
