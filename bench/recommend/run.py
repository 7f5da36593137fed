"""Recommendations and one what-if over a month of 1,000,000 events / 256,000 tasks on SQLite.

The database is built once through the real ingest path (priced, rolled up, outcomes recorded) with waste
injected into doc-qa (repeated requests, timeouts, huge context, long output) and kept in /tmp between runs.
Prints wall and CPU time of each run beside the targets (all recommendations ≤ 2 s, one what-if ≤ 1 s), and of
the first read, which builds the daily call groups of the month once. A repeated read finds the month's summed
call groups kept in the process (``Store.derived``, valid while no day is built again), and the retrieval
evidence (valid while no event, outcome or retention changed); the runs marked
"summed again" clear that first, as the first read of a month after a day changed does.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from serving import load_demo_prices

from aifinops.demo.simulation import Waste, simulate_month
from aifinops.domain import TaskOutcome, UsageEvent
from aifinops.jobs.ingest import Ingestor
from aifinops.queries.recommendations import recommendations_document, whatif_document
from aifinops.store import Store
from aifinops.store.retrieval_queries import raw_retrieval_outcomes

_EVENTS_PER_SCALE = 84_000  # events of simulate_month(scale=1)
_WASTE = Waste("doc-qa", duplicates=0.05, retries=0.1, context=0.1, output=0.1, clean=False)
START = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def build(path: Path, events: int) -> None:
    store = Store(f"sqlite:///{path}")
    store.upgrade()
    load_demo_prices(store)
    ingestor = Ingestor(store)
    batch: list[UsageEvent] = []
    outcomes: list[TaskOutcome] = []
    total, tasks, start = 0, 0, time.perf_counter()
    for task in simulate_month(2026, 10, seed=11, scale=events / _EVENTS_PER_SCALE, waste=_WASTE):
        batch.extend(task.events)
        tasks += 1
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
    took = time.perf_counter() - start
    print(f"built {path}: {total:,} events, {tasks:,} tasks in {took:.0f} s", file=sys.stderr)
    store.dispose()


def timed(label: str, target: float, runs: int, work: object) -> None:
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        work()  # type: ignore[operator]
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    print(
        f"{label}: wall median {statistics.median(walls):.2f} s (best {min(walls):.2f} s), "
        f"CPU median {statistics.median(cpus):.2f} s — target ≤ {target:g} s ({runs} runs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--db", type=Path, help="SQLite file (default: in /tmp, by event count)")
    args = parser.parse_args()
    path = args.db or Path(f"/tmp/aifinops-bench-recommend-{args.events}.db")
    if not path.exists():
        build(path, args.events)
    store = Store(f"sqlite:///{path}")
    store.upgrade()
    wall, cpu = time.perf_counter(), time.process_time()
    doc = recommendations_document(store, start=START, end=END)  # builds the daily call groups if missing
    print(
        f"first read (builds any missing daily call groups): wall {time.perf_counter() - wall:.2f} s, "
        f"CPU {time.process_time() - cpu:.2f} s"
    )
    for rec in doc["recommendations"]:
        money = ", ".join(f"{a['amount']} {a['currency']}" for a in rec["stacked_savings"])
        print(f"  {rec['rank']}. {rec['lever']} {rec['scope']}: stacked {money}")
    scenario = [r["scenario"][0] for r in doc["recommendations"][:3]]
    timed(
        f"all recommendations ({len(doc['recommendations'])})",
        2.0,
        args.runs,
        lambda: recommendations_document(store, start=START, end=END),
    )
    timed(
        "the retrieval evidence read from events and outcomes (kept in the process until they change)",
        2.0,
        args.runs,
        lambda: raw_retrieval_outcomes(store, START, END),
    )
    timed(
        f"one what-if ({len(scenario)} parts)",
        1.0,
        args.runs,
        lambda: whatif_document(store, start=START, end=END, scenario=scenario),
    )

    def again(work: object) -> object:
        store.derived.clear()
        return work()  # type: ignore[operator]

    timed(
        "all recommendations, call groups summed again",
        2.0,
        args.runs,
        lambda: again(lambda: recommendations_document(store, start=START, end=END)),
    )
    timed(
        "one what-if, call groups summed again",
        1.0,
        args.runs,
        lambda: again(lambda: whatif_document(store, start=START, end=END, scenario=scenario)),
    )
    print(
        "the machine is shared with other work: wall time varies with its load; CPU time less so "
        f"(load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})"
    )


if __name__ == "__main__":
    main()
