"""``aifinops report showback|chargeback``: allocate a period's cost and write who consumed what."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml
from rich.console import Console

from aifinops.errors import ValidationError

if TYPE_CHECKING:
    from aifinops.engine.allocation import AllocationResult, AllocationRule
    from aifinops.engine.showback import Showback
    from aifinops.queries.reports import ReportFormat

__all__ = ["app"]

app = typer.Typer(help="Showback and chargeback reports of allocated cost.", no_args_is_help=True)
console = Console(stderr=True)

#: Dimensions allocation runs over besides those a report groups by.

PeriodOpt = Annotated[str, typer.Option(help="Billing month, YYYY-MM.")]
ByOpt = Annotated[str, typer.Option(help="Allocation dimensions to group by, comma-separated.")]
BasisOpt = Annotated[str, typer.Option(help="actual or amortized.")]
FormatOpt = Annotated[str, typer.Option("--format", help="table, csv, json, html or focus.")]
RulesOpt = Annotated[
    Path | None, typer.Option(help="YAML/JSON file with a list of rules (default: stored rules).")
]
OutputOpt = Annotated[Path | None, typer.Option(help="Write the report here instead of standard output.")]


def _period(value: str) -> tuple[dt.date, dt.date]:
    try:
        first = dt.date.fromisoformat(f"{value}-01")
    except ValueError as exc:
        raise ValidationError(f"--period must be a month YYYY-MM, got {value!r}", field="period") from exc
    return first, dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)


def _rules_file(path: Path) -> list[AllocationRule]:
    from aifinops.engine.allocation_rules import parse_rules

    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationError(f"cannot read rules file {path}: {exc}", field="rules") from exc
    specs = data.get("rules") if isinstance(data, dict) else data
    if not isinstance(specs, list):
        raise ValidationError(
            f"rules file {path} must hold a list of rules (or {{rules: [...]}})", field="rules"
        )
    return parse_rules(specs)


def _choice(value: str, allowed: tuple[str, ...], option: str) -> str:
    if value not in allowed:
        raise ValidationError(f"{option} must be one of {', '.join(allowed)}, got {value!r}", field=option)
    return value


def _configured_rules(specs: list[dict[str, Any]]) -> list[AllocationRule] | None:
    """Rules from settings (``allocation.rules``), else None: the rules stored through the API."""
    from aifinops.engine.allocation_rules import parse_rules

    return parse_rules(specs) if specs else None


def _build(
    *, period: str, by: str, basis: str, rules: Path | None
) -> tuple[AllocationResult, Showback, tuple[dt.date, dt.date]]:
    from aifinops.config import load_settings
    from aifinops.domain import Basis
    from aifinops.jobs.allocate import allocate_period
    from aifinops.queries.allocation import allocation_showback
    from aifinops.store import Store
    from aifinops.store.cost_queries import read_cost_records

    start, end = _period(period)
    chosen = Basis(_choice(basis, ("actual", "amortized"), "--basis"))
    group = tuple(d.strip() for d in by.split(",") if d.strip())
    settings = load_settings()
    store = Store.from_settings(settings)
    store.check_schema()
    dimensions = tuple(dict.fromkeys([*settings.allocation.dimensions, *group]))
    with console.status(f"allocating {period} ({chosen.value}) over {', '.join(dimensions)}"):
        records = read_cost_records(store, start, end, basis=chosen)
        result = allocate_period(
            store,
            start,
            end,
            basis=chosen,
            dimensions=dimensions,
            records=records,
            rules=_rules_file(rules) if rules else _configured_rules(settings.allocation.rules),
        )
    if not result.records:
        console.print(
            f"no {chosen.value} cost records stored for {period}; collect them first (`aifinops collect`)"
        )
    showback = allocation_showback(result, by=group, period=period, basis=chosen)
    return result, showback, (start, end)


def _say_purchases(table: Showback) -> None:
    """On the actual basis, say on stderr that commitment purchases are charged through the amortized view."""
    from aifinops.engine.showback import purchase_note

    note = purchase_note(table)
    if note is not None:
        console.print(note, soft_wrap=True)


def _write(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    console.print(f"wrote {output}")


def _format(fmt: str) -> ReportFormat:
    from aifinops.queries.reports import ReportFormat

    return ReportFormat(_choice(fmt, tuple(f.value for f in ReportFormat), "--format"))


def _render(
    result: AllocationResult, showback: Showback, chosen: ReportFormat, bounds: tuple[dt.date, dt.date]
) -> str:
    from aifinops.queries.reports import ReportFormat, render_focus, render_showback

    if chosen is ReportFormat.FOCUS:
        return render_focus(result, basis=showback.basis, period=bounds)
    return render_showback(showback, chosen)


@app.command("showback")
def showback(
    period: PeriodOpt,
    by: ByOpt = "app",
    basis: BasisOpt = "actual",
    fmt: FormatOpt = "table",
    rules: RulesOpt = None,
    output: OutputOpt = None,
) -> None:
    """Allocate the period and show who consumed what, with idle and unallocated lines."""
    chosen = _format(fmt)
    result, table, bounds = _build(period=period, by=by, basis=basis, rules=rules)
    _say_purchases(table)
    _write(_render(result, table, chosen, bounds), output)


@app.command("chargeback")
def chargeback(
    period: PeriodOpt,
    by: ByOpt = "app",
    basis: BasisOpt = "actual",
    fmt: FormatOpt = "table",
    rules: RulesOpt = None,
    output: OutputOpt = None,
    max_unallocated_share: Annotated[
        str | None, typer.Option(help="Largest unallocated share allowed (default: settings, 0.05).")
    ] = None,
) -> None:
    """Like showback, but refused while the unallocated share exceeds the allowed one."""
    from aifinops.engine.showback import check_chargeback

    chosen = _format(fmt)
    if max_unallocated_share is None:
        from aifinops.config import load_settings

        max_unallocated_share = str(load_settings().allocation.max_unallocated_share)
    try:
        limit = Decimal(max_unallocated_share)
    except InvalidOperation as exc:
        raise ValidationError(
            f"--max-unallocated-share must be a number like 0.05, got {max_unallocated_share!r}",
            field="max_unallocated_share",
        ) from exc
    result, table, bounds = _build(period=period, by=by, basis=basis, rules=rules)
    check = check_chargeback(table, max_unallocated_share=limit)
    if not check.allowed:
        raise ValidationError(f"chargeback of {period} refused: {check.message()}", field="unallocated")
    shares = json.dumps({c: f"{s:.4f}" for c, s in check.shares})
    console.print(f"unallocated share {shares} within {limit:.2%}")
    _say_purchases(table)
    _write(_render(result, table, chosen, bounds), output)
