"""Read latency over a month of 1,000,000 events on SQLite: /api/token-usage by app per day, and /metrics.

The database is built once through the real ingest path (priced, rolled up) and kept in /tmp between runs.
Prints p50/p95 per route.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from serving import api_server, load_demo_prices

from aifinops.demo.simulation import simulate_month
from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store

_AVG_EVENTS_PER_SCALE = 84_000  # events of simulate_month(scale=1)


def build(path: Path, events: int) -> None:
    store = Store(f"sqlite:///{path}")
    store.upgrade()
    load_demo_prices(store)
    ingestor = Ingestor(store)
    batch, total, start = [], 0, time.perf_counter()
    for task in simulate_month(2026, 10, seed=11, scale=events / _AVG_EVENTS_PER_SCALE):
        batch.extend(task.events)
        if len(batch) >= 10_000:
            total += ingestor.ingest(batch, source="bench").accepted
            batch = []
            if total >= events:
                break
    total += ingestor.ingest(batch, source="bench").accepted
    print(f"built {path} with {total:,} events in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    store.dispose()


def measure(client: httpx.Client, path: str, runs: int) -> list[float]:
    client.get(path).raise_for_status()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        client.get(path).raise_for_status()
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    path = Path(f"/tmp/aifinops-bench-query-{args.events}.db")
    if not path.exists():
        build(path, args.events)
    Store(f"sqlite:///{path}").upgrade()  # a database kept from an older run gets the newer migrations
    with api_server(f"sqlite:///{path}") as client:
        routes = {
            "token-usage group_by=app day": ("/api/token-usage?group_by=app&granularity=day&period=2026-10"),
            "token-usage group_by=tenant,model hour, one day": (
                "/api/token-usage?group_by=tenant,model&granularity=hour&start=2026-10-14&end=2026-10-15"
            ),
            "kpis by use case": "/api/kpis?period=2026-10",
            "metrics scrape": "/metrics",
        }
        for label, route in routes.items():
            t = sorted(measure(client, route, args.runs))
            p95 = t[min(len(t) - 1, int(len(t) * 0.95))]
            print(
                f"query {label}: p50 {statistics.median(t):.1f} ms, p95 {p95:.1f} ms "
                f"over {args.events:,} events ({args.runs} runs)"
            )


if __name__ == "__main__":
    main()
