"""PostgreSQL at scale: 20,000,000 usage events in monthly partitions, read through the product's own code.

Builds a fresh database (``aifinops_pgscale_bench`` on the server of ``--url``, dropped at the end unless
``--keep``) migrated by the product, then:

1. **load**: ``--events`` events spread evenly over ``--months`` months (Oct 2026 on), 4 events per task, 40
   tenants, 24 apps, 12 use cases, written by COPY into the partitioned ``usage_events`` (every row goes
   through the table's event-id claim trigger and its indexes, as any insert does), and the tasks' outcomes by
   COPY; then the roll-ups (hourly, daily, per task) built by the store's own roll-up SQL (``events.roll_up``)
   over id ranges, and ANALYZE;
2. **ingest**: ``--ingest`` more events through ``Ingestor.ingest`` (the product's insert path: pricing,
   partition check, claim trigger, roll-ups, freshness) in batches of 1,000, into the loaded database; the
   baseline beside it, in the same run (``bench/pgscale/ingest_baseline.py``): the same ingest into an empty
   store by this code (partitioned) and, given ``--baseline-src`` (the ``src`` of a checkout before this
   change), by the code before (the plain table);
3. **allocation**: ``allocate_period`` of the last month over the stored cost records (drivers from the
   daily roll-up), the first run including the one-time scan of every event for the deployment map;
4. **reads**: ``token_usage_document`` (what ``GET /api/token-usage`` answers) for the last month by app per
   day, and ``kpis_document`` (``GET /api/kpis``, fully loaded with the allocation) for the last month by
   use case: p50 / p95 over ``--runs`` (``--kpi-runs``);
5. **disk**: partitions with their indexes, the event-id table, the roll-ups, per 1,000,000 events;
6. **retention**: ``run_retention`` keeping one month: the older partitions dropped, the roll-up totals
   checked equal before and after.

Prints wall and CPU time of this process and of the PostgreSQL backend doing the work (read from /proc: the
server runs on this machine), and the load average: the machine is shared, so figures move between runs.

Usage: .venv/bin/python bench/pgscale/run.py [--events 20000000] [--months 2] [--url postgresql://…/test]
       [--baseline-src ../main/src] [--baselines-only]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

from aifinops.domain import Basis, CostRecord, DeploymentType, MeterKind, Price, UsageEvent
from aifinops.engine.allocation_rules import parse_rules
from aifinops.jobs.allocate import allocate_period
from aifinops.jobs.ingest import Ingestor
from aifinops.jobs.retention import run_retention
from aifinops.queries.kpis import kpis_document
from aifinops.queries.periods import TimeRange
from aifinops.queries.usage import token_usage_document
from aifinops.store import Store
from aifinops.store.cost_queries import read_cost_records
from aifinops.store.cost_records import CostRecordStore
from aifinops.store.events import roll_up
from aifinops.store.partitions import ensure_partitions
from aifinops.store.prices import PriceStore
from aifinops.store.usage_queries import UsageQuery

DB, BASE = "aifinops_pgscale_bench", "aifinops_pgscale_baseline"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
FIRST = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
ACCOUNT = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourcegroups/rg-ai/providers/"
    "microsoft.cognitiveservices/accounts/"
)
TENANTS, APPS, USE_CASES, DEPLOYMENTS = 40, 24, 12, 9  # deployment 8 is the provisioned (PTU) one
EVENTS_PER_TASK = 4
ROLLUP_CHUNK = 1_000_000
RULES: list[dict[str, Any]] = [
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
    {"name": "tagged", "method": "direct", "match": {"tags": {"app": "*"}}, "owner_tags": {"app": "app"}},
]
COLUMNS = (
    "event_id, ts, hour, task_id, step, attempt, app, use_case, tenant, deployment, model, provider, "
    "deployment_type, region, resource_id, priority, input_tokens, cached_input_tokens, output_tokens, "
    "reasoning_tokens, requests, kind, status, latency_ms, cost_nanos, currency, source, ingested_at"
)


# --- measuring ------------------------------------------------------------------------------------------
def _backend_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a local PostgreSQL backend, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Clock:
    """Wall time, this process's CPU time and one backend's CPU time over a block."""

    def __init__(self, backend: int | None = None) -> None:
        self.backend = backend

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        self.db = _backend_cpu(self.backend) if self.backend else 0.0
        return self

    def __exit__(self, *_: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu
        self.db = (_backend_cpu(self.backend) - self.db) if self.backend else float("nan")

    def __str__(self) -> str:
        db = f", PostgreSQL backend CPU {self.db:.1f} s" if self.backend else ""
        return f"wall {self.wall:.1f} s, client CPU {self.cpu:.1f} s{db}"


def _load() -> str:
    return "load average " + " ".join(open("/proc/loadavg").read().split()[:3])


def _percentiles(run: Callable[[], object], runs: int) -> tuple[float, float, float]:
    run()  # warm-up
    times = []
    cpu = time.process_time()
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return statistics.median(times), p95, (time.process_time() - cpu) * 1000 / runs


# --- the data -------------------------------------------------------------------------------------------
def _month_start(index: int) -> dt.datetime:
    m = FIRST.month - 1 + index
    return dt.datetime(FIRST.year + m // 12, m % 12 + 1, 1, tzinfo=dt.UTC)


def _event_lines(first: int, count: int, *, total: int, months: int) -> Iterator[str]:
    """COPY text lines of events ``first … first + count``; every value derived from the event number."""
    per_month = total // months
    starts = [_month_start(m) for m in range(months + 1)]
    spans = [(starts[m + 1] - starts[m]).total_seconds() for m in range(months)]
    base = [int((s - EPOCH).total_seconds()) for s in starts]
    for i in range(first, first + count):
        month = min(i // per_month, months - 1)
        sec = base[month] + int((i - month * per_month) * spans[month] / per_month)
        ts = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(sec))
        task = i // EVENTS_PER_TASK
        step = i % EVENTS_PER_TASK + 1
        tenant = task * 2654435761 % TENANTS
        app = task * 40503 % APPS
        dep = task * 97 % DEPLOYMENTS
        inp = 300 + i * 2246822519 % 3000
        cached = inp // 4 if step > 1 else 0
        out = 50 + i * 668265263 % 700
        attempt = 2 if i % 23 == 0 else 1
        cost = (inp - cached) * 2500 + cached * 1250 + out * 10000
        account = "ptu" if dep == DEPLOYMENTS - 1 else f"aoai-{dep // 3}"
        kind = "embedding" if step == 1 and app % 3 == 0 else "chat"
        yield (
            f"e{i}\t{ts}\t{sec // 3600}\tt{task}\t{step}\t{attempt}\tapp-{app}\tuc-{app % USE_CASES}\t"
            f"tenant-{tenant}\tdep-{dep}\tgpt-4o\tazure_openai\tglobal_standard\tswedencentral\t"
            f"{ACCOUNT}{account}\tf\t{inp}\t{cached}\t{out}\t0\t1\t{kind}\tok\t{200 + i % 1800}\t{cost}\t"
            "USD\tbench\t2026-12-01 00:00:00+00\n"
        )


def _outcome_lines(first_task: int, count: int, *, total: int, months: int) -> Iterator[str]:
    """Outcomes of 85 % of the tasks: 75 % succeeded, 10 % failed; ended at their last event."""
    per_month = total // months
    starts = [_month_start(m) for m in range(months + 1)]
    spans = [(starts[m + 1] - starts[m]).total_seconds() for m in range(months)]
    base = [int((s - EPOCH).total_seconds()) for s in starts]
    for task in range(first_task, first_task + count):
        if task % 20 >= 17:
            continue
        i = task * EVENTS_PER_TASK + EVENTS_PER_TASK - 1
        month = min(i // per_month, months - 1)
        sec = base[month] + int((i - month * per_month) * spans[month] / per_month)
        ts = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(sec))
        outcome = "failed" if task % 20 >= 15 else "succeeded"
        app = task * 40503 % APPS
        yield f"tenant-{task * 2654435761 % TENANTS}\tt{task}\t{outcome}\t{ts}\tuc-{app % USE_CASES}\t{ts}\n"


def _copy(conn: psycopg.Connection[Any], sql: str, lines: Iterator[str], chunk: int = 20_000) -> None:
    with conn.cursor() as cur, cur.copy(sql) as copy:
        buffer: list[str] = []
        for line in lines:
            buffer.append(line)
            if len(buffer) >= chunk:
                copy.write("".join(buffer))
                buffer.clear()
        if buffer:
            copy.write("".join(buffer))


def _prices() -> list[Price]:
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    return [
        Price(
            model="gpt-4o",
            meter_kind=kind,
            price=Decimal(p),
            currency="USD",
            effective_start=start,
            deployment_type=DeploymentType.GLOBAL_STANDARD,
            source="bench",
        )
        for kind, p in ((MeterKind.INPUT, "2.5"), (MeterKind.CACHED_INPUT, "1.25"), (MeterKind.OUTPUT, "10"))
    ]


def _records(start: dt.date, end: dt.date) -> list[CostRecord]:
    """A month's bill: 3 token-metered accounts, the PTU account, and 20,000 VM lines (70 % tagged)."""
    out: list[CostRecord] = []
    days = (end - start).days
    for n in range(days):
        day = start + dt.timedelta(days=n)
        for account in range(3):
            for meter in ("gpt-4o Input global Tokens", "gpt-4o Output global Tokens"):
                out.append(
                    CostRecord(
                        day,
                        Basis.ACTUAL,
                        Decimal(2000 + (n * 37 + account * 11) % 900) / 7,
                        "USD",
                        resource_id=f"{ACCOUNT}aoai-{account}",
                        resource_type="microsoft.cognitiveservices/accounts",
                        meter_category="Azure OpenAI",
                        meter_name=meter,
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
    for k in range(20_000):
        out.append(
            CostRecord(
                start + dt.timedelta(days=k % days),
                Basis.ACTUAL,
                Decimal(k % 5000 + 1) / 997,
                "USD",
                resource_id=f"/subscriptions/s/resourcegroups/rg-{k % 40}/providers/microsoft.compute/vm-{k}",
                resource_group=f"rg-{k % 40}",
                resource_type="microsoft.compute/virtualmachines",
                meter_category="Virtual Machines",
                meter_name="D2 v3",
                tags={} if k % 10 >= 7 else {"app": f"app-{k % APPS}"},
            )
        )
    return out


# --- the steps ------------------------------------------------------------------------------------------
def create_database(admin_url: str, name: str) -> str:
    admin = sa.create_engine(Store(admin_url).url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name


def drop_database(admin_url: str, name: str) -> None:
    admin = sa.create_engine(Store(admin_url).url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _plain(url: str) -> str:
    """The libpq form of a SQLAlchemy URL."""
    return url.replace("postgresql+psycopg://", "postgresql://")


def load(store: Store, url: str, *, events: int, months: int) -> None:
    ensure_partitions(store, [(_month_start(m).year, _month_start(m).month) for m in range(months + 1)])
    with psycopg.connect(_plain(url), autocommit=True) as conn:
        pid = conn.info.backend_pid
        conn.execute("SET synchronous_commit = off")
        with Clock(pid) as clock:
            step = 1_000_000
            for first in range(0, events, step):
                n = min(step, events - first)
                with conn.transaction():
                    _copy(
                        conn,
                        f"COPY usage_events ({COLUMNS}) FROM STDIN",
                        _event_lines(first, n, total=events, months=months),
                    )
                print(f"  … {first + n:,} events", file=sys.stderr, flush=True)
        print(f"load: COPY of {events:,} events: {events / clock.wall:,.0f} events/s ({clock}; {_load()})")
        tasks = events // EVENTS_PER_TASK
        with Clock(pid) as clock, conn.transaction():
            _copy(
                conn,
                "COPY task_outcomes (tenant, task_id, outcome, ended_at, use_case, received_at) FROM STDIN",
                _outcome_lines(0, tasks, total=events, months=months),
            )
        print(f"load: COPY of the outcomes of {tasks:,} tasks ({clock})")
    with store.engine.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        top = conn.exec_driver_sql("SELECT MAX(id) FROM usage_events").scalar_one()
        conn.commit()
        with Clock(pid) as clock:
            for lo in range(0, top, ROLLUP_CHUNK):
                with conn.begin():
                    conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
                    roll_up(conn, "id > %s AND id <= %s", (lo, lo + ROLLUP_CHUNK))
    rate = events / clock.wall
    print(f"load: roll-ups (hour, day, task) by the store's own roll-up SQL: {rate:,.0f} events/s ({clock})")
    with (
        Clock() as clock,
        psycopg.connect(_plain(url), autocommit=True) as conn,
    ):
        conn.execute("ANALYZE")
    print(f"load: ANALYZE ({clock})")


def _ingest_events(count: int, start: dt.datetime, prefix: str) -> list[UsageEvent]:
    return [
        UsageEvent(
            event_id=f"{prefix}-{i}",
            ts=start + dt.timedelta(seconds=7 * i),
            task_id=f"{prefix}-t{i // 4}",
            step=i % 4 + 1,
            app=f"app-{i % APPS}",
            use_case=f"uc-{i % USE_CASES}",
            tenant=f"tenant-{i % TENANTS}",
            model="gpt-4o",
            deployment=f"dep-{i % 8}",
            deployment_type=DeploymentType.GLOBAL_STANDARD,
            input_tokens=500 + i % 2000,
            cached_input_tokens=100,
            output_tokens=80 + i % 400,
        )
        for i in range(count)
    ]


def ingest(store: Store, *, count: int, months: int, label: str) -> float:
    """Events through ``Ingestor.ingest`` in batches of 1,000, then re-sent; returns events/s."""
    PriceStore(store).save(_prices(), now=dt.datetime.now(dt.UTC))
    ingestor = Ingestor(store)
    events = _ingest_events(count, _month_start(months - 1), "ingest")
    with Clock() as clock:
        accepted = 0
        for b in range(0, count, 1000):
            accepted += ingestor.ingest(events[b : b + 1000], source="bench").accepted
    rate = accepted / clock.wall
    print(f"ingest: Ingestor.ingest, batches of 1,000, {label}: {rate:,.0f} events/s ({accepted:,}; {clock})")
    with Clock() as clock:
        again = sum(
            ingestor.ingest(events[b : b + 1000], source="bench").duplicates for b in range(0, count, 1000)
        )
    print(f"ingest: the same events re-sent: {again:,} duplicates, none counted twice ({clock})")
    return rate


def baselines(admin_url: str, *, count: int, before: str | None) -> None:
    """The same ingest into empty databases, each in its own process: this code (partitioned) and, with
    ``--baseline-src``, the source of the code before (the plain table), one after the other."""
    script = str(Path(__file__).with_name("ingest_baseline.py"))
    runs = [("this code", None)] + ([("code before", before)] if before else [])
    for label, src in runs:
        env = dict(os.environ)
        if src:
            env["PYTHONPATH"] = src
        subprocess.run(
            [sys.executable, script, "--url", admin_url, "--events", str(count), "--label", label],
            env=env,
            check=True,
        )


def reads(store: Store, *, months: int, runs: int, kpi_runs: int) -> None:
    start, end = _month_start(months - 1), _month_start(months)
    q = UsageQuery(start=start, end=end, granularity="day", group_by=("app",))
    p50, p95, cpu = _percentiles(lambda: token_usage_document(store, q), runs)
    print(
        f"reads: token usage, a month by app per day: p50 {p50:,.0f} ms, p95 {p95:,.0f} ms, "
        f"client CPU {cpu:,.0f} ms/run"
    )
    rng = TimeRange(start, end)

    def kpis() -> dict[str, Any]:
        return kpis_document(store, rng=rng, timezone="UTC", group_by=("use_case",), bases=None, tenant=None)

    doc = kpis()
    p50, p95, cpu = _percentiles(kpis, kpi_runs)
    tasks = sum(int(item.get("tasks", 0)) for item in doc["items"])
    print(
        f"reads: KPIs, a month by use case (bases {doc['bases']}, {tasks:,} tasks): p50 {p50:,.0f} ms, "
        f"p95 {p95:,.0f} ms, client CPU {cpu:,.0f} ms/run"
    )


def allocation(store: Store, *, months: int) -> None:
    start, end = _month_start(months - 1).date(), _month_start(months).date()
    records = _records(start, end)
    CostRecordStore(store).replace_slice("bench", "subscriptions/s", Basis.ACTUAL, start, end, records)
    rules = parse_rules(RULES)
    for label in ("first run (reads every event once for the deployment map)", "second run"):
        timings: dict[str, float] = {}
        with Clock() as clock:
            result = allocate_period(
                store,
                start,
                end,
                basis=Basis.ACTUAL,
                dimensions=("app", "use_case", "tenant"),
                records=read_cost_records(store, start, end, basis=Basis.ACTUAL),
                rules=rules,
                timings=timings,
            )
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
        print(
            f"allocation: a month, {len(result.records):,} cost records, {result.line_count:,} lines, "
            f"{label}: {clock.wall:.1f} s ({phases}; {clock})"
        )


def disk(store: Store, events: int) -> None:
    with store.reader() as conn:
        heap, total_parts = conn.exec_driver_sql(
            "SELECT COALESCE(SUM(pg_relation_size(inhrelid)), 0), "
            "COALESCE(SUM(pg_total_relation_size(inhrelid)), 0) "
            "FROM pg_inherits WHERE inhparent = 'usage_events'::regclass"
        ).one()
        sizes = {
            t: int(conn.exec_driver_sql(f"SELECT pg_total_relation_size('{t}')").scalar_one())
            for t in ("usage_event_ids", "usage_rollup", "usage_daily", "task_rollup", "task_outcomes")
        }
        database = int(conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one())
    per = 1_000_000 / events / 2**20
    print(
        f"disk: per 1,000,000 events: events {int(total_parts) * per:,.0f} MiB (heap {int(heap) * per:,.0f} "
        f"MiB, the rest indexes), event ids {sizes['usage_event_ids'] * per:,.0f} MiB, hourly roll-up "
        f"{sizes['usage_rollup'] * per:,.1f} MiB, daily {sizes['usage_daily'] * per:,.1f} MiB, tasks "
        f"{sizes['task_rollup'] * per:,.0f} MiB, outcomes {sizes['task_outcomes'] * per:,.0f} MiB; "
        f"whole database {database / 2**30:,.2f} GiB for {events:,} events"
    )


def retention(store: Store, *, months: int) -> None:
    sums = (("usage_daily", "events"), ("usage_rollup", "cost_nanos"), ("task_rollup", "cost_nanos"))

    def totals() -> tuple[int, ...]:
        with store.reader() as conn:
            return tuple(
                int(conn.exec_driver_sql(f"SELECT COALESCE(SUM({c}), 0) FROM {t}").scalar_one())
                for t, c in sums
            )

    before = totals()
    with Clock() as clock:
        report = run_retention(store, keep_months=1, now=_month_start(months) + dt.timedelta(days=1))
    if totals() != before:
        raise SystemExit("retention moved the roll-ups")
    print(
        f"retention: keep 1 month: {report.deleted_events:,} events in {len(report.dropped_partitions)} "
        f"partitions dropped ({clock}); roll-up totals equal before and after"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--months", type=int, default=2)
    parser.add_argument("--ingest", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--kpi-runs", type=int, default=5)
    parser.add_argument("--url", default=os.environ.get("AIFINOPS_TEST_POSTGRES_URL", DEFAULT_URL))
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--baselines-only", action="store_true", help="only the ingest into empty stores")
    parser.add_argument(
        "--baseline-src", help="the src folder of the code before, for the plain-table baseline"
    )
    args = parser.parse_args()
    print(f"pgscale: {args.events:,} events over {args.months} months, {os.cpu_count()} CPUs, shared machine")
    print(f"pgscale: {_load()} at the start")
    baselines(args.url, count=args.ingest, before=args.baseline_src)
    if args.baselines_only:
        return
    store = Store(create_database(args.url, DB))
    try:
        with Clock() as clock:
            store.upgrade()
        print(f"schema: migrated ({clock})")
        load(store, store.url, events=args.events, months=args.months)
        print(f"pgscale: {_load()} after the load")
        ingest(store, count=args.ingest, months=args.months, label=f"into the {args.events:,}-event store")
        allocation(store, months=args.months)
        reads(store, months=args.months, runs=args.runs, kpi_runs=args.kpi_runs)
        disk(store, args.events + args.ingest)
        retention(store, months=args.months)
        print(f"done; {_load()}")
    finally:
        store.dispose()
        if not args.keep:
            drop_database(args.url, DB)


if __name__ == "__main__":
    main()
