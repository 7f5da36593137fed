"""Cost allocation (pure): ordered rules split each cost record over usage drivers, conserving every nano.

For every cost record, allocated + idle + purchases + unallocated lines sum to the record's cost exactly in
integer nano-units. Shares are cut with the largest-remainder method: each consumer gets ``total × w ÷ W``
rounded down, and the nanos left over go one each to the largest remainders, ties to the consumer whose
dimension tuple sorts first, so the same input always gives the same lines. A negative total (refund,
credit) is split as its absolute value and negated, which keeps the rule symmetric.

Rules apply in order. A rule that matches a record but cannot split it (no usage that day, a missing
owner tag, drivers in several currencies) passes it on and leaves its reason; a record that no rule
allocates becomes one ``unallocated`` line carrying those reasons. A commitment purchase
(:func:`~aifinops.engine.commitments.commitment_purchase`) is no one's usage: only rules that name charge
types may take it, else it is one ``purchases`` line naming the reservation or savings plan.

A split is kept as one :class:`AllocationPart` (the owners and amounts of one record's lines that share a
bucket, rule, driver and reason), the form the store saves; ``AllocationResult.lines`` expands the parts
into lines when a report asks for them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from itertools import repeat
from typing import NamedTuple

from aifinops.domain import DIMENSIONS, CostRecord, to_nanos
from aifinops.engine.allocation_rules import AllocationRule, IdlePolicy, Method, RecordMatch
from aifinops.engine.commitments import commitment_purchase
from aifinops.engine.drivers.usage_filter import (
    DRIVER_FIELDS,
    FilterKey,
    Scope,
    UsageFilter,
    filter_key,
    filter_label,
)
from aifinops.engine.drivers.usage_index import Driver, UsageIndex, fixed_weights, usage_weights

__all__ = [
    "DRIVER_FIELDS",
    "AllocationLine",
    "AllocationPart",
    "AllocationResult",
    "AllocationRule",
    "Bucket",
    "Driver",
    "FilterKey",
    "IdlePolicy",
    "Method",
    "RecordMatch",
    "Scope",
    "UsageFilter",
    "allocate",
    "filter_key",
    "split_largest_remainder",
]


class Bucket(StrEnum):
    ALLOCATED = "allocated"
    IDLE = "idle"
    PURCHASES = "purchases"  # commitment purchases: charged through the amortized view
    UNALLOCATED = "unallocated"


class AllocationLine(NamedTuple):
    """A part of one cost record (``record`` indexes ``AllocationResult.records``) charged to ``dims``.

    A named tuple rather than a frozen dataclass: a month allocates about a million lines, and a tuple is
    built several times faster while staying immutable.
    """

    record: int
    dims: tuple[str, ...]
    amount_nanos: int
    currency: str
    bucket: Bucket
    rule: str = ""
    driver: str = ""
    reason: str = ""


class AllocationPart(NamedTuple):
    """The lines of one record sharing a bucket, rule, driver and reason: ``owners[i]`` gets ``amounts[i]``.

    A month splits about a hundred thousand records into a million lines; most of them are the consumers of
    a few thousand usage splits, so the engine and the store keep one part per split, not one object per
    line.
    """

    record: int
    currency: str
    bucket: Bucket
    rule: str
    driver: str
    reason: str
    owners: tuple[tuple[str, ...], ...]
    amounts: tuple[int, ...]


@dataclass(frozen=True)
class AllocationResult:
    dimensions: tuple[str, ...]
    records: tuple[CostRecord, ...]
    parts: tuple[AllocationPart, ...]

    @cached_property
    def lines(self) -> tuple[AllocationLine, ...]:
        """Every line, in part order: each record's lines are consecutive, in the order they were split.

        A month is about a million lines: callers building them pause the cyclic garbage collector around it
        (``aifinops.queries.gc_pause.gc_paused_for_bulk_objects``), which the engine never touches itself.
        """
        out: list[AllocationLine] = []
        extend, new = out.extend, tuple.__new__
        for part in self.parts:
            fixed = (repeat(part.currency), repeat(part.bucket), repeat(part.rule), repeat(part.driver))
            rows = zip(repeat(part.record), part.owners, part.amounts, *fixed, repeat(part.reason))
            extend(map(new, repeat(AllocationLine), rows))
        return tuple(out)

    @property
    def line_count(self) -> int:
        return sum(len(part.amounts) for part in self.parts)

    def totals(self) -> dict[tuple[str, Bucket], int]:
        """Nanos per (currency, bucket)."""
        out: dict[tuple[str, Bucket], int] = defaultdict(int)
        for part in self.parts:
            out[(part.currency, part.bucket)] += sum(part.amounts)
        return dict(out)


def split_largest_remainder(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` nanos by positive integer ``weights``; the parts sum to ``total`` exactly.

    Ties between equal remainders go to the earlier weight.

    >>> split_largest_remainder(10, [1, 1, 1])
    [4, 3, 3]
    >>> split_largest_remainder(-10, [1, 1, 1])
    [-4, -3, -3]
    """
    if total < 0:
        return [-part for part in split_largest_remainder(-total, weights)]
    whole = sum(weights)
    if whole <= 0:
        raise ValueError(f"weights must sum to a positive number, got {whole}")
    # divmod over the products in C: the hot loop of a month's usage splits.
    parts, remainders = map(list, zip(*map(divmod, map(total.__mul__, weights), repeat(whole)), strict=True))
    left = total - sum(parts)
    if left:
        # A stable sort keeps the input order among equal remainders, so ties go to the earlier weight.
        for index in sorted(range(len(weights)), key=remainders.__getitem__, reverse=True)[:left]:
            parts[index] += 1
    return parts


class _At(NamedTuple):
    """Where a split is: the record's index, the rule's index, and the run's dimensions."""

    record: int
    rule_index: int
    dimensions: tuple[str, ...]


def _part(
    at: _At,
    currency: str,
    rule: str,
    consumers: Sequence[tuple[str, ...]],
    parts: Sequence[int],
    label: str,
    reason: str = "",
    bucket: Bucket = Bucket.ALLOCATED,
) -> AllocationPart | None:
    """The part of the non-zero amounts (None when every amount is zero)."""
    if len(consumers) != len(parts):
        raise ValueError(f"{len(parts)} parts for {len(consumers)} consumers")
    if 0 in parts:
        kept = [i for i, part in enumerate(parts) if part]
        if not kept:
            return None
        consumers, parts = [consumers[i] for i in kept], [parts[i] for i in kept]
    return AllocationPart(at.record, currency, bucket, rule, label, reason, tuple(consumers), tuple(parts))


def _parts(*found: AllocationPart | None) -> list[AllocationPart]:
    return [part for part in found if part is not None]


def _no_usage(rule: AllocationRule, record: CostRecord) -> str:
    where = f" of {record.resource_id}" if rule.usage.scope is Scope.RESOURCE else ""
    return f"no {rule.driver.name}{filter_label(rule.usage)} usage{where} on {record.billing_day}"


def _owner(
    rule: AllocationRule, resource_id: str | None, tag_values: tuple[str, ...], dimensions: tuple[str, ...]
) -> tuple[tuple[str, ...], str] | str:
    """The owner dims and label of a direct rule for a resource and its owner tags' values, or why not."""
    owner = dict(rule.owner)
    sources = ["rule"] if rule.owner else []
    listed = rule.inventory.get((resource_id or "").lower())
    if listed:
        owner.update(listed)
        sources.append("inventory")
    for (dim, tag), value in zip(rule.owner_tags.items(), tag_values, strict=True):
        if value:
            owner[dim] = value
            sources.append(f"tag {tag}")
    missing = sorted(tag for dim, tag in rule.owner_tags.items() if not owner.get(dim))
    if missing:
        return f"owner tag(s) {missing} missing and not in the inventory mapping"
    if not owner:
        return f"resource {resource_id} is not in the inventory mapping"
    return tuple(owner.get(d, "") for d in dimensions), "direct:" + ",".join(dict.fromkeys(sources))


def _direct(
    rule: AllocationRule, record: CostRecord, tags: dict[str, str], total: int, usage: UsageIndex, at: _At
) -> list[AllocationPart] | str:
    # Tens of thousands of records share a few owners: the outcome is kept per resource and tag values.
    resource = record.resource_id if rule.inventory else None
    names = usage.tag_names.get(at.rule_index)
    if names is None:  # the owner tags as record tags are looked up: lower-case
        names = usage.tag_names[at.rule_index] = tuple(tag.lower() for tag in rule.owner_tags.values())
    values = tuple([tags.get(tag, "").strip() for tag in names])
    key = (at.rule_index, resource, values)
    found = usage.owners.get(key)
    if found is None:
        found = usage.owners[key] = _owner(rule, record.resource_id, values, at.dimensions)
    if isinstance(found, str):
        return found
    owned, label = found
    return [
        AllocationPart(at.record, record.currency, Bucket.ALLOCATED, rule.name, label, "", (owned,), (total,))
    ]


def _shared(
    rule: AllocationRule, record: CostRecord, total: int, usage: UsageIndex, at: _At
) -> list[AllocationPart] | str:
    if rule.weights:
        weights = fixed_weights(rule.driver, rule.weights, usage, at.rule_index)
    else:
        found = usage_weights(rule.driver, rule.usage, record, usage, at.rule_index)
        if isinstance(found, str):
            return found
        weights = found
    consumers, values, label = weights
    if not consumers:
        return _no_usage(rule, record)
    parts = split_largest_remainder(total, values)
    return _parts(_part(at, record.currency, rule.name, consumers, parts, label))


def _capacity(rule: AllocationRule, record: CostRecord) -> int | str:
    if rule.capacity_per_day is not None:
        return rule.capacity_per_day
    if record.quantity is None or record.quantity <= 0:
        return f"record has no positive quantity ({record.quantity}) to derive provisioned capacity from"
    assert rule.capacity_per_quantity is not None  # guaranteed by AllocationRule validation
    return int((abs(record.quantity) * rule.capacity_per_quantity).to_integral_value())


def _provisioned(
    rule: AllocationRule, record: CostRecord, total: int, usage: UsageIndex, at: _At
) -> list[AllocationPart] | str:
    found = usage_weights(rule.driver, rule.usage, record, usage, at.rule_index)
    capacity = _capacity(rule, record)
    if isinstance(found, str) or isinstance(capacity, str):
        return found if isinstance(found, str) else str(capacity)
    consumers, values, label = found
    used = sum(values)
    idle_weight = max(capacity - used, 0)
    if not consumers and idle_weight == 0:
        return _no_usage(rule, record)
    parts = split_largest_remainder(total, [*values, idle_weight])
    out = _part(at, record.currency, rule.name, consumers, parts[:-1], label)
    idle = parts[-1]
    reason = f"unused provisioned capacity: {used} of {capacity} {rule.driver.name} used"
    if not idle:
        return _parts(out)
    if rule.idle is IdlePolicy.SPREAD and consumers:
        spread = split_largest_remainder(idle, values)
        return _parts(out, _part(at, record.currency, rule.name, consumers, spread, f"idle:{label}", reason))
    if rule.idle is IdlePolicy.OWNER:
        owner = tuple(rule.idle_owner.get(d, "") for d in at.dimensions)
        line = _part(at, record.currency, rule.name, [owner], [idle], "idle:owner", reason)
    else:
        why = reason if rule.idle is IdlePolicy.VISIBLE else f"{reason}; no usage to spread it over"
        empty = ("",) * len(at.dimensions)
        line = _part(at, record.currency, rule.name, [empty], [idle], label, why, Bucket.IDLE)
    return _parts(out, line)


def _apply(
    rule: AllocationRule, record: CostRecord, *, total: int, tags: dict[str, str], usage: UsageIndex, at: _At
) -> list[AllocationPart] | str:
    if rule.method is Method.DIRECT:
        return _direct(rule, record, tags, total, usage, at)
    if rule.method is Method.SHARED:
        return _shared(rule, record, total, usage, at)
    return _provisioned(rule, record, total, usage, at)


def _purchase_reason(record: CostRecord, purchase: str, reasons: Sequence[str]) -> str:
    bought = f" ({record.quantity.normalize():f} {record.unit or 'units'})" if record.quantity else ""
    charge = record.charge_type or "purchase"
    why = f"; {'; '.join(reasons)}" if reasons else ""
    return (
        f"{charge} of {purchase}{bought} on {record.billing_day}: a commitment purchase, charged through the "
        f"amortized view, which spreads it over the usage it covers{why}"
    )


def _check_dimensions(dimensions: Sequence[str]) -> tuple[str, ...]:
    dims = tuple(dimensions)
    unknown = [d for d in dims if d not in DIMENSIONS]
    if unknown or len(set(dims)) != len(dims):
        raise ValueError(f"allocation dimensions {list(dims)} must be distinct names from {list(DIMENSIONS)}")
    return dims


def allocate(
    records: Sequence[CostRecord],
    rules: Sequence[AllocationRule],
    drivers: Sequence[Driver],
    *,
    dimensions: Sequence[str],
    filtered: Mapping[FilterKey, Sequence[Driver]] | None = None,
) -> AllocationResult:
    """Allocate every record by the first rule that can; what none can is one ``unallocated`` line.

    A record of cost 0 produces no line; zero-amount shares are dropped. Every line carries the
    record's currency: amounts of different currencies never meet. ``filtered`` may give, per usage
    filter (:func:`~aifinops.engine.drivers.usage_filter.filter_key`), the drivers that filter keeps, as the
    store computes them; rules with other filters filter ``drivers``.
    """
    dims = _check_dimensions(dimensions)
    return _allocate(records, rules, UsageIndex(drivers, dims, filtered), dims)


def _allocate(
    records: Sequence[CostRecord], rules: Sequence[AllocationRule], usage: UsageIndex, dims: tuple[str, ...]
) -> AllocationResult:
    ordered = [(i, rule, rule.match.compile()) for i, rule in enumerate(rules)]
    empty = ("",) * len(dims)
    parts: list[AllocationPart] = []
    for index, record in enumerate(records):
        total = to_nanos(record.cost)
        if total == 0:
            continue
        tags = {k.lower(): v for k, v in record.tags.items()} if record.tags else {}
        purchase = commitment_purchase(record)
        reasons: list[str] = []
        for rule_index, rule, matcher in ordered:
            if purchase is not None and not rule.match.charge_types:
                continue  # a purchase is no usage: only a rule that names charge types may take it
            if not matcher.matches(record, tags):
                continue
            found = _apply(rule, record, total=total, tags=tags, usage=usage, at=_At(index, rule_index, dims))
            if isinstance(found, str):
                reasons.append(f"rule {rule.name!r}: {found}")
                continue
            parts.extend(found)
            break
        else:
            if purchase is not None:
                reason = _purchase_reason(record, purchase, reasons)
                bucket, label = Bucket.PURCHASES, purchase
            else:
                reason, bucket, label = "; ".join(reasons) or "no rule matches", Bucket.UNALLOCATED, ""
            parts.append(
                AllocationPart(index, record.currency, bucket, "", label, reason, (empty,), (total,))
            )
    return AllocationResult(dims, tuple(records), tuple(parts))
