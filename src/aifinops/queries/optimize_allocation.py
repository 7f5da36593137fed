"""The allocation of the bill behind the optimizer's fully loaded cost: each owner's share of every rule on
the actual and amortized bases, with how a scenario moves it (see :mod:`aifinops.engine.optimize.loaded`).

A share's pool comes from its rule: a provisioned rule's allocated lines are ``capacity`` and its idle line
the ``idle`` capacity of the one deployment its usage names; a shared rule by requests or tokens is a
``requests`` / ``tokens`` pool; everything else (direct, shared by estimated cost — the token meters, which
move with the estimate —, even, fixed weights, purchases, unallocated) is ``fixed``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal

from aifinops.domain import Basis
from aifinops.engine.allocation import AllocationRule, Method
from aifinops.engine.optimize.loaded import capacity_by_basis, owner_usage, telemetry_cost
from aifinops.engine.optimize.workload import (
    LOADED_BASES,
    OWNER_KEYS,
    Allocation,
    LoadedShare,
    Workload,
)
from aifinops.store import Store
from aifinops.store.allocation_queries import allocated_parts, read_rules

__all__ = ["read_allocation_shares"]

_DAY = dt.timedelta(days=1)


def _deployment(rule: AllocationRule | None) -> str | None:
    names = rule.usage.where.get("deployment", ()) if rule is not None else ()
    return names[0] if len(names) == 1 else None


def _pool(rule: AllocationRule | None, bucket: str, driver: str | None) -> tuple[str, str | None]:
    """(pool, provisioned deployment) of a line of ``rule`` in ``bucket``."""
    if rule is not None and rule.method is Method.PROVISIONED and _deployment(rule) is not None:
        if bucket == "idle":
            return "idle", _deployment(rule)
        if bucket == "allocated":
            return "capacity", _deployment(rule)
    if (
        bucket == "allocated"
        and rule is not None
        and rule.method is Method.SHARED
        and driver
        in (
            "requests",
            "tokens",
        )
    ):
        return driver, None
    return "fixed", None


def read_allocation_shares(
    store: Store, workload: Workload, *, where: Mapping[str, Sequence[str]] | None = None
) -> tuple[Allocation | None, str | None]:
    """The allocation of ``workload``'s window as the fully loaded cost reads it, or None with the reason.

    Every billing day the window touches must be allocated on a basis for that basis to be given; days at
    the window's edges count by the share of their hours inside it.
    """
    first = workload.start.date()
    following = workload.end.date() + _DAY * int(workload.end.time() != dt.time(0))
    days = (following - first).days
    share = Decimal((workload.end - workload.start).total_seconds()) / (days * 86_400) if days else Decimal(0)
    rules = {r.name: r for r in read_rules(store)}
    shares: list[LoadedShare] = []
    keys: tuple[str, ...] = ()
    missing = []
    for basis in LOADED_BASES:
        coverage, sums = allocated_parts(
            store, first, following, basis=Basis(basis), keys=OWNER_KEYS, where=where
        )
        if coverage.days < days or not sums or any(k not in coverage.dimensions for k in where or {}):
            missing.append(basis)
            continue
        keys = tuple(k for k in OWNER_KEYS if k in coverage.dimensions)
        for (owner, bucket, rule, driver, currency), nanos in sorted(sums.items()):
            pool, deployment = _pool(rules.get(rule), bucket, driver)
            if pool == "idle":
                owner = (("deployment", deployment),) if "deployment" in keys and deployment else ()
            shares.append(LoadedShare(basis, owner, pool, rule, currency, Decimal(nanos) * share, deployment))
    if len(missing) == len(LOADED_BASES):
        return None, (
            f"no allocation of the bill covers {first}..{following} (basis {' and '.join(missing)}): only "
            "the estimated basis is given; allocate the period (`aifinops report showback`) for fully loaded "
            "cost"
        )
    owned = frozenset(n for n, c in workload.capacities.items() if c.owned)
    note = (
        None
        if not missing
        else f"no {' or '.join(missing)} allocation of {first}..{following}: that basis is not given"
    )
    return (
        Allocation(
            bases=tuple(b for b in LOADED_BASES if b not in missing),
            keys=keys,
            shares=tuple(shares),
            usage=owner_usage(workload.groups, keys, owned),
            capacity=capacity_by_basis(workload.capacities),
            telemetry=telemetry_cost(workload),
            assumptions=()
            if share == 1
            else ("billing days at the window's edges count by their hours inside it",),
        ),
        note,
    )
