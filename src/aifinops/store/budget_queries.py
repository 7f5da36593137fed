"""Reading budgets back: definitions, the thresholds fired per period, and fired alerts with deliveries."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

import orjson
import sqlalchemy as sa

from aifinops.domain import Basis
from aifinops.engine.budgets import budget_from_dict
from aifinops.store.budget_tables import alert_deliveries, budget_alerts, budgets
from aifinops.store.budgets import AlertRecord, DeliveryRecord, StoredBudget
from aifinops.store.store import Store

__all__ = ["alert_records", "fired_thresholds", "stored_budget", "stored_budgets"]


def _stored(row: sa.RowMapping) -> StoredBudget:
    return StoredBudget(
        budget_from_dict(orjson.loads(row["spec"])),
        row["origin"],
        int(row["version"]),
        row["created_at"],
        row["updated_at"],
    )


def stored_budgets(store: Store) -> list[StoredBudget]:
    """Every budget definition, by name."""
    with store.reader() as conn:
        rows = conn.execute(sa.select(budgets).order_by(budgets.c.name)).mappings().all()
    return [_stored(r) for r in rows]


def stored_budget(store: Store, name: str) -> StoredBudget | None:
    """The budget named ``name``, or None."""
    with store.reader() as conn:
        row = conn.execute(sa.select(budgets).where(budgets.c.name == name)).mappings().first()
    return _stored(row) if row else None


def fired_thresholds(store: Store, period_keys: Iterable[str]) -> dict[tuple[str, str], set[str]]:
    """Threshold keys already fired, by (budget, period key), for the given period keys."""
    keys = sorted(set(period_keys))
    out: dict[tuple[str, str], set[str]] = defaultdict(set)
    if not keys:
        return out
    a = budget_alerts.c
    with store.reader() as conn:
        for budget, period_key, threshold in conn.execute(
            sa.select(a.budget, a.period_key, a.threshold).where(a.period_key.in_(keys))
        ):
            out[(budget, period_key)].add(threshold)
    return out


def _deliveries(conn: sa.Connection, alert_ids: list[int]) -> dict[int, list[DeliveryRecord]]:
    d = alert_deliveries.c
    by_alert: dict[int, list[DeliveryRecord]] = defaultdict(list)
    if not alert_ids:
        return by_alert
    query = sa.select(alert_deliveries).where(d.alert_id.in_(alert_ids)).order_by(d.id)
    for r in conn.execute(query).mappings():
        by_alert[int(r["alert_id"])].append(
            DeliveryRecord(
                r["channel"],
                r["kind"],
                r["status"],
                int(r["attempts"]),
                r["http_status"],
                r["error"],
                r["finished_at"],
            )
        )
    return by_alert


def alert_records(
    store: Store, *, budget: str | None = None, since: dt.datetime | None = None, limit: int = 100
) -> list[AlertRecord]:
    """Fired alerts, newest first, each with its deliveries."""
    a = budget_alerts.c
    query = sa.select(budget_alerts).order_by(a.fired_at.desc(), a.id.desc()).limit(limit)
    if budget is not None:
        query = query.where(a.budget == budget)
    if since is not None:
        query = query.where(a.fired_at >= since)
    with store.reader() as conn:
        rows = conn.execute(query).mappings().all()
        by_alert = _deliveries(conn, [r["id"] for r in rows])
    return [
        AlertRecord(
            id=int(r["id"]),
            budget=r["budget"],
            threshold=r["threshold"],
            period_key=r["period_key"],
            fired_at=r["fired_at"],
            observed_nanos=int(r["observed_nanos"]),
            amount_nanos=int(r["amount_nanos"]),
            currency=r["currency"],
            basis=Basis(r["basis"]),
            ratio=r["ratio"],
            summary=r["summary"],
            payload=orjson.loads(r["payload"]),
            deliveries=tuple(by_alert.get(int(r["id"]), ())),
        )
        for r in rows
    ]
