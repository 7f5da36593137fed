"""``aifinops collect``: one collection cycle over a date range, with a progress bar for backfills."""

from __future__ import annotations

import datetime as dt
import sys
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
from aifinops.domain import plain
from aifinops.errors import ConfigError
from aifinops.jobs.collect import SOURCE_NAMES, CollectionSummary, build_collector, collection_window
from aifinops.jobs.collection_steps import CollectionStep

__all__ = ["collect", "summary_table"]

console = Console(stderr=True)
#: Width of the summary when stdout is not a terminal: wide enough that no total is ever cut or wrapped.
_PIPE_WIDTH = 400


def _window(from_: dt.datetime | None, to: dt.datetime | None, today: dt.date) -> tuple[dt.date, dt.date]:
    """``--from`` is the first billing day, ``--to`` the day after the last (exclusive, like the API's
    ``end``); the default is the scheduled window (month to date)."""
    default_start, default_end = collection_window(today)
    start = from_.date() if from_ else default_start
    end = to.date() if to else default_end
    if not start < end:
        raise ConfigError(
            f"--to {end} must be after --from {start} "
            "(--to is exclusive: the day after the last one collected)"
        )
    return start, end


def summary_table(summary: CollectionSummary) -> Table:
    """One line per slice written: source, target, basis, days, rows and totals per currency."""
    table = Table(title="collection", show_lines=False)
    for column in ("source", "target", "basis", "from", "to (excl.)", "rows", "total", "issues"):
        table.add_column(column, no_wrap=column != "target", overflow="fold")
    for o in summary.outcomes:
        totals = ", ".join(f"{plain(m.amount)} {c}" for c, m in sorted(o.totals.items())) or "-"
        table.add_row(
            o.source,
            o.target[-60:],
            str(o.basis or "-"),
            str(o.start or "-"),
            str(o.end or "-"),
            str(o.records),
            totals if o.error is None else "[red]failed[/red]",
            str(len(o.issues)),
        )
    return table


def _print(summary: CollectionSummary, *, issues_per_step: int = 20) -> None:
    """The table on stdout (never cut to 80 columns when piped), then warnings and errors on stderr."""
    out = Console() if sys.stdout.isatty() else Console(width=_PIPE_WIDTH, soft_wrap=True)
    out.print(summary_table(summary))
    for o in summary.outcomes:
        for issue in o.issues[:issues_per_step]:
            typer.echo(f"warning: {issue}", err=True)
        if len(o.issues) > issues_per_step:
            typer.echo(
                f"warning: … and {len(o.issues) - issues_per_step} more issue(s) of {o.target}", err=True
            )
    for error in summary.errors:
        typer.echo(f"error: {error}", err=True)


def collect(
    from_: Annotated[
        dt.datetime | None,
        typer.Option("--from", formats=["%Y-%m-%d"], help="First billing day collected (inclusive)."),
    ] = None,
    to: Annotated[
        dt.datetime | None,
        typer.Option(
            "--to",
            formats=["%Y-%m-%d"],
            help="Day after the last one collected (exclusive, like the API's end): "
            "--from 2026-10-01 --to 2026-11-01 is October. Default: month to date.",
        ),
    ] = None,
    source: Annotated[
        list[str],
        typer.Option("--source", help=f"Only these sources: {', '.join(SOURCE_NAMES)}; repeat for several."),
    ] = [],  # noqa: B006 - Typer reads the default, it is never mutated
    accept_partial: Annotated[
        bool,
        typer.Option(
            "--accept-partial",
            help="Store the complete rows of a cut export file (reported with its line) "
            "instead of refusing it.",
        ),
    ] = False,
) -> None:
    """Collect costs, exports, metrics, inventory and Log Analytics logs into the store; exit 1 when a step
    failed.

    Export rows billed outside --from/--to are not stored (the summary says how many).
    """
    from aifinops.store import Store

    settings = load_settings()
    store = Store.from_settings(settings)
    store.check_schema()
    start, end = _window(from_, to, dt.datetime.now(dt.UTC).date())
    collector = build_collector(settings, store, accept_partial=accept_partial)
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
    _print(summary)
    if not summary.ok:
        raise typer.Exit(1)
