"""``aifinops discover``: the AI estate of a month and the cost drivers of each use case."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from aifinops.errors import ValidationError

__all__ = ["discover", "last_month"]

console = Console(stderr=True)


def last_month(now: dt.datetime) -> str:
    """The last complete calendar month before ``now``, ``YYYY-MM``."""
    last = now.date().replace(day=1) - dt.timedelta(days=1)
    return f"{last:%Y-%m}"


def discover(
    period: Annotated[str | None, typer.Option(help="Month YYYY-MM (default: last month).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="md, mermaid, svg or json.")] = "md",
    output: Annotated[Path | None, typer.Option(help="Write here instead of standard output.")] = None,
) -> None:
    """Draw the AI estate (apps → use cases → deployments → accounts, and the shared resources behind them,
    with owners and cost centers) and list what drives each use case's cost, in money."""
    from aifinops.config import load_settings
    from aifinops.queries.cost_drivers import cost_drivers_document
    from aifinops.queries.estate import estate_document
    from aifinops.queries.estate_render import (
        DiscoverFormat,
        drivers_markdown,
        estate_markdown,
        estate_mermaid,
        estate_svg,
    )
    from aifinops.queries.periods import month_bounds
    from aifinops.store import Store

    if fmt not in {f.value for f in DiscoverFormat}:
        raise ValidationError(f"--format must be md, mermaid, svg or json, got {fmt!r}", field="format")
    start, end = month_bounds(period or last_month(dt.datetime.now(dt.UTC)), field="--period")
    store = Store.from_settings(load_settings())
    store.check_schema()
    with console.status(f"reading the estate of {start:%Y-%m}"):
        estate = estate_document(store, start=start, end=end)
        drivers = cost_drivers_document(store, start=start, end=end) if fmt in ("md", "json") else None
    if fmt == "json":
        text = json.dumps({"estate": estate, "cost_drivers": drivers}, indent=2, ensure_ascii=False) + "\n"
    elif fmt == "mermaid":
        text = estate_mermaid(estate)
    elif fmt == "svg":
        text = estate_svg(estate)
    else:
        assert drivers is not None
        text = estate_markdown(estate) + "\n" + drivers_markdown(drivers)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")
