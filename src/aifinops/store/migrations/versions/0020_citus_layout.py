"""On Citus only: distribute the usage tables and replicate the small ones (see ``aifinops.store.citus``).

Without the ``citus`` extension (plain PostgreSQL, SQLite) this revision changes nothing.
"""

from __future__ import annotations

from alembic import op

from aifinops.store.citus import DISTRIBUTED, REFERENCE, REKEYED, citus_installed, citus_statements, rekey

revision = "0020_citus_layout"
down_revision = "0019_event_partitions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    if not citus_installed(conn):
        return
    for statement in citus_statements():
        op.execute(statement)


def downgrade() -> None:
    conn = op.get_bind()
    if not citus_installed(conn):
        return
    for table in [t for t, _, _ in reversed(DISTRIBUTED)] + list(REFERENCE):
        op.execute(f"SELECT undistribute_table('{table}', cascade_via_foreign_keys => true)")
    for table, (_, before) in REKEYED.items():
        op.execute(rekey(table, before))
