"""``aifinops demo``: a realistic simulated month on the embedded default, then the API serving it."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from aifinops.cli.core import serve as serve_api
from aifinops.cli.recommend import recommendations_table
from aifinops.config import load_settings
from aifinops.demo.month import DemoMonth, reset_sqlite, run_demo_month
from aifinops.demo.tables import finance_tables, kpi_table
from aifinops.errors import ValidationError
from aifinops.queries.recommendations_render import whatif_markdown
from aifinops.store import Store

__all__ = ["demo"]

console = Console(stderr=True)


def _month(value: str | None, now: dt.datetime) -> tuple[int, int]:
    if value is None:  # the last complete month
        first = now.replace(day=1)
        last = first - dt.timedelta(days=1)
        return last.year, last.month
    m = re.fullmatch(r"(\d{4})-(\d{2})", value)
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValidationError(f"--month must look like 2026-10, got {value!r}", field="month")
    return int(m.group(1)), int(m.group(2))


def _links(result: DemoMonth, host: str, port: int) -> list[str]:
    """Where to look at the month once it is served."""
    period = result.period
    anomaly_at = f"{result.finance.incident_day + dt.timedelta(days=1)}T00:00:00Z"
    paths = (
        f"/?period={period}",
        f"/api/kpis?period={period}",
        f"/api/costs?period={period}&group_by=use_case",
        f"/api/token-usage?period={period}&source=apim&granularity=month",
        f"/api/telemetry-cost?period={period}",
        f"/api/snapshot?period={period}",
        f"/api/recommendations?period={period}",
        f"/api/costs?period={period}&basis=actual",
        f"/api/allocation?period={period}&basis=amortized&by=app,tenant",
        f"/api/allocation/kpis?period={period}&by=use_case",
        "/api/alerts",
        f"/api/anomalies?by=use_case&at={anomaly_at}",
        "/metrics",
        "/docs",
    )
    return [f"  http://{host}:{port}{path}" for path in paths]


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
        reset_sqlite(settings)
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
        result = run_demo_month(
            store, settings, year=year, month=mon, seed=seed, scale=scale, progress=progress
        )
    console.print(f"{year}-{mon:02d}: {result.tasks} tasks, {result.events} new events in {store.safe_url}")
    if result.apim_app is not None:
        a = result.apim_app
        console.print(
            f"hr-assistant (API Management only, outcomes as App Insights events): {a.tickets} tickets, "
            f"{a.requests} requests read from Log Analytics ({a.events} new events, {a.outcomes} outcomes)"
        )
    wide = Console(width=max(Console().width, 140))
    wide.print(kpi_table(result.kpis))
    for table in finance_tables(result.finance):
        wide.print(table)
    if result.recommendations is not None and result.whatif_top3 is not None:
        wide.print(recommendations_table(result.recommendations, top=12, evidence=False))
        console.print("What if the first three are applied (each on what the earlier ones leave):")
        wide.print(whatif_markdown(result.whatif_top3), markup=False)
        console.print(f"all of them: aifinops recommend --period {year}-{mon:02d} --format md")
    console.print(f"showback: aifinops report showback --period {year}-{mon:02d} --by app,tenant")
    if not serve:
        return
    host, port = settings.host, port or settings.port
    for line in _links(result, host, port):
        console.print(line, soft_wrap=True)
    serve_api(host=host, port=port)
