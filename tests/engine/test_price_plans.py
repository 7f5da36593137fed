"""Pricing per price key equals price_event, event for event: tiers, aliases, cached tokens and cache writes,
long context, batch, regions, versions in effect, currencies, effective dates and the one-event cost cap."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aifinops.domain import (
    ContextTier,
    DeploymentType,
    MeterKind,
    Price,
    ProcessingTier,
    UsageEvent,
    to_nanos,
)
from aifinops.engine.price_plans import Charge, PricePlans, price_id_columns
from aifinops.engine.pricing import PriceBook, PricingRules, price_event

UTC = dt.UTC
DAYS = [dt.datetime(2026, 9, d, tzinfo=UTC) for d in (1, 10, 20)]
MODELS = ["gpt-4o", "gpt-4.1", "o3-mini"]
VERSIONS = [None, "2024-08-06", "2024-11-20"]
DEPLOYMENTS = [None, DeploymentType.GLOBAL_STANDARD, DeploymentType.GLOBAL_BATCH, DeploymentType.STANDARD]
REGIONS = [None, "eastus2", "East US 2", "swedencentral"]
AMOUNTS = ["2.5", "0.075", "10", "0.0005", "1.234567891", "0", "3000000000", "0.00000000013"]
KINDS = [MeterKind.INPUT, MeterKind.CACHED_INPUT, MeterKind.CACHE_WRITE, MeterKind.OUTPUT, MeterKind.UNIT]

prices = st.builds(
    lambda model, kind, amount, currency, start, end, size, dep, region, version, context, tier, src, pid: (
        Price(
            "1 hour" if kind is MeterKind.UNIT and model == "hour" else model,
            kind,
            Decimal(amount),
            currency,
            start,
            unit_size=1 if kind is MeterKind.UNIT else size,
            deployment_type=dep,
            region=region,
            model_version=version,
            effective_end=end if end is not None and end > start else None,
            unit="1 Hour" if kind is MeterKind.UNIT else "tokens",
            source=src,
            price_id=pid,
            context_tier=None if kind is MeterKind.UNIT else context,
            processing_tier=ProcessingTier.STANDARD if kind is MeterKind.UNIT else tier,
        )
    ),
    st.sampled_from([*MODELS, "hour"]),
    st.sampled_from(KINDS),
    st.sampled_from(AMOUNTS),
    st.sampled_from(["USD", "USD", "EUR"]),
    st.sampled_from(DAYS),
    st.sampled_from([None, *DAYS, dt.datetime(2026, 9, 15, 6, tzinfo=UTC)]),
    st.sampled_from([1_000_000, 1_000, 1, 3]),
    st.sampled_from(DEPLOYMENTS),
    st.sampled_from(REGIONS),
    st.sampled_from(VERSIONS),
    st.sampled_from([None, None, ContextTier.SHORT, ContextTier.LONG]),
    st.sampled_from(list(ProcessingTier)),
    st.sampled_from(["file", "contract"]),
    st.one_of(st.none(), st.integers(0, 50)),
)

TOKENS = [0, 1, 700, 1_500, 128_001, 100_000_007]
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "event_id": st.sampled_from(["e1", "e2"]),
    "ts": st.sampled_from(
        [*DAYS, dt.datetime(2026, 9, 15, 6, tzinfo=UTC), dt.datetime(2026, 9, 15, tzinfo=UTC)]
    ),
    "model": st.sampled_from([*MODELS, *MODELS, "my-4o", "GPT-4o", "gpt-4o-2024-11-20", "unknown", None]),
    "model_version": st.sampled_from(VERSIONS),
    "deployment_type": st.sampled_from(DEPLOYMENTS),
    "region": st.sampled_from(REGIONS),
    "service_tier": st.sampled_from([None, *ProcessingTier]),
    "priority": st.booleans(),
    "input_tokens": st.sampled_from(TOKENS[2:] + TOKENS),
    "cached_input_tokens": st.sampled_from([0, 0, 1, 700]),
    "cache_write_tokens": st.sampled_from([0, 0, 0, 1]),
    "output_tokens": st.sampled_from(TOKENS),
    "quantity": st.sampled_from(
        [None, None, None, Decimal(0), Decimal("1.5"), Decimal("1e-9"), Decimal(10**9)]
    ),
    "unit": st.sampled_from(["1 Hour", "1 Hour", None, "hour"]),
}


@st.composite
def events(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Events that differ from one another in one or two fields, so that keys nearly collide."""
    base = draw(st.fixed_dictionaries(FIELDS))
    out = [base]
    for _ in range(draw(st.integers(1, 30))):
        changed = draw(st.lists(st.sampled_from(sorted(FIELDS)), min_size=1, max_size=2, unique=True))
        out.append({**draw(st.sampled_from(out)), **{k: draw(FIELDS[k]) for k in changed}})
    return out


rules = st.builds(
    lambda currency, threshold: PricingRules.extended(
        {"my-4o": "gpt-4o"}, {"gpt-4.1": threshold}, currency=currency
    ),
    st.sampled_from([None, "USD", "EUR"]),
    st.sampled_from([1_000, 128_000]),
)


def _base(currency: str, amount: str) -> list[Price]:
    """Generic prices for every token meter of every model in every tier, and one per hour, so that most
    events are priced and the specific prices drawn on top decide which one applies."""
    kinds = [MeterKind.INPUT, MeterKind.CACHED_INPUT, MeterKind.OUTPUT]
    keys = [(m, k, t) for m in MODELS for k in kinds for t in ProcessingTier]
    return [
        Price(m, k, Decimal(amount), currency, DAYS[0], price_id=90 + i, processing_tier=t)
        for i, (m, k, t) in enumerate(keys)
    ] + [Price("1 hour", MeterKind.UNIT, Decimal(amount), currency, DAYS[0], unit_size=1, unit="1 Hour")]


books = st.builds(
    lambda base, extra: base + extra,
    st.builds(_base, st.sampled_from(["USD", "EUR"]), st.sampled_from(["2.5", "0.0005", "1"])),
    st.lists(prices, max_size=30),
)


def expected(values: dict[str, Any], book: PriceBook) -> tuple[int | None, Charge]:
    priced = price_event(UsageEvent(**values), book)
    if priced.cost is None:
        return None, Charge(None, price_id_columns({}), priced.unpriced_reason, priced.inferred_version)
    return to_nanos(priced.cost), Charge(
        priced.currency, price_id_columns(priced.price_ids), None, priced.inferred_version
    )


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(books, rules, events())
def test_pricing_per_key_equals_price_event_for_every_event(
    book_prices: list[Price], book_rules: PricingRules, sent: list[dict[str, Any]]
) -> None:
    book = PriceBook(book_prices, rules=book_rules)
    plans = PricePlans(book)
    for values in sent + sent:  # the second time round every key is kept
        assert plans.price(values) == expected(values, book), values


def _gpt4o(amount: str, kind: MeterKind, **kw: Any) -> Price:
    return Price("gpt-4o", kind, Decimal(amount), "USD", DAYS[0], **kw)


def test_whole_nanos_per_token_are_summed_as_integers_and_fractions_of_a_nano_exactly() -> None:
    book = PriceBook(
        [_gpt4o("2.5", MeterKind.INPUT, price_id=1), _gpt4o("0.0005", MeterKind.OUTPUT, unit_size=1000)]
    )
    plans = PricePlans(book)
    first = {"event_id": "a", "ts": DAYS[1], "model": "gpt-4o", "input_tokens": 3, "output_tokens": 3}
    again = {**first, "event_id": "b", "input_tokens": 1001, "output_tokens": 1}
    assert plans.price(first) == expected(first, book)
    assert (
        plans.price(again) == expected(again, book) == (2_503_000, Charge("USD", (1, None, None, None, None)))
    )


def test_a_price_that_starts_mid_period_is_used_from_its_start() -> None:
    later = dt.datetime(2026, 9, 15, 12, 30, tzinfo=UTC)
    book = PriceBook(
        [
            _gpt4o("2", MeterKind.INPUT, effective_end=later, price_id=1),
            _gpt4o("1", MeterKind.INPUT, price_id=2).__class__(
                "gpt-4o", MeterKind.INPUT, Decimal(1), "USD", later, price_id=2
            ),
        ]
    )
    plans = PricePlans(book)
    before = {
        "event_id": "a",
        "ts": later - dt.timedelta(microseconds=1),
        "model": "gpt-4o",
        "input_tokens": 10,
    }
    at = {**before, "ts": later}
    assert plans.price(before) == (20_000, Charge("USD", (1, None, None, None, None)))
    assert plans.price(at) == (10_000, Charge("USD", (2, None, None, None, None)))
    assert plans.price(before)[0] == 20_000


def test_price_book_boundaries_are_every_start_and_end() -> None:
    end = dt.datetime(2026, 9, 5, tzinfo=UTC)
    book = PriceBook([_gpt4o("1", MeterKind.INPUT, effective_end=end), _gpt4o("1", MeterKind.OUTPUT)])
    assert book.boundaries() == (DAYS[0], end)


def _price(model: str, kind: MeterKind, amount: str, currency: str = "USD", **kw: Any) -> Price:
    return Price(model, kind, Decimal(amount), currency, DAYS[0], **kw)


KEYED = PriceBook(
    [
        _price("gpt-4o", MeterKind.INPUT, "2.5", price_id=1),
        _price("gpt-4o", MeterKind.INPUT, "2.75", region="eastus2", price_id=2),
        _price("gpt-4o", MeterKind.INPUT, "1.25", deployment_type=DeploymentType.GLOBAL_BATCH, price_id=3),
        _price("gpt-4o", MeterKind.INPUT, "2", model_version="2024-11-20", price_id=4),
        _price("gpt-4o", MeterKind.INPUT, "5", processing_tier=ProcessingTier.PRIORITY, price_id=5),
        _price("gpt-4o", MeterKind.OUTPUT, "10", price_id=6),
        _price("gpt-4.1", MeterKind.INPUT, "2", context_tier=ContextTier.SHORT, price_id=7),
        _price("gpt-4.1", MeterKind.INPUT, "4", context_tier=ContextTier.LONG, price_id=8),
        _price("gpt-4.1", MeterKind.OUTPUT, "500", unit_size=1, price_id=9),
        _price("gpt-4.1", MeterKind.OUTPUT, "100", "EUR", unit_size=1, price_id=10),
        _price("gpt-4.1", MeterKind.INPUT, "1", "EUR", price_id=11),
        _price("1 hour", MeterKind.UNIT, "2", unit_size=1, unit="1 Hour", price_id=12),
        _price("1 gb", MeterKind.UNIT, "3", unit_size=1, unit="1 GB", price_id=13),
    ],
    rules=PricingRules.extended({"my-4o": "gpt-4o"}, {"gpt-4.1": 1_000}),
)
BASE = {"event_id": "a", "ts": DAYS[1], "model": "gpt-4o", "input_tokens": 1_200, "output_tokens": 10}


@pytest.mark.parametrize(
    "change",
    [
        {"region": "eastus2"},
        {"deployment_type": DeploymentType.GLOBAL_BATCH},
        {"model_version": "2024-11-20"},
        {"service_tier": ProcessingTier.PRIORITY},
        {"priority": True},
        {"model": "gpt-4o-2024-11-20"},
        {"model": "gpt-4.1", "input_tokens": 900},
        {"quantity": Decimal(2), "unit": "1 GB", "input_tokens": 0, "output_tokens": 0},
        {"model": "gpt-4.1", "output_tokens": 3_000_000},  # beyond the cap in USD: priced in EUR
    ],
)
def test_every_part_of_the_price_key_tells_two_events_apart(change: dict[str, Any]) -> None:
    """The first event's prices are kept; the second differs in one part of the key and is priced anew."""
    first = (
        {**BASE, "quantity": Decimal(2), "unit": "1 Hour", "input_tokens": 0, "output_tokens": 0}
        if "unit" in change
        else {**BASE, "model": "gpt-4.1"}
        if change.get("model") == "gpt-4.1"
        else BASE
    )
    second = {**first, **change}
    plans = PricePlans(KEYED)
    assert plans.price(first) == expected(first, KEYED)
    assert plans.price(second) == expected(second, KEYED) != expected(first, KEYED)


def test_prices_chosen_because_of_the_cap_are_not_kept_for_smaller_events() -> None:
    big = {**BASE, "model": "gpt-4.1", "output_tokens": 3_000_000}
    small = {**big, "output_tokens": 10}
    plans = PricePlans(KEYED)
    assert plans.price(big)[1].currency == "EUR"
    assert plans.price(small) == expected(small, KEYED)
    assert plans.price(small)[1].currency == "USD"
