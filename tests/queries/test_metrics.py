"""Capped metric labels: every counter series only grows, whatever order values arrive and grow in."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given
from hypothesis import strategies as st

from aifinops.queries.metrics import OTHER, LabelCap

_growth = st.lists(
    st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d", "e", ""]), st.integers(1, 50)), max_size=6),
    min_size=1,
    max_size=6,
)


@given(rounds=_growth, cap=st.integers(1, 4))
def test_every_capped_series_only_grows_and_never_vanishes(
    rounds: list[list[tuple[str, int]]], cap: int
) -> None:
    label_cap = LabelCap(["app"], cap)
    totals: dict[str, int] = defaultdict(int)
    previous: dict[str, int] = {}
    for added in rounds:
        for app, events in added:
            totals[app] += events
        rows = [{"app": app or None, "events": n} for app, n in totals.items()]
        series: dict[str, int] = defaultdict(int)
        for row in label_cap.apply(rows):
            series[row["app"]] += row["events"]
        assert len(series) <= cap + 1
        for key, value in previous.items():
            assert series.get(key, -1) >= value, f"series app={key} fell or vanished"
        previous = dict(series)


def test_a_value_keeps_its_series_after_others_overtake_it() -> None:
    label_cap = LabelCap(["app"], 1)
    assert [r["app"] for r in label_cap.apply([{"app": "a", "events": 2}, {"app": "b", "events": 1}])] == [
        "a",
        OTHER,
    ]
    overtaken = label_cap.apply([{"app": "a", "events": 2}, {"app": "b", "events": 9}])
    assert [r["app"] for r in overtaken] == ["a", OTHER]
