"""SQLAlchemy Core tables of financial truth: cost records, collection checkpoints, metric samples, inventory.

``cost_records`` holds rows at the grain of :class:`aifinops.domain.CostRecord` (one billing day, one
resource, one meter, one charge type, one tag set), money as BIGINT nanos beside its currency plus, in
``cost_rem_e18``, the part below one nano in 10⁻¹⁸ units, so that the amount Azure sent is kept exactly
(docs/billed-cost.md). A slice
``(source, scope, basis, day range)`` is always replaced as a whole (see ``store/cost_records.py``), so the
table needs no natural unique key; its index serves that delete and the day-range reads.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Date, Index, Integer, String, Table, Text, UniqueConstraint

from aifinops.domain import COST_DIMENSIONS
from aifinops.store.tables import UtcDateTime, metadata

__all__ = [
    "COST_DIMENSIONS",
    "billed_columns",
    "cost_checkpoints",
    "cost_records",
    "inventory_resources",
    "metric_samples",
]

_ID = BigInteger().with_variant(Integer, "sqlite")


def billed_columns() -> list[Column[Any]]:
    """What was billed (:data:`COST_DIMENSIONS`) and its tags, as columns: the cost records and the
    allocation's copy of them share these definitions."""
    widths = {
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
    # tags: a JSON object, as the file had it (braces added where Azure omits them)
    return [*(Column(name, String(widths[name])) for name in COST_DIMENSIONS), Column("tags", Text)]


cost_records = Table(
    "cost_records",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("scope", String(512), nullable=False),
    Column("basis", String(16), nullable=False),
    Column("billing_day", Date, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("cost_nanos", BigInteger, nullable=False),  # half-even nanos of the exact amount
    Column("cost_rem_e18", BigInteger, nullable=False, server_default="0"),  # exact − nanos, in 10⁻¹⁸
    Column("quantity_nanos", BigInteger),
    *billed_columns(),
    Column("source_rows", BigInteger, nullable=False, server_default="1"),
)

cost_checkpoints = Table(
    "cost_checkpoints",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("scope", String(512), nullable=False),
    Column("basis", String(16), nullable=False),
    Column("start_day", Date, nullable=False),
    Column("end_day", Date, nullable=False),  # exclusive
    Column("collected_at", UtcDateTime(), nullable=False),
    Column("records", BigInteger, nullable=False),
    Column("source_rows", BigInteger, nullable=False),
    Column("last_data_day", Date),
    Column("totals", Text, nullable=False),  # JSON {currency: "amount"} of the slice as stored
    Column("detail", Text),  # JSON: files read, run id, issues
    UniqueConstraint("source", "scope", "basis", "start_day", "end_day", name="uq_cost_checkpoints_slice"),
)

metric_samples = Table(
    "metric_samples",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("resource_id", String(1024), nullable=False),
    Column("metric", String(128), nullable=False),
    Column("ts", UtcDateTime(), nullable=False),
    Column("aggregation", String(16), nullable=False),
    Column("interval", String(16), nullable=False),
    Column("unit", String(32), nullable=False),
    Column("value_nanos", BigInteger, nullable=False),
    Column("deployment", String(128), nullable=False, server_default=""),
    Column("model", String(128), nullable=False, server_default=""),
    Column("dimensions", Text, nullable=False, server_default="{}"),  # JSON object, sorted keys
    Column("collected_at", UtcDateTime(), nullable=False),
)

inventory_resources = Table(
    "inventory_resources",
    metadata,
    Column("resource_id", String(1024), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("type", String(256), nullable=False),
    Column("subscription_id", String(128), nullable=False),
    Column("resource_group", String(256), nullable=False),
    Column("location", String(128)),
    Column("kind", String(128)),
    Column("sku", String(128)),
    Column("sku_capacity", BigInteger),
    Column("tags", Text, nullable=False, server_default="{}"),
    Column("seen_at", UtcDateTime(), nullable=False),
)

Index(
    "ix_cost_records_slice",
    cost_records.c.source,
    cost_records.c.scope,
    cost_records.c.basis,
    cost_records.c.billing_day,
)
Index("ix_cost_records_day", cost_records.c.basis, cost_records.c.billing_day)
Index("ix_metric_samples_key", metric_samples.c.resource_id, metric_samples.c.metric, metric_samples.c.ts)
Index("ix_inventory_resources_subscription", inventory_resources.c.subscription_id)
