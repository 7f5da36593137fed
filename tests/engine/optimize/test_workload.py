"""Call groups priced by scope: checking a scope once per shared cell sums exactly what a check per group
sums (the definition), in the same order, to the last digit."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from aifinops.engine.optimize.finding import by_scope
from aifinops.engine.optimize.workload import CallGroup, Cell, Meters, cost_nanos, costs_by_currency

_VALUES = st.sampled_from([None, "a", "b"])
_CELLS = st.builds(
    Cell,
    use_case=_VALUES,
    app=_VALUES,
    agent=_VALUES,
    deployment=_VALUES,
    model=_VALUES,
    kind=st.sampled_from(["chat", "embedding"]),
    currency=st.sampled_from(["", "USD", "EUR"]),
)
_PRICE = st.decimals(min_value=0, max_value=100, places=7, allow_nan=False, allow_infinity=False)
_METERS = st.builds(Meters, _PRICE, st.one_of(st.none(), _PRICE), _PRICE)
_SCOPES = st.dictionaries(
    st.sampled_from(["use_case", "app", "agent", "deployment", "model"]), st.sampled_from(["a", "b"])
)


@st.composite
def _groups(draw: st.DrawFn) -> list[CallGroup]:
    """Groups sharing cell objects (as the reader makes them) and groups with equal but distinct cells."""
    cells = draw(st.lists(_CELLS, min_size=1, max_size=5))
    out = []
    for _ in range(draw(st.integers(min_value=0, max_value=25))):
        cell = draw(st.sampled_from(cells))
        if draw(st.booleans()):
            cell = Cell(**{k: getattr(cell, k) for k in cell.__slots__})  # equal, another object
        tokens = draw(st.integers(min_value=0, max_value=10**7))
        out.append(CallGroup(cell, draw(_METERS), 1, tokens, tokens // 3, tokens // 7))
    return out


@given(groups=_groups(), scope=st.one_of(st.none(), _SCOPES))
def test_costs_by_currency_sum_the_groups_in_scope_exactly(
    groups: list[CallGroup], scope: dict[str, str] | None
) -> None:
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for g in groups:
        if g.cell.currency and (scope is None or all(getattr(g.cell, k) == v for k, v in scope.items())):
            expected[g.cell.currency] += cost_nanos(g)
    assert costs_by_currency(groups, scope) == dict(expected)


@given(groups=_groups(), keys=st.lists(st.sampled_from(["use_case", "agent", "deployment"]), unique=True))
def test_by_scope_puts_each_group_under_the_values_it_carries(
    groups: list[CallGroup], keys: list[str]
) -> None:
    expected: dict[tuple[tuple[str, str], ...], list[CallGroup]] = defaultdict(list)
    for g in groups:
        if g.cell.kind == "chat":
            expected[tuple((k, getattr(g.cell, k)) for k in keys if getattr(g.cell, k) is not None)].append(g)
    assert by_scope(groups, keys, kinds=frozenset({"chat"})) == dict(expected)


def test_a_group_changed_by_a_lever_is_priced_anew() -> None:
    """The cost kept on a group never follows it into the changed copy a lever makes."""
    from dataclasses import replace

    g = CallGroup(Cell("qa"), Meters(Decimal(2), Decimal("0.5"), Decimal(8)), 1, 1000, 200, 100)
    assert cost_nanos(g) == Decimal("2500.0")
    clipped = replace(g, output_tokens=10)
    assert cost_nanos(clipped) == Decimal("1780.0")
    assert clipped == replace(CallGroup(Cell("qa"), g.meters, 1, 1000, 200, 10))
    assert cost_nanos(g) == Decimal("2500.0")
