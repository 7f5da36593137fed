"""Usage drivers of cost allocation: the driver rows, their index by day and resource, and split weights.

A rule that splits by usage weighs each consumer (a dimension tuple) by its tokens, requests, estimated
cost or presence on the record's billing day; a rule with configured weights uses those instead.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from operator import attrgetter
from typing import NamedTuple

from aifinops.domain import CostRecord
from aifinops.engine.allocation_rules import DRIVER_FIELDS, AllocationRule, DriverMetric, Scope, UsageFilter

__all__ = [
    "Driver",
    "FilterKey",
    "UsageIndex",
    "Weights",
    "filter_key",
    "filter_label",
    "fixed_weights",
    "usage_weights",
]


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


if Driver._fields[:6] != ("day", "dims", "tokens", "requests", "estimated_cost_nanos", "currency") or (
    Driver._fields[9] != "resource_id"
):  # pragma: no cover - the hot loops below read fields by position
    raise ImportError("Driver fields moved: update the positions in UsageIndex and _aggregate")
_DayKey = tuple[dt.date, str]
_DIMS = attrgetter("dims")
_NO_DAY = dt.date.min  # cache key of splits that do not depend on the day (fixed weights)
#: The consumers of one split with positive integer weights, in a fixed order (the rounding tie-break):
#: sorted by dims for usage drivers, as configured for fixed weights; and the driver label.
Weights = tuple[tuple[tuple[str, ...], ...], tuple[int, ...], str]


#: A usage filter in canonical form: ``((field, (value, ...)), ...)``, sorted.
FilterKey = tuple[tuple[str, tuple[str, ...]], ...]


def filter_key(usage: UsageFilter) -> FilterKey:
    return tuple(sorted((name, tuple(sorted(values))) for name, values in usage.where.items()))


class _Lists:
    """Drivers by day and by (day, resource id)."""

    __slots__ = ("by_day", "by_resource")

    def __init__(self, drivers: Sequence[Driver]) -> None:
        self.by_day: dict[dt.date, list[Driver]] = defaultdict(list)
        self.by_resource: dict[_DayKey, list[Driver]] = defaultdict(list)
        by_day, by_resource = self.by_day, self.by_resource
        # The hot loop of a month's hundreds of thousands of drivers: fields by position (see Driver).
        for driver in drivers:
            day = driver[0]
            by_day[day].append(driver)
            by_resource[(day, driver[9].lower())].append(driver)


class UsageIndex:
    """Drivers indexed by day and by (day, resource), with per-rule weight vectors cached.

    ``filtered`` holds, per usage filter, drivers the store already filtered (its conditional sums): a
    rule with that filter reads them instead of filtering every driver itself.
    """

    def __init__(
        self,
        drivers: Sequence[Driver],
        dimensions: tuple[str, ...],
        filtered: Mapping[FilterKey, Sequence[Driver]] | None = None,
    ) -> None:
        self.dimensions = dimensions
        self.dim_index = {name: i for i, name in enumerate(dimensions)}
        for rows in (drivers, *(filtered or {}).values()):
            _check_width(rows, dimensions)
        self.all = _Lists(drivers)
        self.filtered = {key: _Lists(rows) for key, rows in (filtered or {}).items()}
        self.cache: dict[tuple[int, dt.date, str, str], Weights | str] = {}
        #: Per direct rule (by index): its owner tags' names, lower-cased.
        self.tag_names: dict[int, tuple[str, ...]] = {}
        #: Outcomes of direct rules per (rule index, resource id or None, owner tag values): owner and label.
        self.owners: dict[tuple[int, str | None, tuple[str, ...]], tuple[tuple[str, ...], str] | str] = {}


def _check_width(drivers: Sequence[Driver], dimensions: tuple[str, ...]) -> None:
    width = len(dimensions)
    if set(map(len, map(_DIMS, drivers))) - {width}:
        driver = next(d for d in drivers if len(d.dims) != width)
        raise ValueError(
            f"driver of {driver.day} has {len(driver.dims)} dimension values for {width} "
            f"dimensions {list(dimensions)}: build drivers for the same dimensions as the run"
        )


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
    if len(checks) == 1 and checks[0][0] is None:  # the usual filter: one driver field such as kind
        _, name, values = checks[0]
        field = attrgetter(name)
        return lambda driver: field(driver) in values

    def keep(driver: Driver) -> bool:
        for index, name, values in checks:
            value = driver.dims[index] if index is not None else getattr(driver, name)
            if value not in values:
                return False
        return True

    return keep


def _aggregate(
    rule: AllocationRule, drivers: Sequence[Driver], usage: UsageIndex, *, prefiltered: bool
) -> _Sums | str:
    """Tokens, requests and estimated nanos per (dims, currency) of the drivers the rule's filter keeps."""
    for name in rule.usage.where:
        if name not in usage.dim_index and name not in DRIVER_FIELDS:
            return f"usage filter on {name!r}, which this run does not allocate over {list(usage.dimensions)}"
    keep = None if prefiltered else _keeps(rule, usage)
    sums: _Sums = {}
    # The hot loop of the drivers (a month's hundreds of thousands of rows): plain lookups, no helpers.
    # Fields by position: dims 1, tokens 2, requests 3, estimated_cost_nanos 4, currency 5.
    for driver in drivers if keep is None else filter(keep, drivers):
        key = (driver[1], driver[5])
        row = sums.get(key)
        if row is None:
            sums[key] = [driver[2], driver[3], driver[4]]
        else:
            row[0] += driver[2]
            row[1] += driver[3]
            row[2] += driver[4]
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
    lists = usage.filtered.get(filter_key(rule.usage)) if rule.usage.where else None
    chosen = usage.all if lists is None else lists
    if rule.usage.scope is Scope.RESOURCE:
        drivers = chosen.by_resource.get((record.billing_day, resource), [])
    else:
        drivers = chosen.by_day.get(record.billing_day, [])
    sums = _aggregate(rule, drivers, usage, prefiltered=lists is not None)
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
