"""Which usage drives a split: the usage filter of an allocation rule.

Exact values per field (a dimension, or the kind, deployment, model or resource of the usage), and whether
only the cost record's resource counts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from operator import attrgetter
from types import MappingProxyType
from typing import Any

__all__ = ["DRIVER_FIELDS", "FilterKey", "Scope", "UsageFilter", "filter_key", "filter_label", "keeps"]

#: Fields of a driver a usage filter may test besides the allocation dimensions.
DRIVER_FIELDS: tuple[str, ...] = ("deployment", "model", "kind", "resource_id")
#: A usage filter in canonical form: ``((field, (value, ...)), ...)``, sorted.
FilterKey = tuple[tuple[str, tuple[str, ...]], ...]


class Scope(StrEnum):
    RESOURCE = "resource"  # only usage recorded against the cost record's resource id
    ALL = "all"  # all usage of the billing day that passes the filter


@dataclass(frozen=True, slots=True)
class UsageFilter:
    """Which usage drives a split: exact values per field (a dimension or one of ``DRIVER_FIELDS``)."""

    where: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    scope: Scope = Scope.RESOURCE


def filter_key(usage: UsageFilter) -> FilterKey:
    return tuple(sorted((name, tuple(sorted(values))) for name, values in usage.where.items()))


def filter_label(usage: UsageFilter) -> str:
    where = ",".join(f"{k}={'|'.join(v)}" for k, v in sorted(usage.where.items()))
    return f"[{where}]" if where else ""


def keeps(usage: UsageFilter, dim_index: Mapping[str, int]) -> Callable[[Any], bool] | None:
    """The filter as a predicate over driver rows (None: it keeps every row).

    A field that is one of the run's dimensions (``dim_index``) is read from the row's ``dims``, any other
    from the row's attribute of that name.
    """
    checks = [(dim_index.get(name), name, frozenset(values)) for name, values in usage.where.items()]
    if not checks:
        return None
    if len(checks) == 1 and checks[0][0] is None:  # the usual filter: one driver field such as kind
        _, name, values = checks[0]
        get = attrgetter(name)
        return lambda driver: get(driver) in values

    def keep(driver: Any) -> bool:
        for index, name, values in checks:
            value = driver.dims[index] if index is not None else getattr(driver, name)
            if value not in values:
                return False
        return True

    return keep
