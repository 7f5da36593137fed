"""The demo month: prices and a simulated month stored, the API Management app read from its logs, then
billed, collected, allocated, budgeted, kept."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aifinops.config import Settings
from aifinops.demo.apim_app import ApimAppMonth, collect_apim_app
from aifinops.demo.bill import daily_usage
from aifinops.demo.estate import PTU_DEPLOYMENT
from aifinops.demo.finance import DemoFinanceReport, month_days, ptu_capacity, run_demo_finance
from aifinops.demo.simulation import Waste, simulate_month
from aifinops.domain import Basis, TaskOutcome, UsageEvent
from aifinops.engine.kpis import TaskKpi
from aifinops.engine.optimize.finding import OptimizeSettings
from aifinops.errors import ValidationError
from aifinops.jobs.ingest import Ingestor
from aifinops.jobs.snapshots import save_period_snapshot
from aifinops.queries.kpis import read_day_kpis
from aifinops.queries.recommendations import optimize_settings, recommendations_document, whatif_document
from aifinops.sources.price_file import load_snapshot
from aifinops.store import Store
from aifinops.store.prices import PriceStore

if TYPE_CHECKING:
    from rich.progress import Progress

__all__ = [
    "DEMO_WASTE",
    "DemoMonth",
    "demo_optimize_settings",
    "demo_recommendations",
    "load_demo_month",
    "reset_sqlite",
    "run_demo_month",
]

_BATCH = 2000
#: The month's deliberate waste besides doc-qa's own (huge uncached context on o3, 429s) and its loop day:
#: doc-qa's calls time out after their prompt was billed, and invoice extraction runs on the interactive
#: deployment instead of Batch.
DEMO_WASTE = (
    Waste("doc-qa", retries=0.12, clean=False),
    Waste("invoice-extraction", interactive=True, clean=False),
)


@dataclass(frozen=True, slots=True)
class DemoMonth:
    """What the demo stored for one month and the figures it shows."""

    period: str  # 2026-10
    events: int  # new this run
    tasks: int
    kpis: tuple[TaskKpi, ...]  # by use case, estimated basis
    finance: DemoFinanceReport
    apim_app: ApimAppMonth | None = None  # the app read from API Management's and App Insights' logs
    recommendations: dict[str, Any] | None = None  # /api/recommendations of the month
    whatif_top3: dict[str, Any] | None = None  # the what-if of applying the first three


def reset_sqlite(settings: Settings) -> None:
    """Delete the SQLite database file of ``settings`` (``--fresh``); other databases are refused."""
    url = settings.database_url
    if not url.startswith("sqlite:///") or url in ("sqlite://", "sqlite:///:memory:"):
        raise ValidationError(
            "--fresh only deletes an SQLite file; for PostgreSQL drop the database yourself", field="fresh"
        )
    for suffix in ("", "-wal", "-shm"):
        Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)


def load_demo_month(
    store: Store, *, year: int, month: int, seed: int, scale: float = 1.0, progress: Progress | None = None
) -> tuple[int, int]:
    """Load prices and one simulated month into ``store``; returns (events, tasks). Idempotent."""
    now = dt.datetime.now(dt.UTC)
    prices = PriceStore(store)
    prices.save(load_snapshot().prices, now=now)
    prices.save(load_snapshot("demo-contract.yaml").prices, now=now)
    ingestor = Ingestor(store)
    task_bar = progress.add_task("simulating and ingesting", total=None) if progress else None
    events: list[UsageEvent] = []
    outcomes: list[TaskOutcome] = []
    n_events = n_tasks = 0
    for task in simulate_month(year, month, seed=seed, scale=scale, waste=DEMO_WASTE):
        events.extend(task.events)
        if task.outcome is not None:
            outcomes.append(task.outcome)
        n_tasks += 1
        if len(events) >= _BATCH:
            n_events += ingestor.ingest(events, source="demo").accepted
            events = []
            if progress is not None and task_bar is not None:
                progress.update(task_bar, completed=n_tasks)
    n_events += ingestor.ingest(events, source="demo").accepted
    ingestor.record_outcomes(outcomes)
    return n_events, n_tasks


def demo_optimize_settings(store: Store, *, year: int, month: int) -> OptimizeSettings:
    """The levers' settings of the demo month: the PTU's throughput is the demo's (sized to its small volume,
    as its allocation is), not the sizing table's."""
    per_hour = ptu_capacity(daily_usage(store, *month_days(year, month)))
    return OptimizeSettings(ptu_throughput={PTU_DEPLOYMENT: max(1, per_hour // 60)})


def demo_recommendations(store: Store, *, year: int, month: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The month's recommendations and the what-if of applying the first three, with
    :func:`demo_optimize_settings`."""
    first, following = month_days(year, month)
    start = dt.datetime(first.year, first.month, 1, tzinfo=dt.UTC)
    end = dt.datetime(following.year, following.month, 1, tzinfo=dt.UTC)
    settings = demo_optimize_settings(store, year=year, month=month)
    doc = recommendations_document(store, start=start, end=end, settings=settings)
    top3 = [r["scenario"][0] for r in doc["recommendations"][:3]]
    return doc, whatif_document(store, start=start, end=end, scenario=top3, settings=settings)


def run_demo_month(
    store: Store,
    settings: Settings,
    *,
    year: int,
    month: int,
    seed: int,
    scale: float = 1.0,
    progress: Progress | None = None,
) -> DemoMonth:
    """Simulate and store the month, bill, collect, allocate and budget it, keep its snapshot, and read
    its cost per successful task (see :mod:`aifinops.demo.finance`). Running it twice changes no totals."""
    n_events, n_tasks = load_demo_month(
        store, year=year, month=month, seed=seed, scale=scale, progress=progress
    )
    apim_app = collect_apim_app(store, settings, year=year, month=month, seed=seed, scale=scale)
    finance = run_demo_finance(store, settings, year=year, month=month, seed=seed, progress=progress)
    period = f"{year:04d}-{month:02d}"
    save_period_snapshot(
        store,
        period,
        timezone=settings.timezone,
        trigger="demo",
        now=dt.datetime.now(dt.UTC),
        optimize=optimize_settings(settings.optimize),
    )
    first, following = month_days(year, month)
    report = read_day_kpis(store, first, following, by=("use_case",), bases=(Basis.ESTIMATED,))
    recommendations, top3 = demo_recommendations(store, year=year, month=month)
    return DemoMonth(
        period,
        n_events + apim_app.events,
        n_tasks + apim_app.tickets,
        report.kpis,
        finance,
        apim_app,
        recommendations,
        top3,
    )
