"""Usage drivers of cost allocation: the driver rows, their index by day and resource, and split weights.

A rule that splits by usage weighs each consumer (a dimension tuple) by its tokens, requests, estimated
cost or presence on the record's billing day; a rule with configured weights uses those instead.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import NamedTuple

from aifinops.domain import CostRecord
from aifinops.engine.allocation_rules import DRIVER_FIELDS, AllocationRule, DriverMetric, Scope, UsageFilter

__all__ = ["Driver", "UsageIndex", "Weights", "filter_label", "fixed_weights", "usage_weights"]


class Driver(NamedTuple):
    """Usage of one billing day and dimension combination (``dims`` follows the run's ``dimensions``).

    ``tokens`` is input + output (cached input is part of input, reasoning part of output). A named tuple
    for the same reason as :class:`aifinops.engine.allocation.AllocationLine`: a month has hundreds of
    thousands of driver rows.
    """

    day: dt.date
    dims: tuple[str, ...]
    tokens: int = 0
    requests: int = 0
    estimated_cost_nanos: int = 0
    currency: str = ""
    kind: str = ""
    deployment: str = ""
    model: str = ""
    resource_id: str = ""


_DayKey = tuple[dt.date, str]
_NO_DAY = dt.date.min  # cache key of splits that do not depend on the day (fixed weights)
#: The consumers of one split with positive integer weights, in a fixed order (the rounding tie-break):
#: sorted by dims for usage drivers, as configured for fixed weights; and the driver label.
Weights = tuple[tuple[tuple[str, ...], ...], tuple[int, ...], str]


class UsageIndex:
    """Drivers indexed by day and by (day, resource), with per-rule weight vectors cached."""

    def __init__(self, drivers: Sequence[Driver], dimensions: tuple[str, ...]) -> None:
        self.dimensions = dimensions
        self.dim_index = {name: i for i, name in enumerate(dimensions)}
        self.by_day: dict[dt.date, list[Driver]] = defaultdict(list)
        self.by_resource: dict[_DayKey, list[Driver]] = defaultdict(list)
        for driver in drivers:
            if len(driver.dims) != len(dimensions):
                raise ValueError(
                    f"driver of {driver.day} has {len(driver.dims)} dimension values for {len(dimensions)} "
                    f"dimensions {list(dimensions)}: build drivers for the same dimensions as the run"
                )
            self.by_day[driver.day].append(driver)
            self.by_resource[(driver.day, driver.resource_id.lower())].append(driver)
        self.cache: dict[tuple[int, dt.date, str, str], Weights | str] = {}
        #: Outcomes of direct rules per (rule index, resource id or None, owner tag values): owner and label.
        self.owners: dict[tuple[int, str | None, tuple[str, ...]], tuple[tuple[str, ...], str] | str] = {}


def filter_label(usage: UsageFilter) -> str:
    where = ",".join(f"{k}={'|'.join(v)}" for k, v in sorted(usage.where.items()))
    return f"[{where}]" if where else ""


_Sums = dict[tuple[tuple[str, ...], str], list[int]]


def _keeps(rule: AllocationRule, usage: UsageIndex) -> Callable[[Driver], bool] | None:
    """The rule's usage filter as a predicate over drivers (None: it keeps every driver)."""
    checks = [
        (usage.dim_index.get(name), name, frozenset(values)) for name, values in rule.usage.where.items()
    ]
    if not checks:
        return None

    def keep(driver: Driver) -> bool:
        for index, name, values in checks:
            value = driver.dims[index] if index is not None else getattr(driver, name)
            if value not in values:
                return False
        return True

    return keep


def _aggregate(rule: AllocationRule, drivers: Sequence[Driver], usage: UsageIndex) -> _Sums | str:
    """Tokens, requests and estimated nanos per (dims, currency) of the drivers the rule's filter keeps."""
    for name in rule.usage.where:
        if name not in usage.dim_index and name not in DRIVER_FIELDS:
            return f"usage filter on {name!r}, which this run does not allocate over {list(usage.dimensions)}"
    keep = _keeps(rule, usage)
    sums: _Sums = {}
    # The hot loop of the drivers (a month's hundreds of thousands of rows): plain lookups, no helpers.
    for driver in drivers if keep is None else filter(keep, drivers):
        key = (driver.dims, driver.currency)
        row = sums.get(key)
        if row is None:
            sums[key] = [driver.tokens, driver.requests, driver.estimated_cost_nanos]
        else:
            row[0] += driver.tokens
            row[1] += driver.requests
            row[2] += driver.estimated_cost_nanos
    return sums


def _pick_currency(sums: _Sums, wanted: str) -> str | None:
    """The currency whose estimates drive the split: the record's, else the only one present."""
    present = sorted({currency for (_, currency), row in sums.items() if row[2] > 0})
    if wanted in present:
        return wanted
    return present[0] if len(present) == 1 else None


def usage_weights(
    rule: AllocationRule, record: CostRecord, usage: UsageIndex, rule_index: int
) -> Weights | str:
    """Consumers and weights of a usage-driven split (cached per rule, day, resource and currency)."""
    resource = (record.resource_id or "").lower() if rule.usage.scope is Scope.RESOURCE else ""
    if rule.usage.scope is Scope.RESOURCE and not resource:
        return "the record has no resource id to find its usage by; give the rule usage scope 'all'"
    key = (rule_index, record.billing_day, resource, record.currency)
    cached = usage.cache.get(key)
    if cached is not None:
        return cached
    if rule.usage.scope is Scope.RESOURCE:
        drivers = usage.by_resource.get((record.billing_day, resource), [])
    else:
        drivers = usage.by_day.get(record.billing_day, [])
    sums = _aggregate(rule, drivers, usage)
    result = sums if isinstance(sums, str) else _weigh(rule, record, sums)
    usage.cache[key] = result
    return result


def _weigh(rule: AllocationRule, record: CostRecord, sums: _Sums) -> Weights | str:
    metric = rule.driver
    label = f"{metric.value}{filter_label(rule.usage)}"
    currency = ""
    if metric is DriverMetric.ESTIMATED_COST:
        picked = _pick_currency(sums, record.currency)
        if picked is None and len({c for (_, c), r in sums.items() if r[2] > 0}) > 1:
            return (
                f"estimated cost drivers are in several currencies and none in {record.currency}; use tokens"
            )
        currency = picked or ""
    per_dims: dict[tuple[str, ...], int] = defaultdict(int)
    for (dims, key_currency), (tokens, requests, nanos) in sums.items():
        if metric is DriverMetric.TOKENS:
            per_dims[dims] += tokens
        elif metric is DriverMetric.REQUESTS:
            per_dims[dims] += requests
        elif metric is DriverMetric.ESTIMATED_COST:
            per_dims[dims] += nanos if key_currency == currency else 0
        elif tokens > 0 or requests > 0 or nanos > 0:  # EVEN: every consumer with any usage counts once
            per_dims[dims] = 1
    consumers = sorted(dims for dims, weight in per_dims.items() if weight > 0)
    return tuple(consumers), tuple(per_dims[d] for d in consumers), label


def fixed_weights(rule: AllocationRule, usage: UsageIndex, rule_index: int) -> Weights:
    """FIXED (or EVEN over listed targets) weights of a rule, computed once per run."""
    key = (rule_index, _NO_DAY, "", "")
    cached = usage.cache.get(key)
    weights = cached if isinstance(cached, tuple) else _scaled_weights(rule, usage.dimensions)
    usage.cache[key] = weights
    return weights


def _scaled_weights(rule: AllocationRule, dimensions: tuple[str, ...]) -> Weights:
    """Configured weights scaled to integers by a common power of ten."""
    scale = max(max(-int(w.as_tuple().exponent), 0) for _, w in rule.weights)
    per_dims: dict[tuple[str, ...], int] = defaultdict(int)
    for owner, weight in rule.weights:
        value = 1 if rule.driver is DriverMetric.EVEN else int(weight.scaleb(scale))
        per_dims[tuple(owner.get(d, "") for d in dimensions)] += value
    consumers = tuple(per_dims)  # configuration order: deterministic and what the user wrote
    return consumers, tuple(per_dims[d] for d in consumers), rule.driver.value
