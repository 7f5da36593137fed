"""Tests of ``aifinops prices``: the pure helpers, and `load`/`list` against a migrated SQLite store."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import uvicorn
from typer.testing import CliRunner

from aifinops.cli.prices import (
    app,
    contract_prices,
    describe_per,
    price_rows,
    prices_to_load,
    select_prices,
    sync_summary,
)
from aifinops.domain import DeploymentType, MeterKind, Price
from aifinops.emulator import EmulatorState, create_emulator
from aifinops.engine.pricing import CONTRACT_SOURCE
from aifinops.sources.price_file import parse_price_text
from aifinops.sources.retail_prices import RETAIL_SOURCE, RetailPricesResult
from aifinops.store import Store
from aifinops.store.price_queries import read_prices
from aifinops.store.prices import PriceStore

UTC = dt.UTC
START = dt.datetime(2025, 4, 1, tzinfo=UTC)
LISTED = Price(
    "gpt-4.1",
    MeterKind.INPUT,
    Decimal("0.002"),
    "USD",
    START,
    unit_size=1000,
    deployment_type=DeploymentType.GLOBAL_STANDARD,
    region="eastus2",
    source=RETAIL_SOURCE,
)
RATE_CARD = """\
currency: USD
source: rate card
prices:
  - {model: o3, deployment_type: global_standard, meter: input, price: 2, per: 1M,
     effective_start: 2025-04-01}
discounts:
  - {percent: 10, effective_start: 2026-01-01}
"""


def test_contract_prices_cover_listed_and_file_prices_once_each() -> None:
    file = parse_price_text(RATE_CARD, path="rates.yaml", kind="yaml")
    contract = contract_prices([file, file], [LISTED, LISTED])
    assert sorted((p.model, p.price, p.source) for p in contract) == [
        ("gpt-4.1", Decimal("0.0018"), CONTRACT_SOURCE),
        ("o3", Decimal("1.8"), CONTRACT_SOURCE),
    ]
    loaded = prices_to_load([file], [LISTED])
    assert [p.source for p in loaded] == ["rate card", CONTRACT_SOURCE, CONTRACT_SOURCE]


def test_select_prices_filters_by_model_source_and_time() -> None:
    later = Price(
        "gpt-4.1", MeterKind.OUTPUT, Decimal("0.008"), "USD", START, effective_end=START.replace(year=2026)
    )
    prices = [later, LISTED]
    assert select_prices(prices, model="gpt-4.1") == [later, LISTED]  # any deployment type sorts first
    assert select_prices(prices, source=RETAIL_SOURCE) == [LISTED]
    assert select_prices(prices, at=dt.datetime(2026, 6, 1, tzinfo=UTC)) == [LISTED]


@pytest.mark.parametrize(
    ("size", "unit", "shown"),
    [
        (1000, "tokens", "1K tokens"),
        (1_000_000, "tokens", "1M tokens"),
        (1, "ptu_hour", "1 ptu_hour"),
        (1500, "image", "1500 image"),
    ],
)
def test_describe_per_names_the_block_and_unit(size: int, unit: str, shown: str) -> None:
    price = Price("m", MeterKind.UNIT, Decimal(1), "USD", START, unit_size=size, unit=unit)
    assert describe_per(price) == shown


def test_price_rows_show_exact_amounts_and_open_ends() -> None:
    (row,) = price_rows([LISTED])
    assert row == (
        "-",
        "gpt-4.1",
        "*",
        "global_standard",
        "eastus2",
        "input",
        "0.002 USD",
        "1K tokens",
        "2025-04-01T00:00:00+00:00",
        "-",
        RETAIL_SOURCE,
    )


def test_sync_summary_lists_every_unmapped_meter() -> None:
    result = RetailPricesResult(
        prices=(LISTED,),
        items=30,
        pages=2,
        skipped_meters=tuple(f"meter {n:02d}" for n in range(22)),
        skipped_reservations=3,
        problems=("Items[4] (meterName 'x'): field 'retailPrice' must be a number",),
    )
    lines = sync_summary(result, inserted=1, unchanged=0, updated=0)
    assert lines[0] == "read 30 items on 2 pages → 1 prices: 1 new, 0 updated, 0 unchanged"
    assert lines[1] == "skipped: 3 reservation, 0 other price type, 0 higher-tier items, 22 unmapped meters"
    assert lines[2:24] == [f"  unmapped meter: meter {n:02d}" for n in range(22)]
    assert not any("more" in line for line in lines)
    assert lines[-1].startswith("  problem: Items[4]")


def test_load_then_list_through_the_store(
    sqlite_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIFINOPS_DATABASE_URL", str(sqlite_store.url))
    PriceStore(sqlite_store).save([LISTED], now=START)
    path = tmp_path / "rates.yaml"
    path.write_text(RATE_CARD, encoding="utf-8")
    runner = CliRunner()
    loaded = runner.invoke(app, ["load", str(path)])
    assert loaded.exit_code == 0, loaded.output
    assert "1 prices and 2 contract prices → 3 new, 0 updated, 0 unchanged" in loaded.output
    again = runner.invoke(app, ["load", str(path)])
    assert "0 new, 0 updated, 3 unchanged" in again.output
    stored = read_prices(sqlite_store)
    assert sorted((p.model, p.source, p.price) for p in stored) == [
        ("gpt-4.1", RETAIL_SOURCE, Decimal("0.002")),
        ("gpt-4.1", CONTRACT_SOURCE, Decimal("0.0018")),
        ("o3", CONTRACT_SOURCE, Decimal("1.8")),
        ("o3", "rate card", Decimal("2")),
    ]
    listed = runner.invoke(app, ["list", "--source", CONTRACT_SOURCE], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    assert "0.0018 USD" in listed.output and "rate card" not in listed.output


@pytest.fixture
def retail_prices_server() -> Iterator[tuple[str, EmulatorState]]:
    """The project's Azure emulator serving the Retail Prices API on a local port, seeded with real meters."""
    item = {
        "currencyCode": "USD",
        "tierMinimumUnits": 0.0,
        "armRegionName": "eastus2",
        "location": "US East 2",
        "effectiveStartDate": "2025-04-01T00:00:00Z",
        "productId": "DZH318Z0HHG7",
        "productName": "Azure OpenAI",
        "serviceName": "Cognitive Services",
        "serviceId": "DZH31600VF1F",
        "serviceFamily": "AI + Machine Learning",
        "unitOfMeasure": "1K",
        "type": "Consumption",
        "isPrimaryMeterRegion": True,
    }
    meters = [
        ("gpt 4.1 Inp glbl Tokens", 0.002),
        ("gpt 4.1 Outp glbl Tokens", 0.008),
        ("gpt 4.1 cached Inp glbl Tokens", 0.0005),
        ("Whisper hypothetical Widget", 0.1),
    ]
    state = EmulatorState(prices_page_size=2)
    state.prices = [
        {
            **item,
            "meterName": name,
            "meterId": f"meter-{n}",
            "skuName": name.removesuffix(" Tokens"),
            "skuId": f"DZH318Z0HHG7/{n:04d}",
            "retailPrice": price,
            "unitPrice": price,
        }
        for n, (name, price) in enumerate(meters)
    ]
    server = uvicorn.Server(
        uvicorn.Config(
            create_emulator(state), host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="none"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/api/retail/prices", state
    server.should_exit = True
    thread.join(timeout=10)


def test_sync_reads_the_api_and_saves_list_and_contract_prices(
    sqlite_store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    retail_prices_server: tuple[str, EmulatorState],
) -> None:
    endpoint, _ = retail_prices_server
    rate_card = tmp_path / "rates.yaml"
    rate_card.write_text("discounts:\n  - {model: gpt-4.1, percent: 20, effective_start: 2025-04-01}\n")
    monkeypatch.setenv("AIFINOPS_DATABASE_URL", str(sqlite_store.url))
    monkeypatch.setenv("AIFINOPS_AZURE__RETAIL_PRICES_ENDPOINT", endpoint)
    monkeypatch.setenv("AIFINOPS_PRICE_FILES", json.dumps([str(rate_card)]))
    result = CliRunner().invoke(app, ["sync", "--product", "Azure OpenAI"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "read 4 items on 2 pages → 3 prices: 6 new, 0 updated, 0 unchanged" in result.output
    assert "  unmapped meter: Whisper hypothetical Widget [Azure OpenAI]: the last word" in result.output
    assert "3 contract prices from the discounts of 1 price file(s)" in result.output
    stored = {(p.meter_name, p.source): p.price for p in read_prices(sqlite_store)}
    assert stored[("gpt 4.1 Outp glbl Tokens", RETAIL_SOURCE)] == Decimal("0.008")
    assert stored[("gpt 4.1 Outp glbl Tokens", CONTRACT_SOURCE)] == Decimal("0.0064")
