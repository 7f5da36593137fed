"""Per-view latency of the dashboard over a month of about 1,000,000 events (SQLite): each view's API
requests, sent at once as the page sends them; wall time per view (p50 and max of the runs) and the
server's CPU time.

The database is the demo month at ``--scale`` (usage, bill, allocation, budgets), built once with
``aifinops demo`` and kept in /tmp between runs.
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
from serving import api_server

from aifinops.store import Store

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
    "recommendations": [f"/api/snapshot?period={P}"],
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


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=12.0, help="demo scale; 12 ≈ 1,000,000 events")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--views", default=",".join(VIEWS), help="comma-separated views to measure")
    parser.add_argument("--db", type=Path, help="SQLite file (default: in /tmp, by scale)")
    args = parser.parse_args()
    path = args.db or Path(f"/tmp/aifinops-bench-dashboard-{args.scale:g}.db")
    if not path.exists():
        build(path, args.scale)
    store = Store(f"sqlite:///{path}")
    store.upgrade()
    with store.reader() as conn:
        events = conn.exec_driver_sql("SELECT count(*) FROM usage_events").scalar_one()
    store.dispose()
    with api_server(f"sqlite:///{path}") as client, ThreadPoolExecutor(max_workers=8) as pool:
        pid = int(
            subprocess.check_output(["pgrep", "-n", "-f", "aifinops.api.factory:app_from_env"]).split()[0]
        )
        for view in args.views.split(","):
            paths = VIEWS[view]
            for p in paths:  # warm-up, and every route answers
                client.get(p).raise_for_status()
            walls, cpus = [], []
            for _ in range(args.runs):
                cpu0, start = _cpu_seconds(pid), time.perf_counter()
                for r in pool.map(client.get, paths):
                    r.raise_for_status()
                walls.append(time.perf_counter() - start)
                cpus.append(_cpu_seconds(pid) - cpu0)
            print(
                f"dashboard view {view}: wall p50 {statistics.median(walls) * 1000:.0f} ms, max "
                f"{max(walls) * 1000:.0f} ms, server CPU p50 {statistics.median(cpus) * 1000:.0f} ms "
                f"({len(paths)} requests, {events:,} events, {args.runs} runs)"
            )


if __name__ == "__main__":
    main()
