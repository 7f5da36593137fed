"""``aifinops prices``: sync Azure list prices, load price files with contract terms, list the price book."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Annotated

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from aifinops.config import Settings, load_settings
from aifinops.domain import Price
from aifinops.errors import ValidationError
from aifinops.sources.price_file import PriceFile, load_price_file
from aifinops.sources.retail_prices import RetailPricesResult, fetch_retail_prices

if TYPE_CHECKING:
    from aifinops.store import Store

__all__ = [
    "app",
    "contract_prices",
    "describe_per",
    "price_rows",
    "prices_to_load",
    "select_prices",
    "sync_summary",
]

app = typer.Typer(
    help="Prices: sync Azure list prices, load price files, list the price book.", no_args_is_help=True
)
console = Console(stderr=True)

# Skipped meter names are listed up to this many; the rest are counted.
_SHOWN_SKIPPED = 20
_HTTP_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


def _key(price: Price) -> tuple[object, ...]:
    return (*price.meter_key, price.effective_start)


def contract_prices(files: Iterable[PriceFile], list_prices: Iterable[Price]) -> list[Price]:
    """The contract prices the discounts of ``files`` give over their own prices and ``list_prices``."""
    files = list(files)
    combined = {_key(price): price for price in list_prices}
    # A price of a file replaces a listed price with the same key, so reloading a file never doubles it.
    combined.update((_key(price), price) for file in files for price in file.prices)
    contract: dict[tuple[object, ...], Price] = {}
    for file in files:
        contract.update((_key(price), price) for price in file.contract_prices(combined.values()))
    return list(contract.values())


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


def price_rows(prices: Sequence[Price]) -> list[tuple[str, ...]]:
    """The rows of ``prices list``: exact amounts, open ends shown as ``-``."""
    return [
        (
            str(p.price_id) if p.price_id is not None else "-",
            p.model,
            p.model_version or "*",
            p.deployment_type.value if p.deployment_type else "*",
            p.region or "*",
            p.meter_kind.value,
            f"{p.price} {p.currency}",
            describe_per(p),
            p.effective_start.isoformat(),
            p.effective_end.isoformat() if p.effective_end else "-",
            p.source,
        )
        for p in prices
    ]


def sync_summary(result: RetailPricesResult, *, inserted: int, unchanged: int, updated: int) -> list[str]:
    """What a sync did, line by line, skipped meters included (they are never priced silently)."""
    lines = [
        f"read {result.items} items on {result.pages} pages → {len(result.prices)} prices: "
        f"{inserted} new, {updated} updated, {unchanged} unchanged",
        f"skipped: {result.skipped_reservations} reservation, {result.skipped_other_types} other price type, "
        f"{result.skipped_tiers} higher-tier items, {len(result.skipped_meters)} unknown meters",
    ]
    shown = result.skipped_meters[:_SHOWN_SKIPPED]
    lines += [f"  unknown meter: {name}" for name in shown]
    if len(result.skipped_meters) > len(shown):
        lines.append(f"  … and {len(result.skipped_meters) - len(shown)} more unknown meters")
    lines += [f"  problem: {problem}" for problem in result.problems]
    return lines


def _store(settings: Settings) -> Store:
    """The configured database holding the price book, imported on use so `--help` stays fast."""
    from aifinops.store import Store

    store = Store.from_settings(settings)
    store.check_schema()
    return store


def _fetch_with_progress(settings: Settings, products: list[str]) -> RetailPricesResult:
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console) as progress, httpx.Client(timeout=_HTTP_TIMEOUT) as client:
        task = progress.add_task("Retail Prices API", total=len(products))
        seen: list[str] = []
        items = 0

        def on_page(product: str, count: int) -> None:
            nonlocal items
            if product not in seen:
                seen.append(product)
            items += count
            progress.update(task, completed=len(seen) - 1, description=f"{product}: {items} items")

        result = fetch_retail_prices(
            client,
            endpoint=settings.azure.retail_prices_endpoint,
            products=products,
            currency=settings.azure.retail_prices_currency,
            on_page=on_page,
        )
        progress.update(task, completed=len(products))
    return result


@app.command("sync")
def sync(
    product: Annotated[
        list[str] | None,
        typer.Option(help="Retail Prices productName to read; repeat. Default from settings."),
    ] = None,
) -> None:
    """Read Azure OpenAI list prices from the Retail Prices API into the price book.

    Discounts in the configured price files (AIFINOPS_PRICE_FILES) are applied to the new list prices.
    """
    settings = load_settings()
    from aifinops.store.prices import PriceStore

    prices = PriceStore(_store(settings))
    products = product or settings.azure.retail_prices_products
    result = _fetch_with_progress(settings, products)
    files = [load_price_file(path) for path in settings.price_files]
    contract = contract_prices(files, result.prices)
    saved = prices.save([*result.prices, *contract], now=dt.datetime.now(dt.UTC))
    for line in sync_summary(
        result, inserted=saved.inserted, unchanged=saved.unchanged, updated=saved.updated
    ):
        typer.echo(line)
    if contract:
        typer.echo(f"{len(contract)} contract prices from the discounts of {len(files)} price file(s)")


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
) -> None:
    """Print the price book as a table."""
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
