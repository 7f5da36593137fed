"""Each billing day's allocation packed into one ``allocation_packs`` row (records, owners and parts as JSON).

Saving a month (a hundred thousand record copies and as many part rows) was the slowest step of a run.
Stored results are converted, not dropped: every day's records, owners and parts are read from the old
tables and written as one pack, so reports read the same records and lines after the upgrade. Downgrading
converts back.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

revision = "0007_allocation_packs"
down_revision = "0006_allocation_compact"
branch_labels = None
depends_on = None

# The layout as of this revision, spelled out: later changes get their own migration.
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
#: The old ``allocation_records`` billed columns with their widths (as in 0003), in pack column order.
_BILLED = {
    "subscription_id": 128,
    "resource_group": 256,
    "resource_id": 1024,
    "resource_type": 256,
    "location": 128,
    "service_name": 256,
    "meter_category": 256,
    "meter_subcategory": 256,
    "meter_name": 256,
    "meter_id": 128,
    "charge_type": 64,
    "pricing_model": 64,
    "unit": 64,
}
_RECORD_COLUMNS = ("currency", "cost_nanos", "quantity_nanos", "tags", *_BILLED)
_SHARE_COLUMNS = ("record", "part", "currency", "bucket", "rule", "driver", "reason")


def _key() -> list[sa.Column[Any]]:
    return [
        sa.Column("billing_day", sa.Date(), nullable=False),
        sa.Column("basis", sa.String(16), nullable=False),
    ]


def _old_tables(meta: sa.MetaData) -> tuple[sa.Table, sa.Table, sa.Table]:
    records = sa.Table(
        "allocation_records",
        meta,
        *_key(),
        sa.Column("record", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("cost_nanos", sa.BigInteger(), nullable=False),
        sa.Column("quantity_nanos", sa.BigInteger()),
        *[sa.Column(name, sa.String(width)) for name, width in _BILLED.items()],
        sa.Column("tags", sa.Text()),
        sa.PrimaryKeyConstraint("billing_day", "basis", "record", name="pk_allocation_records"),
    )
    owners = sa.Table(
        "allocation_owners",
        meta,
        *_key(),
        sa.Column("owner", sa.Integer(), nullable=False),
        *[sa.Column(name, sa.String(128), nullable=False, server_default="") for name in _DIMENSIONS],
        sa.PrimaryKeyConstraint("billing_day", "basis", "owner", name="pk_allocation_owners"),
    )
    shares = sa.Table(
        "allocation_shares",
        meta,
        *_key(),
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
    return records, owners, shares


def _packs_table(meta: sa.MetaData) -> sa.Table:
    return sa.Table(
        "allocation_packs",
        meta,
        *_key(),
        sa.Column("records", sa.Text(), nullable=False),
        sa.Column("owners", sa.Text(), nullable=False),
        sa.Column("parts", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("billing_day", "basis", name="pk_allocation_packs"),
    )


def _run_dimensions(conn: sa.Connection) -> dict[tuple[Any, str], list[str]]:
    """Each allocated (billing_day, basis) → its run's dimensions (dates typed as the other tables read)."""
    runs = sa.Table("allocation_runs", sa.MetaData(), *_key(), sa.Column("dimensions", sa.String(256)))
    rows = conn.execute(sa.select(runs.c.billing_day, runs.c.basis, runs.c.dimensions)).all()
    return {(day, basis): [d for d in dims.split(",") if d] for day, basis, dims in rows}


def _pack() -> dict[str, Any]:
    return {"records": [], "owners": {}, "parts": []}


def upgrade() -> None:
    conn = op.get_bind()
    meta = sa.MetaData()
    records, owners, shares = _old_tables(meta)
    packs = _packs_table(meta)
    packs.create(conn)
    dimensions = _run_dimensions(conn)
    # Every allocated day gets a pack, also one that had no records.
    by_day: dict[tuple[Any, str], dict[str, Any]] = {key: _pack() for key in dimensions}
    order = (records.c.billing_day, records.c.basis, records.c.record)
    for m in conn.execute(sa.select(records).order_by(*order)).mappings():
        tags = orjson.loads(m["tags"]) if m["tags"] else None
        by_day.setdefault((m["billing_day"], m["basis"]), _pack())["records"].append(
            [m["currency"], m["cost_nanos"], m["quantity_nanos"], tags, *(m[name] for name in _BILLED)]
        )
    for m in conn.execute(sa.select(owners)).mappings():
        key = (m["billing_day"], m["basis"])
        by_day.setdefault(key, _pack())["owners"][m["owner"]] = [m[d] for d in dimensions.get(key, [])]
    in_order = (shares.c.billing_day, shares.c.basis, shares.c.record, shares.c.part)
    for m in conn.execute(sa.select(shares).order_by(*in_order)).mappings():
        by_day.setdefault((m["billing_day"], m["basis"]), _pack())["parts"].append(
            [
                *(m[name] for name in _SHARE_COLUMNS if name != "part"),
                orjson.loads(m["owners"]),
                orjson.loads(m["amounts"]),
            ]
        )
    rows = [
        {
            "billing_day": day,
            "basis": basis,
            "records": orjson.dumps({"columns": _RECORD_COLUMNS, "rows": pack["records"]}).decode(),
            "owners": orjson.dumps([pack["owners"][i] for i in range(len(pack["owners"]))]).decode(),
            "parts": orjson.dumps(pack["parts"]).decode(),
        }
        for (day, basis), pack in by_day.items()
    ]
    if rows:
        conn.execute(sa.insert(packs), rows)
    for table in (shares, owners, records):
        table.drop(conn)


def downgrade() -> None:
    conn = op.get_bind()
    meta = sa.MetaData()
    records, owners, shares = _old_tables(meta)
    packs = _packs_table(meta)
    for table in (records, owners, shares):
        table.create(conn)
    dimensions = _run_dimensions(conn)
    for m in conn.execute(sa.select(packs)).mappings():
        key = {"billing_day": m["billing_day"], "basis": m["basis"]}
        document = orjson.loads(m["records"])
        record_rows = []
        for index, values in enumerate(document["rows"]):
            named = dict(zip(document["columns"], values, strict=True))
            tags = named.pop("tags")
            named["tags"] = orjson.dumps(tags).decode() if tags else None
            record_rows.append({**key, "record": index, **named})
        names = dimensions.get((m["billing_day"], m["basis"]), [])
        owner_rows = [
            {**key, "owner": number, **dict(zip(names, values, strict=True))}
            for number, values in enumerate(orjson.loads(m["owners"]))
        ]
        numbers: dict[int, int] = defaultdict(int)
        share_rows = []
        for record, currency, bucket, rule, driver, reason, owned, amounts in orjson.loads(m["parts"]):
            part, numbers[record] = numbers[record], numbers[record] + 1
            values = (record, part, currency, bucket, rule, driver, reason)
            share_rows.append(
                {
                    **key,
                    **dict(zip(_SHARE_COLUMNS, values, strict=True)),
                    "owners": orjson.dumps(owned).decode(),
                    "amounts": orjson.dumps(amounts).decode(),
                }
            )
        for table, batch in ((records, record_rows), (owners, owner_rows), (shares, share_rows)):
            if batch:
                conn.execute(sa.insert(table), batch)
    packs.drop(conn)
