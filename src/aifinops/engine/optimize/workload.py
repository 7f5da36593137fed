"""The workload the optimizer reasons about: calls grouped by who made them, how and at what price, and the
tasks they served — small enough to transform and price many times (aggregated by the store, never events).

A call group is priced by the meters its events were priced at: ``(input − cached) × input + cached ×
cached input + output × output + quantity × unit``. Every lever transforms groups; nothing else prices them.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from aifinops.engine.optimize.ptu import Capacity, capacity_cost

__all__ = [
    "LOADED_BASES",
    "NO_STEP",
    "OWNER_KEYS",
    "SCOPE_KEYS",
    "TELEMETRY_KEYS",
    "Allocation",
    "CallGroup",
    "Cell",
    "LoadedShare",
    "Meters",
    "Owner",
    "OwnerUsage",
    "RetrievalGroup",
    "TaskGroup",
    "TelemetryGroup",
    "Workload",
    "cost_nanos",
    "costs_by_currency",
    "succeeded",
    "workload_costs",
]

#: The dimensions a scope may name, in the order a scope is written.
SCOPE_KEYS = ("app", "use_case", "agent", "deployment", "model", "deployment_type", "region", "kind")
#: The dimensions a scope of telemetry may name (call groups carry neither: such a scope holds no calls).
TELEMETRY_KEYS = ("workspace", "table")
#: The step of calls that name none.
NO_STEP = -1
#: The bases of the bill an allocation charges owners on (the fully loaded cost).
LOADED_BASES = ("actual", "amortized")
#: The allocation dimensions a call's cell carries: the owners a fully loaded cost can follow.
OWNER_KEYS = ("app", "use_case", "agent", "deployment", "model")


@dataclass(frozen=True, slots=True)
class Cell:
    """Who made the calls and on what: the dimensions a recommendation's scope names."""

    use_case: str | None
    app: str | None = None
    agent: str | None = None
    deployment: str | None = None
    model: str | None = None
    deployment_type: str | None = None
    region: str | None = None
    kind: str = "chat"
    currency: str = "USD"

    def matches(self, scope: Mapping[str, str]) -> bool:
        # A loop, not all(...): called for every call group a scenario part acts on, and a third as fast.
        for k, v in scope.items():  # noqa: SIM110
            if getattr(self, k, None) != v:
                return False
        return True

    def scope(self, keys: Iterable[str]) -> dict[str, str]:
        return {k: v for k in keys if (v := getattr(self, k)) is not None}


@dataclass(frozen=True, slots=True)
class Meters:
    """Prices in nanos of the currency per token (or per unit of quantity); None = that meter not charged."""

    input: Decimal | None = None
    cached_input: Decimal | None = None
    output: Decimal | None = None
    unit: Decimal | None = None


@dataclass(frozen=True, slots=True)
class CallGroup:
    """Calls alike in cell, prices, step, attempt, status, duplication, stop reason and size class.

    ``step`` counts from the use case's first step (0), ``NO_STEP`` when the calls name none; ``attempt`` is 1
    for first attempts; ``outcome`` is the outcome of the task the calls served (None: no outcome).
    """

    cell: Cell
    meters: Meters
    calls: int
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    quantity: Decimal = Decimal(0)
    step: int = NO_STEP
    attempt: int = 1
    status: str = "ok"
    duplicate: bool = False
    length_stop: bool = False
    outcome: str | None = None
    samples: tuple[str, ...] = ()  # a few task ids of these calls
    batch_meters: Meters | None = None  # the same model's Batch prices, where a batch deployment type exists
    retrieved_tokens: int = 0  # retrievals: the tokens of the passages they put into the prompt
    # The cost, once computed (see cost_nanos): a what-if prices the groups a lever left alone many times.
    # Not a value of the group (no part of its equality), and a changed group is a new one without it.
    _cost: Decimal | None = field(default=None, init=False, repr=False, compare=False)

    def scaled(self, share: Decimal) -> CallGroup:
        """The same calls with every count multiplied by ``share`` (0 ≤ share ≤ 1), rounded down."""
        return replace(
            self,
            calls=int(self.calls * share),
            input_tokens=int(self.input_tokens * share),
            cached_input_tokens=int(self.cached_input_tokens * share),
            output_tokens=int(self.output_tokens * share),
            quantity=self.quantity * share,
            retrieved_tokens=int(self.retrieved_tokens * share),
        )


@dataclass(frozen=True, slots=True)
class TaskGroup:
    """Tasks of one use case alike in step count and outcome."""

    use_case: str | None
    steps: int  # steps run (0 when the calls name no step)
    outcome: str | None
    tasks: int
    model: str | None = None  # the model the tasks ran on (the first by name when several)


@dataclass(frozen=True, slots=True)
class RetrievalGroup:
    """Retrievals of one use case (app, agent) alike in the outcome of their task and the size class of what
    they returned: ``retrieved_tokens`` over ``calls`` (the evidence of the retrieval lever)."""

    cell: Cell
    outcome: str | None
    calls: int
    retrieved_tokens: int
    samples: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TelemetryGroup:
    """What one table of one Log Analytics workspace cost in the window, from the bill (basis actual): its
    billable GB and its charges of one kind (``ingestion``, ``retention``, ``other``) in one currency."""

    workspace: str
    table: str
    kind: str
    currency: str
    gb: Decimal
    cost_nanos: Decimal
    plan: str = "analytics"

    def matches(self, scope: Mapping[str, str]) -> bool:
        return set(scope) <= set(TELEMETRY_KEYS) and all(getattr(self, k) == v for k, v in scope.items())


#: An owner of allocated cost: the values of ``Allocation.keys`` it has, in that order (empty: nobody's).
Owner = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class LoadedShare:
    """What one allocation rule charged one owner on one basis of the bill, in one currency.

    ``pool`` says how a scenario moves it (see :mod:`aifinops.engine.optimize.loaded`): ``requests`` and
    ``tokens`` are fixed pools shared by that driver, ``capacity`` the units of the provisioned
    ``deployment`` split over its users and ``idle`` the rest of them (owned by the deployment), ``fixed``
    everything else. Every share of one rule, basis and currency has the same pool (``idle`` beside
    ``capacity``).
    """

    basis: str
    owner: Owner
    pool: str
    rule: str
    currency: str
    nanos: Decimal
    deployment: str | None = None


@dataclass(frozen=True, slots=True)
class OwnerUsage:
    """An owner's calls: estimated nanos per currency of those priced per token (not on provisioned units),
    calls, and tokens (input + output)."""

    cost: Mapping[str, Decimal]
    calls: int
    tokens: int


@dataclass(frozen=True, slots=True)
class Allocation:
    """The stored allocation of the workload's window, with the usage and capacity cost it was made on."""

    bases: tuple[str, ...]  # of ``LOADED_BASES``, those allocated
    keys: tuple[str, ...]  # the owner dimensions (``OWNER_KEYS`` the allocation is over)
    shares: tuple[LoadedShare, ...]
    usage: Mapping[Owner, OwnerUsage]
    capacity: Mapping[tuple[str, str], Decimal]  # (basis, deployment) → nanos its units cost, as read
    telemetry: Mapping[str, Decimal] = field(default_factory=dict)  # Log Analytics nanos billed, as read
    assumptions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Workload:
    """A period's calls and tasks."""

    start: dt.datetime
    end: dt.datetime
    groups: tuple[CallGroup, ...]
    tasks: tuple[TaskGroup, ...]
    assumptions: tuple[str, ...] = ()
    daily_calls: Mapping[str | None, Mapping[int, int]] = field(default_factory=dict)  # use case → day → n
    capacities: Mapping[str, Capacity] = field(default_factory=dict)  # deployment → provisioned throughput
    telemetry: tuple[TelemetryGroup, ...] = ()  # the bill's Log Analytics charges by workspace and table
    retrievals: tuple[RetrievalGroup, ...] = ()  # retrievals that reported what they returned, by outcome
    allocation: Allocation | None = None  # the bill's allocation of the window (fully loaded cost)
    # Each owner's usage of these groups, once per (owner keys, provisioned deployments): every what-if over
    # this workload reads it (see loaded.loaded_costs). A changed workload is a new one with none kept.
    _owners: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def days(self) -> Decimal:
        return Decimal((self.end - self.start).total_seconds()) / 86_400


def cost_nanos(g: CallGroup) -> Decimal:
    """The estimated cost of a call group in nanos of its currency (exact, not rounded).

    >>> g = CallGroup(Cell("qa"), Meters(Decimal("2"), Decimal("0.5"), Decimal("8")), 1, 1000, 200, 100)
    >>> cost_nanos(g)
    Decimal('2500.0')
    """
    if g._cost is not None:
        return g._cost
    m = g.meters
    uncached = g.input_tokens - g.cached_input_tokens
    total = Decimal(0)
    if m.input is not None:
        total += uncached * m.input
    if g.cached_input_tokens:
        total += g.cached_input_tokens * (m.cached_input if m.cached_input is not None else m.input or 0)
    if m.output is not None:
        total += g.output_tokens * m.output
    if m.unit is not None:
        total += g.quantity * m.unit
    object.__setattr__(g, "_cost", total)  # frozen: set once, the same value every time
    return total


def costs_by_currency(
    groups: Iterable[CallGroup],
    scope: Mapping[str, str] | None = None,
    *,
    without: Collection[str | None] = (),
) -> dict[str, Decimal]:
    """Nanos per currency of the groups in ``scope`` (all when None), but those of the deployments
    ``without``; free calls have no currency.

    Groups alike share one cell object (the workload's reader makes them so), so the scope is checked once
    per cell; the groups are still summed in their order, so the sum is the same to the last digit."""
    out: dict[str, Decimal] = defaultdict(Decimal)
    inside: dict[int, bool] = {}  # id of a cell (alive while its groups are) → in scope
    for g in groups:
        cell = g.cell
        hit = inside.get(id(cell))
        if hit is None:
            hit = inside[id(cell)] = (
                bool(cell.currency)
                and cell.deployment not in without
                and (scope is None or cell.matches(scope))
            )
        if hit:
            out[cell.currency] += cost_nanos(g)
    return dict(out)


def workload_costs(workload: Workload, scope: Mapping[str, str] | None = None) -> dict[str, Decimal]:
    """Nanos per currency of ``workload`` in ``scope``: its calls, except those of deployments priced by
    provisioned units, whose units and spillover are counted instead (in scopes of deployment or model), and
    the telemetry its workspaces were billed (in scopes of workspace or table)."""
    owned = {name for name, cap in workload.capacities.items() if cap.owned}
    out = costs_by_currency(workload.groups, scope, without=owned)
    for name in sorted(owned):
        cap = workload.capacities[name]
        if scope is None or (
            set(scope) <= {"deployment", "model"}
            and scope.get("deployment", name) == name
            and scope.get("model", cap.model) == cap.model
        ):
            out[cap.currency] = out.get(cap.currency, Decimal(0)) + capacity_cost(cap, cap.units)
    for t in workload.telemetry:
        if scope is None or t.matches(scope):
            out[t.currency] = out.get(t.currency, Decimal(0)) + t.cost_nanos
    return out


def succeeded(tasks: Iterable[TaskGroup], use_cases: set[str | None] | None = None) -> int:
    """Successful tasks (of ``use_cases`` when given)."""
    return sum(
        t.tasks for t in tasks if t.outcome == "succeeded" and (use_cases is None or t.use_case in use_cases)
    )
