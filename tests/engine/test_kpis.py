"""Cost per successful task: estimated and fully loaded, waste beside it, an open task never a success."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aifinops.domain import Basis
from aifinops.engine.drivers.tokens import TOKENS
from aifinops.engine.drivers.usage_index import usage_sums
from aifinops.engine.kpis import GroupCost, TaskAggregate, task_kpis

SUPPORT = ("support",)
ROWS = [
    TaskAggregate(
        SUPPORT,
        "succeeded",
        tasks=8,
        steps=24,
        retries=2,
        input_tokens=72_000,
        output_tokens=8_000,
        estimated_nanos={"USD": 8 * 10**9},
        value_nanos={"USD": 40 * 10**9},
    ),
    TaskAggregate(
        SUPPORT,
        "failed",
        tasks=1,
        steps=5,
        retries=3,
        input_tokens=14_000,
        output_tokens=1_000,
        unpriced_events=2,
        estimated_nanos={"USD": 15 * 10**8},
    ),
    TaskAggregate(
        SUPPORT, "abandoned", tasks=1, steps=1, input_tokens=5_000, estimated_nanos={"USD": 5 * 10**8}
    ),
    TaskAggregate(SUPPORT, "open", tasks=2, steps=2),
]


def test_estimated_basis_counts_all_cost_over_successes_and_shows_waste_beside_it() -> None:
    (kpi,) = task_kpis(ROWS)
    assert kpi.tasks == 12 and kpi.succeeded == 8
    assert kpi.success_rate == Decimal("0.8000")  # open tasks are not counted as outcomes
    assert (kpi.tokens_per_task, kpi.steps_per_task, kpi.retries_per_task) == (
        Decimal("8333.3333"),
        Decimal("2.6667"),
        Decimal("0.4167"),
    )
    assert (kpi.input_tokens_per_task, kpi.output_tokens_per_task) == (Decimal("7583.3333"), Decimal(750))
    assert kpi.unpriced_events == 2  # counted beside the cost, never priced as 0
    (est,) = kpi.costs
    assert (est.basis, est.cost_nanos, est.per_successful_task) == (
        Basis.ESTIMATED,
        10 * 10**9,
        Decimal("1.25"),
    )
    assert est.failed_and_abandoned_nanos == 2 * 10**9
    assert est.value_per_cost == Decimal("4.0000")


def test_fully_loaded_bases_use_allocated_cost_and_prorate_failures() -> None:
    allocated = [
        GroupCost(SUPPORT, Basis.ACTUAL, "USD", 30 * 10**9),
        GroupCost(SUPPORT, Basis.AMORTIZED, "USD", 20 * 10**9),
    ]
    (kpi,) = task_kpis(ROWS, allocated)
    by_basis = {c.basis: c for c in kpi.costs}
    assert by_basis[Basis.ACTUAL].per_successful_task == Decimal("3.75")
    assert by_basis[Basis.ACTUAL].failed_and_abandoned_nanos == 6 * 10**9  # 20 % of the estimate
    assert by_basis[Basis.AMORTIZED].per_successful_task == Decimal("2.5")


def test_a_group_with_cost_but_no_success_has_no_cost_per_success() -> None:
    kpis = task_kpis(
        [TaskAggregate(("x",), "failed", tasks=3, estimated_nanos={"USD": 0})],
        [GroupCost(("y",), Basis.ACTUAL, "EUR", 10**9)],
    )
    assert [k.group for k in kpis] == [("x",), ("y",)]
    assert kpis[1].tasks == 0 and kpis[1].success_rate is None
    assert kpis[1].costs[0].per_successful_task is None and kpis[1].costs[0].failed_and_abandoned_nanos == 0
    assert kpis[0].costs[0].failed_and_abandoned_nanos == 0


def test_allocated_cost_must_be_billed() -> None:
    with pytest.raises(ValueError, match="actual or amortized"):
        task_kpis([], [GroupCost(SUPPORT, Basis.ESTIMATED, "USD", 1)])


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["succeeded", "failed", "abandoned", "escalated", "open"]),
            st.integers(1, 50),
            st.integers(0, 10**10),
        ),
        max_size=10,
    )
)
def test_waste_never_exceeds_cost_and_success_rate_is_a_share(rows: list[tuple[str, int, int]]) -> None:
    aggregates = [TaskAggregate(SUPPORT, o, tasks=t, estimated_nanos={"USD": n}) for o, t, n in rows]
    for kpi in task_kpis(aggregates, [GroupCost(SUPPORT, Basis.ACTUAL, "USD", 10**10)]):
        assert kpi.success_rate is None or 0 <= kpi.success_rate <= 1
        for cost in kpi.costs:
            assert 0 <= cost.failed_and_abandoned_nanos <= cost.cost_nanos


def test_allocated_lines_become_group_costs_without_idle_or_unallocated() -> None:
    import datetime as dt

    from aifinops.domain import CostRecord
    from aifinops.engine.allocation import AllocationRule, Driver, Method, allocate
    from aifinops.engine.kpis import group_costs

    day = dt.date(2026, 10, 1)
    records = [CostRecord(day, Basis.ACTUAL, Decimal("10"), "USD", resource_id="/r")]
    drivers = [
        Driver(day, ("support", "t1"), usage_sums(tokens=1), resource_id="/r"),
        Driver(day, ("search", "t1"), usage_sums(tokens=1), resource_id="/r"),
    ]
    rule = AllocationRule("ptu", Method.PROVISIONED, driver=TOKENS, capacity_per_day=4)
    result = allocate(records, [rule], drivers, dimensions=("use_case", "tenant"))
    costs = group_costs(result, by=("use_case",), basis=Basis.ACTUAL)
    assert costs == [
        GroupCost(("search",), Basis.ACTUAL, "USD", 2_500_000_000),
        GroupCost(("support",), Basis.ACTUAL, "USD", 2_500_000_000),
    ]
    with pytest.raises(ValueError, match="cannot group by"):
        group_costs(result, by=("agent",), basis=Basis.ACTUAL)


def test_value_per_cost_counts_succeeded_tasks_in_the_cost_currency_only() -> None:
    rows = [
        TaskAggregate(
            SUPPORT, "succeeded", tasks=2, estimated_nanos={"USD": 4 * 10**9}, value_nanos={"USD": 10**10}
        ),
        TaskAggregate(SUPPORT, "succeeded", tasks=1, value_nanos={"EUR": 10**12}),
        TaskAggregate(
            SUPPORT, "failed", tasks=1, estimated_nanos={"USD": 10**9}, value_nanos={"USD": 10**12}
        ),
    ]
    (kpi,) = task_kpis(rows, [GroupCost(SUPPORT, Basis.AMORTIZED, "USD", 20 * 10**9)])
    values = {(c.basis, c.currency): c.value_per_cost for c in kpi.costs}
    assert values == {
        (Basis.ESTIMATED, "USD"): Decimal("2.0000"),
        (Basis.AMORTIZED, "USD"): Decimal("0.5000"),
    }
    assert [c.basis for c in kpi.costs] == [Basis.ESTIMATED, Basis.AMORTIZED]
    assert kpi.on(Basis.AMORTIZED)[0].failed_and_abandoned_nanos == 4 * 10**9  # 1/5 of the estimate
