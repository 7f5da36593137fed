"""Budgets benchmark: evaluate 1,000 budgets over the demo month plus extra events; back-test the forecast.

Prints one line per figure (never asserts on time). Steps:

1. load the demo month (October 2026) into a fresh SQLite store, then ``--events`` extra events for the
   same month (the simulation at a larger scale, with fresh event ids) through the real ingest path;
2. define 1,000 budgets over tenant / use case / app / model scopes, month / quarter / year periods,
   three time zones and the three bases, and time ``evaluate_budgets`` + ``raise_alerts`` at mid-month
   (the first run fires thresholds, the second must fire none);
3. back-test the period-end forecast: for every day of the month, forecast the month from the data known
   at 00:00 UTC that day and compare with the month's final spend, for the whole month and per tenant.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import random
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from aifinops.demo.month import load_demo_month
from aifinops.demo.simulation import simulate_month
from aifinops.domain import Basis
from aifinops.engine.budgets import Budget, Threshold, ThresholdType
from aifinops.engine.periods import PeriodKind
from aifinops.jobs.alerts import raise_alerts
from aifinops.jobs.ingest import Ingestor
from aifinops.queries.budgets import evaluate_budgets
from aifinops.store import Store
from aifinops.store.budget_tables import budget_alerts
from aifinops.store.budgets import BudgetStore
from aifinops.store.tables import usage_rollup

YEAR, MONTH = 2026, 10
ZONES = ("UTC", "Europe/Paris", "America/New_York")


def _extra_events(store: Store, n: int) -> int:
    ingestor, batch, total = Ingestor(store), [], 0
    scale = max(1.0, n / 80_000)
    for task in simulate_month(YEAR, MONTH, seed=99, scale=scale):
        for event in task.events:
            batch.append(dataclasses.replace(event, event_id="x-" + event.event_id))
            if len(batch) == 5_000:
                total += ingestor.ingest(batch, source="bench").accepted
                batch = []
            if total + len(batch) >= n:
                return total + ingestor.ingest(batch, source="bench").accepted
    return total + ingestor.ingest(batch, source="bench").accepted


def _values(store: Store, dim: str) -> list[str]:
    with store.reader() as conn:
        return sorted(v for (v,) in conn.execute(sa.select(usage_rollup.c[dim]).distinct()) if v)


def _budgets(store: Store, n: int) -> list[Budget]:
    rng = random.Random(5)
    dims = {d: _values(store, d) for d in ("tenant", "use_case", "app", "model")}
    thresholds = (
        Threshold(Decimal(50)),
        Threshold(Decimal(80)),
        Threshold(Decimal(100)),
        Threshold(Decimal(100), ThresholdType.FORECAST),
    )
    out = []
    for i in range(n):
        scope = {d: (rng.choice(dims[d]),) for d in rng.sample(list(dims), rng.choice((0, 1, 1, 2, 2, 3)))}
        out.append(
            Budget(
                name=f"b{i:04d}",
                amount=Decimal(rng.choice((50, 200, 1000, 5000, 20000))),
                currency="USD",
                period=rng.choice((PeriodKind.MONTH, PeriodKind.MONTH, PeriodKind.QUARTER, PeriodKind.YEAR)),
                basis=rng.choice(
                    (Basis.NOWCAST, Basis.NOWCAST, Basis.NOWCAST, Basis.ACTUAL, Basis.AMORTIZED)
                ),
                scope=scope,
                thresholds=thresholds,
                tz=rng.choice(ZONES),
            )
        )
    return out


def _backtest(store: Store, scopes: dict[str, dict[str, tuple[str, ...]]]) -> None:
    budgets = [
        Budget(name=name, amount=Decimal(1), currency="USD", scope=scope, tz="UTC")
        for name, scope in scopes.items()
    ]
    end = dt.datetime(YEAR, MONTH + 1, 1, tzinfo=dt.UTC)
    final = {
        s.budget.name: s.spend.amount
        for s in evaluate_budgets(store, budgets, as_of=end - dt.timedelta(microseconds=1), default_tz="UTC")
    }
    errors: dict[str, list[float]] = {name: [] for name in scopes}
    inside = total = 0
    for day in range(2, 32):
        as_of = dt.datetime(YEAR, MONTH, 1, tzinfo=dt.UTC) + dt.timedelta(days=day - 1)
        for s in evaluate_budgets(store, budgets, as_of=as_of, default_tz="UTC"):
            assert s.forecast is not None
            truth = final[s.budget.name]
            errors[s.budget.name].append(float(abs(s.forecast.point - truth) / truth * 100))
            inside += s.forecast.low <= truth <= s.forecast.high
            total += 1
    for name, errs in errors.items():
        print(
            f"backtest {name:>20}: month total {final[name]:.2f} USD; forecast abs error "
            f"mean {statistics.mean(errs):.1f}% (from day 2), from day 8 {statistics.mean(errs[6:]):.1f}%, "
            f"day 8 {errs[6]:.1f}%, day 15 {errs[13]:.1f}%, day 22 {errs[20]:.1f}%"
        )
    print(f"backtest band: final total inside the forecast band on {inside}/{total} forecasts")


def _setup(store: Store, events: int) -> None:
    t0 = time.perf_counter()
    n_events, tasks = load_demo_month(store, year=YEAR, month=MONTH, seed=42)
    print(f"setup: demo month {n_events:,} events / {tasks:,} tasks in {time.perf_counter() - t0:.1f} s")
    tenants = {f"tenant.{t}": {"tenant": (t,)} for t in _values(store, "tenant")}
    _backtest(store, {"all": {}, **tenants})
    t0 = time.perf_counter()
    extra = _extra_events(store, events)
    print(f"setup: {extra:,} extra events ingested in {time.perf_counter() - t0:.1f} s")


def _evaluate(store: Store, n_budgets: int) -> None:
    with store.reader() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(usage_rollup)).scalar_one()
    print(f"data: usage_rollup holds {rows:,} rows")
    with store.session() as conn:  # a kept database starts every run with no alert fired
        conn.execute(sa.delete(budget_alerts))
    budgets = _budgets(store, n_budgets)
    as_of = dt.datetime(YEAR, MONTH, 20, 12, tzinfo=dt.UTC)
    for run in ("first (fires)", "second (fires none)"):
        t0 = time.perf_counter()
        statuses = evaluate_budgets(store, budgets, as_of=as_of, default_tz="UTC")
        t1 = time.perf_counter()
        fired = raise_alerts(BudgetStore(store), statuses, notifier=None, as_of=as_of)
        t2 = time.perf_counter()
        print(
            f"evaluate {len(statuses):,} budgets, {run}: "
            f"evaluate {t1 - t0:.2f} s + alerts {t2 - t1:.2f} s "
            f"= {t2 - t0:.2f} s; {len(fired):,} alerts fired; "
            f"{sum(s.exceeded for s in statuses)} exceeded"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000, help="extra events beyond the demo month")
    parser.add_argument("--budgets", type=int, default=1000)
    parser.add_argument("--db", type=Path, help="keep the database here; an existing one skips the setup")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "bench.db"
        fresh = not path.exists()
        store = Store(f"sqlite:///{path}")
        store.upgrade()
        if fresh:
            _setup(store, args.events)
        _evaluate(store, args.budgets)
        store.dispose()


if __name__ == "__main__":
    main()
