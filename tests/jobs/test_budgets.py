"""Budgets from the configuration, evaluated and alerted on serve's schedule, each threshold once."""

from __future__ import annotations

import datetime as dt

from aifinops.config import load_settings
from aifinops.jobs.budgets import evaluate_and_alert
from aifinops.jobs.ingest import Ingestor
from aifinops.jobs.serve_jobs import check_budgets
from aifinops.store import Store
from aifinops.store.budget_queries import fired_thresholds
from aifinops.store.prices import PriceStore
from tests.factories import PRICE_START, event, gpt4o_prices


def test_configured_budget_fires_once_across_rounds(sqlite_store: Store) -> None:
    PriceStore(sqlite_store).save(gpt4o_prices(), now=PRICE_START)
    now = dt.datetime.now(dt.UTC)
    Ingestor(sqlite_store).ingest(
        [event(i, ts=now - dt.timedelta(minutes=i + 1)) for i in range(10)], source="t"
    )
    settings = load_settings(
        budgets=[
            {
                "name": "all-usage",
                "amount": "0.01",
                "currency": "USD",
                "basis": "nowcast",
                "thresholds": [50, 100],
            }
        ]
    )
    assert check_budgets(settings, sqlite_store) == 2  # one turn of serve's schedule
    statuses, fired = evaluate_and_alert(settings, sqlite_store, as_of=now, notify=True)
    assert [s.budget.name for s in statuses] == ["all-usage"]
    assert statuses[0].exceeded  # 10 × 0.00325 USD against 0.01 USD
    assert fired == []  # the scheduled turn fired 50 % and 100 % already
    key = ("all-usage", statuses[0].period.key)
    assert len(fired_thresholds(sqlite_store, [statuses[0].period.key])[key]) == 2
