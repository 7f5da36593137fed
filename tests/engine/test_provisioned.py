"""The estimated cost of provisioned throughput: each hour's cost split over its calls, the rest idle."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aifinops.domain import DeploymentType, MeterKind, Price
from aifinops.engine.provisioned import ProvisionedRate, hour_cost_nanos, split_hour, unit_hour_price
from aifinops.sources.meter_names import MeterSpec, parse_meter

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


@given(
    cost=st.integers(min_value=0, max_value=10**15),
    tokens=st.lists(st.integers(min_value=0, max_value=10**9), max_size=50),
    capacity=st.one_of(st.none(), st.integers(min_value=1, max_value=10**11)),
)
def test_an_hour_is_its_calls_shares_plus_idle_to_the_nano(
    cost: int, tokens: list[int], capacity: int | None
) -> None:
    split = split_hour(cost, tokens, capacity)
    assert split.used_nanos + split.idle_nanos == cost
    assert len(split.shares) == len(tokens) and all(s >= 0 for s in split.shares) and split.idle_nanos >= 0
    used = sum(tokens)
    if used == 0:
        assert split.idle_nanos == cost
    elif capacity is None or used >= capacity:
        assert split.idle_nanos == 0  # a used hour is wholly its calls' (no capacity, or at or above it)
    else:
        # the used part is the calls' share of the capacity, to within the nano each part rounds
        assert abs(split.used_nanos * capacity - cost * used) <= capacity * (len(tokens) + 1)
    # more tokens never carry less (largest remainder moves at most one nano)
    for a, b in zip(tokens, split.shares, strict=True):
        for c, d in zip(tokens, split.shares, strict=True):
            if a > c:
                assert b >= d - 1


def test_calls_without_tokens_take_no_share() -> None:
    assert split_hour(100, [0, 5, 0], capacity=10).shares == (0, 50, 0)


def test_negative_tokens_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        split_hour(10, [1, -1])


def test_hour_cost_prices_reserved_units_at_the_reservation_rate() -> None:
    rate = ProvisionedRate(15, Decimal("1.0"), "USD", "list", 10, Decimal("0.361111111"))
    assert hour_cost_nanos(rate) == 8_611_111_110
    assert hour_cost_nanos(ProvisionedRate(3, None, "USD", "reserved", 3, Decimal("0.5"))) == 1_500_000_000
    with pytest.raises(ValueError, match="unreserved units need an hourly unit price"):
        hour_cost_nanos(ProvisionedRate(3, None, "USD", "x"))
    with pytest.raises(ValueError, match="reservation price"):
        hour_cost_nanos(ProvisionedRate(3, Decimal(1), "USD", "x", reserved_units=1))


def _ptu(price: str, **kw: object) -> Price:
    base: dict[str, object] = {
        "model": "ptu_hour",
        "meter_kind": MeterKind.UNIT,
        "price": Decimal(price),
        "currency": "USD",
        "effective_start": dt.datetime(2025, 8, 25, tzinfo=dt.UTC),
        "unit_size": 1,
        "deployment_type": DeploymentType.GLOBAL_PROVISIONED,
        "unit": "ptu_hour",
        "meter_name": "Provisioned Managed Global Unit",
    }
    return Price(**(base | kw))  # type: ignore[arg-type]


def test_the_hourly_unit_price_of_the_deployment_type_region_and_model_is_chosen() -> None:
    prices = [
        _ptu("1.0"),
        _ptu("1.1", deployment_type=DeploymentType.DATA_ZONE_PROVISIONED),
        _ptu("1.2", region="swedencentral"),
        _ptu("1.3", model="gpt-4.1"),
        _ptu("9", meter_kind=MeterKind.INPUT, unit="tokens", unit_size=1_000_000),  # a token meter
        _ptu("0.9", effective_start=dt.datetime(2027, 1, 1, tzinfo=dt.UTC)),  # not yet in effect
        _ptu("1.4", unit="1 Hour", region="eastus2"),
    ]

    def pick(**kw: object) -> str | None:
        args: dict[str, object] = {"deployment_type": DeploymentType.GLOBAL_PROVISIONED, "region": None}
        args |= {"model": None, "at": T0} | kw
        found = unit_hour_price(prices, **args)  # type: ignore[arg-type]
        return None if found is None else str(found.price)

    assert pick() == "1.0"
    assert pick(region="swedencentral") == "1.2"
    assert pick(region="EastUS2") == "1.4"
    assert pick(model="gpt-4.1", region="swedencentral") == "1.3"  # its own model first
    assert pick(deployment_type=DeploymentType.DATA_ZONE_PROVISIONED) == "1.1"
    assert pick(deployment_type=DeploymentType.PROVISIONED) is None
    assert pick(at=dt.datetime(2027, 2, 1, tzinfo=dt.UTC)) == "0.9"


def test_another_publishers_provisioned_unit_prices_only_its_own_models() -> None:
    later = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
    prices = [
        _ptu("1.0"),
        _ptu("1.25", model="ptu_hour:llama", effective_start=later),  # Azure Llama Models' unit, newer
    ]

    def pick(model: str | None) -> str | None:
        found = unit_hour_price(
            prices, deployment_type=DeploymentType.GLOBAL_PROVISIONED, region=None, model=model, at=T0
        )
        return None if found is None else str(found.price)

    assert pick(None) == "1.0"
    assert pick("gpt-4.1") == "1.0"
    assert pick("llama-3.3-70b") == "1.25"


CAPTURED = Path(__file__).resolve().parents[3] / "shared" / "reference" / "retail-meters"
CAPTURED_METERS = CAPTURED / "new-meters-2025-09_2026-09.tsv"
#: Products that sell a publisher's models under another name than the product of its provisioned unit.
SAME_PUBLISHER = {
    "Grok model family": "Azure Grok Models",
    "Llama models": "Azure Llama Models",
    "Mistral Models": "Azure Mistral Models",
}


def _captured_specs() -> list[MeterSpec]:
    with CAPTURED_METERS.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    specs = (parse_meter(r["meterName"], r["productName"], r["unitOfMeasure"]) for r in rows)
    return [s for s in specs if isinstance(s, MeterSpec)]


@pytest.mark.skipif(not CAPTURED_METERS.exists(), reason="the shared captures are not beside this checkout")
def test_each_publishers_unit_prices_exactly_the_models_it_sells_by_the_real_meter_names() -> None:
    """Over every captured meter: a publisher's provisioned unit (`ptu_hour:<publisher>`) prices the models
    its product sells (Fireworks' `fw-…` ones too) before Azure OpenAI's unit, and no other product's model
    (Fireworks-hosted `fw-deepseek-…` is no Azure DeepSeek model)."""
    specs = _captured_specs()
    units = {s.product_name: s for s in specs if s.model.startswith("ptu_hour:")}
    families = {(s.model, s.product_name) for s in specs if s.unit == "tokens"}
    assert "Azure Fireworks Models" in units and any(f.startswith("fw-") for f, _ in families)
    wrong = []
    for product, unit in sorted(units.items(), key=lambda u: str(u[0])):
        own = _ptu("7", model=unit.model, deployment_type=unit.deployment_type)
        azure = _ptu("1", deployment_type=unit.deployment_type, effective_start=T0 - dt.timedelta(days=1))
        for family, sold_by in sorted(families, key=str):
            found = unit_hour_price(
                [azure, own], deployment_type=unit.deployment_type, region=None, model=family, at=T0
            )
            expected = own if SAME_PUBLISHER.get(str(sold_by), sold_by) == product else azure
            if found != expected:
                wrong.append(f"{family} [{sold_by}] priced by {found and found.model}, not {expected.model}")
    assert not wrong, "\n".join(wrong[:40])
