"""``aifinops recommend`` and ``aifinops whatif``: what to change, in the levers' order, and what it saves."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from aifinops.errors import ValidationError

__all__ = ["recommend", "whatif"]

console = Console(stderr=True)
_FORMATS = ("table", "json", "md")
_FILTER_HELP = "Only these values of a dimension, e.g. tenant=contoso (repeatable)."


def _where(filters: list[str]) -> dict[str, tuple[str, ...]]:
    from aifinops.store.usage_queries import FILTERABLE

    out: dict[str, tuple[str, ...]] = {}
    for item in filters:
        name, sep, values = item.partition("=")
        if not sep or name not in FILTERABLE or not values:
            raise ValidationError(
                f"--where must look like dimension=value[,value], dimension one of {list(FILTERABLE)}; "
                f"got {item!r}",
                field="where",
            )
        out[name] = tuple(v for v in values.split(",") if v)
    return out


def _context(period: str | None) -> tuple[dt.datetime, dt.datetime, Any, Any]:
    """The period's range, the store and the ``optimize:`` settings, from one read of the configuration."""
    from aifinops.cli.discover import last_month
    from aifinops.config import load_settings
    from aifinops.queries.periods import period_range
    from aifinops.queries.recommendations import optimize_settings
    from aifinops.store import Store

    settings = load_settings()
    rng = period_range(period or last_month(dt.datetime.now(dt.UTC)), settings.timezone)
    store = Store.from_settings(settings)
    store.check_schema()
    return rng.start, rng.end, store, optimize_settings(settings.optimize)


def _check_format(fmt: str) -> None:
    if fmt not in _FORMATS:
        raise ValidationError(f"--format must be one of {list(_FORMATS)}, got {fmt!r}", field="format")


def recommendations_table(doc: dict[str, Any], top: int | None = None, *, evidence: bool = True) -> Table:
    """The recommendations as a Rich table (the demo prints the same one, without the evidence)."""
    from aifinops.queries.recommendations_render import COLUMNS, recommendation_rows

    shown = len(COLUMNS) if evidence else len(COLUMNS) - 1
    table = Table(
        title="Recommendations, in the levers' order (estimated; actual and amortized fully loaded where "
        "the period is allocated)"
    )
    for col in COLUMNS[:shown]:
        table.add_column(col, justify="right" if "/ month" in col or col == "#" else "left")
    for row in recommendation_rows(doc, top):
        table.add_row(*row[:shown])
    return table


def recommend(
    period: Annotated[
        str | None, typer.Option(help="Month YYYY-MM or day YYYY-MM-DD (default: last month).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or md.")] = "table",
    where: Annotated[list[str] | None, typer.Option(help=_FILTER_HELP)] = None,
    output: Annotated[Path | None, typer.Option(help="Write here instead of standard output.")] = None,
) -> None:
    """What to change, in the levers' order (requests, loops, retries, context, output, …), each with its
    evidence, action, savings alone and after the ones before it, and the scenario `aifinops whatif` takes."""
    from aifinops.queries.recommendations import recommendations_document
    from aifinops.queries.recommendations_render import recommendations_markdown

    _check_format(fmt)
    start, end, store, settings = _context(period)
    with console.status(f"looking for waste in {start:%Y-%m-%d}..{end:%Y-%m-%d}"):
        doc = recommendations_document(
            store, start=start, end=end, where=_where(where or []), settings=settings
        )
    if fmt == "table" and output is None:
        Console(width=160).print(recommendations_table(doc))
        return
    text = (
        json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
        if fmt == "json"
        else recommendations_markdown(doc)
    )
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")


def _scenario(scenario: str | None, top: int | None, doc: dict[str, Any] | None) -> list[Any]:
    if scenario is not None:
        raw = Path(scenario[1:]).read_text(encoding="utf-8") if scenario.startswith("@") else scenario
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"--scenario is not JSON: {exc}", field="scenario") from exc
        return parsed if isinstance(parsed, list) else [parsed]
    assert doc is not None and top is not None
    return [r["scenario"][0] for r in doc["recommendations"][:top]]


def whatif(
    period: Annotated[
        str | None, typer.Option(help="Month YYYY-MM or day YYYY-MM-DD (default: last month).")
    ] = None,
    scenario: Annotated[
        str | None,
        typer.Option(help="Scenario parts as JSON, or @file.json (a recommendation's `scenario`)."),
    ] = None,
    top: Annotated[
        int | None, typer.Option(min=1, help="Apply the first N recommendations instead of --scenario.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or md.")] = "table",
    where: Annotated[list[str] | None, typer.Option(help=_FILTER_HELP)] = None,
) -> None:
    """Cost and cost per successful task before and after a scenario, priced like the recommendations."""
    from aifinops.queries.recommendations import recommendations_document, whatif_document
    from aifinops.queries.recommendations_render import whatif_markdown

    _check_format(fmt)
    if (scenario is None) == (top is None):
        raise ValidationError("give either --scenario or --top", field="scenario")
    start, end, store, settings = _context(period)
    filters = _where(where or [])
    doc = (
        recommendations_document(store, start=start, end=end, where=filters, settings=settings)
        if top is not None
        else None
    )
    result = whatif_document(
        store, start=start, end=end, scenario=_scenario(scenario, top, doc), where=filters, settings=settings
    )
    if fmt == "json":
        typer.echo(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        typer.echo(whatif_markdown(result), nl=False)
