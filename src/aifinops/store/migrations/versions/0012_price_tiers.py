"""Prices know their product (publisher), processing tier and context tier, and these are part of their key;
``price_syncs`` records every sync or seed of the price book (its capture date gives the book's age);
``usage_events.cache_write_price_id`` remembers the cache-write price an event was charged at, so that price
cannot change under priced usage either.

``product_name`` is the Retail Prices productName ('' when a price file gives none), ``context_tier`` is
``short``/``long`` ('' for meters without context tiers), ``processing_tier`` is ``standard``, ``priority`` or
``flex``. Prices stored with the older ``priority_input``/``priority_cached_input``/``priority_output`` meter
kinds become the plain kind with ``processing_tier = 'priority'``; downgrading turns them back.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aifinops.store.tables import UtcDateTime

revision = "0012_price_tiers"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

_OLD_KEY = (
    "source",
    "model",
    "model_version",
    "deployment_type",
    "region",
    "meter_kind",
    "unit",
    "currency",
    "effective_start",
)
_NEW_KEY = (
    "source",
    "product_name",
    "model",
    "model_version",
    "deployment_type",
    "region",
    "meter_kind",
    "processing_tier",
    "context_tier",
    "unit",
    "currency",
    "effective_start",
)
_PRIORITY = (
    ("priority_input", "input"),
    ("priority_cached_input", "cached_input"),
    ("priority_output", "output"),
)


def upgrade() -> None:
    op.add_column("usage_events", sa.Column("cache_write_price_id", sa.BigInteger(), nullable=True))
    op.create_table(
        "price_syncs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("synced_at", UtcDateTime(), nullable=False),
        sa.Column("captured_at", UtcDateTime(), nullable=False),
        sa.Column("source", sa.String(256), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("prices", sa.BigInteger(), nullable=False),
        sa.Column("unmapped", sa.BigInteger(), nullable=False),
        sa.Column("provenance", sa.Text(), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_syncs")),
    )
    with op.batch_alter_table("prices") as batch:
        batch.add_column(sa.Column("product_name", sa.String(128), nullable=False, server_default=""))
        batch.add_column(sa.Column("context_tier", sa.String(8), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("processing_tier", sa.String(16), nullable=False, server_default="standard")
        )
        batch.drop_constraint("uq_prices_key", type_="unique")
        batch.create_unique_constraint("uq_prices_key", list(_NEW_KEY))
    for old, plain in _PRIORITY:
        op.execute(
            sa.text(
                "UPDATE prices SET meter_kind = :plain, processing_tier = 'priority' WHERE meter_kind = :old"
            ).bindparams(plain=plain, old=old)
        )


def downgrade() -> None:
    for old, plain in _PRIORITY:
        op.execute(
            sa.text(
                "UPDATE prices SET meter_kind = :old "
                "WHERE meter_kind = :plain AND processing_tier = 'priority'"
            ).bindparams(plain=plain, old=old)
        )
    # Prices that only differ by product, context or flex tier would collide under the old key.
    op.execute(sa.text("DELETE FROM prices WHERE context_tier <> '' OR processing_tier = 'flex'"))
    with op.batch_alter_table("prices") as batch:
        batch.drop_constraint("uq_prices_key", type_="unique")
        batch.create_unique_constraint("uq_prices_key", list(_OLD_KEY))
        batch.drop_column("processing_tier")
        batch.drop_column("context_tier")
        batch.drop_column("product_name")
    op.drop_table("price_syncs")
    with op.batch_alter_table("usage_events") as batch:
        batch.drop_column("cache_write_price_id")
