"""Cost drivers (pure): token meters split each row's estimated cost exactly; billed services by category."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from aifinops.domain import Basis, CostRecord
from aifinops.engine.allocation import AllocationPart, AllocationResult, Bucket
from aifinops.engine.cost_drivers import (
    TOKEN_DRIVERS,
    MeterUsage,
    loaded_drivers,
    service_category,
    top_driver,
    usage_drivers,
)

PRICES = {
    "input": (2_000_000_000, 1_000_000),
    "cached_input": (500_000_000, 1_000_000),
    "output": (8_000_000_000, 1_000_000),
}


def _row(**kw: object) -> MeterUsage:
    base: dict[str, object] = {
        "use_case": "qa",
        "resource_id": "/acct",
        "kind": "chat",
        "retry": False,
        "extra_step": False,
        "currency": "USD",
        "events": 1,
        "unpriced_events": 0,
        "input_tokens": 0,
        "cached_input_tokens": 0,
        "output_tokens": 0,
        "reasoning_tokens": 0,
        "quantity": Decimal(0),
        "cost_nanos": 0,
        "prices": PRICES,
    }
    base.update(kw)
    return MeterUsage(**base)  # type: ignore[arg-type]


@given(
    st.lists(
        st.tuples(
            st.integers(0, 10**7),
            st.integers(0, 10**7),
            st.integers(0, 10**6),
            st.integers(0, 10**6),
            st.integers(0, 10**12),
            st.booleans(),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_meters_sum_to_the_estimated_cost_to_the_nano(
    rows: list[tuple[int, int, int, int, int, bool]],
) -> None:
    usage = [
        _row(
            input_tokens=inp + cached,
            cached_input_tokens=cached,
            output_tokens=out + reasoning,
            reasoning_tokens=reasoning,
            cost_nanos=cost,
            retry=retry,
        )
        for inp, cached, out, reasoning, cost, retry in rows
    ]
    (drivers,) = usage_drivers(usage)
    assert sum(drivers.meters.values()) == drivers.estimated_nanos == sum(r.cost_nanos for r in usage)
    assert drivers.retries_nanos == sum(r.cost_nanos for r in usage if r.retry)
    assert all(v >= 0 for v in drivers.meters.values())


def test_reasoning_is_its_share_of_output_and_cache_savings_are_priced() -> None:
    # 1M input (400k cached), 100k output of which 50k reasoning: 1.2 + 0.2 + 0.8 USD = 2.2 USD.
    row = _row(
        input_tokens=1_000_000,
        cached_input_tokens=400_000,
        output_tokens=100_000,
        reasoning_tokens=50_000,
        cost_nanos=2_200_000_000,
    )
    (d,) = usage_drivers([row, _row(currency=None, unpriced_events=1, input_tokens=5)])
    assert dict(zip(TOKEN_DRIVERS, d.meters.values(), strict=True)) == {
        "input_tokens": 1_200_000_000,
        "cached_input_tokens": 200_000_000,
        "cache_write_tokens": 0,
        "output_tokens": 400_000_000,
        "reasoning_tokens": 400_000_000,
        "non_token_usage": 0,
    }
    assert d.cached_share == Decimal("0.4")
    assert d.cache_savings_nanos == 600_000_000  # 400k × (2 − 0.5) USD per 1M
    assert top_driver(list(d.meters.items())) == "input_tokens"


def test_cache_writes_are_their_own_driver_and_out_of_the_input_driver() -> None:
    # 1M input of which 500k written to the cache at 2.5 USD per 1M: 1.0 + 1.25 USD.
    prices = {**PRICES, "cache_write": (2_500_000_000, 1_000_000)}
    row = _row(input_tokens=1_000_000, cache_write_tokens=500_000, cost_nanos=2_250_000_000, prices=prices)
    (d,) = usage_drivers([row])
    assert (d.meters["input_tokens"], d.meters["cache_write_tokens"]) == (1_000_000_000, 1_250_000_000)


def test_services_are_categorised_by_provider_and_idle_capacity_shared_by_use() -> None:
    ptu = "/subscriptions/s/resourcegroups/g/providers/microsoft.cognitiveservices/accounts/ptu"
    search = "/subscriptions/s/resourcegroups/g/providers/microsoft.search/searchservices/srch"
    day = dt.date(2026, 11, 3)
    records = (
        CostRecord(
            day, Basis.ACTUAL, Decimal(10), "USD", resource_id=ptu, meter_name="Provisioned Managed Unit"
        ),
        CostRecord(day, Basis.ACTUAL, Decimal(3), "USD", resource_id=search),
    )
    parts = (
        AllocationPart(
            0, "USD", Bucket.ALLOCATED, "ptu", "tokens", "", (("a",), ("b",)), (3 * 10**9, 1 * 10**9)
        ),
        AllocationPart(0, "USD", Bucket.IDLE, "ptu", "", "unused", ((),), (6 * 10**9,)),
        AllocationPart(1, "USD", Bucket.ALLOCATED, "search", "even", "", (("a",),), (3 * 10**9,)),
    )
    result = AllocationResult(("use_case",), records, parts)
    loaded = {d.use_case: d for d in loaded_drivers(result, usage_by_resource={ptu: {"a": 2, "b": 1}})}
    assert loaded["a"].categories["provisioned_throughput"] == 3 * 10**9
    assert loaded["a"].categories["retrieval"] == 3 * 10**9
    assert (loaded["a"].idle_share_nanos, loaded["b"].idle_share_nanos) == (4 * 10**9, 2 * 10**9)
    assert service_category(None, None) == "commitment"
    assert service_category("/subscriptions/s/providers/microsoft.unknown/x/y", None) == "other"
    assert loaded_drivers(AllocationResult(("app",), records, parts), usage_by_resource={}) == []
