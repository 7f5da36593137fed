"""Pricing by the meters of 2026: cache writes, processing tiers, context tiers, the alias table and the model
version in effect when an event names none."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from aifinops.domain import (
    ContextTier,
    DeploymentType,
    MeterKind,
    Price,
    ProcessingTier,
    UsageEvent,
)
from aifinops.engine.pricing import PriceBook, PricingRules, price_event

UTC = dt.UTC
START = dt.datetime(2026, 7, 1, tzinfo=UTC)
TS = dt.datetime(2026, 10, 1, 12, tzinfo=UTC)
G = DeploymentType.GLOBAL_STANDARD
STD, PRIO, FLEX = ProcessingTier.STANDARD, ProcessingTier.PRIORITY, ProcessingTier.FLEX
SHORT, LONG = ContextTier.SHORT, ContextTier.LONG
IN, CA, WR, OUT = MeterKind.INPUT, MeterKind.CACHED_INPUT, MeterKind.CACHE_WRITE, MeterKind.OUTPUT


def _p(
    kind: MeterKind,
    amount: str,
    *,
    model: str = "gpt-5.6-sol",
    tier: ProcessingTier = STD,
    context: ContextTier | None = None,
    version: str | None = None,
    start: dt.datetime = START,
    price_id: int | None = None,
) -> Price:
    return Price(
        model=model,
        meter_kind=kind,
        price=Decimal(amount),
        currency="USD",
        effective_start=start,
        deployment_type=G,
        model_version=version,
        processing_tier=tier,
        context_tier=context,
        price_id=price_id,
    )


# per 1M tokens: standard short / long, priority short, flex short
GPT56 = [
    _p(IN, "2", context=SHORT, price_id=1),
    _p(CA, "0.2", context=SHORT, price_id=2),
    _p(WR, "2.5", context=SHORT, price_id=3),
    _p(OUT, "16", context=SHORT, price_id=4),
    _p(IN, "4", context=LONG, price_id=5),
    _p(CA, "0.4", context=LONG, price_id=6),
    _p(WR, "5", context=LONG, price_id=7),
    _p(OUT, "24", context=LONG, price_id=8),
    _p(IN, "4", tier=PRIO, context=SHORT, price_id=9),
    _p(OUT, "32", tier=PRIO, context=SHORT, price_id=10),
    _p(IN, "1", tier=FLEX, context=SHORT, price_id=11),
    _p(OUT, "8", tier=FLEX, context=SHORT, price_id=12),
]


def _event(**fields: object) -> UsageEvent:
    base = UsageEvent("e1", TS, model="gpt-5.6-sol", deployment_type=G)
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


def test_cache_writes_are_priced_at_the_cache_write_meter_and_taken_out_of_input() -> None:
    event = _event(input_tokens=200_000, cached_input_tokens=40_000, cache_write_tokens=60_000)
    priced = price_event(event, PriceBook(GPT56))
    # 100k × 2 + 40k × 0.2 + 60k × 2.5 per 1M (short context: 200k input tokens)
    assert priced.cost == Decimal("0.358")
    assert priced.price_ids == {IN: 1, CA: 2, WR: 3}


def test_cache_writes_of_a_model_without_a_cache_write_meter_are_billed_as_input() -> None:
    book = PriceBook([p for p in GPT56 if p.meter_kind is not WR])
    priced = price_event(_event(input_tokens=1_000, cache_write_tokens=400), book)
    assert (priced.cost, priced.price_ids) == (Decimal("0.002"), {IN: 1, WR: 1})  # 1000 × 2 per 1M
    none = PriceBook([p for p in GPT56 if p.meter_kind not in (WR, IN)])
    unpriced = price_event(_event(input_tokens=1_000, cache_write_tokens=1_000), none)
    assert unpriced.cost is None and "no cache_write price" in (unpriced.unpriced_reason or "")


def test_cache_writes_and_cached_tokens_may_not_exceed_input() -> None:
    priced = price_event(
        _event(input_tokens=10, cached_input_tokens=6, cache_write_tokens=5), PriceBook(GPT56)
    )
    assert priced.cost is None and "exceed input_tokens 10" in (priced.unpriced_reason or "")


def test_service_tier_chooses_the_processing_tier_meters() -> None:
    book = PriceBook(GPT56)
    tokens = {"input_tokens": 100_000, "output_tokens": 1_000_000}
    assert price_event(_event(**tokens), book).cost == Decimal("16.2")
    assert price_event(_event(service_tier=PRIO, **tokens), book).cost == Decimal("32.4")
    assert price_event(_event(service_tier=FLEX, **tokens), book).cost == Decimal("8.1")
    # the older flag means the priority tier; an explicit service tier wins over it
    assert price_event(_event(priority=True, **tokens), book).cost == Decimal("32.4")
    assert price_event(_event(priority=True, service_tier=STD, **tokens), book).cost == Decimal("16.2")


def test_a_tier_without_its_own_price_is_unpriced_never_priced_at_another_tier() -> None:
    book = PriceBook([p for p in GPT56 if p.processing_tier is not FLEX])
    priced = price_event(_event(service_tier=FLEX, input_tokens=10), book)
    assert priced.cost is None and "no flex input price" in (priced.unpriced_reason or "")


def test_context_tier_follows_the_input_tokens_and_the_models_threshold() -> None:
    book = PriceBook(GPT56)
    short = price_event(_event(input_tokens=272_000), book)
    long = price_event(_event(input_tokens=272_001), book)
    assert short.price_ids == {IN: 1} and long.price_ids == {IN: 5}
    custom = PriceBook(GPT56, rules=PricingRules.extended(thresholds={"gpt-5.6-sol": 100_000}))
    assert price_event(_event(input_tokens=100_001), custom).price_ids == {IN: 5}


def test_prices_without_context_tiers_serve_every_prompt_length() -> None:
    book = PriceBook([_p(IN, "2", model="gpt-4.1"), _p(IN, "3", model="gpt-4.1", context=LONG)])
    assert price_event(_event(model="gpt-4.1", input_tokens=1_000_000), book).cost == Decimal("3")
    assert price_event(_event(model="gpt-4.1", input_tokens=1_000), book).cost == Decimal("0.002")


def test_client_model_names_reach_their_meter_family_through_the_alias_table() -> None:
    book = PriceBook(
        [_p(IN, "0.71", model="llama-3.3-70b"), _p(IN, "2", model="gpt-4o-mini", version="2024-07-18")]
    )
    llama = price_event(_event(model="Llama-3.3-70B-Instruct", input_tokens=1_000_000), book)
    assert llama.cost == Decimal("0.71")
    dated = price_event(_event(model="gpt-4o-mini-2024-07-18", input_tokens=1_000_000), book)
    assert dated.cost == Decimal("2") and dated.inferred_version is None  # the name carried the version
    users = PriceBook(
        book_prices := [_p(IN, "5", model="my-family")],
        rules=PricingRules.extended({"Team-Bot": "my-family"}),
    )
    assert price_event(_event(model="team-bot", input_tokens=1_000_000), users).cost == Decimal("5")
    assert len(book_prices) == 1


def test_an_event_without_version_is_priced_with_the_newest_version_in_effect_and_says_so() -> None:
    older = [_p(IN, "5", model="gpt-4o", version="2024-05-13", price_id=21)]
    newer = [_p(IN, "2.5", model="gpt-4o", version="2024-11-20", price_id=22)]
    book = PriceBook([*older, *newer])
    priced = price_event(_event(model="gpt-4o", input_tokens=1_000_000), book)
    assert (priced.cost, priced.inferred_version, priced.price_ids) == (
        Decimal("2.5"),
        "2024-11-20",
        {IN: 22},
    )
    # before the newer version's price took effect, the older one is the version in effect
    later = PriceBook(
        [*older, _p(IN, "2.5", model="gpt-4o", version="2024-11-20", start=TS + dt.timedelta(days=1))]
    )
    assert price_event(_event(model="gpt-4o", input_tokens=1_000_000), later).inferred_version == "2024-05-13"
    # a price for any version is used as it is: nothing is inferred
    plain = PriceBook([*newer, _p(IN, "3", model="gpt-4o")])
    priced = price_event(_event(model="gpt-4o", input_tokens=1_000_000), plain)
    assert (priced.cost, priced.inferred_version) == (Decimal("3"), None)


def test_older_priority_meter_kinds_read_as_the_priority_tier() -> None:
    old = Price("gpt-4.1", MeterKind.PRIORITY_INPUT, Decimal("3.5"), "USD", START, deployment_type=G)
    assert (old.meter_kind, old.processing_tier) == (IN, PRIO)
    priced = price_event(_event(model="gpt-4.1", priority=True, input_tokens=1_000_000), PriceBook([old]))
    assert priced.cost == Decimal("3.5")


@given(
    inp=st.integers(0, 10**7),
    cached=st.integers(0, 10**7),
    written=st.integers(0, 10**7),
    out=st.integers(0, 10**7),
)
def test_every_token_is_billed_once_at_exactly_one_meter(
    inp: int, cached: int, written: int, out: int
) -> None:
    # with every price at 1 per token, the cost is the number of tokens billed
    ones = [
        Price("m", kind, Decimal(1), "USD", START, unit_size=1, deployment_type=G, context_tier=None)
        for kind in (IN, CA, WR, OUT)
    ]
    event = UsageEvent(
        "e", TS, model="m", deployment_type=G, input_tokens=inp, cached_input_tokens=cached,
        cache_write_tokens=written, output_tokens=out,
    )  # fmt: skip
    priced = price_event(event, PriceBook(ones))
    if cached + written > inp:
        assert priced.cost is None
    else:
        assert priced.cost == inp + out


def test_the_billing_currency_wins_and_currencies_are_never_mixed_in_one_event() -> None:
    usd = [_p(IN, "2", model="gpt-4.1"), _p(OUT, "8", model="gpt-4.1")]
    eur = [dataclasses.replace(p, price=p.price * Decimal("0.9"), currency="EUR") for p in usd]
    event = _event(model="gpt-4.1", input_tokens=1_000_000, output_tokens=1_000_000)
    in_eur = price_event(event, PriceBook([*usd, *eur], rules=PricingRules.extended(currency="EUR")))
    in_usd = price_event(event, PriceBook([*eur, *usd], rules=PricingRules.extended(currency="USD")))
    assert (in_eur.cost, in_eur.currency) == (Decimal("9.0"), "EUR")
    assert (in_usd.cost, in_usd.currency) == (Decimal("10"), "USD")
    # an output price only in USD: the whole event is priced in USD, never EUR input + USD output
    partial = PriceBook([eur[0], *usd], rules=PricingRules.extended(currency="EUR"))
    assert (price_event(event, partial).cost, price_event(event, partial).currency) == (Decimal("10"), "USD")
    # no currency prices every meter: unpriced, saying which meter lacks a price in the event's currency
    split = price_event(event, PriceBook([eur[0], usd[1]], rules=PricingRules.extended(currency="EUR")))
    assert split.cost is None and "in EUR" in (split.unpriced_reason or "")
