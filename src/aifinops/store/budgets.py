"""Budgets in the store: writing definitions, the alert state that survives restarts, and deliveries.

They are read back by :mod:`aifinops.store.budget_queries`; spend per scope by
:mod:`aifinops.store.spend_queries`; budgets are evaluated in :mod:`aifinops.queries.budgets`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from aifinops.domain import Basis, to_nanos
from aifinops.engine.budgets import (
    Alert,
    Budget,
    budget_from_dict,
    budget_to_dict,
)
from aifinops.errors import ValidationError
from aifinops.store.budget_tables import alert_deliveries, budget_alerts, budgets
from aifinops.store.store import Store, dialect_insert

__all__ = [
    "AlertRecord",
    "BudgetStore",
    "DeliveryRecord",
    "StoredBudget",
    "parse_budget",
]

_INSERT_CHUNK = 500  # rows per multi-row INSERT: 12 columns stay far below SQLite's bound-parameter limit
_FIELD = re.compile(r"^(?:budget '[^']*': )?([a-z_]+(?:\[\d+\])?(?:\.[a-z_]+)?)")


@dataclass(frozen=True, slots=True)
class StoredBudget:
    budget: Budget
    origin: str  # "config" | "api"
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    channel: str
    kind: str
    status: str
    attempts: int
    http_status: int | None
    error: str | None
    finished_at: dt.datetime


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """A fired threshold as stored, with every delivery attempt made for it."""

    id: int
    budget: str
    threshold: str
    period_key: str
    fired_at: dt.datetime
    observed_nanos: int
    amount_nanos: int
    currency: str
    basis: Basis
    ratio: str
    summary: str
    payload: Mapping[str, Any]
    deliveries: tuple[DeliveryRecord, ...]

    @property
    def delivery_status(self) -> str:
        """``delivered`` when every channel got it, ``failed`` when one did not, ``none`` without channels."""
        if not self.deliveries:
            return "none"
        return "failed" if any(d.status != "delivered" for d in self.deliveries) else "delivered"


def parse_budget(data: Mapping[str, Any]) -> Budget:
    """A Budget from its JSON form; ValidationError naming the field (config files and the API)."""
    try:
        return budget_from_dict(data)
    except ValueError as exc:
        match = _FIELD.match(str(exc))
        raise ValidationError(str(exc), field=match.group(1) if match else "budget") from exc


def _alert_row(alert: Alert, payload: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "budget": alert.budget,
        "threshold": alert.threshold.key,
        "period_key": alert.period_key,
        "fired_at": alert.fired_at,
        "observed_nanos": to_nanos(alert.observed.amount),
        "amount_nanos": to_nanos(alert.amount.amount),
        "currency": alert.observed.currency,
        "basis": alert.observed.basis.value,
        "ratio": str(alert.ratio),
        "summary": alert.summary[:512],
        "payload": orjson.dumps(dict(payload)).decode(),
    }


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class BudgetStore:
    """Writes budget definitions, the fired-threshold state and alert deliveries."""

    def __init__(self, store: Store, *, clock: Callable[[], dt.datetime] = _now) -> None:
        self.store, self.clock = store, clock

    # --- definitions -----------------------------------------------------------------------------------
    def create(self, budget: Budget) -> StoredBudget:
        """Add a budget through the API; ValidationError when the name is taken."""
        now = self.clock()
        with self.store.session() as conn:
            # RETURNING, not rowcount: psycopg reports -1 rows for INSERT … ON CONFLICT DO NOTHING.
            inserted = conn.execute(
                dialect_insert(conn, budgets)
                .values(
                    name=budget.name,
                    spec=orjson.dumps(budget_to_dict(budget)).decode(),
                    origin="api",
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
                .on_conflict_do_nothing(index_elements=["name"])
                .returning(budgets.c.name)
            ).first()
        if not inserted:
            raise ValidationError(
                f"budget {budget.name!r} already exists; use PUT to change it", field="name"
            )
        return StoredBudget(budget, "api", 1, now, now)

    def replace(self, budget: Budget) -> StoredBudget:
        """Create or update an API budget; a budget defined in configuration is changed only there."""
        now = self.clock()
        with self.store.session() as conn:
            row = (
                conn.execute(sa.select(budgets).where(budgets.c.name == budget.name).with_for_update())
                .mappings()
                .first()
            )
            self._refuse_config(row, budget.name)
            spec = orjson.dumps(budget_to_dict(budget)).decode()
            if row is None:
                conn.execute(
                    sa.insert(budgets).values(
                        name=budget.name, spec=spec, origin="api", version=1, created_at=now, updated_at=now
                    )
                )
                return StoredBudget(budget, "api", 1, now, now)
            version = int(row["version"]) + 1
            conn.execute(
                sa.update(budgets)
                .where(budgets.c.name == budget.name)
                .values(spec=spec, version=version, updated_at=now)
            )
        return StoredBudget(budget, "api", version, row["created_at"], now)

    def delete(self, name: str) -> bool:
        with self.store.session() as conn:
            row = conn.execute(sa.select(budgets).where(budgets.c.name == name)).mappings().first()
            self._refuse_config(row, name)
            return bool(conn.execute(sa.delete(budgets).where(budgets.c.name == name)).rowcount)

    @staticmethod
    def _refuse_config(row: sa.RowMapping | None, name: str) -> None:
        if row is not None and row["origin"] == "config":
            raise ValidationError(
                f"budget {name!r} is defined in the configuration file; change it there and restart",
                field="name",
            )

    def sync_config(self, configured: Sequence[Budget]) -> None:
        """Make the config-origin budgets exactly ``configured``; alert state of kept budgets stays."""
        now, names = self.clock(), {b.name for b in configured}
        with self.store.session() as conn:
            existing = {r["name"]: r for r in conn.execute(sa.select(budgets)).mappings()}
            for name, row in existing.items():
                if row["origin"] == "config" and name not in names:
                    conn.execute(sa.delete(budgets).where(budgets.c.name == name))
            for budget in configured:
                spec = orjson.dumps(budget_to_dict(budget)).decode()
                current = existing.get(budget.name)
                if current is None:
                    conn.execute(
                        sa.insert(budgets).values(
                            name=budget.name,
                            spec=spec,
                            origin="config",
                            version=1,
                            created_at=now,
                            updated_at=now,
                        )
                    )
                elif current["spec"] != spec or current["origin"] != "config":
                    conn.execute(
                        sa.update(budgets)
                        .where(budgets.c.name == budget.name)
                        .values(
                            spec=spec, origin="config", version=int(current["version"]) + 1, updated_at=now
                        )
                    )

    # --- alert state -----------------------------------------------------------------------------------
    def record_fired(self, fired: Sequence[tuple[Alert, Mapping[str, Any]]]) -> list[int | None]:
        """Store the transitions armed → fired in one transaction, each alert with its notification payload.

        Returns, per alert, its new id, or None when that threshold had already fired in that period
        (the unique key decides, so concurrent evaluators never both win).
        """
        ids: dict[tuple[str, str, str], int] = {}
        with self.store.session() as conn:
            for start in range(0, len(fired), _INSERT_CHUNK):
                rows = [_alert_row(alert, payload) for alert, payload in fired[start : start + _INSERT_CHUNK]]
                a = budget_alerts.c
                result = conn.execute(
                    dialect_insert(conn, budget_alerts)
                    .values(rows)
                    .on_conflict_do_nothing(index_elements=["budget", "threshold", "period_key"])
                    .returning(a.id, a.budget, a.threshold, a.period_key)
                )
                ids.update({(b, t, p): int(i) for i, b, t, p in result})
        return [ids.get((alert.budget, alert.threshold.key, alert.period_key)) for alert, _ in fired]

    def record_deliveries(self, alert_id: int, deliveries: Iterable[DeliveryRecord]) -> None:
        rows = [
            {
                "alert_id": alert_id,
                "channel": d.channel,
                "kind": d.kind,
                "status": d.status,
                "attempts": d.attempts,
                "http_status": d.http_status,
                "error": d.error[:512] if d.error else None,
                "finished_at": d.finished_at,
            }
            for d in deliveries
        ]
        if rows:
            with self.store.session() as conn:
                conn.execute(sa.insert(alert_deliveries), rows)
