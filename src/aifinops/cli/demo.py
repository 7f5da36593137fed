"""``aifinops demo``: a realistic simulated month on the embedded default, then the API serving it."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from aifinops.api.routes_snapshot import save_period_snapshot
from aifinops.config import Settings, load_settings
from aifinops.demo_finance import run_demo_finance
from aifinops.demo_tables import finance_tables
from aifinops.domain import Basis, TaskOutcome, UsageEvent, from_nanos
from aifinops.engine.kpis import TaskKpi, task_kpis
from aifinops.errors import ValidationError
from aifinops.ingest import Ingestor
from aifinops.simulation import simulate_month
from aifinops.sources.price_file import load_snapshot
from aifinops.store import Store
from aifinops.store.kpi_input_queries import read_kpi_inputs
from aifinops.store.prices import PriceStore

__all__ = ["demo", "load_demo_month"]

console = Console(stderr=True)
_BATCH = 2000


def _month(value: str | None, now: dt.datetime) -> tuple[int, int]:
    if value is None:  # the last complete month
        first = now.replace(day=1)
        last = first - dt.timedelta(days=1)
        return last.year, last.month
    m = re.fullmatch(r"(\d{4})-(\d{2})", value)
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValidationError(f"--month must look like 2026-10, got {value!r}", field="month")
    return int(m.group(1)), int(m.group(2))


def _reset_sqlite(settings: Settings) -> None:
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
    for task in simulate_month(year, month, seed=seed, scale=scale):
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


def _money(amounts: Sequence[tuple[Decimal, str]]) -> str:
    return ", ".join(f"{a.quantize(Decimal('0.0001'))} {c}" for a, c in amounts) or "–"


def _kpi_table(kpis: Sequence[TaskKpi]) -> Table:
    table = Table(title="Cost per successful task (estimated basis)")
    for col in (
        "use case",
        "tasks",
        "success rate",
        "cost",
        "cost / successful task",
        "failed+abandoned cost",
        "avg steps",
        "avg retries",
    ):
        table.add_column(col, justify="left" if col == "use case" else "right")

    def per_success(k: TaskKpi) -> Decimal:
        return next(
            (c.per_successful_task for c in k.on(Basis.ESTIMATED) if c.per_successful_task), Decimal(0)
        )

    for k in sorted(kpis, key=lambda k: -per_success(k)):
        est = k.on(Basis.ESTIMATED)
        table.add_row(
            k.group[0] or "(none)",
            str(k.tasks),
            f"{(k.success_rate or 0) * 100:.1f} %",
            _money([(from_nanos(c.cost_nanos), c.currency) for c in est]),
            _money([(c.per_successful_task, c.currency) for c in est if c.per_successful_task is not None]),
            _money([(from_nanos(c.failed_and_abandoned_nanos), c.currency) for c in est]),
            str(k.steps_per_task.quantize(Decimal("0.01"))),
            str(k.retries_per_task.quantize(Decimal("0.01"))),
        )
    return table


def demo(
    month: Annotated[
        str | None, typer.Option(help="Month to simulate, e.g. 2026-10 (default: last month).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same month.")] = 42,
    scale: Annotated[float, typer.Option(min=0.01, max=50, help="Multiply the task volume.")] = 1.0,
    fresh: Annotated[bool, typer.Option(help="Delete the SQLite database first.")] = False,
    serve: Annotated[bool, typer.Option(help="Serve the API afterwards.")] = True,
    port: Annotated[int | None, typer.Option(help="API port (default from settings).")] = None,
) -> None:
    """Simulate a month of gen-AI usage, price and store it, show cost per successful task, serve the API."""
    settings = load_settings()
    year, mon = _month(month, dt.datetime.now(dt.UTC))
    if fresh:
        _reset_sqlite(settings)
    store = Store.from_settings(settings)
    store.upgrade()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        n_events, n_tasks = load_demo_month(
            store, year=year, month=mon, seed=seed, scale=scale, progress=progress
        )
        finance = run_demo_finance(store, settings, year=year, month=mon, seed=seed, progress=progress)
        save_period_snapshot(
            store,
            f"{year:04d}-{mon:02d}",
            timezone=settings.timezone,
            trigger="demo",
            now=dt.datetime.now(dt.UTC),
        )
    console.print(f"{year}-{mon:02d}: {n_tasks} tasks, {n_events} new events in {store.safe_url}")
    start = dt.datetime(year, mon, 1, tzinfo=dt.UTC)
    end = dt.datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=dt.UTC)
    wide = Console(width=max(Console().width, 140))
    inputs = read_kpi_inputs(
        store,
        start=start,
        end=end,
        days=(start.date(), end.date()),
        by=("use_case",),
        bases=(Basis.ESTIMATED,),
    )
    wide.print(_kpi_table(task_kpis(inputs.tasks)))
    for table in finance_tables(finance):
        wide.print(table)
    console.print(f"showback: aifinops report showback --period {year}-{mon:02d} --by app,tenant")
    if not serve:
        return
    from aifinops.cli.core import serve as serve_api

    host, port = settings.host, port or settings.port
    period = f"{year}-{mon:02d}"
    for path in (
        f"/?period={period}",
        f"/api/kpis?period={period}",
        f"/api/costs?period={period}&group_by=use_case",
        f"/api/snapshot?period={period}",
        f"/api/costs?period={period}&basis=actual",
        f"/api/allocation?period={period}&basis=amortized&by=app,tenant",
        f"/api/allocation/kpis?period={period}&by=use_case",
        "/api/alerts",
        f"/api/anomalies?by=use_case&at={finance.incident_day + dt.timedelta(days=1)}T00:00:00Z",
        "/metrics",
        "/docs",
    ):
        console.print(f"  http://{host}:{port}{path}", soft_wrap=True)
    serve_api(host=host, port=port)
