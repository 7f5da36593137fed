"""SQLAlchemy Core tables of allocation: the ordered rules, and each billing day's allocation per basis.

A run of one ``(billing_day, basis)`` is replaced as a whole: its ``allocation_runs`` row, the cost records
it allocated (``allocation_records``, so a report shows exactly what was split even after the records are
re-collected), the owners its lines charge (``allocation_owners``) and its lines, packed per record.

A month allocates about a million lines, nearly all of them shares of a few thousand usage splits, so the
lines are not stored one row each: ``allocation_shares`` holds one row per record and part (the lines of one
bucket, rule, driver and reason), with the owner numbers and nano amounts of its lines as JSON arrays of
integers, in line order. Reading them back gives every line exactly; owner dimension columns hold '' for
"none", like the rollups.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from aifinops.domain import DIMENSIONS
from aifinops.store.cost_tables import billed_columns
from aifinops.store.tables import DIM_LEN, UtcDateTime, metadata

__all__ = [
    "allocation_deployments",
    "allocation_owners",
    "allocation_records",
    "allocation_rules",
    "allocation_runs",
    "allocation_scans",
    "allocation_shares",
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

allocation_records = Table(
    "allocation_records",
    metadata,
    Column("billing_day", Date, primary_key=True),
    Column("basis", String(16), primary_key=True),
    Column("record", Integer, primary_key=True),  # index of the record within the run
    Column("currency", String(3), nullable=False),
    Column("cost_nanos", BigInteger, nullable=False),
    Column("quantity_nanos", BigInteger),
    *billed_columns(),
)

#: The owners (dimension tuples) that one run's lines charge, numbered from 0 within the run.
allocation_owners = Table(
    "allocation_owners",
    metadata,
    Column("billing_day", Date, primary_key=True),
    Column("basis", String(16), primary_key=True),
    Column("owner", Integer, primary_key=True),
    *[Column(name, String(DIM_LEN), nullable=False, server_default="") for name in DIMENSIONS],
)

#: The lines of one record's part: ``owners[i]`` is charged ``amounts[i]`` nanos (JSON integer arrays).
allocation_shares = Table(
    "allocation_shares",
    metadata,
    Column("billing_day", Date, primary_key=True),
    Column("basis", String(16), primary_key=True),
    Column("record", Integer, primary_key=True),
    Column("part", Integer, primary_key=True),
    Column("currency", String(3), nullable=False),
    Column("bucket", String(16), nullable=False),
    Column("rule", String(128), nullable=False, server_default=""),
    Column("driver", String(256), nullable=False, server_default=""),
    Column("reason", Text, nullable=False, server_default=""),
    Column("owners", Text, nullable=False),
    Column("amounts", Text, nullable=False),
)

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
