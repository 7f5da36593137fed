"""The integer pricer with its per-key cache answers exactly what price_event and to_nanos give."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from aifinops.domain import DeploymentType, MeterKind, Price, UsageEvent, to_nanos
from aifinops.engine.pricing import CONTRACT_SOURCE, NanoPricer, PriceBook, price_event

T0 = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
_KINDS = [
    MeterKind.INPUT,
    MeterKind.CACHED_INPUT,
    MeterKind.OUTPUT,
    MeterKind.PRIORITY_INPUT,
    MeterKind.PRIORITY_OUTPUT,
]

_price = st.builds(
    Price,
    model=st.sampled_from(["gpt-4o", "o3"]),
    meter_kind=st.sampled_from(_KINDS),
    price=st.one_of(
        st.decimals(min_value=0, max_value=100, places=2),
        st.decimals(min_value=0, max_value=1, places=12),  # finer than a nano-unit: the slow path
    ),
    currency=st.sampled_from(["USD", "EUR"]),
    effective_start=st.integers(min_value=-3, max_value=3).map(lambda d: T0 + dt.timedelta(hours=7 * d)),
    effective_end=st.one_of(
        st.none(), st.integers(min_value=1, max_value=5).map(lambda d: T0 + dt.timedelta(hours=5 * d))
    ),
    unit_size=st.sampled_from([1_000_000, 1_000, 1, 3]),
    deployment_type=st.sampled_from([None, DeploymentType.GLOBAL_STANDARD]),
    region=st.sampled_from([None, "eastus2"]),
    source=st.sampled_from(["file", CONTRACT_SOURCE]),
    price_id=st.integers(min_value=1, max_value=10**6),
)


@st.composite
def _event(draw: st.DrawFn, i: int = 0) -> UsageEvent:
    inp = draw(st.integers(min_value=0, max_value=50_000_000))
    return UsageEvent(
        event_id=f"e{draw(st.integers(0, 10**6))}",
        ts=T0 + dt.timedelta(minutes=draw(st.integers(min_value=-1500, max_value=2000))),
        model=draw(st.sampled_from(["gpt-4o", "o3", None])),
        deployment_type=draw(st.sampled_from([None, DeploymentType.GLOBAL_STANDARD])),
        region=draw(st.sampled_from([None, "eastus2", "East US 2"])),
        priority=draw(st.booleans()),
        input_tokens=inp,
        cached_input_tokens=draw(st.integers(min_value=0, max_value=inp)),
        output_tokens=draw(st.integers(min_value=0, max_value=5_000_000)),
        quantity=draw(st.sampled_from([None, Decimal("2.5")])),
        unit=None,
    )


def _slow(event: UsageEvent, book: PriceBook) -> tuple[object, ...]:
    priced = price_event(event, book)
    if priced.cost is None:
        return None, None, dict(priced.price_ids), priced.unpriced_reason
    return to_nanos(priced.cost), priced.currency, dict(priced.price_ids), None


@settings(max_examples=300, deadline=None)
@given(prices=st.lists(_price, max_size=12), events=st.lists(_event(), min_size=1, max_size=20))
def test_nano_pricer_equals_price_event(prices: list[Price], events: list[UsageEvent]) -> None:
    book = PriceBook(prices)
    pricer = NanoPricer(book)
    for event in events * 2:  # the second pass answers from the cache
        assert pricer.price(event) == _slow(event, book)
