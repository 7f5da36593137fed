"""SQLAlchemy Core tables of allocation: the ordered rules, and each billing day's allocation per basis.

A run of one ``(billing_day, basis)`` is replaced as a whole: its ``allocation_runs`` row (dimensions, rules,
counts) and its ``allocation_packs`` row, which holds the day's allocation as three JSON documents:

- ``records``: the cost records it split, ``{"columns": [...], "rows": [[...], ...]}`` (money in integer
  nanos), so a report shows exactly what was split even after the records are re-collected;
- ``owners``: the owners its lines charge, ``[[value per run dimension], ...]`` ('' for "none", like the
  rollups); a line names its owner by position in this list;
- ``parts``: ``[[record, currency, bucket, rule, driver, reason, [owner, ...], [nanos, ...]], ...]``, one
  per record part (the lines of one record that share a bucket, rule, driver and reason), in line order.

A month allocates about a million lines from about a hundred thousand records; stored one row each they
made saving the slowest step of a run, packed they are thirty rows. Reading a pack back gives every record
and line exactly.

``allocation_owner_costs`` keeps, beside each pack, its ``allocated`` bucket summed per owner and currency
(one row per owner, its values in the dimension columns, '' outside the run's dimensions): a budget reads a
scope's allocated cost per day in SQL instead of unpacking the day's lines.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from aifinops.domain import DIMENSIONS
from aifinops.store.tables import DIM_LEN, UtcDateTime, metadata

__all__ = [
    "allocation_deployments",
    "allocation_owner_costs",
    "allocation_packs",
    "allocation_rules",
    "allocation_runs",
    "allocation_scans",
]

_ID = BigInteger().with_variant(Integer, "sqlite")

allocation_rules = Table(
    "allocation_rules",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("position", Integer, nullable=False),
    Column("name", String(128), nullable=False, unique=True),
    Column("spec", Text, nullable=False),  # JSON: engine.allocation_rules.rule_to_mapping
    Column("enabled", Boolean, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

allocation_runs = Table(
    "allocation_runs",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("billing_day", Date, nullable=False),
    Column("basis", String(16), nullable=False),
    Column("dimensions", String(256), nullable=False),  # comma-separated, in line order
    Column("rules", Text, nullable=False),  # JSON list of the rule names applied, in order
    Column("records", BigInteger, nullable=False),
    Column("lines", BigInteger, nullable=False),
    Column("ran_at", UtcDateTime(), nullable=False),
    UniqueConstraint("billing_day", "basis", name="uq_allocation_runs_day_basis"),
)

allocation_packs = Table(
    "allocation_packs",
    metadata,
    Column("billing_day", Date, primary_key=True),
    Column("basis", String(16), primary_key=True),
    Column("records", Text, nullable=False),
    Column("owners", Text, nullable=False),
    Column("parts", Text, nullable=False),
)

allocation_owner_costs = Table(
    "allocation_owner_costs",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("billing_day", Date, nullable=False),
    Column("basis", String(16), nullable=False),
    *[Column(name, String(DIM_LEN), nullable=False, server_default="") for name in DIMENSIONS],
    Column("currency", String(3), nullable=False),
    Column("cost_nanos", BigInteger, nullable=False),
)
Index("ix_allocation_owner_costs_day", allocation_owner_costs.c.basis, allocation_owner_costs.c.billing_day)

#: Which resource each deployment's events were recorded against, kept current incrementally: the rollups
#: that drivers come from carry no resource id, and scanning a month of events for it on every run is slow.
allocation_deployments = Table(
    "allocation_deployments",
    metadata,
    Column("deployment", String(DIM_LEN), primary_key=True),
    Column("resource_id", String(512), primary_key=True),
    Column("first_hour", BigInteger, nullable=False),
    Column("last_hour", BigInteger, nullable=False),
)

#: How far ``allocation_deployments`` has read ``usage_events`` (its highest event row id).
allocation_scans = Table(
    "allocation_scans",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("last_id", BigInteger, nullable=False),
    Column("scanned_at", UtcDateTime(), nullable=False),
)
