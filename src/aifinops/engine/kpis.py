"""Cost per successful task (pure), on the estimated basis and fully loaded on the actual/amortized bases.

For a group (a use case, or use case × app/agent/tenant) and period: cost per successful task = all cost
attributed to the group (succeeded, failed, abandoned, escalated and still-open tasks alike) ÷ tasks that
succeeded. On the ``estimated`` basis the cost is the priced model calls of the group's tasks; on
``actual``/``amortized`` it is the cost allocated to the group (supporting services included). The cost of
failed and abandoned tasks is shown beside it, never hidden in it: on the estimated basis it is their own
estimate; on an allocated basis it is the allocated cost prorated by their estimated share (by task count
when nothing was priced). A task with no outcome is ``open``, never a success.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

from aifinops.domain import Basis, Outcome, from_nanos
from aifinops.engine.allocation import AllocationResult, Bucket

__all__ = [
    "ALLOCATED_BASES",
    "KPI_BASES",
    "OPEN",
    "BasisKpi",
    "GroupCost",
    "TaskAggregate",
    "TaskKpi",
    "group_costs",
    "task_kpis",
]

OPEN = "open"
#: The bases a KPI is computed on: the usage estimate, and the bill as allocated to the groups.
KPI_BASES = (Basis.ESTIMATED, Basis.ACTUAL, Basis.AMORTIZED)
ALLOCATED_BASES = (Basis.ACTUAL, Basis.AMORTIZED)
_WASTED = frozenset({Outcome.FAILED.value, Outcome.ABANDONED.value})
_RATIO = Decimal("0.0001")


def _no_money() -> Mapping[str, int]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class TaskAggregate:
    """Tasks of one group and one outcome (``open`` when none), with usage, estimated cost and value.

    A missing dimension value groups as ``""``, the way allocation lines name an unowned share.
    """

    group: tuple[str, ...]
    outcome: str
    tasks: int
    steps: int = 0
    retries: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    unpriced_events: int = 0  # events with no price: their cost is unknown, never counted as 0
    estimated_nanos: Mapping[str, int] = field(default_factory=_no_money)  # per currency
    value_nanos: Mapping[str, int] = field(default_factory=_no_money)  # business value per currency

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class GroupCost:
    """Cost allocated to one group on one basis (from allocation lines regrouped by the group's dims)."""

    group: tuple[str, ...]
    basis: Basis
    currency: str
    amount_nanos: int


@dataclass(frozen=True, slots=True)
class BasisKpi:
    basis: Basis
    currency: str
    cost_nanos: int
    per_successful_task: Decimal | None  # None when no task succeeded
    failed_and_abandoned_nanos: int
    value_per_cost: Decimal | None  # value of succeeded tasks ÷ cost, same currency only


@dataclass(frozen=True, slots=True)
class TaskKpi:
    group: tuple[str, ...]
    tasks: int
    by_outcome: tuple[tuple[str, int], ...]
    success_rate: Decimal | None  # succeeded ÷ tasks with an outcome
    tokens_per_task: Decimal
    input_tokens_per_task: Decimal
    output_tokens_per_task: Decimal
    steps_per_task: Decimal
    retries_per_task: Decimal
    unpriced_events: int
    costs: tuple[BasisKpi, ...]  # estimated first, then actual and amortized; per currency

    @property
    def succeeded(self) -> int:
        return dict(self.by_outcome).get(Outcome.SUCCEEDED.value, 0)

    def on(self, basis: Basis) -> tuple[BasisKpi, ...]:
        """The costs of one basis, one per currency."""
        return tuple(c for c in self.costs if c.basis is basis)


def _per(num: int, den: int) -> Decimal:
    return (Decimal(num) / Decimal(den)).quantize(_RATIO) if den else Decimal(0)


def _per_success(cost_nanos: int, succeeded: int) -> Decimal | None:
    if not succeeded:
        return None
    return (from_nanos(cost_nanos) / succeeded).quantize(Decimal("1e-9"))


def _value_per_cost(rows: Sequence[TaskAggregate], currency: str, cost_nanos: int) -> Decimal | None:
    value = sum(r.value_nanos.get(currency, 0) for r in rows if r.outcome == Outcome.SUCCEEDED.value)
    if not value or cost_nanos <= 0:
        return None
    return (Decimal(value) / Decimal(cost_nanos)).quantize(_RATIO)


def _estimated(rows: Sequence[TaskAggregate], succeeded: int) -> list[BasisKpi]:
    cost: dict[str, int] = defaultdict(int)
    wasted: dict[str, int] = defaultdict(int)
    for row in rows:
        for currency, nanos in row.estimated_nanos.items():
            cost[currency] += nanos
            if row.outcome in _WASTED:
                wasted[currency] += nanos
    return [
        BasisKpi(Basis.ESTIMATED, c, n, _per_success(n, succeeded), wasted[c], _value_per_cost(rows, c, n))
        for c, n in sorted(cost.items())
    ]


def _wasted_share(rows: Sequence[TaskAggregate]) -> tuple[int, int]:
    """(failed+abandoned, all) by estimated cost, or by task count when nothing was priced."""
    # A ratio of amounts: with estimates in several currencies, the largest one decides.
    totals: dict[str, int] = defaultdict(int)
    for r in rows:
        for currency, nanos in r.estimated_nanos.items():
            totals[currency] += nanos
    if totals and max(totals.values()) > 0:
        main = max(sorted(totals), key=lambda c: totals[c])
        wasted = sum(r.estimated_nanos.get(main, 0) for r in rows if r.outcome in _WASTED)
        return wasted, totals[main]
    return sum(r.tasks for r in rows if r.outcome in _WASTED), sum(r.tasks for r in rows)


def _allocated(rows: Sequence[TaskAggregate], costs: Sequence[GroupCost], succeeded: int) -> list[BasisKpi]:
    num, den = _wasted_share(rows)
    out = []
    order = {b: i for i, b in enumerate(KPI_BASES)}
    for cost in sorted(costs, key=lambda c: (order[c.basis], c.currency)):
        wasted = cost.amount_nanos * num // den if den else 0
        out.append(
            BasisKpi(
                cost.basis,
                cost.currency,
                cost.amount_nanos,
                _per_success(cost.amount_nanos, succeeded),
                wasted,
                _value_per_cost(rows, cost.currency, cost.amount_nanos),
            )
        )
    return out


def _kpi(group: tuple[str, ...], rows: Sequence[TaskAggregate], costs: Sequence[GroupCost]) -> TaskKpi:
    by_outcome: dict[str, int] = defaultdict(int)
    for row in rows:
        by_outcome[row.outcome] += row.tasks
    tasks = sum(by_outcome.values())
    succeeded = by_outcome.get(Outcome.SUCCEEDED.value, 0)
    closed = tasks - by_outcome.get(OPEN, 0)
    return TaskKpi(
        group=group,
        tasks=tasks,
        by_outcome=tuple(sorted(by_outcome.items())),
        success_rate=_per(succeeded, closed) if closed else None,
        tokens_per_task=_per(sum(r.tokens for r in rows), tasks),
        input_tokens_per_task=_per(sum(r.input_tokens for r in rows), tasks),
        output_tokens_per_task=_per(sum(r.output_tokens for r in rows), tasks),
        steps_per_task=_per(sum(r.steps for r in rows), tasks),
        retries_per_task=_per(sum(r.retries for r in rows), tasks),
        unpriced_events=sum(r.unpriced_events for r in rows),
        costs=(*_estimated(rows, succeeded), *_allocated(rows, costs, succeeded)),
    )


def task_kpis(tasks: Sequence[TaskAggregate], allocated: Sequence[GroupCost] = ()) -> tuple[TaskKpi, ...]:
    """One KPI row per group seen in tasks or allocated cost, sorted by group.

    ``allocated`` must be grouped by the same dimensions as ``tasks`` (e.g. both by use case).

    >>> rows = [TaskAggregate(("a",), "succeeded", 2, estimated_nanos={"USD": 3 * 10**9}),
    ...         TaskAggregate(("a",), "failed", 1, estimated_nanos={"USD": 10**9})]
    >>> (k,) = task_kpis(rows, [GroupCost(("a",), Basis.ACTUAL, "USD", 5 * 10**9)])
    >>> [(c.basis.value, str(c.per_successful_task), c.failed_and_abandoned_nanos) for c in k.costs]
    [('estimated', '2.000000000', 1000000000), ('actual', '2.500000000', 1250000000)]
    >>> str(k.success_rate)
    '0.6667'
    """
    rows: dict[tuple[str, ...], list[TaskAggregate]] = defaultdict(list)
    costs: dict[tuple[str, ...], dict[tuple[Basis, str], int]] = defaultdict(lambda: defaultdict(int))
    for row in tasks:
        rows[row.group].append(row)
    for cost in allocated:
        if cost.basis not in ALLOCATED_BASES:
            raise ValueError(
                f"allocated cost must be on the actual or amortized basis, got {cost.basis.value!r}"
            )
        costs[cost.group][(cost.basis, cost.currency)] += cost.amount_nanos
    groups = sorted(set(rows) | set(costs))
    return tuple(
        _kpi(g, rows.get(g, []), [GroupCost(g, b, c, n) for (b, c), n in costs.get(g, {}).items()])
        for g in groups
    )


def group_costs(result: AllocationResult, *, by: Sequence[str], basis: Basis) -> list[GroupCost]:
    """Allocated cost per group of ``by`` dimensions and currency, for :func:`task_kpis`.

    Idle and unallocated lines belong to no group and are left out; a report shows them beside.
    """
    missing = [d for d in by if d not in result.dimensions]
    if missing:
        raise ValueError(f"cannot group by {missing}: the allocation ran over {list(result.dimensions)}")
    positions = [result.dimensions.index(d) for d in by]
    sums: dict[tuple[tuple[str, ...], str], int] = defaultdict(int)
    for line in result.lines:
        if line.bucket is Bucket.ALLOCATED:
            sums[(tuple(line.dims[p] for p in positions), line.currency)] += line.amount_nanos
    return [GroupCost(group, basis, currency, nanos) for (group, currency), nanos in sorted(sums.items())]
