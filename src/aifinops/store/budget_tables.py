"""SQLAlchemy Core tables of budgets: definitions, the alert state per threshold and period, deliveries.

``budget_alerts`` is the alert state machine's memory: one row per (budget, threshold, period) that fired.
Its unique key makes "fire once per period" hold across restarts and between concurrent evaluators: the
insert that loses the race does nothing, and only the winner notifies.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text, UniqueConstraint

from aifinops.store.tables import UtcDateTime, metadata

__all__ = ["alert_deliveries", "budget_alerts", "budgets"]

_ID = BigInteger().with_variant(Integer, "sqlite")

budgets = Table(
    "budgets",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("spec", Text, nullable=False),  # JSON of engine.budgets.budget_to_dict
    Column("origin", String(16), nullable=False),  # "config" (read-only through the API) or "api"
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

budget_alerts = Table(
    "budget_alerts",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("budget", String(128), nullable=False),
    Column("threshold", String(32), nullable=False),  # Threshold.key, e.g. "actual:80"
    Column("period_key", String(32), nullable=False),
    Column("fired_at", UtcDateTime(), nullable=False),
    Column("observed_nanos", BigInteger, nullable=False),
    Column("amount_nanos", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("basis", String(16), nullable=False),
    Column("ratio", String(32), nullable=False),  # exact decimal text
    Column("summary", String(512), nullable=False),
    Column("payload", Text, nullable=False),  # the notification data (JSON), replayed on redelivery
    UniqueConstraint("budget", "threshold", "period_key", name="uq_budget_alerts_key"),
)

alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("alert_id", BigInteger, nullable=False),
    Column("channel", String(128), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),  # delivered | failed
    Column("attempts", Integer, nullable=False),
    Column("http_status", Integer),
    Column("error", String(512)),
    Column("finished_at", UtcDateTime(), nullable=False),
)

Index("ix_budget_alerts_fired_at", budget_alerts.c.fired_at)
Index("ix_alert_deliveries_alert_id", alert_deliveries.c.alert_id)
