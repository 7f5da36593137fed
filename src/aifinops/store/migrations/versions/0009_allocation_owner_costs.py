"""Each allocated day's allocated cost per owner and currency, in ``allocation_owner_costs``.

Budgets read a scope's allocated cost per billing day from it (in SQL, filtered and grouped by the scoped
dimensions) instead of unpacking a month of allocation lines at every evaluation. Stored allocations are
kept: every pack's ``allocated`` parts are summed per owner and currency into the new table.
"""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

revision = "0009_allocation_owner_costs"
down_revision = "0007_allocation_packs"
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
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _owner_costs(meta: sa.MetaData) -> sa.Table:
    return sa.Table(
        "allocation_owner_costs",
        meta,
        sa.Column("id", _ID, autoincrement=True),
        sa.Column("billing_day", sa.Date(), nullable=False),
        sa.Column("basis", sa.String(16), nullable=False),
        *[sa.Column(name, sa.String(128), nullable=False, server_default="") for name in _DIMENSIONS],
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("cost_nanos", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_allocation_owner_costs"),
    )


def _rows(day: Any, basis: str, dimensions: list[str], owners: Any, parts: Any) -> list[dict[str, Any]]:
    """One pack's allocated parts summed per owner and currency (as the store writes them from now on)."""
    sums: dict[tuple[int, str], int] = {}
    for _record, currency, bucket, _rule, _driver, _reason, numbers, amounts in parts:
        if bucket != "allocated":
            continue
        for number, amount in zip(numbers, amounts, strict=True):
            sums[(number, currency)] = sums.get((number, currency), 0) + amount
    return [
        {
            "billing_day": day,
            "basis": basis,
            **dict.fromkeys(_DIMENSIONS, ""),
            **dict(zip(dimensions, owners[number], strict=True)),
            "currency": currency,
            "cost_nanos": nanos,
        }
        for (number, currency), nanos in sorted(sums.items())
        if nanos
    ]


def upgrade() -> None:
    conn = op.get_bind()
    meta = sa.MetaData()
    table = _owner_costs(meta)
    table.create(conn)
    op.create_index("ix_allocation_owner_costs_day", "allocation_owner_costs", ["basis", "billing_day"])

    def key() -> list[sa.Column[Any]]:
        return [sa.Column("billing_day", sa.Date()), sa.Column("basis", sa.String(16))]

    packs = sa.Table(
        "allocation_packs", meta, *key(), sa.Column("owners", sa.Text()), sa.Column("parts", sa.Text())
    )
    runs = sa.Table("allocation_runs", meta, *key(), sa.Column("dimensions", sa.String(256)))
    joined = packs.join(runs, (runs.c.billing_day == packs.c.billing_day) & (runs.c.basis == packs.c.basis))
    query = sa.select(packs.c.billing_day, packs.c.basis, runs.c.dimensions, packs.c.owners, packs.c.parts)
    for day, basis, dimensions, owners, parts in conn.execute(query.select_from(joined)):
        names = [d for d in dimensions.split(",") if d]
        rows = _rows(day, basis, names, orjson.loads(owners), orjson.loads(parts))
        if rows:
            conn.execute(sa.insert(table), rows)


def downgrade() -> None:
    op.drop_index("ix_allocation_owner_costs_day", table_name="allocation_owner_costs")
    op.drop_table("allocation_owner_costs")
