"""Fully loaded cost: the allocation of the bill moved by a scenario — token meters with the estimate,
shared pools re-split by their driver, provisioned capacity with its units (reserved ones sunk on actual)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from aifinops.engine.optimize.loaded import capacity_by_basis, loaded_costs, owner_usage, telemetry_cost
from aifinops.engine.optimize.ptu import Capacity
from aifinops.engine.optimize.recommend import recommend
from aifinops.engine.optimize.scenario import parse_scenario
from aifinops.engine.optimize.whatif import what_if
from aifinops.engine.optimize.workload import (
    LOADED_BASES,
    Allocation,
    CallGroup,
    Cell,
    LoadedShare,
    Meters,
    TaskGroup,
    Workload,
)

START = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
METERS = Meters(Decimal(2000), Decimal(500), Decimal(8000))
KEYS = ("use_case", "deployment")
HOUR = Decimal(1_000_000_000)  # 1.00 USD per PTU-hour
RATE = Decimal(260_000_000_000) / 744  # a 1-month reservation over October's hours


def _owner(use_case: str, deployment: str | None = None) -> tuple[tuple[str, str], ...]:
    return (("use_case", use_case),) + ((("deployment", deployment),) if deployment else ())


def _groups(qa_calls: int = 100, triage_calls: int = 100) -> tuple[CallGroup, ...]:
    return (
        CallGroup(Cell("qa", deployment="a"), METERS, qa_calls, 1000 * qa_calls, 0, 100 * qa_calls, step=0),
        CallGroup(Cell("qa", deployment="a"), METERS, qa_calls, 1000 * qa_calls, 0, 100 * qa_calls, step=9),
        CallGroup(Cell("triage", deployment="a"), METERS, triage_calls, 1000 * triage_calls, 0, 0, step=0),
        CallGroup(Cell("qa", kind="retrieval"), Meters(), qa_calls, step=1),
        CallGroup(Cell("triage", kind="retrieval"), Meters(), triage_calls, step=1),
    )


def _workload(shares: list[LoadedShare], capacities: dict[str, Capacity] | None = None) -> Workload:
    tasks = (TaskGroup("qa", 1, "succeeded", 90), TaskGroup("qa", 10, "succeeded", 10))
    base = Workload(START, END, _groups(), tasks, capacities=capacities or {})
    owned = frozenset(n for n, c in base.capacities.items() if c.owned)
    allocation = Allocation(
        bases=LOADED_BASES,
        keys=KEYS,
        shares=tuple(shares),
        usage=owner_usage(base.groups, KEYS, owned),
        capacity=capacity_by_basis(base.capacities),
        telemetry=telemetry_cost(base),
    )
    return dataclasses.replace(base, allocation=allocation)


def _share(
    owner: tuple[tuple[str, str], ...], pool: str, rule: str, usd: int, **kw: str
) -> list[LoadedShare]:
    return [LoadedShare(b, owner, pool, rule, "USD", Decimal(usd) * 10**9, **kw) for b in LOADED_BASES]


SEARCH = [
    *_share(_owner("qa"), "requests", "search", 60),
    *_share(_owner("triage"), "requests", "search", 40),
]
TOKENS = [
    *_share(_owner("qa", "a"), "fixed", "tokens-a", 400),
    *_share(_owner("triage", "a"), "fixed", "tokens-a", 200),
]
HOSTING = [*_share(_owner("qa"), "fixed", "hosting", 30), *_share((), "fixed", "unallocated", 5)]


def test_as_read_the_fully_loaded_cost_is_the_allocation_exactly() -> None:
    w = _workload([*SEARCH, *TOKENS, *HOSTING])
    assert loaded_costs(w) == {b: {"USD": Decimal(735) * 10**9} for b in LOADED_BASES}
    assert loaded_costs(w, {"use_case": "qa"}) == {b: {"USD": Decimal(490) * 10**9} for b in LOADED_BASES}
    # a scope the allocation's owners do not carry is read over the dimensions they do
    assert loaded_costs(w, {"use_case": "qa", "agent": "x"}) == loaded_costs(w, {"use_case": "qa"})


def test_a_step_cap_moves_the_token_meters_by_the_estimate_and_re_splits_the_search_pool() -> None:
    """Capping qa at one step drops half its model calls: the token meters move by exactly the estimated
    saving; qa's retrieval calls are unchanged, so the search pool stays where it was."""
    w = _workload([*SEARCH, *TOKENS, *HOSTING])
    result = what_if(w, parse_scenario([{"lever": "loops", "scope": {"use_case": "qa"}, "max_steps": 1}]))
    assert result.saved() == result.saved("actual") == result.saved("amortized")
    assert any("fully loaded" in a for a in result.assumptions)


def test_a_pool_shared_by_requests_keeps_its_total_and_follows_the_calls() -> None:
    """Dropping qa's duplicate retrievals halves its requests: its share of the search unit falls, triage's
    rises by as much, and the whole estate pays the same search bill."""
    w = _workload(SEARCH)
    fewer = dataclasses.replace(
        w,
        groups=tuple(
            dataclasses.replace(g, calls=g.calls // 2)
            if g.cell.kind == "retrieval" and g.cell.use_case == "qa"
            else g
            for g in w.groups
        ),
    )
    qa, triage = loaded_costs(fewer, {"use_case": "qa"}), loaded_costs(fewer, {"use_case": "triage"})
    assert qa is not None and triage is not None
    # weights 60 × 0.5 and 40 × 1 over a pool of 100: 30/70 and 40/70 of it
    assert qa["actual"]["USD"] == Decimal(100) * 10**9 * 30 / 70
    assert qa["actual"]["USD"] + triage["actual"]["USD"] == Decimal(100) * 10**9
    assert loaded_costs(fewer) == loaded_costs(w)


def _ptu(units: int = 15, reserved: int = 10) -> Capacity:
    return Capacity(
        "ptu",
        "gpt-4.1",
        "USD",
        744,
        ((1000, Decimal(2_000_000)),) * 744,
        HOUR,
        180_000,
        units,
        True,
        reserved_units=reserved,
        reservation_hour_nanos=RATE,
    )


def test_fewer_reserved_units_save_the_reservation_rate_amortized_and_nothing_actual_within_the_term() -> (
    None
):
    """15 PTU, 10 reserved. Down to 10: the 5 hourly units go, on every basis. Down to 5: 5 reserved units
    more, at the reservation rate — in estimated and amortized cost; the actual bill, where the reservation
    is a purchase already paid, only sees the hourly units go until the reservation renews."""
    capacity = [
        *_share(_owner("qa", "ptu"), "capacity", "ptu", 3000, deployment="ptu"),
        *_share((("deployment", "ptu"),), "idle", "ptu", 3320, deployment="ptu"),
    ]
    w = _workload(capacity, {"ptu": _ptu()})

    def saved(units: int, basis: str) -> Decimal:
        part = {"lever": "provisioning", "scope": {"deployment": "ptu"}, "ptu_units": units}
        return what_if(w, parse_scenario([part]), {"deployment": "ptu"}).saved(basis)["USD"]

    hourly, reserved = 5 * 744 * HOUR, 5 * 744 * RATE
    assert saved(10, "estimated") == saved(10, "amortized") == saved(10, "actual") == hourly
    assert saved(5, "estimated") == saved(5, "amortized") == hourly + reserved
    assert saved(5, "actual") == hourly
    # to 0: every token spills over to pay-as-you-go
    spill = 744 * Decimal(2_000_000)
    assert saved(0, "actual") == hourly - spill
    assert saved(0, "amortized") == saved(0, "estimated") == hourly + 2 * reserved - spill


def test_without_an_allocation_only_the_estimated_basis_is_given() -> None:
    w = Workload(START, END, _groups(), ())
    result = what_if(w, parse_scenario([{"lever": "loops", "scope": {"use_case": "qa"}, "max_steps": 1}]))
    assert result.bases == ("estimated",) and result.saved("actual") == {}


@settings(max_examples=80, deadline=None)
@given(
    st.integers(1, 400),
    st.integers(1, 400),
    st.lists(st.integers(0, 10_000), min_size=2, max_size=2),
    st.integers(1, 9),
)
def test_shared_pools_keep_their_total_and_recommendations_save_the_whatif_on_every_basis(
    qa_calls: int, triage_calls: int, search: list[int], cap: int
) -> None:
    shares = [
        *_share(_owner("qa"), "requests", "search", search[0]),
        *_share(_owner("triage"), "requests", "search", search[1]),
        *TOKENS,
    ]
    base = _workload(shares)
    w = dataclasses.replace(base, groups=_groups(qa_calls, triage_calls))
    w = dataclasses.replace(
        w,
        allocation=dataclasses.replace(base.allocation, usage=owner_usage(w.groups, KEYS))
        if base.allocation
        else None,
    )
    after = what_if(w, parse_scenario([{"lever": "loops", "scope": {"use_case": "qa"}, "max_steps": cap}]))
    whole = loaded_costs(w)
    assert whole is not None and whole["actual"]["USD"] == Decimal(sum(search) + 600) * 10**9
    assert after.saved("actual") == after.saved()  # the search pool is re-split, never shrunk
    for rec in recommend(w):
        alone = what_if(w, [rec.finding.part], rec.finding.scope)
        for basis in ("estimated", *LOADED_BASES):
            assert rec.standalone.saved(basis) == alone.saved(basis)
