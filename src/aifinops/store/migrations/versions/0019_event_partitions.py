"""Usage events by month on PostgreSQL: a range-partitioned ``usage_events``, its event ids, retention.

On PostgreSQL the table is rebuilt as ``PARTITION BY RANGE (ts)`` with one partition per UTC month that holds
events (and this month and the next two), its rows copied, its indexes re-created on the partitioned table,
its id sequence kept. The primary key becomes (id, ts) and ``event_id`` uniqueness moves to
``usage_event_ids``, since a unique constraint on a partitioned table must contain the partition key: an
insert trigger claims each id there and skips the row whose id is taken. SQLite
keeps its plain table; both get the (there empty) id table and ``usage_retention``.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

from aifinops.store.partitions import create_partitions, months_ahead
from aifinops.store.tables import UtcDateTime

revision = "0019_event_partitions"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

#: Constraints the rebuild replaces (the primary key widens; event_id uniqueness moves to its own table).
_REPLACED = ("pk_usage_events", "uq_usage_events_event_id")


def upgrade() -> None:
    op.create_table(
        "usage_event_ids",
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("ts", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_usage_event_ids")),
    )
    op.create_table(
        "usage_retention",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("horizon", UtcDateTime(), nullable=False),
        sa.Column("keep_months", sa.Integer(), nullable=False),
        sa.Column("applied_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_usage_retention")),
    )
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    indexes = _index_definitions(conn)
    sequence = conn.exec_driver_sql("SELECT pg_get_serial_sequence('usage_events', 'id')").scalar_one()
    op.execute("ALTER TABLE usage_events RENAME TO usage_events_unpartitioned")
    op.execute(
        "CREATE TABLE usage_events (LIKE usage_events_unpartitioned INCLUDING DEFAULTS) "
        "PARTITION BY RANGE (ts)"
    )
    op.execute(f"ALTER SEQUENCE {sequence} OWNED BY usage_events.id")
    stored = conn.exec_driver_sql(
        "SELECT DISTINCT date_trunc('month', ts, 'UTC') AT TIME ZONE 'UTC' FROM usage_events_unpartitioned"
    ).scalars()
    months = {(m.year, m.month) for m in stored} | set(months_ahead(dt.datetime.now(dt.UTC)))
    create_partitions(conn, months)
    op.execute("INSERT INTO usage_events SELECT * FROM usage_events_unpartitioned")
    op.execute(
        "INSERT INTO usage_event_ids (event_id, ts) SELECT event_id, ts FROM usage_events_unpartitioned"
    )
    op.execute("DROP TABLE usage_events_unpartitioned")
    op.execute("ALTER TABLE usage_events ADD CONSTRAINT pk_usage_events PRIMARY KEY (id, ts)")
    for definition in indexes:
        op.execute(definition)
    op.execute(_CLAIM_FUNCTION)
    op.execute(
        "CREATE TRIGGER usage_events_claim_id BEFORE INSERT ON usage_events "
        "FOR EACH ROW EXECUTE FUNCTION usage_events_claim_id()"
    )


#: Every insert into usage_events (ingest, COPY, a hand-written INSERT) claims the event's id first; a row
#: whose id is taken is skipped, as ON CONFLICT (event_id) DO NOTHING did on the unpartitioned table.
_CLAIM_FUNCTION = """
CREATE FUNCTION usage_events_claim_id() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_event_ids (event_id, ts) VALUES (NEW.event_id, NEW.ts)
    ON CONFLICT (event_id) DO NOTHING;
    IF FOUND THEN
        RETURN NEW;
    END IF;
    RETURN NULL;
END
$$
"""


def _index_definitions(conn: sa.Connection) -> list[str]:
    """The CREATE INDEX statements of ``usage_events``' own indexes (those other revisions added too)."""
    rows = conn.exec_driver_sql(
        "SELECT indexname, indexdef FROM pg_indexes "
        "WHERE schemaname = current_schema() AND tablename = 'usage_events' ORDER BY indexname"
    ).all()
    # A partitioned table's index reads "ON ONLY": that form would not cascade to the partitions.
    return [d.replace(" ON ONLY ", " ON ") for name, d in rows if name not in _REPLACED]


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        indexes = _index_definitions(conn)
        sequence = conn.exec_driver_sql("SELECT pg_get_serial_sequence('usage_events', 'id')").scalar_one()
        op.execute("ALTER TABLE usage_events RENAME TO usage_events_partitioned")
        op.execute("CREATE TABLE usage_events (LIKE usage_events_partitioned INCLUDING DEFAULTS)")
        op.execute(f"ALTER SEQUENCE {sequence} OWNED BY usage_events.id")
        op.execute("INSERT INTO usage_events SELECT * FROM usage_events_partitioned")
        op.execute("DROP TABLE usage_events_partitioned")  # and its partitions and trigger
        op.execute("DROP FUNCTION usage_events_claim_id()")
        op.execute("ALTER TABLE usage_events ADD CONSTRAINT pk_usage_events PRIMARY KEY (id)")
        op.execute("ALTER TABLE usage_events ADD CONSTRAINT uq_usage_events_event_id UNIQUE (event_id)")
        for definition in indexes:
            op.execute(definition)
    op.drop_table("usage_retention")
    op.drop_table("usage_event_ids")
