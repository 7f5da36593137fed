"""Cost per successful task over a month: /api/kpis from the per-day task aggregates, beside the per-task
computation at read time (the path before them, kept as the oracle), on the same database in the same run.

SQLite: a month of ~1,000,000 events (~256k tasks) with their outcomes, built once through the real ingest
path and kept in /tmp. PostgreSQL (``--postgres-events``, default 0 = skipped): events generated in SQL,
rolled up by the same catch-up. Prints p50/p95 per query beside the targets (≤ 100 ms SQLite, ≤ 300 ms
PostgreSQL), wall and CPU time; the machine may be shared, so compare the two paths of one run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from serving import api_server, ensure_database, load_demo_prices

from aifinops.demo.simulation import simulate_month
from aifinops.engine.kpis import task_kpis
from aifinops.jobs.ingest import Ingestor
from aifinops.queries.periods import day_range
from aifinops.store import Store
from aifinops.store.rollups import catch_up
from aifinops.store.task_kpi_queries import day_task_aggregates
from aifinops.store.task_queries import task_aggregates

_AVG_EVENTS_PER_SCALE = 84_000  # events of simulate_month(scale=1)
_GROUPINGS = ("use_case", "use_case,tenant", "app,agent,model", "")


def build(store: Store, events: int) -> None:
    store.upgrade()
    load_demo_prices(store)
    ingestor = Ingestor(store, defer_rollups=True)
    batch, outcomes, total, start = [], [], 0, time.perf_counter()
    for task in simulate_month(2026, 10, seed=11, scale=events / _AVG_EVENTS_PER_SCALE):
        batch.extend(task.events)
        if task.outcome is not None:
            outcomes.append(task.outcome)
        if len(batch) >= 10_000:
            total += ingestor.ingest(batch, source="bench").accepted
            ingestor.record_outcomes(outcomes)
            batch, outcomes = [], []
            if total >= events:
                break
    total += ingestor.ingest(batch, source="bench").accepted
    ingestor.record_outcomes(outcomes)
    rolled = time.perf_counter()
    catch_up(store)
    print(
        f"built {total:,} events in {rolled - start:.0f} s, "
        f"rolled up in {time.perf_counter() - rolled:.0f} s",
        file=sys.stderr,
    )


_GENERATE = """
INSERT INTO usage_events (event_id, ts, hour, task_id, step, attempt, app, use_case, agent, tenant, team,
    environment, deployment, model, provider, deployment_type, priority, input_tokens, cached_input_tokens,
    output_tokens, reasoning_tokens, requests, kind, status, latency_ms, cost_nanos, currency, source,
    ingested_at)
SELECT 'g-' || i, ts, (EXTRACT(EPOCH FROM ts)::bigint / 3600), 't-' || (i / 4), i %% 4,
    1 + (i %% 11 = 0)::int,
    'app-' || (i / 4) %% 6, 'uc-' || (i / 4) %% 7, 'agent-' || (i / 4) %% 3, 'tenant-' || (i / 4) %% 5,
    'team-' || (i / 4) %% 4, 'prod', 'dep-' || (i / 4) %% 8, 'model-' || (i / 4) %% 6, 'azure_openai',
    'global_standard', false, 1000 + i %% 3000, (i %% 3000) / 4, 100 + i %% 500, 0, 1, 'chat', 'ok', 800,
    CASE WHEN i %% 97 = 0 THEN NULL ELSE 1000 + (i %% 7919) * 1000 END,
    CASE WHEN i %% 97 = 0 THEN NULL ELSE 'USD' END, 'bench', now()
FROM (SELECT i, TIMESTAMPTZ '2026-10-01 00:00:00+00'
        + ((i / 4) * (31 * 86400.0 / (%(n)s / 4))) * INTERVAL '1 second'
        + (i %% 4) * INTERVAL '20 seconds' AS ts
      FROM generate_series(%(lo)s, %(hi)s - 1) AS i) g
"""
_OUTCOMES = """
INSERT INTO task_outcomes (tenant, task_id, outcome, ended_at, received_at)
SELECT 'tenant-' || t %% 5, 't-' || t,
    CASE WHEN t %% 10 < 7 THEN 'succeeded' WHEN t %% 10 < 9 THEN 'failed' ELSE 'abandoned' END,
    TIMESTAMPTZ '2026-11-01 00:00:00+00', now()
FROM generate_series(0, %(n)s / 4 - 1) AS t WHERE t %% 20 <> 0
"""


def build_postgres(url: str, events: int) -> Store:
    """A month of ``events`` generated in SQL (4 events a task), outcomes for 95 % of the tasks, rolled up by
    the same catch-up as ingest."""
    store = Store(url)
    with store.session() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    store.upgrade()
    start = time.perf_counter()
    for lo in range(0, events, 1_000_000):
        with store.session() as conn:
            conn.exec_driver_sql(_GENERATE, {"n": events, "lo": lo, "hi": min(events, lo + 1_000_000)})
        print(
            f"generated {min(events, lo + 1_000_000):,} events ({time.perf_counter() - start:.0f} s)",
            file=sys.stderr,
        )
    with store.session() as conn:
        conn.exec_driver_sql(_OUTCOMES, {"n": events})
        conn.exec_driver_sql("ANALYZE")
    rolled = time.perf_counter()
    catch_up(store, step=500_000)
    with store.session() as conn:
        conn.exec_driver_sql("ANALYZE")
    print(f"rolled up {events:,} events in {time.perf_counter() - rolled:.0f} s", file=sys.stderr)
    return store


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float, float]:
    """(p50 ms, p95 ms, CPU ms per run) of ``fn`` after one warm-up."""
    fn()
    times = []
    cpu0 = time.process_time()
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    cpu = (time.process_time() - cpu0) * 1000 / runs
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))], cpu


def line(label: str, p50: float, p95: float, cpu: float, target: float | None) -> None:
    goal = f" (target p50 ≤ {target:.0f} ms: {'met' if p50 <= target else 'NOT met'})" if target else ""
    print(f"kpis {label}: p50 {p50:.1f} ms, p95 {p95:.1f} ms, cpu {cpu:.1f} ms/run{goal}")


def compare(store: Store, label: str, runs: int, target: float, baseline_runs: int) -> None:
    rng = day_range(dt.date(2026, 10, 1), dt.date(2026, 11, 1))
    for by in _GROUPINGS:
        group = tuple(g for g in by.split(",") if g)
        old = timed(
            lambda g=group: task_kpis(task_aggregates(store, group_by=g, start=rng.start, end=rng.end)),
            baseline_runs,
        )
        new = timed(
            lambda g=group: task_kpis(day_task_aggregates(store, group_by=g, start=rng.start, end=rng.end)),
            runs,
        )
        same = task_aggregates(store, group_by=group, start=rng.start, end=rng.end)
        fast = day_task_aggregates(store, group_by=group, start=rng.start, end=rng.end)
        key = lambda a: (a.group, a.outcome)  # noqa: E731
        equal = sorted(same, key=key) == sorted(fast, key=key)
        line(f"{label} per task at read (before), group_by={by or '-'}", *old, None)
        line(f"{label} day aggregates, group_by={by or '-'} [equal: {equal}]", *new, target)
        print(f"kpis {label} speed-up group_by={by or '-'}: {old[0] / new[0]:.1f}x")


def http(url: str, label: str, runs: int, target: float) -> None:
    with api_server(url) as client:
        for by in _GROUPINGS:
            q = f"/api/kpis?period=2026-10&group_by={by}" if by else "/api/kpis?period=2026-10"
            for basis in ("", "&basis=estimated,actual,amortized"):

                def get(path: str = q + basis) -> None:
                    client.get(path).raise_for_status()

                p50, p95, _ = timed(get, runs)
                line(f"{label} HTTP {q + basis}", p50, p95, 0.0, target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--postgres-events", type=int, default=0, help="0: skip PostgreSQL")
    parser.add_argument(
        "--postgres", default="postgresql://postgres@127.0.0.1:5432/aifinops_bench_kpis", help="its database"
    )
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument(
        "--postgres-reuse", action="store_true", help="keep the month an earlier run generated"
    )
    parser.add_argument("--skip-compare", action="store_true", help="HTTP only (no per-task baseline)")
    parser.add_argument("--baseline-runs", type=int, default=3, help="runs of the per-task path (slow)")
    args = parser.parse_args()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    if args.postgres_events:
        ensure_database(args.postgres)
        if args.postgres_reuse:  # the month generated by an earlier run, migrated to the code's schema
            pg = Store(args.postgres)
            pg.upgrade()
            catch_up(pg)
        else:
            pg = build_postgres(args.postgres, args.postgres_events)
        print(f"kpis postgresql: {args.postgres_events:,} events, {args.postgres_events // 4:,} tasks")
        if not args.skip_compare:
            compare(pg, "postgresql", args.runs, 300, args.baseline_runs)
        http(args.postgres, "postgresql", args.runs, 300)
        pg.dispose()
    if args.skip_sqlite:
        return
    path = Path(f"/tmp/aifinops-bench-kpis-{args.events}.db")
    url = f"sqlite:///{path}"
    store = Store(url)
    if not path.exists():
        build(store, args.events)
    store.upgrade()
    catch_up(store)
    if args.build_only:
        return
    with store.reader() as conn:
        n = conn.exec_driver_sql("SELECT COUNT(*) FROM usage_events").scalar()
        tasks = conn.exec_driver_sql(
            "SELECT COUNT(*) FROM (SELECT DISTINCT tenant, task_id FROM task_rollup)"
        ).scalar()
    print(f"kpis sqlite: {n:,} events, {tasks:,} tasks")
    compare(store, "sqlite", args.runs, 100, args.baseline_runs)
    http(url, "sqlite", args.runs, 100)
    print(
        f"kpis wall {time.perf_counter() - wall0:.0f} s, "
        f"cpu {time.process_time() - cpu0:.0f} s (this process)"
    )


if __name__ == "__main__":
    main()
