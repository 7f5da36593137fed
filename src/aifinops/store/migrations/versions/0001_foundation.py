"""Foundation: usage events, rollups by hour, day and task, outcomes, prices, re-pricing, keys, freshness.

Written out explicitly (not from the live table objects), so later changes to the tables go in new migrations.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aifinops.store.tables import UtcDateTime

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None


#: The allocation dimensions as of this revision, spelled out: a vocabulary change gets its own migration.
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
_ROLLUP_SUMS = (
    "events",
    "requests",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "retries",
    "cost_nanos",
    "unpriced_events",
    "latency_ms_sum",
)


def _dimension_columns(*, nullable: bool) -> list[sa.Column[object]]:
    """The dimension columns: NULL for "none" in events and task rollups, '' in the usage rollups."""
    if nullable:
        return [sa.Column(d, sa.String(length=128), nullable=True) for d in _DIMENSIONS]
    return [sa.Column(d, sa.String(length=128), server_default="", nullable=False) for d in _DIMENSIONS]


def _rollup_table(name: str, grain: str) -> None:
    """``usage_rollup`` (per hour) or ``usage_daily`` (per day): sums per grain, dimensions and outcome."""
    key = (grain, *_DIMENSIONS, "kind", "status", "currency")
    op.create_table(
        name,
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column(grain, sa.BigInteger(), nullable=False),
        *_dimension_columns(nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), server_default="", nullable=False),
        *[sa.Column(n, sa.BigInteger(), server_default="0", nullable=False) for n in _ROLLUP_SUMS],
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
        sa.UniqueConstraint(*key, name=f"uq_{name}_key"),
    )
    op.create_index(f"ix_{name}_{grain}", name, [grain], unique=False)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.String(length=128), nullable=False),
        sa.Column("tenant", sa.String(length=128), nullable=True),
        sa.Column("identity", sa.Text(), nullable=True),
        sa.Column("policy", sa.String(length=128), nullable=True),
        sa.Column("allowed_headers", sa.String(length=256), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_api_keys_secret_hash")),
    )
    op.create_table(
        "freshness",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("last_ingest_at", UtcDateTime(), nullable=False),
        sa.Column("last_data_ts", UtcDateTime(), nullable=True),
        sa.Column("detail", sa.String(length=256), nullable=True),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_freshness")),
    )
    op.create_table(
        "prices",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("model_version", sa.String(length=64), server_default="", nullable=False),
        sa.Column("deployment_type", sa.String(length=32), server_default="", nullable=False),
        sa.Column("region", sa.String(length=64), server_default="", nullable=False),
        sa.Column("meter_kind", sa.String(length=32), nullable=False),
        sa.Column("unit_size", sa.BigInteger(), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("price_nanos", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("effective_start", UtcDateTime(), nullable=False),
        sa.Column("effective_end", UtcDateTime(), nullable=True),
        sa.Column("meter_id", sa.String(length=64), nullable=True),
        sa.Column("meter_name", sa.String(length=256), nullable=True),
        sa.Column("source", sa.String(length=256), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prices")),
        sa.UniqueConstraint(
            "source",
            "model",
            "model_version",
            "deployment_type",
            "region",
            "meter_kind",
            "unit",
            "currency",
            "effective_start",
            name="uq_prices_key",
        ),
    )
    op.create_table(
        "reprice_runs",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("from_ts", UtcDateTime(), nullable=False),
        sa.Column("to_ts", UtcDateTime(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("changed", sa.BigInteger(), nullable=False),
        sa.Column("unpriced_before", sa.BigInteger(), nullable=False),
        sa.Column("unpriced_after", sa.BigInteger(), nullable=False),
        sa.Column("totals", sa.Text(), nullable=False),
        sa.Column("note", sa.String(length=256), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reprice_runs")),
    )
    op.create_table(
        "task_outcomes",
        sa.Column("task_id", sa.String(length=128), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("ended_at", UtcDateTime(), nullable=False),
        sa.Column("use_case", sa.String(length=128), nullable=True),
        sa.Column("value_nanos", sa.BigInteger(), nullable=True),
        sa.Column("value_currency", sa.String(length=3), nullable=True),
        sa.Column("value_quantity_nanos", sa.BigInteger(), nullable=True),
        sa.Column("value_unit", sa.String(length=32), nullable=True),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_task_outcomes")),
    )
    op.create_index(op.f("ix_task_outcomes_ended_at"), "task_outcomes", ["ended_at"], unique=False)
    op.create_table(
        "task_rollup",
        sa.Column("task_id", sa.String(length=128), nullable=False),
        sa.Column("currency", sa.String(length=3), server_default="", nullable=False),
        *_dimension_columns(nullable=True),
        sa.Column("first_ts", UtcDateTime(), nullable=False),
        sa.Column("last_ts", UtcDateTime(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("first_attempts", sa.BigInteger(), nullable=False),
        sa.Column("max_step", sa.Integer(), nullable=True),
        sa.Column("retries", sa.BigInteger(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cached_input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("reasoning_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_nanos", sa.BigInteger(), nullable=False),
        sa.Column("unpriced_events", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("task_id", "currency", name=op.f("pk_task_rollup")),
    )
    op.create_index("ix_task_rollup_first_ts", "task_rollup", ["first_ts"], unique=False)
    op.create_index("ix_task_rollup_use_case", "task_rollup", ["use_case"], unique=False)
    _rollup_table("usage_daily", "day")
    op.create_table(
        "usage_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("ts", UtcDateTime(), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("task_id", sa.String(length=128), nullable=True),
        sa.Column("step", sa.Integer(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        *_dimension_columns(nullable=True),
        sa.Column("attributes", sa.Text(), nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("deployment_type", sa.String(length=32), nullable=True),
        sa.Column("region", sa.String(length=64), nullable=True),
        sa.Column("resource_id", sa.String(length=512), nullable=True),
        sa.Column("priority", sa.Boolean(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cached_input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("reasoning_tokens", sa.BigInteger(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("quantity_nanos", sa.BigInteger(), nullable=True),
        sa.Column("unit", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("tool_name", sa.String(length=128), nullable=True),
        sa.Column("cost_nanos", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("input_price_id", sa.BigInteger(), nullable=True),
        sa.Column("cached_input_price_id", sa.BigInteger(), nullable=True),
        sa.Column("output_price_id", sa.BigInteger(), nullable=True),
        sa.Column("unit_price_id", sa.BigInteger(), nullable=True),
        sa.Column("unpriced_reason", sa.String(length=256), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("ingested_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_usage_events_event_id")),
    )
    op.create_index(op.f("ix_usage_events_task_id"), "usage_events", ["task_id"], unique=False)
    op.create_index(op.f("ix_usage_events_ts"), "usage_events", ["ts"], unique=False)
    _rollup_table("usage_rollup", "hour")


def downgrade() -> None:
    op.drop_table("freshness")
    op.drop_table("api_keys")
    op.drop_table("reprice_runs")
    op.drop_table("prices")
    op.drop_table("task_outcomes")
    op.drop_table("task_rollup")
    op.drop_table("usage_daily")
    op.drop_table("usage_rollup")
    op.drop_table("usage_events")
