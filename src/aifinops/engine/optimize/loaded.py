"""Fully loaded cost: what the allocation of the bill charged each owner (actual and amortized), and how a
scenario moves it.

An owner's fully loaded cost is its allocated share of every billed record — token meters, provisioned
units, shared AI Search, hosting, logs. A scenario changes the workload's calls; the bill follows them thus:

- **token meters** (the variable part): billed at the prices the estimate uses, so a scope's fully loaded
  cost moves by exactly the change of its estimated per-token cost, whichever rule allocated those meters;
- **pools shared by requests or tokens**: the pool (an S1 search unit, a workspace's ingestion) is billed
  whatever the calls; each owner's share is re-split by its calls (or tokens) after ÷ before, over the
  owners the pool was split over — what one owner stops using moves to the others;
- **provisioned capacity**: the units cost what the provisioning lever sets (reserved units at the
  reservation rate on the amortized basis; on the actual basis they are a purchase already paid, so only
  unreserved units and spillover move); owners keep their share per token used and the rest is the
  deployment's idle capacity;
- **everything else** (direct and even splits, fixed weights, purchases, unallocated): unchanged.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from aifinops.engine.optimize.ptu import Capacity, capacity_cost
from aifinops.engine.optimize.workload import (
    LOADED_BASES,
    Allocation,
    CallGroup,
    LoadedShare,
    Owner,
    OwnerUsage,
    Workload,
    cost_nanos,
)

__all__ = [
    "ASSUMPTIONS",
    "capacity_by_basis",
    "loaded_costs",
    "loaded_scope",
    "owner_usage",
    "telemetry_cost",
]

#: What the fully loaded figures assume, as a what-if lists it.
ASSUMPTIONS = (
    "fully loaded (actual, amortized): the period's allocation of the bill; token meters move by the "
    "estimated change of the scope's calls",
    "shared pools (AI Search, logs, …) split by requests or tokens keep their total: an owner's share "
    "follows its calls or tokens, what it stops using moves to the other owners — fully loaded savings are "
    "what the whole bill changes by, the scope's cost is its allocated share",
    "provisioned units: reserved units cost the reservation rate on the amortized basis and are already paid "
    "on the actual basis (sunk until renewal); owners keep their share per token, the rest is idle",
    "direct, even and fixed-weight shares, purchases and unallocated cost do not change; the telemetry "
    "lever's change counts in the whole estate's fully loaded cost, not in an owner's",
)


def owner_usage(
    groups: Iterable[CallGroup], keys: Sequence[str], owned: frozenset[str] = frozenset()
) -> dict[Owner, OwnerUsage]:
    """Each owner's calls, tokens and estimated per-token cost (calls of ``owned`` deployments cost their
    units, not their tokens)."""
    cost: dict[Owner, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    calls: dict[Owner, int] = defaultdict(int)
    tokens: dict[Owner, int] = defaultdict(int)
    owners: dict[int, Owner] = {}  # id of a cell (alive while its groups are) → its owner: once per cell
    for g in groups:
        owner = owners.get(id(g.cell))
        if owner is None:
            owner = owners[id(g.cell)] = tuple(g.cell.scope(keys).items())
        calls[owner] += g.calls
        tokens[owner] += g.input_tokens + g.output_tokens
        if g.cell.currency and g.cell.deployment not in owned:
            cost[owner][g.cell.currency] += cost_nanos(g)
    return {o: OwnerUsage(dict(cost.get(o, {})), calls[o], tokens[o]) for o in calls}


def capacity_by_basis(capacities: Mapping[str, Capacity]) -> dict[tuple[str, str], Decimal]:
    """(basis, deployment) → nanos the provisioned deployments' units and spillover cost on that basis."""
    return {
        (basis, name): capacity_cost(cap, cap.units, sunk=basis == "actual")
        for name, cap in capacities.items()
        if cap.owned
        for basis in LOADED_BASES
    }


def telemetry_cost(workload: Workload) -> dict[str, Decimal]:
    """Nanos per currency the workload's Log Analytics tables were billed (actual)."""
    out: dict[str, Decimal] = defaultdict(Decimal)
    for t in workload.telemetry:
        out[t.currency] += t.cost_nanos
    return dict(out)


def loaded_scope(workload: Workload, scope: Mapping[str, str] | None) -> dict[str, str] | None:
    """The scope the fully loaded cost of ``scope`` is read over: its dimensions the allocation's owners
    carry (a lever changes only calls inside its own scope, so a saving over the wider scope is the
    saving of the narrower one); None without an allocation."""
    alloc = workload.allocation
    if alloc is None:
        return None
    return {k: v for k, v in (scope or {}).items() if k in alloc.keys}


def _in(owner: Owner, scope: Mapping[str, str] | None) -> bool:
    if not scope:
        return True
    values = dict(owner)
    return all(values.get(k) == v for k, v in scope.items())


def _ratio(now: int, base: int) -> Decimal:
    return Decimal(now) / base if base else Decimal(1)


def _shared(
    shares: Sequence[LoadedShare], base: Mapping[Owner, OwnerUsage], now: Mapping[Owner, OwnerUsage]
) -> list[Decimal]:
    """A pool shared by requests or tokens, re-split by each owner's usage after ÷ before (total kept)."""
    empty = OwnerUsage({}, 0, 0)

    def used(u: Mapping[Owner, OwnerUsage], o: Owner, pool: str) -> int:
        got = u.get(o, empty)
        return got.calls if pool == "requests" else got.tokens

    weights = [s.nanos * _ratio(used(now, s.owner, s.pool), used(base, s.owner, s.pool)) for s in shares]
    total, weight = sum((s.nanos for s in shares), Decimal(0)), sum(weights, Decimal(0))
    if not weight:
        return [s.nanos for s in shares]
    return [w * total / weight for w in weights]


def _capacity(
    shares: Sequence[LoadedShare],
    base: Mapping[Owner, OwnerUsage],
    now: Mapping[Owner, OwnerUsage],
    change: Decimal,
) -> list[Decimal]:
    """A provisioned deployment's pool: its total moves by ``change``; owners keep their share per token
    (scaled with the pool), the idle share (the deployment's own) takes the rest."""
    total = sum((s.nanos for s in shares), Decimal(0))
    scale = (total + change) / total if total else Decimal(1)
    empty = OwnerUsage({}, 0, 0)
    out: list[Decimal | None] = []
    for s in shares:
        if s.pool == "idle":
            out.append(None)  # the remainder
            continue
        tokens = _ratio(now.get(s.owner, empty).tokens, base.get(s.owner, empty).tokens)
        out.append(s.nanos * tokens * scale)
    rest = total + change - sum((v for v in out if v is not None), Decimal(0))
    idle = [i for i, v in enumerate(out) if v is None]
    idle_base = sum((shares[i].nanos for i in idle), Decimal(0))
    for i in idle:
        out[i] = rest * shares[i].nanos / idle_base if idle_base else rest / len(idle)
    if not idle and rest and out:  # no idle share to take it: spread over the owners
        owners = sum((v for v in out if v is not None), Decimal(0))
        out = [v * (owners + rest) / owners if owners and v is not None else v for v in out]
    return [v if v is not None else Decimal(0) for v in out]


def _pools(shares: Iterable[LoadedShare]) -> dict[tuple[str, str, str], list[LoadedShare]]:
    pools: dict[tuple[str, str, str], list[LoadedShare]] = defaultdict(list)
    for s in shares:
        pools[(s.basis, s.rule, s.currency)].append(s)
    return dict(pools)


def loaded_costs(
    workload: Workload, scope: Mapping[str, str] | None = None
) -> dict[str, dict[str, Decimal]] | None:
    """Fully loaded nanos per basis (actual, amortized) and currency of ``workload`` in :func:`loaded_scope`
    of ``scope``; None when the window has no allocation."""
    alloc: Allocation | None = workload.allocation
    scope = loaded_scope(workload, scope)
    if alloc is None or scope is None:
        return None
    owned = frozenset(name for name, cap in workload.capacities.items() if cap.owned)
    kept = workload._owners  # the same groups read by every what-if over this workload
    now = kept.get((alloc.keys, owned))
    if now is None:
        now = kept[(alloc.keys, owned)] = owner_usage(workload.groups, alloc.keys, owned)
    capacity = capacity_by_basis(workload.capacities)
    out: dict[str, dict[str, Decimal]] = {b: defaultdict(Decimal) for b in alloc.bases}
    for (basis, _rule, currency), shares in _pools(alloc.shares).items():
        kind, deployment = shares[0].pool, shares[0].deployment
        if kind in ("requests", "tokens"):
            after = _shared(shares, alloc.usage, now)
        elif kind in ("capacity", "idle") and deployment is not None:
            key = (basis, deployment)
            change = capacity.get(key, Decimal(0)) - alloc.capacity.get(key, Decimal(0))
            after = _capacity(shares, alloc.usage, now, change)
        else:
            after = [s.nanos for s in shares]
        for share, nanos in zip(shares, after, strict=True):
            if _in(share.owner, scope):
                out[basis][currency] += nanos
    # the token meters move with the estimate of the scope's per-token calls
    for usage, sign in ((now, 1), (alloc.usage, -1)):
        for owner, u in usage.items():
            if _in(owner, scope):
                for currency, nanos in u.cost.items():
                    for basis in alloc.bases:
                        out[basis][currency] += sign * nanos
    if not scope:  # the workspaces' bill, as the telemetry lever leaves it
        for currency, nanos in telemetry_cost(workload).items():
            for basis in alloc.bases:
                out[basis][currency] += nanos - alloc.telemetry.get(currency, Decimal(0))
    return {b: {c: v for c, v in sorted(values.items())} for b, values in out.items()}
