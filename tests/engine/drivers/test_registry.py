"""The driver registry: every kind once by name, the usage sums they read, the messages that list them."""

from __future__ import annotations

import pytest

from aifinops.engine.allocation_rules import AllocationRule, Method, rule_from_mapping
from aifinops.engine.drivers.registry import DRIVER_KINDS, USAGE_SUMS, capacity_kinds, driver_kind
from aifinops.engine.drivers.usage_index import usage_sums


def test_kinds_are_listed_once_by_name_with_their_sums() -> None:
    assert list(DRIVER_KINDS) == ["estimated_cost", "tokens", "requests", "even", "fixed"]
    assert [s.name for s in USAGE_SUMS] == ["estimated_cost_nanos", "tokens", "requests"]
    assert all(s in USAGE_SUMS for kind in DRIVER_KINDS.values() for s in kind.sums)
    assert capacity_kinds() == "estimated_cost, tokens or requests"


def test_names_resolve_and_unknown_ones_list_the_kinds() -> None:
    assert driver_kind("tokens") is DRIVER_KINDS["tokens"]
    with pytest.raises(ValueError, match=r"driver is 'ptu'; choose from \['estimated_cost', 'tokens'"):
        driver_kind("ptu")
    with pytest.raises(ValueError, match="driver is"):
        driver_kind(["tokens"])
    rule = rule_from_mapping({"name": "r", "method": "shared", "driver": "requests"})
    assert rule.driver is DRIVER_KINDS["requests"]


def test_usage_rows_name_their_sums() -> None:
    assert usage_sums(tokens=5) == tuple(5 if s.name == "tokens" else 0 for s in USAGE_SUMS)
    with pytest.raises(ValueError, match="unknown usage sum"):
        usage_sums(images=1)


def test_a_provisioned_rule_needs_a_kind_that_measures_capacity() -> None:
    with pytest.raises(ValueError, match=r"needs a usage driver \(estimated_cost, tokens or requests\)"):
        AllocationRule("p", Method.PROVISIONED, driver=DRIVER_KINDS["even"], capacity_per_day=1)
