"""A row built from an event's fields is the row of the event object, column for column."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from aifinops.domain import (
    DIMENSIONS,
    DeploymentType,
    EventKind,
    EventStatus,
    MeterKind,
    Price,
    ProcessingTier,
    UsageEvent,
)
from aifinops.engine.price_plans import PricePlans
from aifinops.engine.pricing import PriceBook, price_event
from aifinops.store.event_rows import values_row
from aifinops.store.events import event_values

START = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
BOOK = PriceBook(
    [
        Price("gpt-4o", MeterKind.INPUT, Decimal("2.5"), "USD", START, price_id=1),
        Price("gpt-4o", MeterKind.CACHED_INPUT, Decimal("1.25"), "USD", START, price_id=2),
        Price("gpt-4o", MeterKind.OUTPUT, Decimal("10"), "USD", START, price_id=3),
        Price(
            "gpt-4o",
            MeterKind.INPUT,
            Decimal("5"),
            "USD",
            START,
            price_id=4,
            processing_tier=ProcessingTier.PRIORITY,
        ),
        Price(
            "1 hour", MeterKind.UNIT, Decimal("0.0001"), "USD", START, unit_size=1, unit="1 Hour", price_id=5
        ),
    ]
)
names = st.one_of(st.none(), st.sampled_from(["a", "Ä-b", "x" * 128]))
fields = st.fixed_dictionaries(
    {
        "event_id": st.sampled_from(["e1", "e-2"]),
        "ts": st.sampled_from([START, dt.datetime(2026, 9, 30, 23, 59, 59, 999_999, tzinfo=dt.UTC)]),
    },
    optional={
        **{d: names for d in DIMENSIONS if d != "model"},
        "model": st.sampled_from([None, "gpt-4o", "unknown"]),
        "task_id": names,
        "step": st.one_of(st.none(), st.integers(0, 5)),
        "attempt": st.integers(1, 3),
        "attributes": st.dictionaries(st.sampled_from(["k", "a"]), st.sampled_from(["v", "ü"]), max_size=2),
        "provider": st.sampled_from(["azure_openai", "openai"]),
        "model_version": st.sampled_from([None, "2024-08-06"]),
        "deployment_type": st.sampled_from([None, *DeploymentType]),
        "region": st.sampled_from([None, "eastus2"]),
        "resource_id": st.sampled_from([None, "", "/subscriptions/S/RG/X"]),
        "priority": st.booleans(),
        "input_tokens": st.sampled_from([0, 10, 2_000]),
        "cached_input_tokens": st.sampled_from([0, 5]),
        "output_tokens": st.sampled_from([0, 7]),
        "reasoning_tokens": st.sampled_from([0, 3]),
        "cache_write_tokens": st.sampled_from([0, 1]),
        "service_tier": st.sampled_from([None, *ProcessingTier]),
        "requests": st.integers(0, 3),
        "quantity": st.sampled_from([None, Decimal("1.5"), Decimal("0.0000000015")]),
        "unit": st.sampled_from([None, "1 Hour"]),
        "kind": st.sampled_from(list(EventKind)),
        "status": st.sampled_from(list(EventStatus)),
        "latency_ms": st.one_of(st.none(), st.integers(0, 10)),
        "tool_name": names,
        "finish_reason": st.sampled_from([None, "stop"]),
        "request_hash": st.sampled_from([None, "abc"]),
        "retrieved_tokens": st.sampled_from([0, 900]),
    },
)


@given(fields, st.booleans())
def test_the_row_of_an_events_fields_is_the_row_of_the_event(values: dict[str, Any], sqlite: bool) -> None:
    event = UsageEvent(**values)
    at: Any = "2026-10-01 00:00:00.000000" if sqlite else START
    nanos, charge = PricePlans(BOOK).price(values)
    assert values_row(values, nanos, charge, source="http", ingested_at=at, sqlite=sqlite) == event_values(
        event, price_event(event, BOOK), source="http", ingested_at=at, sqlite=sqlite
    )
