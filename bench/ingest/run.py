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
from functools import partial
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from serving import api_server, ensure_database, load_demo_prices

from aifinops.demo.simulation import simulate_month
from aifinops.domain import UsageEvent
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


def _server_cpu() -> float:
    """CPU seconds so far of this process's descendants (the uvicorn server and its workers; Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [os.getpid()]
    while todo:
        pid = todo.pop()
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                todo.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                continue
        if pid != os.getpid():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def bench_http(
    url: str, bodies: list[bytes], n: int, label: str, target: float, *, workers: int = 1
) -> float:
    _prepare(url).dispose()
    cpu0 = _cpu()
    with api_server(url, workers=workers) as client:
        headers = {"content-type": "application/json"}
        serving0 = _server_cpu()
        start = time.perf_counter()
        with ThreadPoolExecutor(2 * workers) as pool:  # two requests in flight per worker keep it busy
            results = list(pool.map(lambda b: client.post("/api/events", content=b, headers=headers), bodies))
        elapsed = time.perf_counter() - start
        serving = _server_cpu() - serving0
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
        f"({n / rolled:,.0f} events/s rolled up); cpu: server {server:.2f} s (from its start to its end), "
        f"{serving:.2f} s while the batches were sent ({serving / n * 1e6:.1f} µs/event, roll-up writer "
        f"included), client {me:.2f} s"
    )
    return rate


def _valid(events: list[dict[str, object]]) -> list[dict[str, object]]:
    from aifinops.api.ingest_schemas import EventIn, check_event, to_values, validate_items

    now = dt.datetime.now(dt.UTC)
    return [to_values(v) for _, v in validate_items(EventIn, events, lambda e: check_event(e, now))[0]]


def bench_store(url: str, events: list[dict[str, object]], label: str, *, path: str) -> float:
    """The store's own rate over validated events: ``values`` (the server's path: rows straight from the
    fields, priced per price key), ``objects`` (event objects priced one by one, the path before) or
    ``inline`` (objects, and every batch catching the roll-ups up, the path before the watermark)."""
    store = _prepare(url)
    values = _valid(events)
    domain = [UsageEvent(**v) for v in values]
    ingestor = Ingestor(store, defer_rollups=path != "inline")
    cpu0, start = time.process_time(), time.perf_counter()
    for i in range(0, len(values), BATCH):
        if path == "values":
            ingestor.ingest_values(values[i : i + BATCH], source="bench")
        else:
            ingestor.ingest(domain[i : i + BATCH], source="bench")
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    rate = len(values) / elapsed
    what = {
        "values": "ceiling (rows from validated fields, priced per price key; roll-ups deferred)",
        "objects": "event objects priced one by one, the path before (roll-ups deferred)",
        "inline": "baseline (event objects, roll-ups caught up by every batch, as before the watermark)",
    }[path]
    print(
        f"ingest store {what} {label}: {rate:,.0f} events/s ({len(values):,} events in {elapsed:.2f} s wall, "
        f"{cpu:.2f} s cpu in this process, {cpu / len(values) * 1e6:.1f} µs cpu/event)"
    )
    if path == "values":
        start = time.perf_counter()
        catch_up(store)
        took = time.perf_counter() - start
        print(f"ingest roll-up catch-up {label}: {len(values) / took:,.0f} events/s ({took:.2f} s wall)")
    store.dispose()
    return rate


def stages(url: str, bodies: list[bytes], n: int) -> None:
    """CPU time per event of each stage of the server's path, and of the path before (event objects)."""
    from aifinops.api.ingest_schemas import EventIn, check_event, to_event, to_values, validate_items
    from aifinops.engine.price_plans import PricePlans
    from aifinops.engine.pricing import price_event
    from aifinops.store.event_rows import values_row
    from aifinops.store.events import event_values, sqlite_time

    store = _prepare(url)
    ingestor = Ingestor(store, defer_rollups=True)
    book = ingestor.book()
    plans = PricePlans(book)
    now = dt.datetime.now(dt.UTC)
    at = sqlite_time(now)
    spent: dict[str, float] = {}
    last = time.process_time()

    def lap(stage: str) -> None:
        nonlocal last
        now_cpu = time.process_time()
        spent[stage] = spent.get(stage, 0.0) + now_cpu - last
        last = now_cpu

    for body in bodies:
        lap("client")
        items = orjson.loads(body)
        lap("parse JSON")
        valid = validate_items(EventIn, items, partial(check_event, now=now))[0]
        lap("validate")
        values = [to_values(v) for _, v in valid]
        lap("fields (to_values)")
        priced = [plans.price(v) for v in values]
        lap("price per key")
        rows = [
            values_row(v, c, p, source="s", ingested_at=at, sqlite=True)
            for v, (c, p) in zip(values, priced, strict=True)
        ]
        lap("row from fields")
        ingestor.events.insert(rows, source="s", now=now)
        lap("insert (SQLite)")
        events = [to_event(v) for _, v in valid]
        lap("before: event objects")
        old = [price_event(e, book) for e in events]
        lap("before: price_event")
        [
            event_values(e, p, source="s", ingested_at=at, sqlite=True)
            for e, p in zip(events, old, strict=True)
        ]
        lap("before: event_values")
    spent.pop("client")
    store.dispose()
    print(
        "ingest cpu per event by stage (µs): " + ", ".join(f"{k} {v / n * 1e6:.1f}" for k, v in spent.items())
    )


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
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
    events = _events(args.events)
    bodies = [orjson.dumps(events[i : i + BATCH]) for i in range(0, len(events), BATCH)]
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        http = bench_http(sqlite_url, bodies, len(events), "sqlite", 50_000)
        bench_http(f"sqlite:///{Path(tmp) / 'bench2.db'}", bodies, len(events), "sqlite", 50_000, workers=2)
        ceiling = bench_store(f"sqlite:///{Path(tmp) / 'ceiling.db'}", events, "sqlite", path="values")
        bench_store(f"sqlite:///{Path(tmp) / 'objects.db'}", events, "sqlite", path="objects")
        bench_store(f"sqlite:///{Path(tmp) / 'baseline.db'}", events, "sqlite", path="inline")
        stages(f"sqlite:///{Path(tmp) / 'stages.db'}", bodies, len(events))
        ratio = http / ceiling
        print(
            f"ingest http/ceiling sqlite: {ratio:.2f} (target ≥ 0.50: {'met' if ratio >= 0.5 else 'NOT met'})"
        )
    if args.skip_postgres:
        return
    ensure_database(args.postgres)
    http_pg = bench_http(args.postgres, bodies, len(events), "postgresql", 30_000)
    bench_http(args.postgres, bodies, len(events), "postgresql", 30_000, workers=2)
    ceiling_pg = bench_store(args.postgres, events, "postgresql", path="values")
    bench_store(args.postgres, events, "postgresql", path="objects")
    bench_store(args.postgres, events, "postgresql", path="inline")
    print(f"ingest http/ceiling postgresql: {http_pg / ceiling_pg:.2f}")


if __name__ == "__main__":
    main()
