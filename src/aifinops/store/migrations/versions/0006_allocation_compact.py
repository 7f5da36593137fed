"""Allocation lines packed per record part (``allocation_shares``) with their owners numbered per run.

One row per line made saving a month of allocation (about a million lines) the slowest step of a run. The
stored results of the old layout are derived data: upgrading clears them (runs, records and lines), and
``aifinops report showback`` or ``POST /api/allocation/run`` writes them again in the new layout.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_allocation_compact"
down_revision = "0003_allocation"
branch_labels = None
depends_on = None

# The allocation dimensions as of this revision, spelled out: a vocabulary change gets its own migration.
_DIMENSIONS = (
    "app",
    "use_case",
    "agent",
    "tenant",
    "user_group",
    "cost_center",
    "team",
    "environment",
    "deployment",
    "model",
)


def _dimension_columns() -> list[sa.Column[object]]:
    return [sa.Column(name, sa.String(128), nullable=False, server_default="") for name in _DIMENSIONS]


def _clear_results() -> None:
    """Drop the stored results: a run is rewritten whole, and half a layout would break conservation."""
    op.execute("DELETE FROM allocation_records")
    op.execute("DELETE FROM allocation_runs")


def upgrade() -> None:
    _clear_results()
    op.drop_index("ix_allocation_lines_day", table_name="allocation_lines")
    op.drop_table("allocation_lines")
    op.create_table(
        "allocation_owners",
        sa.Column("billing_day", sa.Date(), nullable=False),
        sa.Column("basis", sa.String(16), nullable=False),
        sa.Column("owner", sa.Integer(), nullable=False),
        *_dimension_columns(),
        sa.PrimaryKeyConstraint("billing_day", "basis", "owner", name="pk_allocation_owners"),
    )
    op.create_table(
        "allocation_shares",
        sa.Column("billing_day", sa.Date(), nullable=False),
        sa.Column("basis", sa.String(16), nullable=False),
        sa.Column("record", sa.Integer(), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("bucket", sa.String(16), nullable=False),
        sa.Column("rule", sa.String(128), nullable=False, server_default=""),
        sa.Column("driver", sa.String(256), nullable=False, server_default=""),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("owners", sa.Text(), nullable=False),
        sa.Column("amounts", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("billing_day", "basis", "record", "part", name="pk_allocation_shares"),
    )


def downgrade() -> None:
    _clear_results()
    op.drop_table("allocation_shares")
    op.drop_table("allocation_owners")
    op.create_table(
        "allocation_lines",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("billing_day", sa.Date(), nullable=False),
        sa.Column("basis", sa.String(16), nullable=False),
        sa.Column("record", sa.Integer(), nullable=False),
        *_dimension_columns(),
        sa.Column("amount_nanos", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("bucket", sa.String(16), nullable=False),
        sa.Column("rule", sa.String(128), nullable=False, server_default=""),
        sa.Column("driver", sa.String(256), nullable=False, server_default=""),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("id", name="pk_allocation_lines"),
    )
    op.create_index("ix_allocation_lines_day", "allocation_lines", ["basis", "billing_day"])
