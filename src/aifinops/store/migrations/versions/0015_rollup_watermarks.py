"""Roll-ups from a watermark: ``rollup_watermarks`` holds the highest event id counted in the roll-ups.

Ingest stores events only; the usage and task roll-ups catch up from the watermark (see
``aifinops.store.rollups``). Upgrading starts the watermark at the highest stored event id, since the
roll-ups of 0001 are kept current on the insert path up to this revision.

On SQLite ``usage_events.id`` becomes AUTOINCREMENT (the table is rebuilt): an id is then never handed out
twice, even after the newest events were deleted, so an id at or below the watermark is always rolled up.
PostgreSQL's identity sequence never goes back by itself.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aifinops.store.tables import UtcDateTime

revision = "0015_rollup_watermarks"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table(
            "usage_events", recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ):
            pass
    op.create_table(
        "rollup_watermarks",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_rollup_watermarks")),
    )
    op.execute(
        "INSERT INTO rollup_watermarks (name, last_id) SELECT 'usage', COALESCE(MAX(id), 0) FROM usage_events"
    )


def downgrade() -> None:
    # The roll-ups of 0001 count every stored event: add the events past the watermark first.
    from aifinops.store.events import roll_up

    conn = op.get_bind()
    last = conn.exec_driver_sql("SELECT last_id FROM rollup_watermarks WHERE name = 'usage'").scalar()
    if last is not None:
        mark = "?" if conn.dialect.name == "sqlite" else "%s"
        roll_up(conn, f"id > {mark}", (int(last),))
    op.drop_table("rollup_watermarks")
