"""What an allocation driver kind is: the usage sums it weighs by and how it turns them into weights."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["Consumer", "DriverKind", "UsageSum", "UsageSums", "scaled_weight", "total_per_consumer"]

#: A consumer: the values of the run's dimensions.
Consumer = tuple[str, ...]
#: Usage of one day (and resource, when the rule asks) per (consumer, currency): the kind's sums, in the
#: order of :attr:`DriverKind.sums`.
UsageSums = Mapping[tuple[Consumer, str], Sequence[int]]


@dataclass(frozen=True, slots=True)
class UsageSum:
    """One usage sum a driver weighs by: the daily usage rollup's sums in ``fields`` added together.

    ``fields`` name sums of the rollup: ``requests``, ``input_tokens``, ``cached_input_tokens``,
    ``output_tokens``, ``reasoning_tokens``, ``cost_nanos`` (estimated cost), ``events``, ``retries``.
    """

    name: str
    fields: tuple[str, ...]


def scaled_weight(weight: Decimal, scale: int) -> int:
    """A configured weight as an integer, all of a rule's weights scaled by the same power of ten.

    >>> scaled_weight(Decimal("0.25"), 2)
    25
    """
    return int(weight.scaleb(scale))


def total_per_consumer(usage: UsageSums, currency: str) -> dict[Consumer, int] | str:
    """Each consumer's first sum, added over currencies (a count, such as tokens, has no currency)."""
    per_consumer: dict[Consumer, int] = defaultdict(int)
    for (dims, _), sums in usage.items():
        per_consumer[dims] += sums[0]
    return per_consumer


@dataclass(frozen=True, slots=True)
class DriverKind:
    """One way to weigh a shared cost over its consumers.

    ``weigh`` gives each consumer's weight from its usage of the record's day (or why it cannot, as text),
    given the record's currency; consumers weighing 0 get nothing. A rule that lists owners with weights
    uses ``listed_weight`` instead. ``needs_weights``: a rule must list them. ``measures_capacity``: the
    sums count the units of provisioned capacity, so a provisioned rule may use the kind.
    """

    name: str
    sums: tuple[UsageSum, ...]
    weigh: Callable[[UsageSums, str], Mapping[Consumer, int] | str]
    listed_weight: Callable[[Decimal, int], int] = scaled_weight
    needs_weights: bool = False
    measures_capacity: bool = True
