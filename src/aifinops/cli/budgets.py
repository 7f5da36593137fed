"""`aifinops budgets check`: budget status for people and scripts; exit 1 when a budget is exceeded."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from aifinops.config import load_settings
from aifinops.engine.budgets import BudgetStatus, scope_label
from aifinops.jobs.budgets import evaluate_and_alert
from aifinops.queries.budgets import budget_status_document
from aifinops.store import Store

__all__ = ["app", "check"]

app = typer.Typer(help="Budgets: status, forecasts and alerts.", no_args_is_help=True)

#: Exit codes scripts can trust: 0 all within budget, 1 a budget is exceeded (or forecast to be, with
#: --fail-on-forecast); errors exit 2 through the main entry point.
EXIT_EXCEEDED = 1


def _verdict(status: BudgetStatus) -> str:
    if status.exceeded:
        return "EXCEEDED"
    if status.forecast_ratio is not None and status.forecast_ratio >= 1:
        return "FORECAST OVER"
    return "warning" if status.crossed else "ok"


def _table(statuses: Sequence[BudgetStatus]) -> Table:
    table = Table(title="Budgets")
    for column in (
        "budget",
        "scope",
        "period",
        "spend",
        "basis",
        "source",
        "amount",
        "used",
        "forecast (band)",
        "status",
    ):
        table.add_column(column, justify="right" if column in ("spend", "amount", "used") else "left")
    for s in statuses:
        f = s.forecast
        forecast = "—" if f is None else f"{f.point:.2f} ({f.low:.2f}–{f.high:.2f})"
        table.add_row(
            s.budget.name,
            scope_label(s.budget.scope),
            s.period.key,
            f"{s.spend.quantized()} {s.spend.currency}",
            s.spend.basis.value,
            s.spend_source or "—",
            f"{s.budget.amount:.2f}",
            f"{s.ratio * 100:.1f}%",
            forecast,
            _verdict(s),
        )
    return table


@app.command("check")
def check(
    as_of: Annotated[
        dt.datetime | None, typer.Option(help="Evaluate at this UTC instant instead of now.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    fail_on_forecast: Annotated[
        bool, typer.Option(help="Also exit 1 when a budget is forecast to exceed its amount.")
    ] = False,
    notify: Annotated[
        bool, typer.Option(help="Fire newly crossed thresholds to the configured alert channels.")
    ] = False,
) -> None:
    """Print every budget's spend, forecast and thresholds; exit 1 when one is exceeded."""
    settings = load_settings()
    store = Store.from_settings(settings)
    store.check_schema()
    when = (as_of.replace(tzinfo=dt.UTC) if as_of and as_of.tzinfo is None else as_of) or dt.datetime.now(
        dt.UTC
    )
    statuses, fired = evaluate_and_alert(settings, store, as_of=when, notify=notify)
    if notify:
        channels = len(settings.alert_channels)
        typer.echo(f"{len(fired)} new alert(s) fired to {channels} channel(s)", err=True)
    if as_json:
        typer.echo(json.dumps(budget_status_document(statuses, as_of=when), indent=2))
    else:
        Console().print(_table(statuses))
        for s in statuses:
            if s.note:
                typer.echo(f"{s.budget.name}: {s.note}", err=True)
    failing = [
        s
        for s in statuses
        if s.exceeded or (fail_on_forecast and s.forecast_ratio is not None and s.forecast_ratio >= 1)
    ]
    if failing:
        typer.echo(f"{len(failing)} budget(s) over: {', '.join(s.budget.name for s in failing)}", err=True)
        raise typer.Exit(EXIT_EXCEEDED)
