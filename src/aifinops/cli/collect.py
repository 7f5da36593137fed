"""``aifinops collect``: one collection cycle over a date range, with a progress bar for backfills."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from aifinops.config import load_settings
from aifinops.errors import ConfigError
from aifinops.jobs.collect import SOURCE_NAMES, CollectionSummary, build_collector, collection_window
from aifinops.jobs.collection_steps import CollectionStep

__all__ = ["collect", "summary_table"]

console = Console(stderr=True)


def _window(from_: dt.datetime | None, to: dt.datetime | None, today: dt.date) -> tuple[dt.date, dt.date]:
    """``--from``/``--to`` are inclusive days; the default is the scheduled window (month to date)."""
    default_start, default_end = collection_window(today)
    start = from_.date() if from_ else default_start
    end = to.date() + dt.timedelta(days=1) if to else default_end
    if not start < end:
        raise ConfigError(f"--from {start} must not be after --to {end - dt.timedelta(days=1)}")
    return start, end


def summary_table(summary: CollectionSummary) -> Table:
    """One line per slice written: source, target, basis, days, rows and totals per currency."""
    table = Table(title="collection", show_lines=False)
    for column in ("source", "target", "basis", "from", "to (excl.)", "rows", "total", "issues"):
        table.add_column(column)
    for o in summary.outcomes:
        totals = ", ".join(f"{m.amount} {c}" for c, m in sorted(o.totals.items())) or "-"
        table.add_row(
            o.source,
            o.target[-60:],
            str(o.basis or "-"),
            str(o.start or "-"),
            str(o.end or "-"),
            str(o.records),
            totals if o.error is None else f"[red]{o.error}[/red]",
            str(len(o.issues)),
        )
    return table


def collect(
    from_: Annotated[
        dt.datetime | None,
        typer.Option("--from", formats=["%Y-%m-%d"], help="First billing day (inclusive)."),
    ] = None,
    to: Annotated[
        dt.datetime | None, typer.Option("--to", formats=["%Y-%m-%d"], help="Last billing day (inclusive).")
    ] = None,
    source: Annotated[
        list[str],
        typer.Option("--source", help=f"Only these sources: {', '.join(SOURCE_NAMES)}; repeat for several."),
    ] = [],  # noqa: B006 - Typer reads the default, it is never mutated
) -> None:
    """Collect costs, exports, metrics and inventory into the store; exit 1 when a step failed."""
    from aifinops.store import Store

    settings = load_settings()
    store = Store.from_settings(settings)
    store.check_schema()
    start, end = _window(from_, to, dt.datetime.now(dt.UTC).date())
    collector = build_collector(settings, store)
    steps = collector.plan(start, end, source or None)
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"collecting {start}..{end - dt.timedelta(days=1)}", total=len(steps))

        def advance(step: CollectionStep) -> None:
            progress.update(task, advance=1, description=f"{step.source} {step.target[-50:]}")

        summary = collector.run(steps, on_step=advance)
    console.print(summary_table(summary))
    for error in summary.errors:
        typer.echo(f"error: {error}", err=True)
    if not summary.ok:
        raise typer.Exit(1)
