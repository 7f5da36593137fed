"""``aifinops prices``: sync Azure list prices, load price files with contract terms, list the price book."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from aifinops.config import Settings, load_settings
from aifinops.domain import Price, ProcessingTier, plain
from aifinops.errors import SourceFormatError, ValidationError
from aifinops.jobs.price_sync import SyncOutcome, contract_prices, save_synced, sync_from_api
from aifinops.sources.price_file import PriceFile, load_price_file
from aifinops.sources.retail_prices import RetailPricesResult, read_retail_file, to_prices

if TYPE_CHECKING:
    from aifinops.store import Store

__all__ = [
    "app",
    "contract_prices",
    "describe_meter",
    "describe_per",
    "price_json",
    "price_rows",
    "prices_to_load",
    "select_prices",
    "sync_summary",
]

app = typer.Typer(
    help="Prices: sync Azure list prices, load price files, list the price book.", no_args_is_help=True
)
console = Console(stderr=True)

_HTTP_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


def prices_to_load(files: Iterable[PriceFile], list_prices: Iterable[Price]) -> list[Price]:
    """The prices of ``files`` and the contract prices their discounts give (see ``contract_prices``)."""
    files = list(files)
    return [*(price for file in files for price in file.prices), *contract_prices(files, list_prices)]


def select_prices(
    prices: Iterable[Price],
    *,
    model: str | None = None,
    source: str | None = None,
    at: dt.datetime | None = None,
) -> list[Price]:
    """Prices filtered by model, source and the time they are in effect, sorted for display."""
    chosen = [
        p
        for p in prices
        if (model is None or p.model == model)
        and (source is None or p.source == source)
        and (at is None or p.covers(at))
    ]
    return sorted(
        chosen,
        key=lambda p: (
            p.model,
            p.model_version or "",
            p.deployment_type or "",
            p.region or "",
            p.meter_kind,
            p.effective_start,
        ),
    )


def describe_per(price: Price) -> str:
    """How much one price covers: ``1K tokens``, ``1M tokens``, ``1 ptu_hour``.

    >>> from decimal import Decimal
    >>> from aifinops.domain import MeterKind
    >>> describe_per(Price("o3", MeterKind.INPUT, Decimal(2), "USD", dt.datetime(2025, 1, 1, tzinfo=dt.UTC)))
    '1M tokens'
    """
    size = price.unit_size
    for factor, suffix in ((1_000_000, "M"), (1_000, "K")):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{suffix} {price.unit}"
    return f"{size} {price.unit}"


def describe_meter(price: Price) -> str:
    """The meter kind with its tiers where they are not the plain ones: ``output · priority · long``.

    >>> from decimal import Decimal
    >>> from aifinops.domain import ContextTier, MeterKind, ProcessingTier
    >>> at = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
    >>> describe_meter(Price("m", MeterKind.CACHE_WRITE, Decimal(1), "USD", at, context_tier=ContextTier.LONG,
    ...                      processing_tier=ProcessingTier.FLEX))
    'cache_write · flex · long'
    """
    parts = [price.meter_kind.value]
    if price.processing_tier is not ProcessingTier.STANDARD:
        parts.append(price.processing_tier.value)
    if price.context_tier is not None:
        parts.append(price.context_tier.value)
    return " · ".join(parts)


def price_rows(prices: Sequence[Price]) -> list[tuple[str, ...]]:
    """The rows of ``prices list``: exact amounts, open ends shown as ``-``."""
    return [
        (
            str(p.price_id) if p.price_id is not None else "-",
            p.model,
            p.model_version or "*",
            p.deployment_type.value if p.deployment_type else "*",
            p.region or "*",
            describe_meter(p),
            f"{p.price} {p.currency}",
            describe_per(p),
            p.effective_start.isoformat(),
            p.effective_end.isoformat() if p.effective_end else "-",
            p.source,
        )
        for p in prices
    ]


def sync_summary(result: RetailPricesResult, *, inserted: int, unchanged: int, updated: int) -> list[str]:
    """What a sync did, line by line, every unmapped meter included (they are never dropped silently)."""
    lines = [
        f"read {result.items} items on {result.pages} pages → {len(result.prices)} prices: "
        f"{inserted} new, {updated} updated, {unchanged} unchanged",
        f"skipped: {result.skipped_reservations} reservation, {result.skipped_other_types} other price type, "
        f"{result.skipped_tiers} higher-tier items, {len(result.skipped_meters)} unmapped meters",
    ]
    lines += [f"  unmapped meter: {name}" for name in result.skipped_meters]
    lines += [f"  problem: {problem}" for problem in result.problems]
    return lines


def price_json(price: Price) -> dict[str, object]:
    """One price as ``prices list --json`` prints it; the amount is a string, exactly as stored."""
    return {
        "id": price.price_id,
        "meter_name": price.meter_name,
        "meter_id": price.meter_id,
        "product_name": price.product_name,
        "model": price.model,
        "version": price.model_version,
        "deployment_type": price.deployment_type.value if price.deployment_type else None,
        "region": price.region,
        "meter": price.meter_kind.value,
        "context_tier": price.context_tier.value if price.context_tier else None,
        "processing_tier": price.processing_tier.value,
        "unit": price.unit,
        "per": price.unit_size,
        "price": plain(price.price),
        "currency": price.currency,
        "effective_start": price.effective_start.isoformat(),
        "effective_end": price.effective_end.isoformat() if price.effective_end else None,
        "source": price.source,
    }


def _store(settings: Settings) -> Store:
    """The configured database holding the price book, imported on use so `--help` stays fast."""
    from aifinops.store import Store

    store = Store.from_settings(settings)
    store.check_schema()
    return store


def _fetch_with_progress(
    settings: Settings, store: Store, products: list[str] | None, currency: str | None
) -> SyncOutcome:
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console) as progress, httpx.Client(timeout=_HTTP_TIMEOUT) as client:
        task = progress.add_task("Retail Prices API", total=None)
        items = 0

        def on_page(name: str, count: int) -> None:
            nonlocal items
            items += count
            progress.update(task, description=f"{name}: {items} items")

        return sync_from_api(
            settings,
            store,
            products=products,
            services=[] if products else None,
            currency=currency,
            client=client,
            on_page=on_page,
        )


@app.command("sync")
def sync(
    product: Annotated[
        list[str] | None,
        typer.Option(
            help="Retail Prices productName to read; repeat. Default: every AI product and service."
        ),
    ] = None,
    currency: Annotated[
        str | None, typer.Option(help="The API's currencyCode, e.g. EUR (default from settings).")
    ] = None,
    file: Annotated[
        str | None,
        typer.Option(
            "--file",
            help="Read a saved Retail Prices answer instead of the API: one page, several pages or NDJSON.",
        ),
    ] = None,
) -> None:
    """Read list prices from the Retail Prices API (or a saved answer) into the price book.

    Every unmapped meter is listed. Discounts in the configured price files (AIFINOPS_PRICE_FILES) are applied
    to the new list prices. All prices are saved in one transaction: a failed sync changes nothing.
    """
    settings = load_settings()
    if currency is not None and not re.fullmatch(r"[A-Z]{3}", currency):
        raise ValidationError(
            f"--currency must be an ISO code such as EUR, got {currency!r}", field="currency"
        )
    store = _store(settings)
    if file is None:
        outcome = _fetch_with_progress(settings, store, product, currency)
    else:
        outcome = save_synced(settings, store, _read_file(file, currency))
    for line in sync_summary(
        outcome.result,
        inserted=outcome.saved.inserted,
        unchanged=outcome.saved.unchanged,
        updated=outcome.saved.updated,
    ):
        typer.echo(line)
    if outcome.contract:
        typer.echo(f"{outcome.contract} contract prices from the discounts of {outcome.files} price file(s)")


def _read_file(path: str, currency: str | None) -> RetailPricesResult:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc}", field="file") from exc
    try:
        items, pages = read_retail_file(text, path=path)
    except SourceFormatError as exc:
        raise ValidationError(str(exc), field="file") from exc
    other = sorted({i.currency_code for i in items} - {currency}) if currency else []
    if other:
        raise ValidationError(
            f"{path} holds {', '.join(other)} prices, not {currency}: amounts of different currencies are "
            f"never mixed; sync the file without --currency or fetch it in {currency}",
            field="currency",
        )
    result = to_prices(items)
    return dataclasses.replace(result, pages=pages)


@app.command("load")
def load(path: Annotated[str, typer.Argument(help="A .yaml, .yml or .csv price file.")]) -> None:
    """Load a price file; its discounts also apply to the list prices already in the price book."""
    from aifinops.store.price_queries import read_prices
    from aifinops.store.prices import PriceStore

    store = _store(load_settings())
    file = load_price_file(path)
    items = prices_to_load([file], read_prices(store))
    saved = PriceStore(store).save(items, now=dt.datetime.now(dt.UTC))
    typer.echo(
        f"{path}: {len(file.prices)} prices and {len(items) - len(file.prices)} contract prices → "
        f"{saved.inserted} new, {saved.updated} updated, {saved.unchanged} unchanged"
    )


@app.command("list")
def list_prices(
    model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
    source: Annotated[
        str | None, typer.Option(help="Only this source, e.g. azure-retail-prices, contract.")
    ] = None,
    at: Annotated[
        str | None, typer.Option(help="Only prices in effect at this UTC date or time (ISO).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per price, one per line.")] = False,
) -> None:
    """Print the price book as a table (or JSON lines with --json)."""
    when = None
    if at is not None:
        try:
            parsed = dt.datetime.fromisoformat(at)
        except ValueError as exc:
            raise ValidationError(
                f"--at must be an ISO date or time like 2026-10-01, got {at!r}", field="at"
            ) from exc
        when = parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed
    from aifinops.store.price_queries import read_prices

    chosen = select_prices(read_prices(_store(load_settings())), model=model, source=source, at=when)
    if as_json:
        for price in chosen:
            typer.echo(json.dumps(price_json(price)))
        return
    table = Table()
    for name in (
        "id",
        "model",
        "version",
        "deployment",
        "region",
        "meter",
        "price",
        "per",
        "from",
        "until",
        "source",
    ):
        table.add_column(name, overflow="fold")  # never cut an amount or a date short on narrow terminals
    for row in price_rows(chosen):
        table.add_row(*row)
    Console().print(table)
    console.print(f"{len(chosen)} prices")
