"""Usage drivers of cost allocation: the driver rows, their index by day and resource, and split weights.

A rule that splits by usage weighs each consumer (a dimension tuple) by what its driver kind reads from the
usage of the record's billing day (and resource); a rule with configured weights uses those instead.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from operator import attrgetter
from typing import Any, NamedTuple

from aifinops.domain import CostRecord
from aifinops.engine.drivers.kind import Consumer, DriverKind
from aifinops.engine.drivers.registry import USAGE_SUMS
from aifinops.engine.drivers.usage_filter import (
    DRIVER_FIELDS,
    FilterKey,
    Scope,
    UsageFilter,
    filter_key,
    filter_label,
    keeps,
)

__all__ = ["Driver", "UsageIndex", "Weights", "fixed_weights", "usage_sums", "usage_weights"]


class Driver(NamedTuple):
    """Usage of one billing day and dimension combination (``dims`` follows the run's ``dimensions``).

    ``usage`` holds the sums of :data:`~aifinops.engine.drivers.registry.USAGE_SUMS` in that order (see
    :func:`usage_sums`). A named tuple for the same reason as
    :class:`aifinops.engine.allocation.AllocationLine`: a month has hundreds of thousands of driver rows.
    """

    day: dt.date
    dims: tuple[str, ...]
    usage: tuple[int, ...] = (0,) * len(USAGE_SUMS)
    currency: str = ""
    kind: str = ""
    deployment: str = ""
    model: str = ""
    resource_id: str = ""


if Driver._fields[:4] != ("day", "dims", "usage", "currency") or (
    Driver._fields[7] != "resource_id"
):  # pragma: no cover - the hot loops below read fields by position
    raise ImportError("Driver fields moved: update the positions in _Lists and _aggregate")
_DayKey = tuple[dt.date, str]
_DIMS = attrgetter("dims")
_NO_DAY = dt.date.min  # cache key of splits that do not depend on the day (fixed weights)
_POSITIONS: dict[DriverKind, tuple[int, ...]] = {}
#: The consumers of one split with positive integer weights, in a fixed order (the rounding tie-break):
#: sorted by dims for usage drivers, as configured for fixed weights; and the driver label.
Weights = tuple[tuple[Consumer, ...], tuple[int, ...], str]
_Sums = dict[tuple[Consumer, str], list[int]]


def usage_sums(**named: int) -> tuple[int, ...]:
    """A driver row's usage from sums by name, the others 0.

    >>> usage_sums(tokens=600) == tuple(600 if s.name == "tokens" else 0 for s in USAGE_SUMS)
    True
    """
    unknown = sorted(set(named) - {s.name for s in USAGE_SUMS})
    if unknown:
        raise ValueError(f"unknown usage sum(s) {unknown}; choose from {[s.name for s in USAGE_SUMS]}")
    return tuple(named.get(s.name, 0) for s in USAGE_SUMS)


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
            by_resource[(day, driver[7].lower())].append(driver)


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
        self.owners: dict[tuple[int, str | None, tuple[str, ...]], tuple[Consumer, str] | str] = {}


def _check_width(drivers: Sequence[Driver], dimensions: tuple[str, ...]) -> None:
    width = len(dimensions)
    if set(map(len, map(_DIMS, drivers))) - {width}:
        driver = next(d for d in drivers if len(d.dims) != width)
        raise ValueError(
            f"driver of {driver.day} has {len(driver.dims)} dimension values for {width} "
            f"dimensions {list(dimensions)}: build drivers for the same dimensions as the run"
        )


def _positions(kind: DriverKind) -> tuple[int, ...]:
    found = _POSITIONS.get(kind)
    if found is None:
        found = _POSITIONS[kind] = tuple(USAGE_SUMS.index(s) for s in kind.sums)
    return found


def _aggregate(kind: DriverKind, drivers: Sequence[Driver], keep: Callable[[Any], bool] | None) -> _Sums:
    """The kind's sums per (dims, currency) of the drivers ``keep`` keeps (all when None)."""
    positions = _positions(kind)
    sums: _Sums = {}
    rows = drivers if keep is None else filter(keep, drivers)
    # The hot loop of the drivers (a month's hundreds of thousands of rows): plain lookups, no helpers.
    # Fields by position: dims 1, usage 2, currency 3.
    if len(positions) == 1:
        (at,) = positions
        for driver in rows:
            key = (driver[1], driver[3])
            row = sums.get(key)
            if row is None:
                sums[key] = [driver[2][at]]
            else:
                row[0] += driver[2][at]
        return sums
    for driver in rows:
        key, usage = (driver[1], driver[3]), driver[2]
        row = sums.get(key)
        if row is None:
            sums[key] = [usage[i] for i in positions]
        else:
            for j, i in enumerate(positions):
                row[j] += usage[i]
    return sums


def usage_weights(
    kind: DriverKind, where: UsageFilter, record: CostRecord, usage: UsageIndex, rule_index: int
) -> Weights | str:
    """Consumers and weights of a usage-driven split (cached per rule, day, resource and currency)."""
    resource = (record.resource_id or "").lower() if where.scope is Scope.RESOURCE else ""
    if where.scope is Scope.RESOURCE and not resource:
        return "the record has no resource id to find its usage by; give the rule usage scope 'all'"
    key = (rule_index, record.billing_day, resource, record.currency)
    cached = usage.cache.get(key)
    if cached is not None:
        return cached
    result = _weigh(kind, where, record, usage)
    usage.cache[key] = result
    return result


def _weigh(kind: DriverKind, where: UsageFilter, record: CostRecord, usage: UsageIndex) -> Weights | str:
    for name in where.where:
        if name not in usage.dim_index and name not in DRIVER_FIELDS:
            return f"usage filter on {name!r}, which this run does not allocate over {list(usage.dimensions)}"
    lists = usage.filtered.get(filter_key(where)) if where.where else None
    chosen = usage.all if lists is None else lists
    if where.scope is Scope.RESOURCE:
        drivers = chosen.by_resource.get((record.billing_day, (record.resource_id or "").lower()), [])
    else:
        drivers = chosen.by_day.get(record.billing_day, [])
    keep = None if lists is not None else keeps(where, usage.dim_index)
    per_consumer = kind.weigh(_aggregate(kind, drivers, keep), record.currency)
    if isinstance(per_consumer, str):
        return per_consumer
    consumers = sorted(dims for dims, weight in per_consumer.items() if weight > 0)
    return tuple(consumers), tuple(per_consumer[d] for d in consumers), f"{kind.name}{filter_label(where)}"


def fixed_weights(
    kind: DriverKind,
    weights: Sequence[tuple[Mapping[str, str], Decimal]],
    usage: UsageIndex,
    rule_index: int,
) -> Weights:
    """The listed owners' weights of a rule (its ``weights``), computed once per run.

    Configured weights are scaled to integers by a common power of ten; the consumers keep the order the
    configuration lists them in (deterministic, and what the user wrote).
    """
    key = (rule_index, _NO_DAY, "", "")
    cached = usage.cache.get(key)
    if isinstance(cached, tuple):
        return cached
    scale = max(max(-int(w.as_tuple().exponent), 0) for _, w in weights)
    per_dims: dict[Consumer, int] = defaultdict(int)
    for owner, weight in weights:
        per_dims[tuple(owner.get(d, "") for d in usage.dimensions)] += kind.listed_weight(weight, scale)
    consumers = tuple(per_dims)
    found = consumers, tuple(per_dims[d] for d in consumers), kind.name
    usage.cache[key] = found
    return found
