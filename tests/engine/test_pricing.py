"""Tests of the pricing engine: price lookup, event cost rules and contract discounts."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aifinops.domain import DeploymentType, MeterKind, Price, UsageEvent
from aifinops.engine.pricing import (
    CONTRACT_SOURCE,
    ContractDiscount,
    PriceBook,
    apply_discounts,
    price_event,
    price_events,
)

UTC = dt.UTC
T0 = dt.datetime(2025, 4, 1, tzinfo=UTC)
T1 = dt.datetime(2025, 9, 1, tzinfo=UTC)
TS = dt.datetime(2025, 6, 15, 12, 30, tzinfo=UTC)
G = DeploymentType.GLOBAL_STANDARD


def _p(
    kind: MeterKind,
    amount: str,
    *,
    model: str = "gpt-4.1",
    dtype: DeploymentType | None = G,
    region: str | None = None,
    version: str | None = None,
    start: dt.datetime = T0,
    end: dt.datetime | None = None,
    currency: str = "USD",
    source: str = "azure-retail-prices",
    unit: str = "tokens",
    unit_size: int = 1_000_000,
    price_id: int | None = None,
) -> Price:
    return Price(
        model=model,
        meter_kind=kind,
        price=Decimal(amount),
        currency=currency,
        effective_start=start,
        effective_end=end,
        unit_size=unit_size,
        deployment_type=dtype,
        region=region,
        model_version=version,
        unit=unit,
        source=source,
        price_id=price_id,
    )


# gpt-4.1 Global list prices per 1M tokens (reference §3.3: 0.002 / 0.0005 / 0.008 per 1K).
GPT41 = [
    _p(MeterKind.INPUT, "2", price_id=1),
    _p(MeterKind.CACHED_INPUT, "0.5", price_id=2),
    _p(MeterKind.OUTPUT, "8", price_id=3),
]


def _event(**kwargs: object) -> UsageEvent:
    fields: dict[str, object] = {"model": "gpt-4.1", "deployment_type": G, "region": "eastus2"}
    fields.update(kwargs)
    return UsageEvent("evt-1", fields.pop("ts", TS), **fields)  # type: ignore[arg-type]


def _find(book: PriceBook, kind: MeterKind = MeterKind.INPUT, **kwargs: object) -> Price | None:
    query: dict[str, object] = {
        "model": "gpt-4.1",
        "meter_kind": kind,
        "ts": TS,
        "deployment_type": G,
        "region": "eastus2",
        "model_version": "2025-04-14",
    }
    query.update(kwargs)
    return book.find(**query)  # type: ignore[arg-type]


def test_cached_tokens_are_billed_once_at_the_cached_meter_and_reasoning_inside_output() -> None:
    event = _event(input_tokens=1000, cached_input_tokens=200, output_tokens=500, reasoning_tokens=300)
    priced = price_event(event, PriceBook(GPT41))
    # (1000 − 200) × 2 + 200 × 0.5 + 500 × 8, per 1M tokens; reasoning is already inside the 500.
    assert priced.cost == Decimal("0.0057")
    assert priced.currency == "USD"
    assert priced.price_ids == {MeterKind.INPUT: 1, MeterKind.CACHED_INPUT: 2, MeterKind.OUTPUT: 3}
    assert priced.unpriced_reason is None


def test_exact_region_and_version_beat_wildcards() -> None:
    anywhere = _p(MeterKind.INPUT, "2")
    regional = _p(MeterKind.INPUT, "2.2", region="eastus2")
    versioned = _p(MeterKind.INPUT, "3", version="2025-04-14")
    book = PriceBook([anywhere, regional, versioned])
    assert _find(book) is versioned
    assert _find(book, model_version="2099-01-01") is regional
    assert _find(book, model_version="2099-01-01", region="westeurope") is anywhere
    assert _find(PriceBook([anywhere, regional])) is regional


def test_exact_deployment_type_beats_a_price_for_any_deployment_type() -> None:
    generic = _p(MeterKind.INPUT, "9", dtype=None)
    batch = _p(MeterKind.INPUT, "1", dtype=DeploymentType.GLOBAL_BATCH)
    book = PriceBook([generic, batch, *GPT41])
    assert _find(book, deployment_type=DeploymentType.GLOBAL_BATCH) is batch
    assert _find(book, deployment_type=DeploymentType.DATA_ZONE_STANDARD) is generic
    assert _find(book).price == Decimal("2")  # type: ignore[union-attr]


def test_region_spellings_match_case_and_space_insensitively() -> None:
    book = PriceBook([_p(MeterKind.INPUT, "2.2", region="eastus2")])
    assert _find(book, region="East US 2") is not None
    assert _find(book, region="EASTUS2") is not None
    assert _find(book, region="westus") is None


def test_the_price_in_effect_at_the_timestamp_is_used_end_exclusive() -> None:
    old = _p(MeterKind.INPUT, "2.5", end=T1)
    new = _p(MeterKind.INPUT, "2", start=T1)
    book = PriceBook([old, new])
    assert _find(book, ts=T1 - dt.timedelta(microseconds=1)) is old
    assert _find(book, ts=T1) is new
    assert _find(book, ts=T0 - dt.timedelta(seconds=1)) is None


def test_the_latest_start_wins_among_equally_specific_open_prices() -> None:
    first = _p(MeterKind.INPUT, "2.5")
    later = _p(MeterKind.INPUT, "2", start=T1)
    book = PriceBook([later, first])
    assert _find(book, ts=TS) is first
    assert _find(book, ts=T1 + dt.timedelta(days=1)) is later


def test_contract_price_wins_over_list_price_for_the_same_key() -> None:
    contract = _p(MeterKind.INPUT, "1.7", source=CONTRACT_SOURCE)
    book = PriceBook([GPT41[0], contract])
    assert _find(book) is contract


def test_currency_and_unit_filters_must_match_exactly() -> None:
    book = PriceBook([_p(MeterKind.INPUT, "2", currency="EUR")])
    assert _find(book, currency="USD") is None
    assert _find(book, currency="EUR") is not None
    assert _find(book, unit="image") is None


def test_missing_price_makes_the_event_unpriced_with_a_reason_never_zero() -> None:
    priced = price_event(
        _event(input_tokens=10, cached_input_tokens=5, model_version="2025-04-14"), PriceBook(GPT41[:1])
    )
    assert priced.cost is None
    assert not priced.priced
    assert priced.unpriced_reason == (
        "no cached_input price for gpt-4.1 2025-04-14/global_standard/eastus2 at 2025-06-15T12:30:00+00:00"
    )


def test_batch_deployments_use_their_own_prices() -> None:
    batch = [
        _p(MeterKind.INPUT, "1", dtype=DeploymentType.GLOBAL_BATCH),
        _p(MeterKind.OUTPUT, "4", dtype=DeploymentType.GLOBAL_BATCH),
    ]
    event = _event(
        deployment_type=DeploymentType.GLOBAL_BATCH, input_tokens=1_000_000, output_tokens=1_000_000
    )
    assert price_event(event, PriceBook([*GPT41, *batch])).cost == Decimal("5")
    assert price_event(event, PriceBook(GPT41)).cost is None


def test_priority_processing_uses_the_priority_meters() -> None:
    priority = [_p(MeterKind.PRIORITY_INPUT, "4"), _p(MeterKind.PRIORITY_OUTPUT, "16")]
    event = _event(priority=True, input_tokens=1_000_000, output_tokens=500_000)
    assert price_event(event, PriceBook([*GPT41, *priority])).cost == Decimal("12")
    assert "no priority input price" in (price_event(event, PriceBook(GPT41)).unpriced_reason or "")


def test_non_token_work_uses_a_unit_price_for_the_model_then_one_named_after_the_unit() -> None:
    image = _p(MeterKind.UNIT, "0.04", model="dall-e-3", unit="image", unit_size=1, dtype=None, price_id=7)
    ptu = _p(
        MeterKind.UNIT,
        "1",
        model="ptu_hour",
        unit="ptu_hour",
        unit_size=1,
        dtype=DeploymentType.GLOBAL_PROVISIONED,
        price_id=8,
    )
    book = PriceBook([image, ptu])
    images = price_event(_event(model="dall-e-3", quantity=Decimal(3), unit="image"), book)
    assert (images.cost, images.price_ids) == (Decimal("0.12"), {MeterKind.UNIT: 7})
    hours = _event(deployment_type=DeploymentType.GLOBAL_PROVISIONED, quantity=Decimal("24"), unit="ptu_hour")
    assert price_event(hours, book).cost == Decimal("24")
    assert "no per-second price" in (
        price_event(_event(quantity=Decimal(1), unit="second"), book).unpriced_reason or ""
    )


def test_provisioned_tokens_are_unpriced_unless_a_price_of_zero_says_they_are_covered() -> None:
    event = _event(deployment_type=DeploymentType.PROVISIONED, input_tokens=100, output_tokens=10)
    reason = price_event(event, PriceBook(GPT41)).unpriced_reason or ""
    assert "billed per PTU hour" in reason
    covered = [_p(k, "0", dtype=DeploymentType.PROVISIONED) for k in (MeterKind.INPUT, MeterKind.OUTPUT)]
    assert price_event(event, PriceBook(covered)).cost == Decimal(0)


def test_invalid_counts_and_missing_model_are_unpriced_with_the_reason() -> None:
    book = PriceBook(GPT41)
    assert "exceed input_tokens" in (
        price_event(_event(input_tokens=1, cached_input_tokens=2), book).unpriced_reason or ""
    )
    assert "negative" in (price_event(_event(output_tokens=-1), book).unpriced_reason or "")
    assert "has tokens but no model" in (
        price_event(_event(model=None, input_tokens=1), book).unpriced_reason or ""
    )


def test_all_meters_of_one_event_share_one_currency() -> None:
    book = PriceBook([GPT41[0], _p(MeterKind.OUTPUT, "7", currency="EUR")])
    reason = price_event(_event(input_tokens=10, output_tokens=10), book).unpriced_reason or ""
    assert reason.startswith("no output price") and "in USD" in reason


def test_an_event_without_usage_costs_exactly_zero() -> None:
    priced = price_event(_event(), PriceBook([]))
    assert (priced.cost, priced.currency, dict(priced.price_ids)) == (Decimal(0), None, {})


def test_price_events_keeps_the_order_of_the_events() -> None:
    events = [_event(input_tokens=n) for n in (1_000_000, 2_000_000, 0)]
    assert [p.cost for p in price_events(events, PriceBook(GPT41))] == [Decimal(2), Decimal(4), Decimal(0)]


def test_discount_applies_in_its_period_and_the_most_specific_discount_wins() -> None:
    mid = dt.datetime(2026, 1, 1, tzinfo=UTC)
    everything = ContractDiscount(Decimal("10"), T0)
    model_only = ContractDiscount(Decimal("25"), mid, model="gpt-4.1")
    contract = apply_discounts(GPT41[:1], [model_only, everything])
    assert [(p.price, p.effective_start, p.effective_end, p.source) for p in contract] == [
        (Decimal("1.8"), T0, mid, CONTRACT_SOURCE),
        (Decimal("1.5"), mid, None, CONTRACT_SOURCE),
    ]
    assert all(p.price_id is None for p in contract)


def test_discounts_clip_to_the_list_price_period_and_skip_contract_prices() -> None:
    listed = _p(MeterKind.INPUT, "2", end=T1)
    discount = ContractDiscount(
        Decimal("50"), dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2025, 6, 1, tzinfo=UTC)
    )
    (only,) = apply_discounts([listed, _p(MeterKind.INPUT, "1", source=CONTRACT_SOURCE)], [discount])
    assert (only.price, only.effective_start, only.effective_end) == (
        Decimal("1"),
        T0,
        discount.effective_end,
    )
    assert apply_discounts([listed], [ContractDiscount(Decimal("5"), T0, model="o3")]) == []


def test_an_unbounded_number_of_distinct_queries_does_not_break_lookups() -> None:
    book = PriceBook(GPT41)
    for n in range(300):
        assert _find(book, region=f"region-{n}") is GPT41[0]


# --- properties ---------------------------------------------------------------------------------------

_tokens = st.integers(min_value=0, max_value=10**9)
_amounts = st.decimals(min_value=0, max_value=100, places=6, allow_nan=False, allow_infinity=False)


@given(
    _tokens,
    _tokens,
    _tokens,
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=0, max_value=10**6),
)
def test_cost_never_decreases_when_tokens_grow(
    input_tokens: int, cached: int, output_tokens: int, more_input: int, more_output: int
) -> None:
    cached = min(cached, input_tokens)
    book = PriceBook(GPT41)
    base = price_event(
        _event(input_tokens=input_tokens, cached_input_tokens=cached, output_tokens=output_tokens), book
    )
    grown = price_event(
        _event(
            input_tokens=input_tokens + more_input,
            cached_input_tokens=cached,
            output_tokens=output_tokens + more_output,
        ),
        book,
    )
    assert base.cost is not None and grown.cost is not None
    assert grown.cost >= base.cost


@given(_tokens, _tokens, _amounts, _amounts)
def test_caching_never_costs_more_than_billing_everything_as_input(
    input_tokens: int, cached: int, input_price: Decimal, cached_discount: Decimal
) -> None:
    cached = min(cached, input_tokens)
    cached_price = max(input_price - cached_discount, Decimal(0))
    book = PriceBook([_p(MeterKind.INPUT, str(input_price)), _p(MeterKind.CACHED_INPUT, str(cached_price))])
    with_cache = price_event(_event(input_tokens=input_tokens, cached_input_tokens=cached), book).cost
    all_input = price_event(_event(input_tokens=input_tokens), book).cost
    assert with_cache is not None and all_input is not None
    assert with_cache <= all_input
    assert all_input == Decimal(input_tokens) * input_price / 1_000_000


_regions = st.sampled_from([None, "eastus2", "westeurope"])
_versions = st.sampled_from([None, "v1", "v2"])
_dtypes = st.sampled_from([None, G, DeploymentType.GLOBAL_BATCH])
_sources = st.sampled_from(["azure-retail-prices", CONTRACT_SOURCE])
_days = st.integers(min_value=0, max_value=40)


@st.composite
def _prices(draw: st.DrawFn) -> Price:
    start = draw(_days)
    length = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=20)))
    base = dt.datetime(2025, 1, 1, tzinfo=UTC)
    return _p(
        MeterKind.INPUT,
        str(draw(_amounts)),
        dtype=draw(_dtypes),
        region=draw(_regions),
        version=draw(_versions),
        start=base + dt.timedelta(days=start),
        end=None if length is None else base + dt.timedelta(days=start + length),
        source=draw(_sources),
    )


def _reference_find(
    prices: list[Price],
    ts: dt.datetime,
    dtype: DeploymentType | None,
    region: str | None,
    version: str | None,
) -> Price | None:
    """The lookup rule written the slow, obvious way."""
    matching = [
        p
        for p in prices
        if p.covers(ts)
        and p.deployment_type in (None, dtype)
        and p.region in (None, region)
        and p.model_version in (None, version)
    ]
    if not matching:
        return None
    return min(
        matching,
        key=lambda p: (
            p.deployment_type is None,
            p.model_version is None,
            p.region is None,
            p.source != CONTRACT_SOURCE,
            -p.effective_start.timestamp(),
        ),
    )


@settings(max_examples=200)
@given(st.lists(_prices(), max_size=12), _days, _dtypes, _regions, _versions)
def test_price_book_agrees_with_the_obvious_lookup(
    prices: list[Price], day: int, dtype: DeploymentType | None, region: str | None, version: str | None
) -> None:
    ts = dt.datetime(2025, 1, 1, 6, tzinfo=UTC) + dt.timedelta(days=day)
    found = PriceBook(prices).find(
        model="gpt-4.1",
        meter_kind=MeterKind.INPUT,
        ts=ts,
        deployment_type=dtype,
        region=region,
        model_version=version,
    )
    expected = _reference_find(prices, ts, dtype, region, version)
    assert (found is None) == (expected is None)
    if expected is not None and found is not None:
        rank = (found.deployment_type, found.model_version, found.region, found.source, found.effective_start)
        assert rank == (
            expected.deployment_type,
            expected.model_version,
            expected.region,
            expected.source,
            expected.effective_start,
        )


@given(st.lists(st.tuples(_amounts.filter(lambda d: d > 0), _days, st.integers(1, 30)), max_size=5), _amounts)
def test_discounted_prices_are_never_above_list_and_stay_inside_its_period(
    terms: list[tuple[Decimal, int, int]], list_amount: Decimal
) -> None:
    base = dt.datetime(2025, 1, 1, tzinfo=UTC)
    listed = _p(
        MeterKind.INPUT, str(list_amount), start=base + dt.timedelta(days=5), end=base + dt.timedelta(days=30)
    )
    discounts = [
        ContractDiscount(min(pct, Decimal(100)), base + dt.timedelta(days=d), base + dt.timedelta(days=d + n))
        for pct, d, n in terms
    ]
    contract = apply_discounts([listed], discounts)
    for price in contract:
        assert price.price <= listed.price
        assert (
            listed.effective_start
            <= price.effective_start
            < (price.effective_end or dt.datetime.max.replace(tzinfo=UTC))
        )
        assert price.effective_end is not None and price.effective_end <= (
            listed.effective_end or price.effective_end
        )
    for left, right in itertools.pairwise(contract):
        assert left.effective_end is not None and left.effective_end <= right.effective_start


@pytest.mark.parametrize("kind", [MeterKind.INPUT, MeterKind.CACHED_INPUT, MeterKind.OUTPUT])
def test_each_token_meter_uses_its_own_price_id(kind: MeterKind) -> None:
    counts = {
        MeterKind.INPUT: "input_tokens",
        MeterKind.CACHED_INPUT: "cached_input_tokens",
        MeterKind.OUTPUT: "output_tokens",
    }
    fields = {counts[kind]: 10}
    if kind is MeterKind.CACHED_INPUT:
        fields["input_tokens"] = 10
    priced = price_event(_event(**fields), PriceBook(GPT41))
    assert list(priced.price_ids) == [kind]


def test_event_without_usage_costs_zero_even_without_a_model() -> None:
    """A tool call or a retrieval that reports no tokens and no quantity costs exactly 0, not 'unpriced'."""
    priced = price_event(
        UsageEvent("tool-1", dt.datetime(2026, 10, 1, tzinfo=dt.UTC), model=None), PriceBook([])
    )
    assert (priced.cost, priced.currency, priced.unpriced_reason) == (Decimal(0), None, None)
