"""Allocation benchmark: a month of usage events and cost records allocated over three dimensions on SQLite.

Setup (once, cached beside the database): ``--events`` usage events over October 2026 are written into
``usage_events`` by SQLite itself (a recursive CTE; deterministic), rolled up into ``usage_daily`` by the
store's own roll-up SQL, and ``--records`` cost records are stored through ``CostRecordStore``: Azure OpenAI
token meters of 8 accounts, a provisioned (PTU) account, AI Search services, and the rest other resources
(70 % tagged with their app, 15 % in a shared platform resource group, 15 % untagged).

Measured in a fresh process, so its peak RSS is the allocation's own: ``jobs.allocate.allocate_period`` as
the API and the CLI call it, over ``read_cost_records``: reading the cost records while the database computes
the drivers (one GROUP BY over ``usage_daily``), the pure engine, and saving each day's pack. Prints each
phase, events/s (month of events ÷ total seconds) and the peak RSS. Never asserts timings.

Usage: .venv/bin/python bench/allocate/run.py [--events 5000000] [--records 100000] [--dir DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

START, END = dt.date(2026, 10, 1), dt.date(2026, 10, 31)
DAYS = (END - START).days
DIMENSIONS = ("app", "use_case", "tenant")
ACCOUNT = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourcegroups/rg-ai/providers/"
    "microsoft.cognitiveservices/accounts/"
)
SEARCH = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourcegroups/rg-ai/providers/"
    "microsoft.search/searchservices/search-"
)
MODELS = ("gpt-4o", "gpt-4o-mini", "text-embedding-3-large")
# Nanos per token (input, output): gpt-4o 2.50/10 USD per 1M, mini 0.15/0.60, embedding 0.13.
PER_TOKEN = {"gpt-4o": (2500, 10000), "gpt-4o-mini": (150, 600), "text-embedding-3-large": (130, 0)}

RULES = [
    {
        "name": "ptu",
        "method": "provisioned",
        "match": {"resource_ids": "*/accounts/ptu"},
        "driver": "tokens",
        "capacity_per_quantity": 25000,
        "idle": "visible",
    },
    {
        "name": "aoai",
        "method": "shared",
        "match": {"resource_types": "microsoft.cognitiveservices/accounts"},
        "driver": "estimated_cost",
    },
    {
        "name": "search",
        "method": "shared",
        "match": {"resource_types": "microsoft.search/searchservices"},
        "driver": "requests",
        "usage": {"where": {"kind": ["retrieval"]}, "scope": "all"},
    },
    {"name": "tagged", "method": "direct", "match": {"tags": {"app": "*"}}, "owner_tags": {"app": "app"}},
    {
        "name": "platform",
        "method": "shared",
        "match": {"resource_groups": "rg-platform"},
        "driver": "fixed",
        "weights": [{"owner": {"app": f"app-{k}"}, "weight": w} for k, w in ((0, 5), (1, 3), (2, 2))],
    },
]


def _events_sql(events: int) -> str:
    """INSERT … SELECT of ``events`` rows over the month, every value derived from the row number."""
    base = int(dt.datetime(2026, 10, 1, tzinfo=dt.UTC).timestamp())
    span = DAYS * 86400
    model = "CASE d % 3 WHEN 0 THEN 'gpt-4o' WHEN 1 THEN 'gpt-4o-mini' ELSE 'text-embedding-3-large' END"
    cost = (
        "CASE WHEN d >= 24 OR d % 3 = 0 THEN inp * 2500 + outp * 10000 "
        "WHEN d % 3 = 1 THEN inp * 150 + outp * 600 ELSE inp * 130 END"
    )
    return f"""
WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < {events - 1}),
rows AS (
  SELECT i, {base} + (i * {span}) / {events} AS sec, ((i * 3266489917) / 65536) % 26 AS d,
         200 + ((i * 2246822519) / 1024) % 2000 AS inp0, ((i * 668265263) / 512) % 800 AS outp0,
         ((i * 2654435761) / 128) % 12 AS a, ((i * 374761393) / 4096) % 40 AS t
  FROM seq
),
shaped AS (
  SELECT *, inp0 AS inp, CASE WHEN d < 24 AND d % 3 = 2 THEN 0 ELSE outp0 END AS outp FROM rows
)
INSERT INTO usage_events (event_id, ts, hour, attempt, app, use_case, tenant, deployment, model, provider,
  resource_id, priority, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, requests, kind,
  status, cost_nanos, currency, source, ingested_at)
SELECT 'e' || i, datetime(sec, 'unixepoch') || '.000000', sec / 3600, 1, 'app-' || a, 'uc-' || ((a + t) % 8),
  'tenant-' || t,
  CASE WHEN d >= 24 THEN 'ptu-' || (d - 24) ELSE 'dep-' || d END,
  CASE WHEN d >= 24 THEN 'gpt-4o' ELSE {model} END,
  'azure_openai',
  '{ACCOUNT}' || CASE WHEN d >= 24 THEN 'ptu' ELSE 'aoai-' || (d / 3) END,
  0, inp, 0, outp, 0, 1,
  CASE WHEN d < 24 AND d % 3 = 2 THEN 'embedding' WHEN i % 7 = 0 THEN 'retrieval' ELSE 'chat' END,
  'ok', {cost}, 'USD', 'bench', '2026-11-01 00:00:00.000000'
FROM shaped
"""


def _records(count: int) -> list[object]:
    from aifinops.domain import Basis, CostRecord

    out: list[object] = []
    meters = [
        (m, kind)
        for m in MODELS
        for kind in ("Input", "Output")
        if not (m.startswith("text") and kind == "Output")
    ]
    for n in range(DAYS):
        day = START + dt.timedelta(days=n)
        for account in range(8):
            for model, kind in meters:
                cost = Decimal(1000 + (n * 37 + account * 11) % 900) / 7
                out.append(
                    CostRecord(
                        day,
                        Basis.ACTUAL,
                        cost,
                        "USD",
                        resource_id=f"{ACCOUNT}aoai-{account}",
                        resource_type="microsoft.cognitiveservices/accounts",
                        meter_category="Azure OpenAI",
                        meter_name=f"{model} {kind} global Tokens",
                        charge_type="Usage",
                    )
                )
        out.append(
            CostRecord(
                day,
                Basis.ACTUAL,
                Decimal("2456.064"),
                "USD",
                resource_id=f"{ACCOUNT}ptu",
                resource_type="microsoft.cognitiveservices/accounts",
                quantity=Decimal(1200),
                meter_name="Provisioned Managed Global Hourly",
                charge_type="Usage",
            )
        )
        for service in range(3):
            for meter in ("Standard S1 Unit", "Semantic Ranker"):
                out.append(
                    CostRecord(
                        day,
                        Basis.ACTUAL,
                        Decimal("81.6") + service,
                        "USD",
                        resource_id=f"{SEARCH}{service}",
                        resource_type="microsoft.search/searchservices",
                        meter_category="Azure Cognitive Search",
                        meter_name=meter,
                    )
                )
    k = 0
    while len(out) < count:
        day = START + dt.timedelta(days=k % DAYS)
        kind = k % 20
        group = "rg-platform" if kind in (0, 1, 2) else f"rg-{k % 40}"
        tags = {} if kind in (3, 4, 5) or group == "rg-platform" else {"app": f"app-{k % 12}", "env": "prod"}
        out.append(
            CostRecord(
                day,
                Basis.ACTUAL,
                Decimal(k % 5000 + 1) / 997,
                "USD",
                resource_id=f"/subscriptions/s/resourcegroups/{group}/providers/microsoft.compute/vm-{k}",
                resource_group=group,
                resource_type="microsoft.compute/virtualmachines",
                meter_category="Virtual Machines",
                meter_name="D2 v3",
                tags=tags,
            )
        )
        k += 1
    return out


def setup(db: Path, events: int, records: int) -> None:
    from aifinops.domain import Basis
    from aifinops.store import Store
    from aifinops.store.cost_records import CostRecordStore
    from aifinops.store.events import roll_up

    store = Store(f"sqlite:///{db}")
    store.upgrade()
    t0 = time.perf_counter()
    with store.session() as conn:
        conn.exec_driver_sql(_events_sql(events))
        roll_up(conn, "1 = 1", (), tables=("day",))
    t1 = time.perf_counter()
    from aifinops.store.allocations import AllocationStore

    AllocationStore(store).refresh_deployments()
    print(
        f"setup: first build of the deployment → resource map over {events:,} events in "
        f"{time.perf_counter() - t1:.1f} s (later runs read only new events)",
        file=sys.stderr,
    )
    t1 = time.perf_counter()
    CostRecordStore(store).replace_slice(
        "bench", "subscriptions/s", Basis.ACTUAL, START, END, _records(records)
    )
    print(
        f"setup: {events:,} events + daily rollup in {t1 - t0:.1f} s, {records:,} cost records in "
        f"{time.perf_counter() - t1:.1f} s",
        file=sys.stderr,
    )
    store.dispose()


def measure(db: Path) -> dict[str, float]:
    from aifinops.domain import Basis
    from aifinops.engine.allocation_rules import parse_rules
    from aifinops.jobs.allocate import allocate_period
    from aifinops.store import Store
    from aifinops.store.allocations import AllocationStore
    from aifinops.store.cost_queries import read_cost_records

    store = Store(f"sqlite:///{db}")
    store.upgrade()  # a cached database built by an older schema is brought up to date, untimed
    # new events since the last run (none here), as a collection would
    AllocationStore(store).refresh_deployments()
    rules = parse_rules(RULES)
    timings: dict[str, float] = {}
    start, cpu = time.perf_counter(), time.process_time()
    records = read_cost_records(store, START, END, basis=Basis.ACTUAL)
    result = allocate_period(
        store,
        START,
        END,
        basis=Basis.ACTUAL,
        dimensions=DIMENSIONS,
        records=records,
        rules=rules,
        timings=timings,
    )
    out = dict(timings)
    out.update(
        total=time.perf_counter() - start,
        total_cpu=time.process_time() - cpu,
        records_count=len(result.records),
        lines=result.line_count,
        parts=len(result.parts),
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        worker_rss_mb=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        worker_cpu=sum(
            getattr(resource.getrusage(resource.RUSAGE_CHILDREN), f) for f in ("ru_utime", "ru_stime")
        ),
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/aifinops-bench-allocate"))
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    args.dir.mkdir(parents=True, exist_ok=True)
    db = args.dir / f"allocate-{args.events}-{args.records}.db"
    if not db.exists():
        setup(db, args.events, args.records)
    done = subprocess.run(
        [sys.executable, __file__, "--measure", str(db)], check=True, capture_output=True, text=True
    )
    figures = json.loads(done.stdout)
    print(
        f"allocate: {args.events:,} events, {figures['records_count']:,.0f} cost records → "
        f"{figures['lines']:,.0f} lines ({figures['parts']:,.0f} record parts) over {','.join(DIMENSIONS)} "
        "on SQLite, through jobs.allocate.allocate_period"
    )
    labels = {
        "records": "reading the cost records (the drivers' GROUP BY runs meanwhile)",
        "drivers": "waiting for and reading the drivers",
        "engine": "the allocation engine",
        "save": "saving the day packs",
    }
    for name, label in labels.items():
        print(f"  {name:<8} {figures[name]:6.2f} s  {label}")
    print(
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
        f"cpu {figures['total_cpu']:.2f} s in this process + "
        f"{figures['worker_cpu']:.2f} s in the drivers worker"
    )
    print(
        f"total {figures['total']:.2f} s (target ≤ 5 s), {args.events / figures['total']:,.0f} events/s, "
        f"{figures['records_count'] / figures['total']:,.0f} cost records/s, "
        f"peak RSS {figures['peak_rss_mb']:,.0f} MiB (drivers worker {figures['worker_rss_mb']:,.0f} MiB)"
    )


if __name__ == "__main__":
    main()
