"""The demo's API Management app: no SDK, no gateway — its usage read from API Management's logs and its
outcomes from Application Insights custom events, and still a cost per successful task."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from aifinops.config import load_settings
from aifinops.demo.apim_app import APIM_APP, APIM_USE_CASE, collect_apim_app
from aifinops.domain import Basis
from aifinops.queries.kpis import read_day_kpis
from aifinops.sources.price_file import load_snapshot
from aifinops.store import Store
from aifinops.store.prices import PriceStore
from aifinops.store.tables import usage_events

OCT, NOV = dt.date(2026, 10, 1), dt.date(2026, 11, 1)


def test_the_apim_app_has_a_cost_per_successful_task_from_logs_alone(sqlite_store: Store) -> None:
    PriceStore(sqlite_store).save(load_snapshot().prices, now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    first = collect_apim_app(sqlite_store, load_settings(), year=2026, month=10, seed=42, scale=0.1)
    assert first.events == first.requests > first.tickets == first.outcomes > 0
    e = usage_events.c
    with sqlite_store.reader() as conn:
        sources = conn.execute(
            sa.select(e.source, sa.func.count()).where(e.app == APIM_APP).group_by(e.source)
        ).all()
        unpriced = conn.execute(
            sa.select(sa.func.count()).where(e.app == APIM_APP, e.cost_nanos.is_(None))
        ).scalar()
    assert [tuple(r) for r in sources] == [("apim", first.requests)] and unpriced == 0
    (kpi,) = [
        k
        for k in read_day_kpis(sqlite_store, OCT, NOV, by=("use_case",), bases=(Basis.ESTIMATED,)).kpis
        if k.group == (APIM_USE_CASE,)
    ]
    assert kpi.tasks == first.tickets and 0 < kpi.succeeded < kpi.tasks
    (cost,) = kpi.on(Basis.ESTIMATED)
    assert cost.per_successful_task is not None and cost.per_successful_task > 0
    again = collect_apim_app(sqlite_store, load_settings(), year=2026, month=10, seed=42, scale=0.1)
    assert again.events == 0  # read again: nothing new, nothing counted twice
