"""Budgets in the store: CRUD, spend per scope and local day, nowcast, once-only alerts across restarts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import httpx
import pytest
import sqlalchemy as sa

from aifinops.domain import DIMENSIONS, Basis, CostRecord, to_nanos
from aifinops.engine.budgets import Action, Budget, Enforcement, Threshold, ThresholdType, alerts_to_fire
from aifinops.errors import ValidationError
from aifinops.jobs.alerts import Channel, ChannelKind, Notifier, raise_alerts
from aifinops.queries.budgets import evaluate_budgets
from aifinops.sources._http import RetryPolicy
from aifinops.store import Store
from aifinops.store.budget_queries import alert_records, fired_thresholds, stored_budget, stored_budgets
from aifinops.store.budgets import BudgetStore
from aifinops.store.cost_records import CostRecordStore
from aifinops.store.spend_queries import spend_sums
from aifinops.store.tables import usage_rollup

PARIS = "Europe/Paris"


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def add_usage(store: Store, ts: dt.datetime, cost: str, currency: str = "EUR", **dims: str) -> None:
    row = {d: dims.get(d, "") for d in DIMENSIONS}
    with store.session() as conn:
        conn.execute(
            sa.insert(usage_rollup).values(
                hour=int(ts.timestamp() // 3600),
                kind="chat",
                status="ok",
                currency=currency,
                events=1,
                requests=1,
                cost_nanos=to_nanos(Decimal(cost)),
                **row,
            )
        )


def budget(**overrides: object) -> Budget:
    values: dict[str, object] = {
        "name": "contoso",
        "amount": Decimal("100"),
        "currency": "EUR",
        "scope": {"tenant": ("contoso",)},
        "thresholds": (
            Threshold(Decimal(50)),
            Threshold(Decimal(100)),
            Threshold(Decimal(100), ThresholdType.FORECAST),
        ),
        "tz": PARIS,
    }
    values.update(overrides)
    return Budget(**values)  # type: ignore[arg-type]


def test_crud_versions_and_config_budgets_are_read_only(store: Store) -> None:
    budgets = BudgetStore(store, clock=lambda: at(2026, 11, 1))
    budgets.create(budget())
    with pytest.raises(ValidationError, match="already exists"):
        budgets.create(budget())
    updated = budgets.replace(budget(amount=Decimal("250"), enforcement=Enforcement(Action.BLOCK)))
    assert updated.version == 2 and stored_budget(store, "contoso").budget.amount == Decimal("250")  # type: ignore[union-attr]
    budgets.sync_config([budget(name="from-config")])
    with pytest.raises(ValidationError, match="configuration file"):
        budgets.replace(budget(name="from-config", amount=Decimal(1)))
    with pytest.raises(ValidationError, match="configuration file"):
        budgets.delete("from-config")
    assert [(b.budget.name, b.origin) for b in stored_budgets(store)] == [
        ("contoso", "api"),
        ("from-config", "config"),
    ]
    budgets.sync_config([])
    assert budgets.delete("contoso") and not budgets.delete("contoso")
    assert stored_budgets(store) == []


def test_spend_is_summed_per_scope_and_paris_day_and_resets_at_paris_midnight(store: Store) -> None:
    add_usage(store, at(2026, 11, 30, 22), "30", tenant="contoso", use_case="summary")  # 23:00 Paris, Nov 30
    add_usage(store, at(2026, 11, 30, 23), "7", tenant="contoso", use_case="triage")  # 00:00 Paris, Dec 1
    add_usage(store, at(2026, 11, 30, 23), "500", tenant="fabrikam")
    add_usage(store, at(2026, 11, 30, 23), "999", currency="USD", tenant="contoso")  # never added to EUR
    november = evaluate_budgets(store, [budget()], as_of=at(2026, 11, 30, 22, 59), default_tz="UTC")
    december = evaluate_budgets(
        store,
        [budget(), budget(name="summary", scope={"tenant": ("contoso",), "use_case": ("summary", "triage")})],
        as_of=at(2026, 11, 30, 23, 30),
        default_tz="UTC",
    )
    assert [(s.period.key, s.spend.amount) for s in november] == [("2026-11", Decimal("30"))]
    assert [(s.budget.name, s.period.key, s.spend.amount) for s in december] == [
        ("contoso", "2026-12", Decimal("7")),
        ("summary", "2026-12", Decimal("7")),
    ]


def test_nowcast_replaces_estimates_with_attributed_actuals(store: Store) -> None:
    for day in (1, 2, 3):
        add_usage(store, at(2026, 11, day, 12), "10", tenant="contoso")
        add_usage(store, at(2026, 11, day, 12), "30", tenant="fabrikam")
    records = [
        CostRecord(billing_day=dt.date(2026, 11, d), basis=Basis.ACTUAL, cost=Decimal("48"), currency="EUR")
        for d in (1, 2, 3)
    ]
    CostRecordStore(store).replace_slice(
        "test", "sub", Basis.ACTUAL, dt.date(2026, 11, 1), dt.date(2026, 11, 4), records
    )
    # Billed data through Nov 3 makes Nov 1-2 complete; Nov 3 stays estimated until Nov 4 arrives.
    (everything, billed, scoped) = evaluate_budgets(  # sorted by name
        store,
        [
            budget(tz="UTC"),
            budget(name="all", scope={}, tz="UTC"),
            budget(name="billed", scope={}, basis=Basis.ACTUAL, tz="UTC"),
        ],
        as_of=at(2026, 11, 3, 18),
        default_tz="UTC",
    )
    assert everything.spend.amount == Decimal("48") * 2 + Decimal("40")
    assert scoped.spend.amount == Decimal("12") * 2 + Decimal("10")  # a quarter of each billed day
    assert billed.spend.amount == Decimal("144") and billed.forecast is not None


def _notifier(requests: list[httpx.Request], status: int = 200) -> Notifier:
    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(status if "/fail" in request.url.path else 200, text="ok")

    channels = [
        Channel("slack", ChannelKind.SLACK, "https://hooks.example/ok"),
        Channel("teams", ChannelKind.TEAMS, "https://hooks.example/fail"),
    ]
    return Notifier(
        httpx.Client(transport=httpx.MockTransport(answer)),
        channels,
        policy=RetryPolicy(max_attempts=2, sleep=lambda _: None),
        clock=lambda: at(2026, 11, 20),
    )


def test_thresholds_fire_once_across_restarts_and_rearm_in_the_next_paris_period(store: Store) -> None:
    add_usage(store, at(2026, 11, 20, 8), "90", tenant="contoso")
    requests: list[httpx.Request] = []
    as_of = at(2026, 11, 20, 9)
    statuses = evaluate_budgets(store, [budget()], as_of=as_of, default_tz="UTC")
    fired = raise_alerts(BudgetStore(store), statuses, notifier=_notifier(requests, 503), as_of=as_of)
    assert len(fired) == 2  # actual 50 % and forecast 100 %
    store.dispose()

    restarted = Store(store.url)
    try:
        again = evaluate_budgets(restarted, [budget()], as_of=at(2026, 11, 20, 10), default_tz="UTC")
        assert raise_alerts(BudgetStore(restarted), again, notifier=_notifier(requests), as_of=as_of) == []
        alerts = alert_records(restarted)
        assert sorted(a.threshold for a in alerts) == ["actual:50", "forecast:100"]
        assert {a.delivery_status for a in alerts} == {"failed"}  # the Teams channel answered 503 twice
        (slack, teams) = alerts[0].deliveries
        assert (slack.status, teams.status, teams.attempts, teams.http_status) == (
            "delivered",
            "failed",
            2,
            503,
        )
        assert len(requests) == 2 * (1 + 2)  # no second round of notifications after the restart

        add_usage(restarted, at(2026, 11, 30, 23, 30), "55", tenant="contoso")  # 00:30 Dec 1 in Paris
        december = evaluate_budgets(restarted, [budget()], as_of=at(2026, 11, 30, 23, 45), default_tz="UTC")
        new = raise_alerts(BudgetStore(restarted), december, notifier=None, as_of=at(2026, 11, 30, 23, 45))
        assert [(a.period_key, a.threshold) for a in alert_records(restarted) if a.id in new] == [
            ("2026-12", "actual:50")
        ]
    finally:
        restarted.dispose()


def test_recording_fired_alerts_is_idempotent_per_threshold_and_period(store: Store) -> None:
    add_usage(store, at(2026, 11, 20, 8), "120", tenant="contoso")
    (status,) = evaluate_budgets(store, [budget()], as_of=at(2026, 11, 20, 9), default_tz="UTC")
    budgets = BudgetStore(store)
    alerts = alerts_to_fire(status, fired=(), as_of=at(2026, 11, 20, 9))
    first = budgets.record_fired([(a, {"n": 1}) for a in alerts[:1]])
    both = budgets.record_fired([(a, {"n": 2}) for a in alerts])
    assert first[0] is not None and both[0] is None and all(i is not None for i in both[1:])
    assert fired_thresholds(store, ["2026-11"]) == {("contoso", "2026-11"): {a.threshold.key for a in alerts}}


def test_hourly_sums_are_filtered_by_dimension_values(store: Store) -> None:
    add_usage(store, at(2026, 11, 20, 8), "1.5", tenant="contoso", model="o3")
    add_usage(store, at(2026, 11, 20, 8), "2", tenant="contoso", model="gpt-4o-mini")
    add_usage(store, at(2026, 11, 20, 9), "4", tenant="fabrikam", model="o3")
    rows = spend_sums(
        store,
        first_day=dt.date(2026, 11, 20),
        end=at(2026, 11, 20, 10),
        tz=dt.UTC,
        currency="EUR",
        group=("model",),
        filters={"tenant": ("contoso",)},
        hourly=True,
    )
    assert sorted(rows) == [
        (at(2026, 11, 20, 8), ("gpt-4o-mini",), to_nanos(Decimal("2"))),
        (at(2026, 11, 20, 8), ("o3",), to_nanos(Decimal("1.5"))),
    ]
