"""Per-view latency of the dashboard over a month of about 1,000,000 events (SQLite) or of ``--events``
(PostgreSQL): each view's API requests, sent at once as the page sends them; wall time per view (p50 and
max of the runs), the server's CPU time (the API process, and on PostgreSQL the database's backends too) and
the load average beside them. Target: every view within 1 s.

SQLite: the demo month at ``--scale`` (usage, bill, allocation, budgets), built once with ``aifinops demo``
and kept in /tmp between runs. PostgreSQL (``--db postgresql://…/NAME``): the demo month at scale 1 (its bill,
allocation and budgets), whose events are then copied in SQL (new event and task ids, the same days, prices
and dimensions; outcomes copied with their tasks) up to ``--events``, and rolled up by the same catch-up as
ingest; kept between runs unless ``--rebuild``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import httpx
import sqlalchemy as sa
from serving import api_server, ensure_database

from aifinops.store import Store
from aifinops.store.rollups import catch_up
from aifinops.store.tables import task_outcomes, usage_events

P, PREV = "2026-10", "2026-09"
#: What each view asks for (see api/static/dashboard.js); the page sends one view's requests together.
VIEWS: dict[str, list[str]] = {
    "overview": [
        f"/api/snapshot?period={P}&fresh=true",
        f"/api/kpis?period={P}&group_by=use_case",
        f"/api/costs?period={P}&group_by=use_case&granularity=day",
        f"/api/token-usage?period={P}&group_by=use_case&granularity=month",
        f"/api/tasks?period={P}&outcome=failed&limit=10",
        f"/api/allocation/kpis?period={P}",
        f"/api/allocation/kpis?period={PREV}",
        f"/api/allocation?period={P}&basis=actual",
        # On the actual basis (the bill is allocated): the daily chart and the top spenders follow it.
        f"/api/costs?period={P}&group_by=use_case&granularity=day&basis=actual",
        f"/api/costs?period={P}&group_by=app,tenant&granularity=month&basis=actual",
    ],
    "budgets": [
        f"/api/snapshot?period={P}",
        "/api/budgets/status?as_of=2026-10-31T23:59:59Z",
        "/api/budgets",
        "/api/alerts?limit=1000",
    ],
    "anomalies": [
        f"/api/snapshot?period={P}",
        f"/api/costs?period={P}&granularity=day",
        f"/api/anomalies/days?period={P}&by=use_case",
    ],
    "allocation": [f"/api/snapshot?period={P}", f"/api/allocation?period={P}&basis=actual&by=app"],
    "reconciliation": [f"/api/snapshot?period={P}", f"/api/reconciliation?period={P}&basis=actual"],
    "recommendations": [f"/api/snapshot?period={P}", f"/api/recommendations?period={P}"],
    "inventory": [f"/api/snapshot?period={P}", "/api/inventory", f"/api/estate?period={P}"],
    "prices": [f"/api/snapshot?period={P}", "/api/prices"],
    "freshness": [f"/api/snapshot?period={P}"],
}


def build(path: Path, scale: float) -> None:
    env = dict(os.environ, AIFINOPS_DATABASE_URL=f"sqlite:///{path}")
    cli = Path(sys.executable).with_name("aifinops")
    started = time.perf_counter()
    subprocess.run(
        [str(cli), "demo", "--month", P, "--scale", str(scale), "--no-serve"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"built {path} in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def _copies_sql(table: sa.Table, renamed: dict[str, str], where: str) -> str:
    """INSERT the rows of ``table`` matching ``where`` again, with the ``renamed`` columns' expressions."""
    cols = [c.name for c in table.columns if c.name != "id"]
    return (
        f"INSERT INTO {table.name} ({', '.join(cols)}) "
        f"SELECT {', '.join(renamed.get(c, c) for c in cols)} FROM {table.name} WHERE {where}"
    )


def build_postgres(url: str, events: int) -> None:
    """The demo month at scale 1 on PostgreSQL, its events (and outcomes) copied up to ``events``."""
    ensure_database(url)
    store = Store(url)
    with store.session() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    store.dispose()
    started = time.perf_counter()
    env = dict(os.environ, AIFINOPS_DATABASE_URL=url)
    cli = Path(sys.executable).with_name("aifinops")
    subprocess.run([str(cli), "demo", "--month", P, "--scale", "1", "--no-serve"], env=env, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    store = Store(url)
    with store.reader() as conn:
        top, have = conn.exec_driver_sql("SELECT max(id), count(*) FROM usage_events").one()
        seeded = conn.exec_driver_sql("SELECT max(received_at) FROM task_outcomes").scalar_one()
    copies = max(0, -(-events // have) - 1)
    print(
        f"demo month: {have:,} events ({time.perf_counter() - started:.0f} s); {copies} copies",
        file=sys.stderr,
    )
    for c in range(1, copies + 1):
        with store.session() as conn:
            conn.exec_driver_sql(
                _copies_sql(
                    usage_events,
                    {"event_id": f"event_id || '~{c}'", "task_id": f"task_id || '~{c}'",
                     "ingested_at": "now()"},
                    f"id <= {top}",
                )
            )  # fmt: skip
            conn.exec_driver_sql(
                _copies_sql(
                    task_outcomes,
                    {"task_id": f"task_id || '~{c}'", "received_at": "now()"},
                    f"received_at <= '{seeded.isoformat()}'",
                )
            )
        print(f"copy {c}/{copies} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    with store.session() as conn:
        conn.exec_driver_sql("ANALYZE")
    rolled = time.perf_counter()
    catch_up(store, step=500_000)
    with store.session() as conn:
        conn.exec_driver_sql("ANALYZE")
    print(f"rolled up in {time.perf_counter() - rolled:.0f} s", file=sys.stderr)
    store.dispose()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _timed(client: httpx.Client, pid: int, path: str) -> tuple[float, float]:
    """One request alone: its wall time and the API process's CPU time."""
    cpu0, start = _cpu_seconds(pid), time.perf_counter()
    client.get(path).raise_for_status()
    return time.perf_counter() - start, _cpu_seconds(pid) - cpu0


def _postgres_cpu_seconds(engine: sa.Engine) -> float:
    """CPU time of the PostgreSQL backends connected to the benchmark's database (the API's among them; this
    process's own backend and the other databases on the machine left out)."""
    with engine.connect() as conn:
        pids = conn.execute(
            sa.text(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalars()
        total = 0.0
        for pid in pids:
            try:
                total += _cpu_seconds(int(pid))
            except (FileNotFoundError, ProcessLookupError):
                continue  # a backend that ended meanwhile
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=12.0, help="demo scale; 12 ≈ 1,000,000 events")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--views", default=",".join(VIEWS), help="comma-separated views to measure")
    parser.add_argument(
        "--db", help="SQLite file or postgresql://…/NAME (default: a SQLite file in /tmp, by scale)"
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="PostgreSQL: events of the month")
    parser.add_argument("--requests", action="store_true", help="also each request alone: wall and API CPU")
    parser.add_argument("--rebuild", action="store_true", help="PostgreSQL: build the month even if present")
    args = parser.parse_args()
    if args.db and args.db.startswith("postgresql"):
        url = args.db
        if args.rebuild or not _has_month(url):
            build_postgres(url, args.events)
    else:
        path = Path(args.db) if args.db else Path(f"/tmp/aifinops-bench-dashboard-{args.scale:g}.db")
        if not path.exists():
            build(path, args.scale)
        url = f"sqlite:///{path}"
    postgres = url.startswith("postgresql")
    store = Store(url)
    store.upgrade()
    with store.reader() as conn:
        events = conn.exec_driver_sql("SELECT count(*) FROM usage_events").scalar_one()
    store.dispose()
    watcher = sa.create_engine(Store(url).url, pool_size=1) if postgres else None
    with api_server(url) as client, ThreadPoolExecutor(max_workers=8) as pool:
        client.timeout = httpx.Timeout(600)  # a cold first read at scale may take longer than a minute
        pid = int(
            subprocess.check_output(["pgrep", "-n", "-f", "aifinops.api.factory:app_from_env"]).split()[0]
        )
        for view in args.views.split(","):
            paths = VIEWS[view]
            cold = time.perf_counter()
            for r in pool.map(client.get, paths):  # warm-up, and every route answers
                r.raise_for_status()
            cold = time.perf_counter() - cold
            walls, cpus, dbs = [], [], []
            for _ in range(args.runs):
                db0 = _postgres_cpu_seconds(watcher) if watcher else 0.0
                cpu0, start = _cpu_seconds(pid), time.perf_counter()
                for r in pool.map(client.get, paths):
                    r.raise_for_status()
                walls.append(time.perf_counter() - start)
                cpus.append(_cpu_seconds(pid) - cpu0)
                dbs.append(_postgres_cpu_seconds(watcher) - db0 if watcher else 0.0)
            wall, cpu, db = (statistics.median(x) * 1000 for x in (walls, cpus, dbs))
            database = f", database CPU p50 {db:.0f} ms" if postgres else ""
            print(
                f"dashboard view {view} ({'postgresql' if postgres else 'sqlite'}): wall p50 {wall:.0f} ms, "
                f"max {max(walls) * 1000:.0f} ms, API CPU p50 {cpu:.0f} ms{database}, target 1000 ms"
                f"{'' if wall <= 1000 else ' MISSED'} ({len(paths)} requests, {events:,} events, "
                f"{args.runs} runs, first load {cold * 1000:.0f} ms, load average {os.getloadavg()[0]:.2f})"
            )
            if args.requests:
                for p in paths:
                    alone = [_timed(client, pid, p) for _ in range(args.runs)]
                    print(
                        f"  {p}: wall p50 {statistics.median(w for w, _ in alone) * 1000:.0f} ms, "
                        f"API CPU p50 {statistics.median(c for _, c in alone) * 1000:.0f} ms"
                    )


def _has_month(url: str) -> bool:
    ensure_database(url)
    engine = sa.create_engine(Store(url).url)
    try:
        with engine.connect() as conn:
            return bool(conn.execute(sa.text("SELECT count(*) > 0 FROM usage_events")).scalar())
    except sa.exc.DBAPIError:
        return False
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
