"""Tests of hand-written price files (YAML and CSV), contract discounts and the bundled snapshot."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from aifinops.domain import ContextTier, DeploymentType, MeterKind, ProcessingTier, UsageEvent
from aifinops.engine.pricing import CONTRACT_SOURCE, PriceBook, price_event
from aifinops.errors import ValidationError
from aifinops.sources.meter_names import MeterSpec, parse_meter
from aifinops.sources.price_file import load_price_file, load_snapshot, parse_price_text

UTC = dt.UTC

YAML = """\
currency: USD
source: negotiated rate card 2026
prices:
  - model: gpt-4.1
    deployment_type: GlobalStandard
    region: eastus2
    meter: input
    price: 0.002
    per: 1K
    effective_start: 2025-04-01
  - model: gpt-4.1
    deployment_type: global_standard
    meter: cached_input
    price: 7.5e-05
    per: 1K
    effective_start: 2025-04-01T00:00:00Z
  - {model: gpt-4.1, deployment_type: global_standard, meter: output, price: "8", per: 1M,
     effective_start: 2025-04-01, effective_end: 2026-04-01, currency: EUR, source: eu list,
     version: "2025-04-14"}
  - {model: azure-ai-search, meter: unit, unit: query, price: 1, per: 1000, effective_start: 2025-01-01}
discounts:
  - {model: gpt-4.1, percent: 15, effective_start: 2026-01-01, effective_end: 2027-01-01}
  - {model: all, percent: 5, effective_start: 2026-01-01}
"""

CSV = """\
model,version,deployment_type,region,meter,price,per,currency,effective_start,effective_end,source
gpt-4.1,,global_standard,eastus2,input,0.002,1K,USD,2025-04-01,,negotiated rate card 2026
gpt-4.1,,global_standard,,cached_input,7.5e-05,1K,USD,2025-04-01T00:00:00Z,,negotiated rate card 2026
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_rows_become_exact_effective_dated_prices_with_defaults(tmp_path: Path) -> None:
    loaded = load_price_file(_write(tmp_path, "rates.yaml", YAML))
    first, cached, output, search = loaded.prices
    assert (first.model, first.meter_kind, first.price, first.unit_size, first.currency) == (
        "gpt-4.1",
        MeterKind.INPUT,
        Decimal("0.002"),
        1000,
        "USD",
    )
    assert (first.deployment_type, first.region, first.model_version) == (
        DeploymentType.GLOBAL_STANDARD,
        "eastus2",
        None,
    )
    assert first.effective_start == dt.datetime(2025, 4, 1, tzinfo=UTC) and first.effective_end is None
    assert first.source == "negotiated rate card 2026"
    assert cached.price == Decimal("0.000075") and cached.effective_start == first.effective_start
    assert (output.price, output.unit_size, output.currency, output.source, output.model_version) == (
        Decimal("8"),
        1_000_000,
        "EUR",
        "eu list",
        "2025-04-14",
    )
    assert output.effective_end == dt.datetime(2026, 4, 1, tzinfo=UTC)
    assert (search.meter_kind, search.unit, search.unit_size, search.deployment_type) == (
        MeterKind.UNIT,
        "query",
        1000,
        None,
    )


def test_csv_rows_read_the_same_as_yaml(tmp_path: Path) -> None:
    from_csv = load_price_file(_write(tmp_path, "rates.csv", CSV)).prices
    from_yaml = load_price_file(_write(tmp_path, "rates.yaml", YAML)).prices[:2]
    assert from_csv == from_yaml


def test_discounts_make_contract_prices_that_win_over_list_prices(tmp_path: Path) -> None:
    loaded = load_price_file(_write(tmp_path, "rates.yaml", YAML))
    assert [(d.model, d.percent) for d in loaded.discounts] == [("gpt-4.1", Decimal(15)), (None, Decimal(5))]
    contract = loaded.contract_prices()
    assert {p.source for p in contract} == {CONTRACT_SOURCE}
    book = PriceBook([*loaded.prices, *contract])
    event = UsageEvent(
        "e1",
        dt.datetime(2026, 2, 1, tzinfo=UTC),
        model="gpt-4.1",
        deployment_type=DeploymentType.GLOBAL_STANDARD,
        region="eastus2",
        input_tokens=1_000_000,
    )
    assert price_event(event, book).cost == Decimal("1.7")  # 2 per 1M, 15 % off (the model beats 'all')
    later = UsageEvent(
        "e2",
        dt.datetime(2027, 2, 1, tzinfo=UTC),
        model="gpt-4.1",
        deployment_type=DeploymentType.GLOBAL_STANDARD,
        region="eastus2",
        input_tokens=1_000_000,
    )
    assert price_event(later, book).cost == Decimal("1.9")  # only the 5 % for all models is left
    before = UsageEvent(
        "e3",
        dt.datetime(2025, 6, 1, tzinfo=UTC),
        model="gpt-4.1",
        deployment_type=DeploymentType.GLOBAL_STANDARD,
        region="eastus2",
        input_tokens=1_000_000,
    )
    assert price_event(before, book).cost == Decimal("2")


def test_every_problem_is_reported_with_file_line_field_and_reason(tmp_path: Path) -> None:
    text = """\
prices:
  - model: gpt-4.1
    meter: inputs
    price: -1
    effective_start: 2025-13-01
  - model: gpt-4.1
    meter: input
    price: 0.002
    per: 1G
    currency: usd
    deployment_type: global
    effective_start: 2025-04-01
    effective_end: 2025-01-01
  - {meter: unit, price: 1, effective_start: 2025-01-01, currency: USD, colour: red}
"""
    path = _write(tmp_path, "bad.yaml", text)
    with pytest.raises(ValidationError) as caught:
        load_price_file(path)
    message = str(caught.value)
    expected = [
        f"{path}:3: prices[0].meter: 'inputs' is not a meter",
        f"{path}:4: prices[0].price: '-1' must be a finite number ≥ 0",
        f"{path}:5: prices[0].effective_start: '2025-13-01' is not an ISO date",
        f"{path}:2: prices[0].currency: None must be an ISO code such as USD",
        f"{path}:13: prices[1].effective_end: must be after effective_start",
        f"{path}:10: prices[1].currency: 'usd' must be an ISO code such as USD",
        f"{path}:9: prices[1].per: '1G' must be 1K, 1M or a positive whole number of units",
        f"{path}:11: prices[1].deployment_type: 'global' is not a deployment type",
        f"{path}:14: prices[2].colour: unknown field",
        f"{path}:14: prices[2].model: is required",
        f"{path}:14: prices[2].unit: is required for meter 'unit'",
    ]
    for fragment in expected:
        assert fragment in message
    assert "has 11 problem(s)" in message
    assert caught.value.field == "prices[0].meter"


def test_overlapping_rows_for_the_same_key_are_rejected_naming_both_lines(tmp_path: Path) -> None:
    text = """\
currency: USD
prices:
  - {model: o3, meter: input, price: 2, effective_start: 2025-01-01, effective_end: 2025-07-01}
  - {model: o3, meter: input, price: 1.8, effective_start: 2025-06-01}
  - {model: o3, meter: input, price: 1.8, effective_start: 2025-06-01, region: eastus2}
discounts:
  - {percent: 10, effective_start: 2026-01-01}
  - {model: "*", percent: 12, effective_start: 2026-06-01, effective_end: 2026-07-01}
"""
    path = _write(tmp_path, "overlap.yaml", text)
    with pytest.raises(ValidationError) as caught:
        load_price_file(path)
    assert str(caught.value).splitlines()[1:] == [
        f"{path}:4: prices[1]: overlaps prices[0] (line 3) for the same product, model, version, "
        "deployment type, region, meter, tiers, unit, currency and source; "
        "end one period before the other starts",
        f"{path}:8: discounts[1]: overlaps discounts[0] (line 7) for the same model, deployment type and "
        "meter; end one period before the other starts",
    ]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("prices: [a, b", "file: not YAML"),
        ("- 1\n- 2\n", "the top level must be a mapping"),
        ("tarifs: []\n", "tarifs: unknown section"),
        ("currency: USD\ncolour: red\n", "colour: unknown top-level field"),
        (
            "discounts:\n  - {percent: 0, effective_start: 2026-01-01}\n",
            "must be more than 0 and at most 100",
        ),
        ("prices:\n  - just text\n", "each row must be a mapping"),
    ],
)
def test_malformed_files_name_the_problem(text: str, fragment: str) -> None:
    with pytest.raises(ValidationError, match=r"price file p\.yaml") as caught:
        parse_price_text(text, path="p.yaml", kind="yaml")
    assert fragment in str(caught.value)


def test_csv_with_unknown_columns_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, "rates.csv", "model,meter,price,colour\ngpt-4.1,input,1,red\n")
    with pytest.raises(ValidationError, match=r"rates.csv:1: header: unknown column\(s\) \['colour'\]"):
        load_price_file(path)


def test_unsupported_extension_and_missing_file_are_validation_errors(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"must end in .yaml, .yml or .csv"):
        load_price_file(tmp_path / "rates.json")
    with pytest.raises(ValidationError, match="cannot read price file"):
        load_price_file(tmp_path / "absent.yaml")


def test_bundled_snapshot_rows_agree_with_the_meter_parser() -> None:
    snapshot = load_snapshot()
    assert len(snapshot.prices) == 1567
    assert snapshot.captured_at == dt.datetime(2026, 9, 1, tzinfo=UTC)
    assert snapshot.provenance and "LOWEST price captured" in snapshot.provenance
    for price in snapshot.prices:
        assert price.meter_name is not None
        spec = parse_meter(
            price.meter_name, price.product_name or "Azure OpenAI", seen=price.effective_start.date()
        )
        assert isinstance(spec, MeterSpec), price.meter_name
        assert (
            spec.model,
            spec.model_version,
            spec.deployment_type,
            spec.meter_kind,
            spec.unit,
            spec.processing_tier,
            spec.context_tier,
        ) == (
            price.model,
            price.model_version,
            price.deployment_type,
            price.meter_kind,
            price.unit,
            price.processing_tier,
            price.context_tier,
        )


def test_bundled_snapshot_holds_the_new_meter_kinds_and_tiers() -> None:
    prices = load_snapshot().prices
    kinds = {(p.meter_kind, p.processing_tier, p.context_tier) for p in prices if p.model == "gpt-5.6-sol"}
    assert (MeterKind.CACHE_WRITE, ProcessingTier.STANDARD, ContextTier.LONG) in kinds
    assert (MeterKind.INPUT, ProcessingTier.PRIORITY, ContextTier.SHORT) in kinds
    assert (MeterKind.OUTPUT, ProcessingTier.FLEX, ContextTier.SHORT) in kinds
    ptu = {p.product_name for p in prices if p.unit == "ptu_hour"}
    assert {None, "Azure Deepseek Models", "Azure Fireworks Models"} <= ptu  # None: the 2025-08 rows


def test_bundled_snapshot_prices_a_gpt_4_1_call_at_the_captured_list_price() -> None:
    book = PriceBook(load_snapshot().prices)
    event = UsageEvent(
        "e1",
        dt.datetime(2026, 10, 3, tzinfo=UTC),
        model="gpt-4.1",
        model_version="2025-04-14",
        deployment_type=DeploymentType.GLOBAL_STANDARD,
        region="swedencentral",
        input_tokens=10_000,
        cached_input_tokens=4_000,
        output_tokens=1_000,
    )
    # 6 × 0.002 + 4 × 0.0005 + 1 × 0.008 per 1K tokens
    assert price_event(event, book).cost == Decimal("0.022")
