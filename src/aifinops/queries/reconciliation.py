"""Estimated against billed cost per resource, meter and day, and the prices behind them
(``/api/reconciliation``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from aifinops.domain import Basis, from_nanos, plain
from aifinops.engine.reconciliation import DriftRow, reconcile
from aifinops.store import Store
from aifinops.store.cost_queries import read_cost_records
from aifinops.store.reconciliation_queries import estimates

__all__ = ["reconciliation_document"]


def _drift_json(row: DriftRow) -> dict[str, Any]:
    pct = row.drift_pct
    return {
        "day": row.day.isoformat(),
        "resource_id": row.resource_id,
        "meter": row.meter,
        "currency": row.currency,
        "estimated": plain(from_nanos(row.estimated_nanos)),
        "actual": plain(from_nanos(row.actual_nanos)),
        "drift": plain(from_nanos(row.drift_nanos)),
        "drift_pct": None if pct is None else str(pct),
        "deployments": list(row.deployments),
        "status": row.status.value,
    }


def reconciliation_document(
    store: Store, start: dt.date, end: dt.date, *, basis: Basis, as_of: dt.date, tolerance: Decimal
) -> dict[str, Any]:
    """Drift between estimated and billed cost on the billing days ``[start, end)`` as of ``as_of``, beyond
    ``tolerance`` (a share of the billed cost)."""
    actuals = list(read_cost_records(store, start, end, basis=basis))
    result = reconcile(estimates(store, start, end), actuals, as_of=as_of, drift_tolerance=tolerance)
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "basis": basis.value,
        "as_of": as_of.isoformat(),
        "resources": [_drift_json(r) for r in result.resources],
        "meters": [_drift_json(r) for r in result.rows],
        "prices": [
            {
                "meter": p.meter,
                "currency": p.currency,
                "unit_size": p.unit_size,
                "effective_price": plain(p.effective_price),
                "book_price": None if p.book_price is None else plain(p.book_price),
                "mismatch": p.mismatch,
            }
            for p in result.prices
        ],
    }
