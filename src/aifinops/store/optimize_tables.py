"""SQLAlchemy Core tables of the optimizer's daily call groups, built from the events when first read.

``optimize_daily`` holds, per UTC day, the call groups :mod:`aifinops.store.optimize_queries` reads;
``optimize_days`` how many events each built day had, so that a day whose events changed since (late events)
is built again, and re-pricing drops the days it touched.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table

from aifinops.store.tables import DIM_LEN, UtcDateTime, metadata

__all__ = ["GROUP_SUMS", "optimize_daily", "optimize_days"]

#: The sums of a call group.
GROUP_SUMS = (
    "calls",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "quantity_nanos",
    "cost_nanos",
    "retrieved_tokens",
)

optimize_daily = Table(
    "optimize_daily",
    metadata,
    Column("day", BigInteger, nullable=False),  # days since the epoch (UTC)
    *(
        Column(name, String(DIM_LEN))
        for name in ("use_case", "app", "agent", "deployment", "model", "deployment_type", "region")
    ),
    Column("kind", String(32), nullable=False),
    Column("currency", String(3)),
    *(
        Column(name, BigInteger)
        for name in ("input_price_id", "cached_input_price_id", "output_price_id", "unit_price_id")
    ),
    Column("step", Integer),
    Column("attempt", Integer, nullable=False),
    Column("status", String(32), nullable=False),
    *(
        Column(name, Integer, nullable=False)
        for name in ("duplicate", "length_stop", "input_class", "output_class")
    ),
    *(Column(name, BigInteger, nullable=False) for name in GROUP_SUMS),
    Column("first_task", String(128)),
    Column("last_task", String(128)),
    Column("resource_id", String(512)),
)

optimize_days = Table(
    "optimize_days",
    metadata,
    Column("day", BigInteger, primary_key=True),
    Column("events", BigInteger, nullable=False),
    Column("built_at", UtcDateTime(), nullable=False),
)

Index("ix_optimize_daily_day", optimize_daily.c.day)
