"""Tests of ``aifinops prices``: the pure helpers, and `load`/`list` against a migrated SQLite store."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
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
from aifinops.emulator import EmulatorState
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


def _items(state: EmulatorState) -> list[dict[str, object]]:
    return [dict(item) for item in state.prices]


def test_default_sync_reads_every_ai_product_and_the_foundry_models_service(
    sqlite_store: Store, monkeypatch: pytest.MonkeyPatch, retail_prices_server: tuple[str, EmulatorState]
) -> None:
    endpoint, state = retail_prices_server
    foundry = {
        **state.prices[0],
        "serviceName": "Foundry Models",
        "productName": "Azure Deepseek Models",
        "meterName": "V3.2 Inp glbl Tokens",
        "skuName": "V3.2 Inp glbl",
        "meterId": "meter-ds",
        "retailPrice": 0.00058,
        "unitPrice": 0.00058,
    }
    state.prices.append(foundry)
    monkeypatch.setenv("AIFINOPS_DATABASE_URL", str(sqlite_store.url))
    monkeypatch.setenv("AIFINOPS_AZURE__RETAIL_PRICES_ENDPOINT", endpoint)
    result = CliRunner().invoke(app, ["sync"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    stored = {(p.product_name, p.model, p.meter_kind): p.price for p in read_prices(sqlite_store)}
    assert stored[("Azure Deepseek Models", "deepseek-v3.2", MeterKind.INPUT)] == Decimal("0.00058")
    assert stored[("Azure OpenAI", "gpt-4.1", MeterKind.INPUT)] == Decimal("0.002")


def test_sync_in_another_currency_stores_that_currency_only(
    sqlite_store: Store, monkeypatch: pytest.MonkeyPatch, retail_prices_server: tuple[str, EmulatorState]
) -> None:
    endpoint, state = retail_prices_server
    state.fx_rates["EUR"] = Decimal("0.9")
    monkeypatch.setenv("AIFINOPS_DATABASE_URL", str(sqlite_store.url))
    monkeypatch.setenv("AIFINOPS_AZURE__RETAIL_PRICES_ENDPOINT", endpoint)
    result = CliRunner().invoke(app, ["sync", "--product", "Azure OpenAI", "--currency", "EUR"])
    assert result.exit_code == 0, result.output
    prices = read_prices(sqlite_store)
    assert {p.currency for p in prices} == {"EUR"}
    assert {p.meter_name: p.price for p in prices}["gpt 4.1 Inp glbl Tokens"] == Decimal("0.0018")
    bad = CliRunner().invoke(app, ["sync", "--currency", "euro"])
    assert bad.exit_code != 0 and "--currency must be an ISO code" in str(bad.exception or bad.output)


@pytest.mark.parametrize("layout", ["one page", "several pages", "ndjson"])
def test_sync_from_a_saved_answer_reports_mapped_and_unmapped_meters(
    sqlite_store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    retail_prices_server: tuple[str, EmulatorState],
    layout: str,
) -> None:
    _, state = retail_prices_server
    items = _items(state)
    page = {"BillingCurrency": "USD", "Items": items, "NextPageLink": None, "Count": len(items)}
    if layout == "one page":
        text = json.dumps(page)
    elif layout == "several pages":
        first = {
            **page,
            "Items": items[:2],
            "NextPageLink": "https://prices.azure.com/api/retail/prices?$skip=2",
        }
        text = json.dumps(first) + "\n" + json.dumps({**page, "Items": items[2:]})
    else:
        text = "\n".join(json.dumps(item) for item in items)
    saved = tmp_path / "prices.json"
    saved.write_text(text, encoding="utf-8")
    monkeypatch.setenv("AIFINOPS_DATABASE_URL", str(sqlite_store.url))
    result = CliRunner().invoke(app, ["sync", "--file", str(saved)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "read 4 items" in result.output and "→ 3 prices: 3 new" in result.output
    assert "1 unmapped meters" in result.output
    assert "  unmapped meter: Whisper hypothetical Widget [Azure OpenAI]" in result.output
    assert len(read_prices(sqlite_store)) == 3


def test_a_malformed_saved_answer_names_file_page_and_item_and_changes_nothing(
    sqlite_store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    retail_prices_server: tuple[str, EmulatorState],
) -> None:
    _, state = retail_prices_server
    items = _items(state)
    items[1] = {**items[1], "retailPrice": "n/a"}
    pages = [{"Items": items[:1], "NextPageLink": None}, {"Items": items[1:], "NextPageLink": None}]
    saved = tmp_path / "broken.json"
    saved.write_text(json.dumps(pages), encoding="utf-8")
    monkeypatch.setenv("AIFINOPS_DATABASE_URL", str(sqlite_store.url))
    result = CliRunner().invoke(app, ["sync", "--file", str(saved)])
    assert result.exit_code != 0
    message = str(result.exception)
    assert str(saved) in message and "page 2" in message and "Items[0]" in message
    assert "retailPrice" in message
    assert read_prices(sqlite_store) == []


def test_a_sync_that_would_change_priced_usage_is_refused_whole_with_the_reprice_hint(
    sqlite_store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    retail_prices_server: tuple[str, EmulatorState],
) -> None:
    from aifinops.domain import UsageEvent
    from aifinops.errors import PricingError
    from aifinops.jobs.ingest import Ingestor

    endpoint, state = retail_prices_server
    monkeypatch.setenv("AIFINOPS_DATABASE_URL", str(sqlite_store.url))
    monkeypatch.setenv("AIFINOPS_AZURE__RETAIL_PRICES_ENDPOINT", endpoint)
    assert CliRunner().invoke(app, ["sync", "--product", "Azure OpenAI"]).exit_code == 0
    event = UsageEvent(
        "e1",
        dt.datetime(2025, 6, 1, tzinfo=UTC),
        model="gpt-4.1",
        deployment_type=DeploymentType.GLOBAL_STANDARD,
        region="eastus2",
        input_tokens=1000,
    )
    assert Ingestor(sqlite_store).ingest([event], source="test").unpriced == 0
    before = {p.price_id: p.price for p in read_prices(sqlite_store)}
    for item in state.prices:  # the used input price changes, and a new meter arrives in the same sync
        if item["meterName"] == "gpt 4.1 Inp glbl Tokens":
            item["retailPrice"] = item["unitPrice"] = 0.003
    state.prices.append({**state.prices[1], "meterName": "gpt 4.1 Batch Inp glbl Tokens", "meterId": "new"})
    refused = CliRunner().invoke(app, ["sync", "--product", "Azure OpenAI"])
    assert refused.exit_code != 0 and isinstance(refused.exception, PricingError)
    assert "aifinops reprice" in str(refused.exception)
    assert {p.price_id: p.price for p in read_prices(sqlite_store)} == before


def test_list_json_prints_one_object_per_price_with_the_source_amount(
    sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIFINOPS_DATABASE_URL", str(sqlite_store.url))
    snapshot = parse_price_text(
        "currency: USD\nprices:\n"
        "  - {model: gpt-5.6-sol, deployment_type: global_standard, meter: cache_write, context_tier: long,"
        " processing_tier: flex, price: 7.5e-05, per: 1K, effective_start: 2026-07-01,"
        ' product: "Azure OpenAI GPT5", meter_name: "56sol LoCo Cd Wr Fl Gl 1M Tokens"}\n',
        path="inline.yaml",
        kind="yaml",
    )
    PriceStore(sqlite_store).save(list(snapshot.prices), now=START)
    result = CliRunner().invoke(app, ["list", "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 1
    row = rows[0]
    assert {k: row[k] for k in ("meter_name", "product_name", "model", "version", "deployment_type")} == {
        "meter_name": "56sol LoCo Cd Wr Fl Gl 1M Tokens",
        "product_name": "Azure OpenAI GPT5",
        "model": "gpt-5.6-sol",
        "version": None,
        "deployment_type": "global_standard",
    }
    assert (row["meter"], row["context_tier"], row["processing_tier"], row["unit"]) == (
        "cache_write",
        "long",
        "flex",
        "tokens",
    )
    assert (row["price"], row["currency"], row["effective_start"]) == (
        "0.000075",
        "USD",
        "2026-07-01T00:00:00+00:00",
    )


def test_a_saved_answer_in_another_currency_is_refused_naming_the_currency_asked_for(
    sqlite_store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    retail_prices_server: tuple[str, EmulatorState],
) -> None:
    _, state = retail_prices_server
    saved = tmp_path / "usd.json"
    saved.write_text(json.dumps({"Items": _items(state), "NextPageLink": None}), encoding="utf-8")
    monkeypatch.setenv("AIFINOPS_DATABASE_URL", str(sqlite_store.url))
    result = CliRunner().invoke(app, ["sync", "--file", str(saved), "--currency", "EUR"])
    assert result.exit_code != 0
    message = str(result.exception)
    assert "holds USD prices, not EUR" in message and "fetch it in EUR" in message
    assert "{currency}" not in message
    assert read_prices(sqlite_store) == []
