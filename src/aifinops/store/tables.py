"""SQLAlchemy Core tables of the foundation: usage events, rollups, task outcomes, prices, API keys.

Money columns are BIGINT counts of 10⁻⁹ currency units (``*_nanos``) with the ISO currency beside them, so
SQLite and PostgreSQL store exactly the same integers. Rollup dimension columns hold '' for "none" so that
their unique keys work (NULLs never collide in a unique index).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

from aifinops.domain import DIMENSIONS

__all__ = [
    "DIM_LEN",
    "RETRIEVED_INDEX",
    "ROLLUP_KEY",
    "ROLLUP_SUMS",
    "TASK_KEY",
    "UtcDateTime",
    "api_keys",
    "freshness",
    "metadata",
    "price_syncs",
    "prices",
    "provisioned_hours",
    "reprice_runs",
    "task_outcomes",
    "task_rollup",
    "usage_daily",
    "usage_event_ids",
    "usage_events",
    "usage_retention",
    "usage_rollup",
]


class UtcDateTime(TypeDecorator[dt.datetime]):
    """An aware UTC datetime on every database (SQLite keeps no zone, so we store UTC and re-attach it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise ValueError(f"datetimes must be timezone-aware, got {value!r}")
        when: dt.datetime = value.astimezone(dt.UTC)
        return when.replace(tzinfo=None) if dialect.name == "sqlite" else when

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw SQLite text from aggregate queries
            value = dt.datetime.fromisoformat(value)
        when: dt.datetime = value
        return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

DIM_LEN = 128
_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements only INTEGER PRIMARY KEY


def _dims(nullable: bool) -> list[Column[str]]:
    return [
        Column(name, String(DIM_LEN), nullable=nullable, server_default=None if nullable else "")
        for name in DIMENSIONS
    ]


usage_events = Table(
    "usage_events",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("event_id", String(128), nullable=False, unique=True),
    Column("ts", UtcDateTime(), nullable=False, index=True),
    Column("hour", BigInteger, nullable=False),  # hours since the epoch, the rollup grain
    Column("task_id", String(128), index=True),
    Column("step", Integer),
    Column("attempt", Integer, nullable=False),
    *_dims(nullable=True),
    Column("attributes", Text),  # JSON object, small and bounded
    Column("provider", String(64), nullable=False),
    Column("model_version", String(64)),
    Column("deployment_type", String(32)),
    Column("region", String(64)),
    Column("resource_id", String(512)),
    Column("priority", Boolean, nullable=False),
    Column("input_tokens", BigInteger, nullable=False),
    Column("cached_input_tokens", BigInteger, nullable=False),
    Column("output_tokens", BigInteger, nullable=False),
    Column("reasoning_tokens", BigInteger, nullable=False),
    Column("cache_write_tokens", BigInteger, nullable=False, server_default="0"),
    Column("service_tier", String(16)),  # NULL = not reported
    Column("requests", Integer, nullable=False),
    Column("quantity_nanos", BigInteger),
    Column("unit", String(32)),
    Column("kind", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("latency_ms", Integer),
    Column("tool_name", String(128)),
    Column("cost_nanos", BigInteger),  # NULL = unpriced
    Column("currency", String(3)),
    Column("input_price_id", BigInteger),
    Column("cached_input_price_id", BigInteger),
    Column("output_price_id", BigInteger),
    Column("unit_price_id", BigInteger),
    Column("cache_write_price_id", BigInteger),
    Column("unpriced_reason", String(256)),
    Column("source", String(32), nullable=False),
    Column("ingested_at", UtcDateTime(), nullable=False),
    Column("finish_reason", String(32)),
    Column("request_hash", String(64)),
    Column("retrieved_tokens", BigInteger, nullable=False, server_default="0"),
    sqlite_autoincrement=True,  # ids never reused: the rollup watermark counts on it
)

#: Every stored event id on PostgreSQL, where ``usage_events`` is partitioned by month and so cannot hold a
#: unique ``event_id`` (see ``partitions.py``); ``ts`` lets retention forget ids with their events. SQLite
#: keeps ``usage_events.event_id`` unique itself and leaves this table empty.
usage_event_ids = Table(
    "usage_event_ids",
    metadata,
    Column("event_id", String(128), primary_key=True),
    Column("ts", UtcDateTime(), nullable=False),
)

#: How far back raw data is kept: ``name`` 'usage_events', events before ``horizon`` were dropped (and new
#: ones before it are refused, so that a re-send can never count twice).
usage_retention = Table(
    "usage_retention",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("horizon", UtcDateTime(), nullable=False),
    Column("keep_months", Integer, nullable=False),
    Column("applied_at", UtcDateTime(), nullable=False),
)

#: The key of an hourly usage rollup row, and the sums it carries.
ROLLUP_KEY: tuple[str, ...] = ("hour", *DIMENSIONS, "kind", "status", "currency")
ROLLUP_SUMS: tuple[str, ...] = (
    "events",
    "requests",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cache_write_tokens",
    "retries",
    "cost_nanos",
    "unpriced_events",
    "latency_ms_sum",
)

usage_rollup = Table(
    "usage_rollup",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("hour", BigInteger, nullable=False),
    *_dims(nullable=False),
    Column("kind", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("currency", String(3), nullable=False, server_default=""),
    *[Column(name, BigInteger, nullable=False, server_default="0") for name in ROLLUP_SUMS],
    UniqueConstraint(*ROLLUP_KEY, name="uq_usage_rollup_key"),
)

#: The same sums per UTC day, for day/month queries over long ranges.
usage_daily = Table(
    "usage_daily",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("day", BigInteger, nullable=False),  # days since the epoch (UTC)
    *_dims(nullable=False),
    Column("kind", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("currency", String(3), nullable=False, server_default=""),
    *[Column(name, BigInteger, nullable=False, server_default="0") for name in ROLLUP_SUMS],
    UniqueConstraint("day", *ROLLUP_KEY[1:], name="uq_usage_daily_key"),
)

#: A task is its id within its tenant ('' when its events carry none): the key of its rollup and outcome.
TASK_KEY = ("tenant", "task_id")


def _task_tenant() -> Column[str]:
    return Column("tenant", String(DIM_LEN), primary_key=True, server_default="")


task_rollup = Table(
    "task_rollup",
    metadata,
    _task_tenant(),
    Column("task_id", String(128), primary_key=True),
    Column("currency", String(3), primary_key=True, server_default=""),  # '' = unpriced events
    *(c for c in _dims(nullable=True) if c.name != "tenant"),
    Column("first_ts", UtcDateTime(), nullable=False),
    Column("last_ts", UtcDateTime(), nullable=False),
    Column("events", BigInteger, nullable=False),
    Column("first_attempts", BigInteger, nullable=False),
    Column("max_step", Integer),
    Column("retries", BigInteger, nullable=False),
    Column("input_tokens", BigInteger, nullable=False),
    Column("cached_input_tokens", BigInteger, nullable=False),
    Column("output_tokens", BigInteger, nullable=False),
    Column("reasoning_tokens", BigInteger, nullable=False),
    Column("cost_nanos", BigInteger, nullable=False),
    Column("unpriced_events", BigInteger, nullable=False),
)

task_outcomes = Table(
    "task_outcomes",
    metadata,
    _task_tenant(),
    Column("task_id", String(128), primary_key=True),
    Column("outcome", String(16), nullable=False),
    Column("ended_at", UtcDateTime(), nullable=False, index=True),
    Column("use_case", String(DIM_LEN)),
    Column("value_nanos", BigInteger),
    Column("value_currency", String(3)),
    Column("value_quantity_nanos", BigInteger),
    Column("value_unit", String(32)),
    Column("received_at", UtcDateTime(), nullable=False),
)

prices = Table(
    "prices",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("model", String(128), nullable=False),
    Column("model_version", String(64), nullable=False, server_default=""),
    Column("deployment_type", String(32), nullable=False, server_default=""),
    Column("region", String(64), nullable=False, server_default=""),
    Column("meter_kind", String(32), nullable=False),
    Column("unit_size", BigInteger, nullable=False),
    Column("unit", String(32), nullable=False),
    Column("price_nanos", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("effective_start", UtcDateTime(), nullable=False),
    Column("effective_end", UtcDateTime()),
    Column("meter_id", String(64)),
    Column("meter_name", String(256)),
    Column("source", String(256), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("product_name", String(128), nullable=False, server_default=""),
    Column("context_tier", String(8), nullable=False, server_default=""),
    Column("processing_tier", String(16), nullable=False, server_default="standard"),
    UniqueConstraint(
        "source",
        "product_name",
        "model",
        "model_version",
        "deployment_type",
        "region",
        "meter_kind",
        "processing_tier",
        "context_tier",
        "unit",
        "currency",
        "effective_start",
        name="uq_prices_key",
    ),
)

#: Every time the price book was synced or seeded: what from, captured when, and how many prices it gave.
price_syncs = Table(
    "price_syncs",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("synced_at", UtcDateTime(), nullable=False),
    Column("captured_at", UtcDateTime(), nullable=False),
    Column("source", String(256), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("prices", BigInteger, nullable=False),
    Column("unmapped", BigInteger, nullable=False),
    Column("provenance", Text, nullable=False, server_default=""),
)

reprice_runs = Table(
    "reprice_runs",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("from_ts", UtcDateTime(), nullable=False),
    Column("to_ts", UtcDateTime(), nullable=False),
    Column("events", BigInteger, nullable=False),
    Column("changed", BigInteger, nullable=False),
    Column("unpriced_before", BigInteger, nullable=False),
    Column("unpriced_after", BigInteger, nullable=False),
    Column("totals", Text, nullable=False),  # JSON {currency: {"before": "…", "after": "…"}}
    Column("note", String(256)),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("scopes", String(128), nullable=False),
    Column("tenant", String(DIM_LEN)),
    Column("identity", Text),  # JSON object of allocation dimensions bound to the key
    Column("policy", String(128)),
    Column("allowed_headers", String(256)),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime()),
)

freshness = Table(
    "freshness",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("last_ingest_at", UtcDateTime(), nullable=False),
    Column("last_data_ts", UtcDateTime()),
    Column("detail", String(256)),
)

#: The estimated cost of each hour of each provisioned deployment: what it cost, what its calls carry (written
#: onto their events) and the estimated idle capacity left over (aifinops.engine.provisioned).
provisioned_hours = Table(
    "provisioned_hours",
    metadata,
    Column("deployment", String(DIM_LEN), primary_key=True),
    Column("hour", BigInteger, primary_key=True),  # hours since the epoch
    Column("currency", String(3), nullable=False),
    Column("units", Integer, nullable=False),
    Column("cost_nanos", BigInteger, nullable=False),
    Column("used_nanos", BigInteger, nullable=False),
    Column("idle_nanos", BigInteger, nullable=False),
    Column("events", BigInteger, nullable=False),
    Column("tokens", BigInteger, nullable=False),
    Column("capacity_tokens", BigInteger),  # NULL = capacity unknown: a used hour is wholly its calls'
    Column("source", String(256), nullable=False),  # where the hourly prices came from
    Column("estimated_at", UtcDateTime(), nullable=False),
)

#: What the retrieval lever reads of the events that report retrieved passages (only those are indexed): by
#: time, without a scan of the other events or a look-up of the rows.
RETRIEVED_INDEX = ("ts", "status", "use_case", "app", "agent", "tenant", "task_id", "retrieved_tokens")
Index(
    "ix_usage_events_retrieved",
    *(usage_events.c[name] for name in RETRIEVED_INDEX),
    sqlite_where=usage_events.c.retrieved_tokens > 0,
    postgresql_where=usage_events.c.retrieved_tokens > 0,
)
Index("ix_usage_rollup_hour", usage_rollup.c.hour)
Index("ix_usage_daily_day", usage_daily.c.day)
Index("ix_task_rollup_task_id", task_rollup.c.task_id)  # a task id across tenants (re-pricing, lookups)
Index("ix_task_rollup_use_case", task_rollup.c.use_case)
Index("ix_task_rollup_first_ts", task_rollup.c.first_ts)
