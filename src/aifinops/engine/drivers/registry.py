"""The allocation driver kinds, by name: the one table a new kind is added to."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from aifinops.engine.drivers.estimated_cost import ESTIMATED_COST
from aifinops.engine.drivers.even import EVEN
from aifinops.engine.drivers.fixed import FIXED
from aifinops.engine.drivers.kind import DriverKind, UsageSum
from aifinops.engine.drivers.requests import REQUESTS
from aifinops.engine.drivers.tokens import TOKENS

__all__ = ["DRIVER_KINDS", "USAGE_SUMS", "capacity_kinds", "driver_kind"]

#: Every driver kind by name, in the order the configuration documents them.
DRIVER_KINDS: Mapping[str, DriverKind] = MappingProxyType(
    {kind.name: kind for kind in (ESTIMATED_COST, TOKENS, REQUESTS, EVEN, FIXED)}
)
#: Every usage sum some kind weighs by, once each: the usage of a driver row, in this order.
USAGE_SUMS: tuple[UsageSum, ...] = tuple(
    dict.fromkeys(s for kind in DRIVER_KINDS.values() for s in kind.sums)
)


def driver_kind(name: object) -> DriverKind:
    """The kind called ``name``; ValueError listing the kinds when there is none."""
    found = DRIVER_KINDS.get(name) if isinstance(name, str) else None
    if found is None:
        raise ValueError(f"driver is {name!r}; choose from {list(DRIVER_KINDS)}")
    return found


def capacity_kinds() -> str:
    """The kinds a provisioned rule may use, for messages: ``"estimated_cost, tokens or requests"``."""
    names = [k.name for k in DRIVER_KINDS.values() if k.measures_capacity]
    return " or ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else "".join(names)
