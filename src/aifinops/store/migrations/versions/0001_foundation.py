"""Foundation: usage events, hourly and task rollups, task outcomes, prices, reprice runs, API keys, freshness."""

from __future__ import annotations

from alembic import op

from aifinops.store import tables as t

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None

# Later migrations define their tables explicitly; this first one creates the foundation tables from
# their definitions as they stand at this revision.
_TABLES = (
    t.usage_events, t.usage_rollup, t.usage_daily, t.task_rollup, t.task_outcomes, t.prices, t.reprice_runs,
    t.api_keys, t.freshness,
)


def upgrade() -> None:
    bind = op.get_bind()
    for table in _TABLES:
        table.create(bind, checkfirst=False)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(_TABLES):
        table.drop(bind, checkfirst=True)
