"""The estimated-cost driver: estimates in the record's currency, never mixed with other currencies."""

from __future__ import annotations

from aifinops.engine.drivers.estimated_cost import ESTIMATED_COST, ESTIMATED_COST_NANOS


def test_the_records_currency_is_chosen_and_others_are_left_out() -> None:
    assert ESTIMATED_COST_NANOS.fields == ("cost_nanos",)
    usage = {(("a",), "USD"): [5], (("b",), "USD"): [3], (("a",), "EUR"): [100]}
    assert dict(ESTIMATED_COST.weigh(usage, "USD")) == {("a",): 5, ("b",): 3}


def test_the_only_currency_present_drives_a_record_in_another() -> None:
    usage = {(("a",), "USD"): [5], (("b",), "USD"): [3], (("c",), "JPY"): [0]}
    assert dict(ESTIMATED_COST.weigh(usage, "EUR")) == {("a",): 5, ("b",): 3, ("c",): 0}


def test_several_foreign_currencies_are_a_reason_not_a_split() -> None:
    usage = {(("a",), "USD"): [1], (("b",), "JPY"): [1]}
    assert ESTIMATED_COST.weigh(usage, "EUR") == (
        "estimated cost drivers are in several currencies and none in EUR; use tokens"
    )
