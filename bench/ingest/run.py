"""Ingest throughput: POST /api/events over HTTP (SQLite, then PostgreSQL) and the store alone as the ceiling.

Prints one line per figure, beside its target. The HTTP client runs in this process with pre-encoded bodies
(batches of 1,000), the server in a uvicorn subprocess with its background roll-up writer, so the figure is
the server's throughput; the time until the roll-ups have caught up is printed beside it. The store ceiling is
the in-process ingest (pricing and insert, roll-ups deferred); the path before the watermark (roll-ups caught
up by every call) is printed beside it as the baseline. Wall and CPU time (this process and the server) are
printed: the machine may be shared, so compare figures of one run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from serving import api_server, load_demo_prices

from aifinops.demo.simulation import simulate_month
from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from aifinops.store.rollups import catch_up, pending

BATCH = 1000


def _events(n: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for task in simulate_month(2026, 10, seed=7, scale=max(1.0, n / 80_000)):
        for e in task.events:
            out.append(
                {
                    k: (v.isoformat() if isinstance(v, dt.datetime) else v)
                    for k, v in {
                        "event_id": e.event_id,
                        "ts": e.ts,
                        "task_id": e.task_id,
                        "step": e.step,
                        "attempt": e.attempt,
                        "app": e.app,
                        "use_case": e.use_case,
                        "agent": e.agent,
                        "tenant": e.tenant,
                        "cost_center": e.cost_center,
                        "team": e.team,
                        "environment": e.environment,
                        "deployment": e.deployment,
                        "model": e.model,
                        "model_version": e.model_version,
                        "deployment_type": e.deployment_type.value if e.deployment_type else None,
                        "region": e.region,
                        "input_tokens": e.input_tokens,
                        "cached_input_tokens": e.cached_input_tokens,
                        "output_tokens": e.output_tokens,
                        "reasoning_tokens": e.reasoning_tokens,
                        "kind": e.kind.value,
                        "status": e.status.value,
                        "latency_ms": e.latency_ms,
                        "tool_name": e.tool_name,
                    }.items()
                    if v is not None
                }
            )
            if len(out) == n:
                return out
    return out


def _prepare(url: str) -> Store:
    store = Store(url)
    if store.dialect == "postgresql":
        with store.session() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    store.upgrade()
    load_demo_prices(store)
    return store


def _cpu() -> tuple[float, float]:
    """CPU seconds of this process and of its finished children (the server)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def bench_http(
    url: str, bodies: list[bytes], n: int, label: str, target: float, *, workers: int = 1
) -> float:
    _prepare(url).dispose()
    cpu0 = _cpu()
    with api_server(url, workers=workers) as client:
        headers = {"content-type": "application/json"}
        start = time.perf_counter()
        with ThreadPoolExecutor(2 * workers) as pool:  # two requests in flight per worker keep it busy
            results = list(pool.map(lambda b: client.post("/api/events", content=b, headers=headers), bodies))
        elapsed = time.perf_counter() - start
        store = Store(url)
        while (p := pending(store))[0] < p[1]:  # the server's writer catches the roll-ups up
            time.sleep(0.05)
        rolled = time.perf_counter() - start
        store.dispose()
    me, server = (b - a for a, b in zip(cpu0, _cpu(), strict=True))
    accepted = sum(r.json()["accepted"] for r in results)
    assert accepted == n, f"accepted {accepted} of {n}"
    rate = n / elapsed
    print(
        f"ingest http {label}, {workers} worker(s): {rate:,.0f} events/s "
        f"(target ≥ {target:,.0f}: {'met' if rate >= target else 'NOT met'}; "
        f"{n:,} events in {elapsed:.2f} s wall, batches of {BATCH}); roll-ups caught up after {rolled:.2f} s "
        f"({n / rolled:,.0f} events/s rolled up); cpu: server {server:.2f} s, client {me:.2f} s"
    )
    return rate


def bench_store(url: str, events: list[dict[str, object]], label: str, *, deferred: bool) -> float:
    from aifinops.api.ingest_schemas import EventIn, to_event, validate_items

    store = _prepare(url)
    domain = [to_event(e) for _, e in validate_items(EventIn, events)[0]]
    ingestor = Ingestor(store, defer_rollups=deferred)
    cpu0, start = time.process_time(), time.perf_counter()
    for i in range(0, len(domain), BATCH):
        ingestor.ingest(domain[i : i + BATCH], source="bench")
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    rate = len(domain) / elapsed
    what = (
        "ceiling (roll-ups deferred)"
        if deferred
        else "baseline (roll-ups caught up by every batch, as before)"
    )
    print(
        f"ingest store {what} {label}: {rate:,.0f} events/s ({len(domain):,} events in {elapsed:.2f} s wall, "
        f"{cpu:.2f} s cpu in this process)"
    )
    if deferred:
        start = time.perf_counter()
        catch_up(store)
        took = time.perf_counter() - start
        print(f"ingest roll-up catch-up {label}: {len(domain) / took:,.0f} events/s ({took:.2f} s wall)")
    store.dispose()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "AIFINOPS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/aifinops_bench"
        ),
    )
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    events = _events(args.events)
    bodies = [orjson.dumps(events[i : i + BATCH]) for i in range(0, len(events), BATCH)]
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        http = bench_http(sqlite_url, bodies, len(events), "sqlite", 50_000)
        bench_http(f"sqlite:///{Path(tmp) / 'bench2.db'}", bodies, len(events), "sqlite", 50_000, workers=2)
        ceiling = bench_store(f"sqlite:///{Path(tmp) / 'ceiling.db'}", events, "sqlite", deferred=True)
        bench_store(f"sqlite:///{Path(tmp) / 'baseline.db'}", events, "sqlite", deferred=False)
        ratio = http / ceiling
        print(
            f"ingest http/ceiling sqlite: {ratio:.2f} (target ≥ 0.50: {'met' if ratio >= 0.5 else 'NOT met'})"
        )
    if args.skip_postgres:
        return
    _ensure_database(args.postgres)
    http_pg = bench_http(args.postgres, bodies, len(events), "postgresql", 30_000)
    bench_http(args.postgres, bodies, len(events), "postgresql", 30_000, workers=2)
    ceiling_pg = bench_store(args.postgres, events, "postgresql", deferred=True)
    bench_store(args.postgres, events, "postgresql", deferred=False)
    print(f"ingest http/ceiling postgresql: {http_pg / ceiling_pg:.2f}")


def _ensure_database(url: str) -> None:
    import sqlalchemy as sa

    base, name = url.rsplit("/", 1)
    admin = sa.create_engine(Store(base + "/postgres").url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


if __name__ == "__main__":
    main()
