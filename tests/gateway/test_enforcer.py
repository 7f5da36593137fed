"""The enforcer's price lookup: a money limit reserves a call at the processing and context tier its cost is
recorded at (one tier rule, engine.pricing.call_tiers), never at standard short-context prices."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aifinops.domain import ContextTier, DeploymentType, MeterKind, Price, ProcessingTier, UsageEvent
from aifinops.engine.limit_charges import worst_case_cost
from aifinops.engine.pricing import PriceBook, price_event
from aifinops.gateway.counters import InProcessCounters
from aifinops.gateway.enforcer import BookPrices, CallContext, DeploymentModel, Enforcer, KeyIdentity
from aifinops.gateway.policies import parse_policies

NOW = dt.datetime(2026, 10, 1, 12, tzinfo=dt.UTC)
G = DeploymentType.GLOBAL_STANDARD
STD, PRIO, FLEX = ProcessingTier.STANDARD, ProcessingTier.PRIORITY, ProcessingTier.FLEX
SHORT, LONG = ContextTier.SHORT, ContextTier.LONG


def _p(kind: MeterKind, amount: str, tier: ProcessingTier, context: ContextTier) -> Price:
    return Price(
        "gpt-5.4",
        kind,
        Decimal(amount),
        "USD",
        NOW - dt.timedelta(days=30),
        deployment_type=G,
        processing_tier=tier,
        context_tier=context,
    )


# per 1M tokens (input, output): each tier and context its own price
TABLE = {
    (STD, SHORT): ("2.5", "15"),
    (STD, LONG): ("5", "22.5"),
    (PRIO, SHORT): ("5", "30"),
    (PRIO, LONG): ("10", "45"),
    (FLEX, SHORT): ("1.25", "7.5"),
    (FLEX, LONG): ("2.5", "11.25"),
}
BOOK = PriceBook(
    [
        _p(kind, amount, tier, context)
        for (tier, context), amounts in TABLE.items()
        for kind, amount in zip((MeterKind.INPUT, MeterKind.OUTPUT), amounts, strict=True)
    ]
)
DEPLOYMENTS = {"chat": DeploymentModel("gpt-5.4", deployment_type=G)}


def _lookup() -> BookPrices:
    return BookPrices(lambda: BOOK, DEPLOYMENTS, currency="USD", clock=lambda: NOW)


@pytest.mark.parametrize(
    ("service_tier", "input_tokens", "expected"),
    [
        (None, 1_000, ("2.5", "15")),
        (PRIO, 1_000, ("5", "30")),
        (FLEX, 1_000, ("1.25", "7.5")),
        (None, 300_000, ("5", "22.5")),  # past gpt-5.4's 272,000-token threshold: long context
        (PRIO, 300_000, ("10", "45")),
    ],
)
def test_the_lookup_finds_the_prices_of_the_calls_tier(
    service_tier: ProcessingTier | None, input_tokens: int, expected: tuple[str, str]
) -> None:
    found = _lookup()("chat", service_tier=service_tier, input_tokens=input_tokens)
    assert found is not None
    assert (found.input.price, found.output.price) == tuple(Decimal(a) for a in expected)


@given(
    tier=st.sampled_from([None, STD, PRIO, FLEX]),
    input_tokens=st.integers(0, 600_000),
    output_tokens=st.integers(0, 100_000),
)
def test_a_reservation_costs_what_the_recorded_call_costs(
    tier: ProcessingTier | None, input_tokens: int, output_tokens: int
) -> None:
    """The reserved worst case of a call equals the cost pricing records for the same tokens."""
    found = _lookup()("chat", service_tier=tier, input_tokens=input_tokens)
    assert found is not None
    recorded = price_event(
        UsageEvent(
            "e1",
            NOW,
            model="gpt-5.4",
            deployment_type=G,
            service_tier=tier,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
        ),
        BOOK,
    )
    reserved = worst_case_cost(found, input_tokens=input_tokens, output_tokens=output_tokens)
    assert reserved == recorded.cost


class _Key:
    key_id = "k1"
    policy = "capped"


async def test_a_priority_call_reserves_its_priority_price() -> None:
    policies = parse_policies(
        {
            "policies": {
                "capped": [
                    {"kind": "budget", "name": "spend", "limit": "100", "currency": "USD", "period": "day"}
                ]
            }
        }
    )
    counters = InProcessCounters()
    enforcer = Enforcer(policies, counters=counters, prices=_lookup(), clock=lambda: NOW)
    key: KeyIdentity = _Key()
    ctx = CallContext(
        key=key,
        dims={"app": "a"},
        task_id=None,
        step=None,
        attempt=1,
        deployment="chat",
        route="chat",
        requested_max_tokens=1_000,
        estimated_input_tokens=1_000,
        stream=False,
        service_tier=PRIO,
    )
    admission = await enforcer.admit(ctx)
    assert admission.allowed and admission.reservation_id is not None
    payload = await counters.peek(admission.reservation_id)
    assert payload is not None
    assert Decimal(payload["input_per_token"]) == Decimal("5") / 1_000_000
    assert Decimal(payload["output_per_token"]) == Decimal("30") / 1_000_000
