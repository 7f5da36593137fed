"""One ingest measurement in a fresh PostgreSQL database, with whichever aifinops is importable.

``bench/pgscale/run.py`` runs it twice in the same run: with this checkout (usage events partitioned by
month) and with ``PYTHONPATH`` pointing at the source of the code before (the plain table), so that the
figures come from the same machine at the same time. Uses only what both versions have.

Usage: .venv/bin/python bench/pgscale/ingest_baseline.py --url postgresql://…/test --events 100000
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from decimal import Decimal

import sqlalchemy as sa

import aifinops
from aifinops.domain import DeploymentType, MeterKind, Price, UsageEvent
from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from aifinops.store.prices import PriceStore

NAME = "aifinops_pgscale_baseline"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    admin = sa.create_engine(Store(args.url).url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{NAME}"'))
    store = Store(args.url.rsplit("/", 1)[0] + "/" + NAME)
    try:
        store.upgrade()
        with store.reader() as conn:
            kind = conn.exec_driver_sql(
                "SELECT relkind FROM pg_class WHERE relname = 'usage_events'"
            ).scalar()
        table = "partitioned" if kind == "p" else "plain table"
        start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
        PriceStore(store).save(
            [
                Price(
                    "gpt-4o",
                    k,
                    Decimal(p),
                    "USD",
                    start,
                    deployment_type=DeploymentType.GLOBAL_STANDARD,
                    source="b",
                )
                for k, p in (
                    (MeterKind.INPUT, "2.5"),
                    (MeterKind.CACHED_INPUT, "1.25"),
                    (MeterKind.OUTPUT, "10"),
                )
            ],
            now=start,
        )
        events = [
            UsageEvent(
                event_id=f"b-{i}",
                ts=start + dt.timedelta(seconds=7 * i),
                task_id=f"b-t{i // 4}",
                step=i % 4 + 1,
                app=f"app-{i % 24}",
                use_case=f"uc-{i % 12}",
                tenant=f"tenant-{i % 40}",
                model="gpt-4o",
                deployment=f"dep-{i % 8}",
                deployment_type=DeploymentType.GLOBAL_STANDARD,
                input_tokens=500 + i % 2000,
                cached_input_tokens=100,
                output_tokens=80 + i % 400,
            )
            for i in range(args.events)
        ]
        ingestor = Ingestor(store)
        wall, cpu = time.perf_counter(), time.process_time()
        accepted = sum(
            ingestor.ingest(events[b : b + 1000], source="b").accepted for b in range(0, len(events), 1000)
        )
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        label = args.label or aifinops.__file__
        print(
            f"ingest: Ingestor.ingest, batches of 1,000, empty store, {table} ({label}): "
            f"{accepted / wall:,.0f} events/s ({accepted:,}; wall {wall:.1f} s, client CPU {cpu:.1f} s)",
            flush=True,
        )
    finally:
        store.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
