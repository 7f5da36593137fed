"""Limit decisions: static checks, counter refusals, downgrades, reservations that never overspend."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from aifinops.domain import MeterKind, Price, from_nanos, to_nanos
from aifinops.engine.limit_charges import Measure, period_bounds, worst_case_cost
from aifinops.engine.limit_policies import BudgetPeriod, CallFacts, FailMode, Policy, TokenPrices
from aifinops.engine.limits import counter_keys, decide
from aifinops.gateway.counters import InProcessCounters, Reservation, Settlement

NOW = dt.datetime(2026, 11, 26, 12, 0, 30, tzinfo=dt.UTC)
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def prices(inp: str, out: str, currency: str = "USD") -> TokenPrices:
    return TokenPrices(
        Price("m", MeterKind.INPUT, Decimal(inp), currency, T0),
        Price("m", MeterKind.OUTPUT, Decimal(out), currency, T0),
    )


PRICES = {"gpt-4o": prices("2.50", "10"), "gpt-4o-mini": prices("0.15", "0.60")}


def facts(**kw: object) -> CallFacts:
    base: dict[str, object] = {
        "dims": {"app": "chat", "key_id": "k1", "use_case": "support"},
        "deployment": "gpt-4o",
        "estimated_input_tokens": 1000,
        "requested_max_tokens": 500,
        "prices": PRICES,
    }
    base.update(kw)
    return CallFacts(**base)  # type: ignore[arg-type]


def test_no_policy_allows_and_charges_nothing() -> None:
    decision = decide(facts(), [], {}, as_of=NOW)
    assert decision.allowed and decision.charges == () and decision.max_tokens is None


def test_allowlist_refuses_other_deployments_with_403_naming_everything() -> None:
    policy = Policy("models", "deployment_allowlist", {"app": "chat"}, deployments=frozenset({"gpt-4o-mini"}))
    decision = decide(facts(), [policy], {}, as_of=NOW)
    assert not decision.allowed and decision.refusal is not None
    assert decision.refusal.status == 403
    message = decision.refusal.message
    assert "deployment_allowlist" in message and "'models'" in message and "app=chat" in message
    assert "gpt-4o" in message and "[gpt-4o-mini]" in message


def test_scope_selects_calls_and_star_splits_counters() -> None:
    other_app = Policy("p", "rpm", {"app": "batch"}, limit=Decimal(1))
    assert decide(facts(), [other_app], {}, as_of=NOW).charges == ()
    per_key = Policy("p", "rpm", {"key_id": "*"}, limit=Decimal(1))
    (charge,) = decide(facts(), [per_key], {}, as_of=NOW).charges
    assert ":key_id=k1:" in charge.key


def test_max_tokens_clamps_injects_or_rejects() -> None:
    clamp = Policy("cap", "max_tokens", limit=Decimal(200))
    assert decide(facts(), [clamp], {}, as_of=NOW).max_tokens == 200
    assert decide(facts(requested_max_tokens=None), [clamp], {}, as_of=NOW).max_tokens == 200
    assert decide(facts(requested_max_tokens=100), [clamp], {}, as_of=NOW).max_tokens is None
    reject = Policy("cap", "max_tokens", limit=Decimal(200), reject=True)
    refusal = decide(facts(), [reject], {}, as_of=NOW).refusal
    assert (
        refusal is not None and refusal.status == 403 and refusal.current == "500" and refusal.limit == "200"
    )


def test_context_limit_refuses_large_prompts() -> None:
    policy = Policy("ctx", "context_tokens", limit=Decimal(999))
    refusal = decide(facts(), [policy], {}, as_of=NOW).refusal
    assert refusal is not None and refusal.kind == "context_tokens" and "1000" in refusal.message


def test_steps_count_first_attempts_and_retries_count_the_rest() -> None:
    steps = Policy("steps", "max_steps", limit=Decimal(3))
    retries = Policy("retries", "max_retries", limit=Decimal(1))
    first = decide(facts(task_id="t1"), [steps, retries], {}, as_of=NOW)
    assert [c.key for c in first.charges] == ["max_steps:task=t1"]
    retry = decide(facts(task_id="t1", attempt=2), [steps, retries], {}, as_of=NOW)
    assert [c.key for c in retry.charges] == ["max_retries:task=t1"]
    refused = decide(facts(task_id="t1", attempt=2), [retries], {"max_retries:task=t1": 1}, as_of=NOW)
    assert refused.refusal is not None and refused.refusal.status == 403
    by_header = decide(facts(task_id="t1", step=4), [steps], {}, as_of=NOW)
    assert by_header.refusal is not None and by_header.refusal.current == "4"
    assert decide(facts(), [steps], {}, as_of=NOW).charges == ()  # no task id, nothing to count


def test_per_task_counters_are_kept_per_tenant() -> None:
    """Two tenants reusing a task id never share a task's steps, retries or cost: a task is its id within its
    tenant; a tenant name cannot be crafted to reach another tenant's counter."""
    steps = Policy("steps", "max_steps", limit=Decimal(3))
    retries = Policy("retries", "max_retries", limit=Decimal(1))
    cost = Policy("cost", "max_cost_per_task", limit=Decimal(1), currency="USD")

    def keys(tenant: str | None, task: str, attempt: int = 1) -> list[str]:
        dims = {"app": "chat", "key_id": "k1"} | ({"tenant": tenant} if tenant else {})
        decision = decide(
            facts(dims=dims, task_id=task, attempt=attempt), [steps, retries, cost], {}, as_of=NOW
        )
        return sorted(c.key for c in decision.charges)

    for attempt in (1, 2):
        seen = [keys(t, "ticket-1", attempt) for t in ("contoso", "fabrikam", None)]
        assert len({k for ks in seen for k in ks}) == 2 * len(seen)  # no key shared between the three
    assert set(keys("a", "b:task=c")).isdisjoint(keys("a:task=b", "c"))
    assert keys(None, "t1") == ["max_steps:task=t1", "taskcost:USD:task=t1"]  # no tenant: unchanged


def test_rpm_refusal_is_429_with_retry_after_until_the_bucket_ends() -> None:
    policy = Policy("rpm", "rpm", limit=Decimal(10), window_seconds=60)
    (charge,) = counter_keys(facts(), [policy], as_of=NOW)
    refusal = decide(facts(), [policy], {charge.key: 10}, as_of=NOW).refusal
    assert refusal is not None and refusal.status == 429 and refusal.retry_after == 30
    assert "10 + 1" in refusal.message and "limit 10" in refusal.message


def test_sliding_window_counts_the_previous_bucket_by_its_remaining_share() -> None:
    policy = Policy("tpm", "tpm", limit=Decimal(10_000), window_seconds=60)
    (charge,) = decide(facts(), [policy], {}, as_of=NOW).charges
    assert charge.amount == 1500 and charge.measure is Measure.TOKENS
    assert charge.prev_weight_ppm == 500_000  # 30 s into the minute: half of the previous minute still counts


def test_budget_reserves_worst_case_and_blocks_with_403() -> None:
    budget = Policy("b", "budget", {"app": "*"}, limit=Decimal("1.00"), currency="USD")
    decision = decide(facts(), [budget], {}, as_of=NOW)
    (charge,) = decision.charges
    assert (
        charge.amount == to_nanos(Decimal("0.0075")) and charge.key == "budget:month:USD:app=chat:2026-11-01"
    )
    refusal = decide(facts(), [budget], {charge.key: to_nanos(Decimal("0.995"))}, as_of=NOW).refusal
    assert refusal is not None and refusal.status == 403 and refusal.kind == "budget"
    assert "0.995 USD" in refusal.message and "1.00 USD" in refusal.message


def test_budget_downgrades_to_a_cheaper_deployment_when_that_fits() -> None:
    budget = Policy("b", "budget", limit=Decimal("1.00"), currency="USD", downgrade_to="gpt-4o-mini")
    key = decide(facts(), [budget], {}, as_of=NOW).charges[0].key
    decision = decide(facts(), [budget], {key: to_nanos(Decimal("0.995"))}, as_of=NOW)
    assert decision.allowed and decision.deployment == "gpt-4o-mini" and decision.downgraded_from == "gpt-4o"
    assert decision.charges[0].amount == to_nanos(Decimal("0.00045"))
    full = decide(facts(), [budget], {key: to_nanos(Decimal("1.00"))}, as_of=NOW)
    assert not full.allowed and full.refusal is not None and full.deployment == "gpt-4o"
    assert "0.0075 USD worst case" in full.refusal.message  # the requested deployment's refusal


def test_unpriced_deployment_fails_closed_or_open_as_configured() -> None:
    closed = Policy("b", "budget", limit=Decimal(1), currency="USD", fail=FailMode.CLOSED)
    refusal = decide(facts(deployment="unknown"), [closed], {}, as_of=NOW).refusal
    assert refusal is not None and refusal.current == "unpriced"
    opened = Policy("b", "budget", limit=Decimal(1), currency="USD", fail=FailMode.OPEN)
    assert decide(facts(deployment="unknown"), [opened], {}, as_of=NOW).allowed
    euro = Policy("b", "budget", limit=Decimal(1), currency="EUR", fail=FailMode.CLOSED)
    assert not decide(facts(), [euro], {}, as_of=NOW).allowed  # a USD price never counts against EUR


def test_two_policies_on_one_counter_charge_it_once_at_the_lower_limit() -> None:
    a = Policy("a", "rpm", limit=Decimal(100))
    b = Policy("b", "rpm", limit=Decimal(50))
    (charge,) = decide(facts(), [a, b], {}, as_of=NOW).charges
    assert charge.limit == 50 and charge.policy == "b"


def test_worst_case_without_max_tokens_uses_the_default_allowance() -> None:
    budget = Policy("b", "budget", limit=Decimal(1), currency="USD", default_output_tokens=1000)
    decision = decide(facts(requested_max_tokens=None), [budget], {}, as_of=NOW)
    expected = worst_case_cost(PRICES["gpt-4o"], input_tokens=1000, output_tokens=1000)
    assert decision.worst_case_cost == expected == Decimal("0.0125")


def test_period_bounds_follow_the_calendar() -> None:
    assert period_bounds(BudgetPeriod.DAY, NOW) == (
        dt.datetime(2026, 11, 26, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 27, tzinfo=dt.UTC),
    )
    assert period_bounds(BudgetPeriod.TOTAL, NOW) == (None, None)


calls = st.lists(
    st.tuples(st.integers(0, 4000), st.integers(1, 2000), st.floats(0, 1), st.booleans()),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(calls=calls, limit=st.integers(1, 200))
def test_reservations_never_let_committed_plus_reserved_exceed_the_budget(
    calls: list[tuple[int, int, float, bool]], limit: int
) -> None:
    """Interleaved admits and settles (some twice) keep committed+reserved ≤ budget; settles count once."""
    budget = Policy("b", "budget", limit=Decimal(limit) / 1000, currency="USD")
    counters = InProcessCounters()
    pending: list[tuple[str, int]] = []
    committed = 0

    async def run() -> None:
        nonlocal committed
        for index, (tokens_in, tokens_out, share, settle_now) in enumerate(calls):
            call = facts(estimated_input_tokens=tokens_in, requested_max_tokens=tokens_out)
            (charge,) = counter_keys(call, [budget], as_of=NOW)
            decision = decide(call, [budget], await counters.read([charge], now=0), as_of=NOW)
            if decision.allowed:
                result = await counters.acquire(Reservation(str(index), decision.charges), now=0)
                if result.ok:
                    pending.append((str(index), decision.charges[0].amount))
            used = (await counters.read([charge], now=0))[charge.key]
            assert used <= to_nanos(budget.limit), f"{from_nanos(used)} > {budget.limit}"
            if settle_now and pending:
                rid, reserved = pending.pop(0)
                actual = int(reserved * share)  # metered cost never exceeds the worst case
                assert await counters.settle(rid, Settlement(tokens=0, cost_nanos=actual), now=0)
                assert not await counters.settle(rid, Settlement(tokens=0, cost_nanos=actual), now=0)
                committed += actual
        for rid, _ in pending:
            assert await counters.release(rid, now=0)
        (charge,) = counter_keys(facts(), [budget], as_of=NOW)
        assert (await counters.read([charge], now=0))[charge.key] == committed

    asyncio.run(run())


def test_rolling_budget_refuses_with_429_and_retry_after() -> None:
    budget = Policy(
        "hourly",
        "budget",
        limit=Decimal("0.01"),
        currency="USD",
        period=BudgetPeriod.ROLLING,
        window_seconds=3600,
    )
    (charge,) = decide(facts(), [budget], {}, as_of=NOW).charges
    assert charge.measure is Measure.COST and charge.limit == to_nanos(Decimal("0.01"))
    refusal = decide(facts(), [budget], {charge.key: to_nanos(Decimal("0.005"))}, as_of=NOW).refusal
    assert refusal is not None and refusal.status == 429 and refusal.retry_after == 3570


def test_a_transient_refusal_of_the_downgrade_target_wins() -> None:
    budget = Policy("b", "budget", limit=Decimal("1.00"), currency="USD", downgrade_to="gpt-4o-mini")
    tpm = Policy("t", "tpm", limit=Decimal(2000))
    budget_charge, tpm_charge = decide(facts(), [budget, tpm], {}, as_of=NOW).charges
    snapshot = {budget_charge.key: to_nanos(Decimal("0.999")), tpm_charge.key: 900}
    refusal = decide(facts(), [budget, tpm], snapshot, as_of=NOW).refusal
    assert refusal is not None and refusal.kind == "tpm" and refusal.status == 429
