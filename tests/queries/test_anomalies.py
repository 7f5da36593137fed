"""Anomalies over the stored usage, asked day by day per tenant: the planted events, and no cry of wolf."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from aifinops.engine.anomalies import Status
from aifinops.jobs.ingest import Ingestor
from aifinops.queries.anomalies import anomalies_json, find_anomalies, period_anomalies
from aifinops.store import Store
from aifinops.store.prices import PriceStore
from tests.factories import PRICE_START, event, gpt4o_prices, weekday_shaped_history

FIRST = dt.date(2026, 9, 7)  # a Monday
DAYS = 45
SPIKE = ("tenant-1", FIRST + dt.timedelta(days=30))  # 5×
COLLAPSE = ("tenant-3", FIRST + dt.timedelta(days=37))  # −90 %
_INPUT_PRICE = Decimal("2.5") / 1_000_000  # gpt-4o input, USD per token


def _history(store: Store) -> None:
    """Five tenants, 45 days of weekday-shaped spend with ±12 % noise, one 5× spike and one 90 % collapse:
    one gpt-4o call per tenant and day whose input tokens cost the day's spend."""
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    rng = random.Random(7)
    events = []
    for t in range(5):
        tenant = f"tenant-{t}"
        series = weekday_shaped_history(rng, first=FIRST, days=DAYS, noise=0.12)
        for day, spend in series.items():
            factor = {SPIKE: Decimal(5), COLLAPSE: Decimal("0.1")}.get((tenant, day), Decimal(1))
            tokens = int(spend * factor / 10 / _INPUT_PRICE)  # levels of 4–220 USD a day
            at = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
            events.append(
                event(
                    len(events),
                    ts=at,
                    task_id=None,
                    tenant=tenant,
                    input_tokens=tokens,
                    cached_input_tokens=0,
                    output_tokens=0,
                )
            )
    Ingestor(store).ingest(events, source="test")


def test_asked_day_by_day_per_tenant_only_the_planted_events_alarm(store: Store) -> None:
    _history(store)
    flagged, judged, unjudged = set(), 0, 0
    for i in range(1, DAYS):
        day = FIRST + dt.timedelta(days=i)
        at = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        found = find_anomalies(store, filters={}, by="tenant", hourly=False, at=at, tz="UTC", currency="USD")
        flagged |= {(a.scope.removeprefix("tenant="), dt.date.fromisoformat(a.at)) for a in found.anomalies}
        assert all(v.status is Status.INSUFFICIENT_HISTORY for v in found.not_judged)
        judged += found.judged
        unjudged += len(found.not_judged)
    assert flagged == {SPIKE, COLLAPSE}
    assert judged - len(flagged) >= 150 and unjudged > 0  # the first days of each tenant are not judged


def test_a_baseline_too_short_to_judge_says_so_instead_of_alerting(store: Store) -> None:
    _history(store)
    at = dt.datetime.combine(FIRST + dt.timedelta(days=13), dt.time(), tzinfo=dt.UTC)  # judging a Sunday
    found = find_anomalies(store, filters={}, by="tenant", hourly=False, at=at, tz="UTC", currency="USD")
    assert found.anomalies == [] and len(found.not_judged) == 5
    document = anomalies_json(found, at=at, hourly=False, currency="USD")
    assert document["anomalies"] == []
    first = document["not_judged"][0]
    assert first["status"] == "insufficient_history"
    assert (first["baseline"], first["baseline_points"], first["needed"]) == ("weekend days", 2, 4)
    assert "not judged" in first["explanation"]


def test_a_period_judged_at_once_equals_each_day_judged_alone(store: Store) -> None:
    """``period_anomalies`` reads the spend once; each day's anomalies, drivers included, are those
    ``find_anomalies`` finds at that day's next midnight (by tenant, by another dimension, and unscoped)."""
    _history(store)
    start, end = FIRST + dt.timedelta(days=20), FIRST + dt.timedelta(days=DAYS)
    for by in ("tenant", "model", None):
        alone = []
        day = start
        while day < end:
            at = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
            found = find_anomalies(store, filters={}, by=by, hourly=False, at=at, tz="UTC", currency="USD")
            alone += anomalies_json(found, at=at, hourly=False, currency="USD")["anomalies"]
            day += dt.timedelta(days=1)
        assert period_anomalies(store, start, end, by=by, tz="UTC", currency="USD") == alone, by
        if by == "tenant":
            assert {(a["scope"], a["at"]) for a in alone} == {
                (f"tenant={t}", d.isoformat()) for t, d in (SPIKE, COLLAPSE)
            }
